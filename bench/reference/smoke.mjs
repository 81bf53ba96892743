// Smoke test for the reference sync server (or any automerge-repo WebSocket sync server).
// Starts nothing itself.
//
//   node smoke.mjs --url ws://127.0.0.1:PORT
//     Two in-memory client Repos. Client A creates a document and makes 10 changes, waits
//     until the server has them, client B finds the document by URL, then A makes 10 more
//     changes while B is connected; succeeds when B sees all 20. Prints `url automerge:...`
//     (for --find) and the time taken.
//
//   node smoke.mjs --url ws://127.0.0.1:PORT --find automerge:... [--expect 20]
//     One fresh in-memory client finds the document and checks it has `expect` items (for
//     checking what the server kept across a restart).
//
// Exit 0 on success, 1 with a message on stderr on failure; gives up after --timeout seconds
// (default 30).

import { parseArgs } from "node:util";
import { Repo } from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    find: { type: "string" },
    expect: { type: "string", default: "20" },
    timeout: { type: "string", default: "30" },
  },
  strict: true,
});
if (!args.url) {
  console.error("usage: node smoke.mjs --url ws://127.0.0.1:PORT [--find automerge:... [--expect N]]");
  process.exit(2);
}
const N = 20;
const expected = Number(args.expect);

const repos = [];
function fail(message) {
  console.error(`smoke: FAIL: ${message}`);
  process.exit(1);
}
const timer = setTimeout(() => fail(`timed out after ${args.timeout} s`), Number(args.timeout) * 1000);

const client = () => {
  const repo = new Repo({ network: [new WebSocketClientAdapter(args.url)] });
  repos.push(repo);
  return repo;
};

async function until(condition) {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

async function connected(repo) {
  await until(() => repo.peers.length > 0);
  return repo.peers[0];
}

// The server's storageId, as it advertised it in its `peer` message.
function serverStorageId(repo) {
  const server = repo.peers[0];
  const id = repo.peerMetadataByPeerId[server]?.storageId;
  if (!id) fail("the server advertised no storageId");
  return id;
}

const sameHeads = (a, b) => !!a && !!b && a.length === b.length && [...a].sort().join() === [...b].sort().join();

async function twoClients() {
  const t0 = performance.now();
  const a = client();
  const b = client();
  await Promise.all([connected(a), connected(b)]);
  const tConnected = performance.now();

  const handleA = a.create({ items: [] });
  const url = handleA.url;
  console.log(`url ${url}`);
  for (let i = 1; i <= N / 2; i++) handleA.change((d) => void d.items.push(i));
  // Wait until the server acknowledges A's heads, so that B's `request` finds the document.
  const storageId = serverStorageId(a);
  await until(() => sameHeads(handleA.getSyncInfo(storageId)?.lastHeads, handleA.heads()));
  const tServerHas = performance.now();

  const handleB = await b.find(url);
  const tFound = performance.now();
  for (let i = N / 2 + 1; i <= N; i++) handleA.change((d) => void d.items.push(i));
  await until(() => handleB.doc().items.length === N);
  const tDone = performance.now();

  const items = Array.from(handleB.doc().items);
  const want = Array.from({ length: N }, (_, i) => i + 1);
  if (JSON.stringify(items) !== JSON.stringify(want)) fail(`B has ${JSON.stringify(items)}`);
  if (!sameHeads(handleA.heads(), handleB.heads())) fail("A and B have different heads");

  const ms = (x) => `${x.toFixed(1)} ms`;
  console.log(
    `ok: B saw all ${N} changes in ${ms(tDone - t0)} ` +
      `(connect ${ms(tConnected - t0)}, A's first ${N / 2} at the server ${ms(tServerHas - tConnected)}, ` +
      `B found it ${ms(tFound - tServerHas)}, last ${N / 2} relayed to B ${ms(tDone - tFound)})`,
  );
}

async function findOnly(url) {
  const t0 = performance.now();
  const c = client();
  await connected(c);
  let handle;
  try {
    handle = await c.find(url);
  } catch (e) {
    fail(`find ${url}: ${e.message}`);
  }
  const items = Array.from(handle.doc().items ?? []);
  const want = Array.from({ length: expected }, (_, i) => i + 1);
  if (JSON.stringify(items) !== JSON.stringify(want)) fail(`expected items 1..${expected}, got ${JSON.stringify(items)}`);
  console.log(`ok: found ${url} with all ${expected} items in ${(performance.now() - t0).toFixed(1)} ms`);
}

try {
  if (args.find) await findOnly(args.find);
  else await twoClients();
} catch (e) {
  fail(e?.stack ?? String(e));
}
clearTimeout(timer);
for (const repo of repos) repo.shutdown();
process.exit(0);
