// A stock @automerge/automerge-repo client on one of three Rectify replicas (issue #18): it
// writes its unit's narrative a few times while other clients on the other replicas write
// theirs, then waits until it has seen everything they wrote (their tokens and the evidence
// file's reference) and prints its document's heads for the test to compare. Run by
// tests/tests/replicas.rs. Exits non-zero on failure.

import assert from "node:assert/strict";
import * as A from "@automerge/automerge";
import { Repo } from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through tests/tests/replicas.rs`);
  return value;
};
const UNIT = env("UNIT");
const OTHER_UNIT = env("OTHER_UNIT");
const EXPECT = env("EXPECT_TOKENS").split(",");
const EVIDENCE = env("EVIDENCE_SHA256");
const EDITS = Number(env("EDITS"));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition, what, ms, state = () => "") {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (condition()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}: ${state()}`);
}

const repo = new Repo({
  network: [new WebSocketClientAdapter(`${env("RECTIFY_WS")}?token=${env("TOKEN")}`, 1000)],
});
try {
  const handle = await repo.find(`automerge:${env("DOC")}`);
  for (let n = 0; n < EDITS; n++) {
    const token = `〔js${n}〕`;
    handle.change((d) => {
      const text = d.progress[UNIT].narrative;
      A.splice(d, ["progress", UNIT, "narrative"], String(text).length, 0, token);
    });
    await sleep(100);
  }
  const other = () => handle.doc().progress[OTHER_UNIT];
  await until(
    () =>
      EXPECT.every((t) => String(other().narrative).includes(t)) &&
      other().evidence.some((e) => String(e.sha256) === EVIDENCE),
    "the other replicas' edits and evidence",
    30000,
    () => JSON.stringify(other(), (_, v) => (typeof v === "bigint" ? String(v) : v)),
  );
  console.log(`RECTIFY:heads ${JSON.stringify(A.getHeads(handle.doc()).sort())}`);
} finally {
  repo.shutdown();
}
process.exit(0);
