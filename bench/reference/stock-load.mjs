// Stock automerge-repo clients driving the throughput workload against a sync server (issue
// #17): C client Repos in this one process, each editing its own document, one change at a
// time, each waited for until the server acknowledges it. Started by the bench
// (bench/src/stock.rs), which reads the server's CPU around the measured part.
//
//   node stock-load.mjs --plan PLAN.json --changes N [--timeout S] [--change-timeout S]
//
// PLAN.json: { "url": "ws://127.0.0.1:PORT/sync",
//              "clients": [{ "token", "user", "unit", "document"?, "base"? }] }
//   With `document` (a Rectify item the client's school may edit), the client finds
//   `automerge:<document>`. Without it, the client imports `base` (a saved document, hex)
//   as a new document (the reference accepts any) and waits until the server has all of it.
//   Every client connects to `url?token=<token>` (the reference ignores the token).
//
// Protocol: stdout carries exactly two lines. `ready {...}` once every client holds its
// document and the server has it; then the driver waits for `go` on stdin, runs, prints
// `result {...}` (JSON, below), and waits for `stop` (or the end of stdin) before shutting the
// Repos down and exiting 0. Everything else goes to stderr. The whole run exits 1 after
// --timeout seconds (default 300).
//
// The edit is what the app does for a school (`ItemEdit::UnitNarrative` through
// `model::apply`, as `sync-load throughput` makes it): a sentence appended to the school's
// progress narrative (collaborative text), `updated_by` and `updated_at_ms` set, and the
// commit message `{"user":…,"op":"unit_narrative"}`. One Automerge change per edit.
//
// Acknowledgement: the network adapter is the stock WebSocketClientAdapter; the driver only
// listens beside the Repo. Outgoing, `send` is wrapped: the first `sync` message for the
// document whose changes hold the new change's hash is the moment it was *sent*. Incoming,
// the adapter's `message` events (the same decoded messages the Repo receives) are read: a
// `sync` message for the document whose heads (`decodeSyncMessage(data).heads`) include the
// change's hash is the server's acknowledgement. So `ack_ms` is send → acknowledgement (what
// the server costs), `change_ack_ms` is `handle.change()` → acknowledgement and `send_ms`
// `handle.change()` → sent. A stock DocSynchronizer sends a document's changes after a local
// change at most every 100 ms, but it also answers each sync message it receives at once,
// after an `await`: the next edit, made here as soon as the acknowledgement is seen, usually
// rides in the client's answer to that very message, so the throttle seldom applies (see
// `send_ms`). Nothing here changes the stock client's behaviour. A server error message (a refused change) is only logged by the stock adapter, so
// a refusal shows as a change never acknowledged within --change-timeout; that client stops.
//
// result: { clients, changes, acked, failed, errors: [..], wall_s, ack_ms: [..],
//           change_ack_ms: [..], send_ms: [..] }   (milliseconds, one per acknowledged change)

import * as A from "@automerge/automerge";
import { Repo } from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";
import fs from "node:fs";
import readline from "node:readline";
import { parseArgs } from "node:util";

// stdout is the protocol: the library's own console.log goes to stderr.
const writeStdout = (line) => process.stdout.write(`${line}\n`);
console.log = (...args) => console.error(...args);
console.info = (...args) => console.error(...args);

const { values: args } = parseArgs({
  options: {
    plan: { type: "string" },
    changes: { type: "string", default: "40" },
    timeout: { type: "string", default: "300" },
    "change-timeout": { type: "string", default: "30" },
  },
  strict: true,
});
if (!args.plan) {
  console.error("usage: node stock-load.mjs --plan PLAN.json --changes N [--timeout S]");
  process.exit(2);
}
const plan = JSON.parse(fs.readFileSync(args.plan, "utf8"));
const CHANGES = Number(args.changes);
const CHANGE_LIMIT_MS = Number(args["change-timeout"]) * 1000;

function fail(message) {
  console.error(`stock-load: FAIL: ${message}`);
  process.exit(1);
}
setTimeout(() => fail(`timed out after ${args.timeout} s`), Number(args.timeout) * 1000).unref();

const raw = (s) => new A.RawString(s);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** One stock client: a Repo with one WebSocketClientAdapter, watched beside the Repo. */
class Client {
  constructor(n, spec) {
    this.n = n;
    this.spec = spec;
    this.adapter = new WebSocketClientAdapter(`${plan.url}?token=${encodeURIComponent(spec.token)}`);
    this.repo = new Repo({ network: [this.adapter] });
    this.documentId = null;
    // The change waited for: { hashes, sentAt, resolve }.
    this.waiting = null;
    this.acks = [];
    this.changeAcks = [];
    this.sends = [];
    const send = this.adapter.send.bind(this.adapter);
    this.adapter.send = (message) => {
      this.#outgoing(message);
      return send(message);
    };
    this.adapter.on("message", (message) => this.#incoming(message));
  }

  #outgoing(message) {
    const w = this.waiting;
    if (!w || w.sentAt !== null || message.type !== "sync" || message.documentId !== this.documentId) return;
    let sync;
    try {
      sync = A.decodeSyncMessage(message.data);
    } catch {
      return;
    }
    if (sync.changes.length === 0) return;
    const carried = sync.changes.some((bytes) => {
      try {
        return w.hashes.includes(A.decodeChange(bytes).hash);
      } catch {
        // A whole saved document instead of changes (Automerge does that when most of a
        // document is new): the first message with changes after ours carries it.
        return true;
      }
    });
    if (carried) w.sentAt = performance.now();
  }

