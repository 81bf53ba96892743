// A stock @automerge/automerge-repo client keeps working while Rectify's server is down: its
// change made then arrives once the server is back. Run by tests/tests/node.rs, which stops and
// restarts the real server when this script asks on standard output ("RECTIFY:stop",
// "RECTIFY:start") and answers on standard input. Exits non-zero on failure.

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
const WS = env("RECTIFY_WS");
const SHARED = `automerge:${env("DOC_SHARED")}`;
const UNIT = env("SCHOOL1_UNIT");

const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function ask(what) {
  console.log(`RECTIFY:${what}`);
  const { value, done } = await lines.next();
  assert.ok(!done && value.trim() === "done", `the driver did ${what}`);
}

async function until(condition, what, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

const client = (token) =>
  new Repo({ network: [new WebSocketClientAdapter(`${WS}?token=${token}`, 1000)] });

const school = client(env("TOKEN_SCHOOL1"));
let office;
try {
  const atSchool = await school.find(SHARED);
  await ask("stop");
  const text = `服务器停机时写的${Date.now()}。`;
  atSchool.change((d) => A.splice(d, ["progress", UNIT, "narrative"], 0, 0, text));
  await ask("start");
  office = client(env("TOKEN_OFFICE"));
  const atOffice = await office.find(SHARED);
  await until(
    () => String(atOffice.doc().progress[UNIT].narrative).includes(text),
    "the offline change at the office",
    30000,
  );
  console.log("RECTIFY:ok");
} finally {
  school.shutdown();
  office?.shutdown();
}
process.exit(0);
