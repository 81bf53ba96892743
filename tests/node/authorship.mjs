// A stock @automerge/automerge-repo client (a modified client, as far as the server can tell)
// lies about who it is, in one of three ways (MODE):
// - `forged_message`: an allowed edit to its own progress, committed with a message that
//   claims the office made it;
// - `rewrite_added_by`: the `added_by` of the first evidence already in its progress is
//   rewritten to its own name;
// - `blank_updated_by`: an allowed edit to its narrative that sets `updated_by` to "".
// Run by tests/tests/node.rs, which checks what the server made of it. Prints "RECTIFY:sent"
// once the change is made, "RECTIFY:error <message>" for every error message the server
// sends (the stock client only logs them), and exits when standard input says "done".

import assert from "node:assert/strict";
import readline from "node:readline";
import * as A from "@automerge/automerge";
import { Repo } from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";
import { decode } from "cbor-x";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through tests/tests/node.rs`);
  return value;
};
const raw = (s) => new A.RawString(s);

const adapter = new WebSocketClientAdapter(`${env("RECTIFY_WS")}?token=${env("TOKEN")}`);
// Watch what the stock adapter receives, without changing what it does with it.
const receive = adapter.receiveMessage.bind(adapter);
adapter.receiveMessage = (bytes) => {
  try {
    const message = decode(new Uint8Array(bytes));
    if (message?.type === "error") console.log(`RECTIFY:error ${message.message}`);
  } catch {
    // Not ours to judge: the adapter logs what it cannot decode.
  }
  return receive(bytes);
};
const repo = new Repo({ network: [adapter] });
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
try {
  const handle = await repo.find(`automerge:${env("DOC")}`);
  const unit = env("UNIT");
  const me = env("USERNAME");
  switch (env("MODE")) {
    case "forged_message":
      handle.change(
        (d) => {
          A.splice(d, ["progress", unit, "narrative"], 0, 0, "署名是伪造的。");
          d.progress[unit].updated_by = raw(me);
          d.progress[unit].updated_at_ms = Date.now();
        },
        { message: JSON.stringify({ user: "office", op: "item_status" }) },
      );
      break;
    case "rewrite_added_by":
      handle.change((d) => {
        d.progress[unit].evidence[0].added_by = raw(me);
      });
      break;
    case "blank_updated_by":
      handle.change((d) => {
        A.splice(d, ["progress", unit, "narrative"], 0, 0, "无名氏。");
        d.progress[unit].updated_by = raw("");
        d.progress[unit].updated_at_ms = Date.now();
      });
      break;
    default:
      throw new Error(`unknown MODE ${process.env.MODE}`);
  }
  console.log("RECTIFY:sent");
  const { value, done } = await lines.next();
  assert.ok(!done && value.trim() === "done", "the driver says when to stop");
} finally {
  repo.shutdown();
}
process.exit(0);
