// The reference automerge-repo sync server the benchmarks compare Rectify with (issue #9).
//
// It is the official @automerge/automerge-repo-sync-server (github.com/automerge/
// automerge-repo-sync-server, src/server.js, v0.3.0) with only the plumbing changed:
//
//   * the same Repo configuration: one NodeWSServerAdapter on a `ws` WebSocketServer in
//     noServer mode behind an HTTP server's `upgrade` event, a NodeFSStorageAdapter on the data
//     directory, peerId `storage-server-${hostname}` and `sharePolicy: async () => false`;
//   * node:http instead of express (express only served static files and a "running" page,
//     neither of which takes part in sync), so the package needs no dependency beyond the
//     automerge-repo ones;
//   * `--port N` (0 = let the OS pick) and `--data DIR` instead of the PORT and DATA_DIR
//     environment variables;
//   * exactly one line on stdout, `listening on PORT`, for the bench to read; everything else,
//     including the library's own console.log calls, goes to stderr;
//   * SIGTERM/SIGINT close the listener and the sockets, write every loaded document to disk,
//     then exit 0 (the official server has no shutdown handling).
//
// Why `sharePolicy: async () => false`: it is what the official sync server uses ("Since this
// is a server, we don't share generously — meaning we only sync documents they already know
// about and can ask for by ID"). In automerge-repo 2.x a legacy `sharePolicy` becomes
// `shareConfig = { announce: sharePolicy, access: () => true }`, so the server never announces
// a document to a peer on its own, but any peer that names a document (with `request` or
// `sync`) gets it. `true` would make the server push every document it has loaded to every
// connected peer, which no real deployment would do and which would make the benchmark
// measure broadcast traffic rather than sync.
//
// Usage: node server.mjs --port 0 --data /tmp/reference-data

import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import { parseArgs } from "node:util";
import { WebSocketServer } from "ws";
import { Repo } from "@automerge/automerge-repo";
import { NodeWSServerAdapter } from "@automerge/automerge-repo-network-websocket";
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs";

// stdout carries only the "listening on PORT" line: automerge-repo itself calls console.log in
// a few error paths, so route console.log to stderr before anything else runs.
const writeStdout = (line) => process.stdout.write(`${line}\n`);
console.log = (...args) => console.error(...args);
console.info = (...args) => console.error(...args);

function usage(message) {
  console.error(`server.mjs: ${message}\nusage: node server.mjs --port N --data DIR`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      port: { type: "string", default: "3030" },
      data: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
    },
    strict: true,
  }).values;
} catch (e) {
  usage(e.message);
}
const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`bad --port ${args.port}`);
if (!args.data) usage("--data DIR is required");
const dir = args.data;
fs.mkdirSync(dir, { recursive: true });

const socket = new WebSocketServer({ noServer: true });

const repo = new Repo({
  network: [new NodeWSServerAdapter(socket)],
  storage: new NodeFSStorageAdapter(dir),
  peerId: `storage-server-${os.hostname()}`,
  // See the header: the official sync server's policy.
  sharePolicy: async () => false,
});

const server = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
  res.end("👍 reference automerge-repo sync server is running\n");
});
server.on("upgrade", (request, sock, head) => {
  socket.handleUpgrade(request, sock, head, (ws) => {
    socket.emit("connection", ws, request);
  });
});
server.on("error", (e) => {
  console.error(`server.mjs: ${e.message}`);
  process.exit(1);
});
server.listen(port, args.host, () => {
  writeStdout(`listening on ${server.address().port}`);
  console.error(`reference sync server: data in ${dir}, peerId ${repo.peerId}`);
});

let stopping = false;
async function stop(signal) {
  if (stopping) {
    console.error(`${signal} again: exiting without waiting for storage`);
    process.exit(1);
  }
  stopping = true;
  console.error(`${signal}: closing connections and writing documents`);
  const watchdog = setTimeout(() => {
    console.error("storage did not finish within 10 s; exiting anyway");
    process.exit(1);
  }, 10_000);
  try {
    server.close();
    // Closing the WebSocketServer makes the adapter terminate every socket (its "close"
    // handler calls disconnect()) and stops its keep-alive timer.
    socket.close();
    // Repo.shutdown() would flush every cached handle, but Repo.flush() calls handle.doc(),
    // which throws for handles that never became ready (a `request` for a document the server
    // doesn't have leaves one behind in the "unavailable" state). Flush the ready ones only.
    const ready = Object.values(repo.handles)
      .filter((h) => h.isReady())
      .map((h) => h.documentId);
    await repo.flush(ready);
    console.error(`wrote ${ready.length} document(s)`);
    clearTimeout(watchdog);
    process.exit(0);
  } catch (e) {
    console.error(`shutdown failed: ${e?.stack ?? e}`);
    process.exit(1);
  }
}
process.on("SIGTERM", () => void stop("SIGTERM"));
process.on("SIGINT", () => void stop("SIGINT"));
