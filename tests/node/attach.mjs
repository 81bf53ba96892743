// A stock @automerge/automerge-repo client (a modified client, as far as the server can tell)
// adds an evidence reference to a unit's progress on an item: whatever file hash and name it
// is told. Run by tests/tests/node.rs, which checks what the server made of it. Prints
// "RECTIFY:sent" once the change is made and exits when standard input says "done".

import assert from "node:assert/strict";
import readline from "node:readline";
import * as A from "@automerge/automerge";
import { Repo } from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through tests/tests/node.rs`);
  return value;
};
const raw = (s) => new A.RawString(s);

const repo = new Repo({
  network: [new WebSocketClientAdapter(`${env("RECTIFY_WS")}?token=${env("TOKEN")}`)],
});
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
try {
  const handle = await repo.find(`automerge:${env("DOC")}`);
  const unit = env("UNIT");
  handle.change((d) => {
    const evidence = d.progress[unit].evidence;
    evidence.push({
      sha256: raw(env("SHA")),
      name: raw("ledger.png"),
      mime: raw("image/png"),
      caption: raw(""),
      added_by: raw(env("ADDED_BY")),
      added_at_ms: Date.now(),
    });
    // `size` is an unsigned integer; inside a pushed object the wrapper is not honoured.
    evidence[evidence.length - 1].size = new A.Uint(Number(env("SIZE")));
  });
  console.log("RECTIFY:sent");
  const { value, done } = await lines.next();
  assert.ok(!done && value.trim() === "done", "the driver says when to stop");
} finally {
  repo.shutdown();
}
process.exit(0);