  #incoming(message) {
    const w = this.waiting;
    if (!w || message.type !== "sync" || message.documentId !== this.documentId) return;
    let heads;
    try {
      heads = A.decodeSyncMessage(message.data).heads;
    } catch {
      return;
    }
    if (w.hashes.every((h) => heads.includes(h))) {
      this.waiting = null;
      w.resolve(performance.now());
    }
  }

  /** Resolves with the time the server's heads included `hashes`; rejects after the limit. */
  acknowledged(hashes) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new Error(`client ${this.n}: no acknowledgement within ${CHANGE_LIMIT_MS} ms`));
      }, CHANGE_LIMIT_MS);
      this.waiting = {
        hashes,
        sentAt: null,
        resolve: (at) => {
          clearTimeout(timer);
          resolve(at);
        },
      };
    });
  }

  async open() {
    while (this.repo.peers.length === 0) await sleep(10);
    if (this.spec.document) {
      this.handle = await this.repo.find(`automerge:${this.spec.document}`);
      this.documentId = this.handle.documentId;
    } else {
      const ack = () => this.acknowledged(A.getHeads(this.handle.doc()));
      this.handle = this.repo.import(Buffer.from(this.spec.base, "hex"));
      this.documentId = this.handle.documentId;
      await ack();
    }
    const progress = this.handle.doc().progress?.[this.spec.unit];
    if (!progress || progress.narrative === undefined) {
      throw new Error(`client ${this.n}: the document has no progress entry for ${this.spec.unit}`);
    }
  }

  /** One edit, as the app makes it for a school; returns the new change's hashes. */
  edit(k) {
    const { unit, user } = this.spec;
    const before = new Set(A.getHeads(this.handle.doc()));
    this.handle.change(
      (d) => {
        const p = d.progress[unit];
        A.splice(d, ["progress", unit, "narrative"], p.narrative.length, 0, `第${k}次进展：${user}已落实整改措施。`);
        p.updated_by = raw(user);
        p.updated_at_ms = Date.now();
      },
      { message: JSON.stringify({ user, op: "unit_narrative" }), time: Math.floor(Date.now() / 1000) },
    );
    return A.getHeads(this.handle.doc()).filter((h) => !before.has(h));
  }

  async run(changes) {
    for (let k = 1; k <= changes; k++) {
      const changedAt = performance.now();
      const hashes = this.edit(k);
      if (hashes.length === 0) throw new Error(`client ${this.n}: edit ${k} made no change`);
      const waiting = this.acknowledged(hashes);
      const w = this.waiting;
      const ackAt = await waiting;
      const sentAt = w.sentAt ?? changedAt;
      this.acks.push(ackAt - sentAt);
      this.changeAcks.push(ackAt - changedAt);
      this.sends.push(sentAt - changedAt);
    }
  }
}

const clients = plan.clients.map((spec, n) => new Client(n, spec));
const t0 = performance.now();
try {
  await Promise.all(clients.map((c) => c.open()));
} catch (e) {
  fail(e?.stack ?? String(e));
}
// Let the opening's traffic end before the measured part.
await sleep(500);
writeStdout(`ready ${JSON.stringify({ clients: clients.length, open_s: (performance.now() - t0) / 1000 })}`);

const lines = readline.createInterface({ input: process.stdin });
const commands = lines[Symbol.asyncIterator]();
const next = async () => {
  const { value, done } = await commands.next();
  return done ? null : value.trim();
};
let command = await next();
if (command !== "go") fail(`expected \`go\` on stdin, got ${JSON.stringify(command)}`);

const started = performance.now();
const errors = [];
await Promise.all(
  clients.map((c) =>
    c.run(CHANGES).catch((e) => {
      errors.push(e?.message ?? String(e));
    }),
  ),
);
const wall = (performance.now() - started) / 1000;
const all = (f) => clients.flatMap(f).map((x) => Math.round(x * 1000) / 1000);
const acked = clients.reduce((sum, c) => sum + c.acks.length, 0);
const result = {
  clients: clients.length,
  changes: CHANGES,
  acked,
  failed: errors.length,
  errors: errors.slice(0, 5),
  wall_s: wall,
  ack_ms: all((c) => c.acks),
  change_ack_ms: all((c) => c.changeAcks),
  send_ms: all((c) => c.sends),
};
writeStdout(`result ${JSON.stringify(result)}`);

do {
  command = await next();
} while (command !== null && command !== "stop");
for (const c of clients) c.repo.shutdown();
process.exit(0);
