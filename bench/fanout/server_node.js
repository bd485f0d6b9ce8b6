#!/usr/bin/env node
// Node.js reference server for the fan-out benchmark.
//
// socket.io 4.x with DEFAULT server options (engine.io defaults: polling +
// websocket allowed, perMessageDeflate off, httpCompression on for polling).
// The load generator connects straight over the websocket transport.
//
// Room logic (identical in stock_python.py / fast_python.py):
//   * every client that connects joins room "bench" -- except a client whose
//     CONNECT auth payload is {"role": "publisher"}; an auth {"token": ...}
//     is kept on socket.data (stand-in for an authenticated session);
//   * on event "publish" (with ack) the server broadcasts the payload to room
//     "bench" as event "bench" and then acks with the number of recipients.
//
// Usage: node server_node.js [--port 3000] [--host 127.0.0.1] [--msgpack]
"use strict";

const http = require("http");
const { Server } = require("socket.io");

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const port = parseInt(arg("--port", "3000"), 10);
const host = arg("--host", "127.0.0.1");
const opts = {};
if (process.argv.includes("--msgpack")) {
  opts.parser = require("socket.io-msgpack-parser");
}

const httpServer = http.createServer();
const io = new Server(httpServer, opts);

io.on("connection", (socket) => {
  const auth = socket.handshake.auth || {};
  if (auth.token !== undefined) socket.data.userId = String(auth.token); // "authenticated" session
  if (auth.role !== "publisher") {
    socket.join("bench");
  }
  socket.on("publish", (payload, ack) => {
    io.to("bench").emit("bench", payload);
    if (typeof ack === "function") {
      ack(io.sockets.adapter.rooms.get("bench")?.size || 0);
    }
  });
});

httpServer.listen(port, host, () => {
  // The benchmark driver waits for this line.
  console.log(JSON.stringify({ ready: true, server: "node", port, pid: process.pid }));
});

function shutdown() {
  io.close();
  httpServer.close();
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
