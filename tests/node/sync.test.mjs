// Stock @automerge/automerge-repo clients (from npm, locked in package-lock.json) against
// Rectify's /sync. Started by tests/tests/node.rs, which passes the server's address, tokens
// and document ids in the environment.

import test from "node:test";
import assert from "node:assert/strict";
import * as A from "@automerge/automerge";
import { Repo } from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through tests/tests/node.rs`);
  return value;
};
const WS = env("RECTIFY_WS");
const SHARED = `automerge:${env("DOC_SHARED")}`; // assigned to school1
const OTHER = `automerge:${env("DOC_OTHER")}`; // not assigned to school1
const UNIT = env("SCHOOL1_UNIT");

// Rectify's scalar string keys (ids, names, units) must be written as RawString: Automerge 3
// turns plain JS strings into collaborative text, which docs/sync-protocol.md reserves for the
// keys marked "text".
const raw = (s) => new A.RawString(s);

function feedback(id, text) {
  return { id: raw(id), unit: raw(UNIT), author: raw("office"), text: raw(text), at_ms: Date.now() };
}

function client(token) {
  return new Repo({ network: [new WebSocketClientAdapter(`${WS}?token=${token}`)] });
}

async function until(condition, what, ms = 10000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test("two stock clients' concurrent edits converge through the server", async () => {
  const office = client(env("TOKEN_OFFICE"));
  const school = client(env("TOKEN_SCHOOL1"));
  try {
    const [atOffice, atSchool] = await Promise.all([office.find(SHARED), school.find(SHARED)]);
    assert.equal(typeof atSchool.doc().title, "string", "the problem statement is the key `title`");
    atSchool.change((d) => A.splice(d, ["progress", UNIT, "narrative"], 0, 0, "学校写的。"));
    atOffice.change((d) => {
      d.feedback.push(feedback("node-f1", "请补充佐证"));
    });
    await until(
      () =>
        atOffice.doc().progress[UNIT].narrative.includes("学校写的。") &&
        atSchool.doc().feedback.some((f) => String(f.id) === "node-f1"),
      "both edits on both sides",
    );
    assert.deepEqual(A.getHeads(atOffice.doc()).sort(), A.getHeads(atSchool.doc()).sort());
  } finally {
    office.shutdown();
    school.shutdown();
  }
});

test("a school cannot fetch another school's item", async () => {
  const school = client(env("TOKEN_SCHOOL1"));
  try {
    await assert.rejects(school.find(OTHER), /unavailable/i);
  } finally {
    school.shutdown();
  }
});

test("a school cannot change the title; the office never sees it", async () => {
  const office = client(env("TOKEN_OFFICE"));
  const school = client(env("TOKEN_SCHOOL1"));
  try {
    const [atOffice, atSchool] = await Promise.all([office.find(SHARED), school.find(SHARED)]);
    const title = atOffice.doc().title;
    atSchool.change((d) => A.splice(d, ["title"], 0, 0, "已解决："));
    // The office still syncs: its own change comes back from the server to the school.
    atOffice.change((d) => {
      d.feedback.push(feedback("node-f2", "核实中"));
    });
    await until(() => atSchool.doc().feedback.some((f) => String(f.id) === "node-f2"), "the office's change at the school");
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(atOffice.doc().title, title, "the refused title change never reached the office");
  } finally {
    office.shutdown();
    school.shutdown();
  }
});

test("a school cannot sign off its own work; the office never sees it", async () => {
  const office = client(env("TOKEN_OFFICE"));
  const school = client(env("TOKEN_SCHOOL1"));
  try {
    const [atOffice, atSchool] = await Promise.all([office.find(SHARED), school.find(SHARED)]);
    const before = String(atOffice.doc().progress[UNIT].status);
    assert.notEqual(before, "signed_off");
    // 销号 is the office's decision: a modified client writes it anyway.
    atSchool.change((d) => {
      d.progress[UNIT].status = raw("signed_off");
    });
    atOffice.change((d) => {
      d.feedback.push(feedback("node-f3", "销号须由办公室审核"));
    });
    await until(() => atSchool.doc().feedback.some((f) => String(f.id) === "node-f3"), "the office's change at the school");
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(String(atOffice.doc().progress[UNIT].status), before, "the sign-off never reached the office");
  } finally {
    office.shutdown();
    school.shutdown();
  }
});

test("no token or a bad token: the upgrade is refused with 401", async () => {
  const { default: WebSocket } = await import("ws");
  for (const url of [WS, `${WS}?token=forged`]) {
    const status = await new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.on("unexpected-response", (request, response) => {
        resolve(response.statusCode);
        // The listener owns the request now: end it, or the socket keeps node running.
        request.destroy();
      });
      ws.on("open", () => reject(new Error(`${url} was accepted`)));
      ws.on("error", () => {});
    });
    assert.equal(status, 401, url);
  }
});
