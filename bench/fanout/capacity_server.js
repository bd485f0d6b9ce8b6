#!/usr/bin/env node
// Generator-capacity server: NOT a benchmark subject.
//
// Speaks just enough Engine.IO v4 / Socket.IO v5 over plain `ws` for
// loadgen.js (OPEN, CONNECT, ping, "publish" with ack) and fans each publish
// out by writing ONE prebuilt websocket frame straight into every subscriber's
// TCP socket. It does far less work per delivery than any real Socket.IO
// server, so running loadgen.js against it measures the ceiling of the
// generator itself on the same core budget (see fanout_bench.py --capacity).
//
// Usage: node capacity_server.js [--port 3002]
"use strict";

const http = require("http");
const { WebSocketServer } = require("ws");

const i = process.argv.indexOf("--port");
const port = i > 0 ? parseInt(process.argv[i + 1], 10) : 3002;

function frame(text) {
  const payload = Buffer.from(text);
  const n = payload.length;
  let head;
  if (n < 126) head = Buffer.from([0x81, n]);
  else if (n < 65536) { head = Buffer.alloc(4); head[0] = 0x81; head[1] = 126; head.writeUInt16BE(n, 2); }
  else { head = Buffer.alloc(10); head[0] = 0x81; head[1] = 127; head.writeBigUInt64BE(BigInt(n), 2); }
  return Buffer.concat([head, payload]);
}

const server = http.createServer();
const wss = new WebSocketServer({ server, perMessageDeflate: false });
const room = new Set();
let nextSid = 1;

wss.on("connection", (ws) => {
  const sid = "s" + nextSid++;
  ws.send(`0{"sid":"${sid}","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`);
  ws.on("message", (buf) => {
    const s = buf.toString();
    if (s === "3") return;
    if (s.startsWith("40")) {
      const publisher = s.includes('"publisher"');
      if (!publisher) room.add(ws);
      ws.send(`40{"sid":"${sid}x"}`);
      return;
    }
    const m = /^42(\d*)\["publish",([\s\S]*)\]$/.exec(s);
    if (m) {
      const f = frame(`42["bench",${m[2]}]`);
      for (const peer of room) peer._socket.write(f);
      if (m[1]) ws.send(`43${m[1]}[${room.size}]`);
    }
  });
  ws.on("close", () => room.delete(ws));
});

server.listen(port, "127.0.0.1", () => {
  console.log(JSON.stringify({ ready: true, server: "capacity", port, pid: process.pid }));
});
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
