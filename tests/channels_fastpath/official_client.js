// Official socket.io-client 4.x driver for tests/channels_fastpath.
// Run with NODE_PATH pointing at bench/fanout/node_modules.
//
//   node official_client.js '{"url": "...", "parser": "json"|"msgpack",
//                             "transports": ["websocket"], "expect": 50}'
//
// Prints one JSON line {"ready": true, "ack": ...} once connected and after
// an "echo" call with ack succeeded, then one JSON line
// {"events": [...]} once `expect` "bcast" events arrived (binary values are
// turned into {"hex": "..."}), then exits.
"use strict";
const { io } = require("socket.io-client");

const cfg = JSON.parse(process.argv[2]);
const opts = { transports: cfg.transports || ["websocket"], reconnection: false, timeout: 10000 };
if (cfg.parser === "msgpack") opts.parser = require("socket.io-msgpack-parser");

function plain(v) {
  if (Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
    return { hex: Buffer.from(v.buffer ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v).toString("hex") };
  }
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") {
    const o = {};
    for (const k of Object.keys(v)) o[k] = plain(v[k]);
    return o;
  }
  return v;
}

const socket = io(cfg.url, opts);
const events = [];
const timer = setTimeout(() => {
  console.log(JSON.stringify({ error: "timeout", got: events.length, transport: socket.io.engine && socket.io.engine.transport.name }));
  process.exit(2);
}, cfg.timeoutMs || 20000);

socket.on("bcast", (payload) => {
  events.push(plain(payload));
  if (events.length >= cfg.expect) {
    console.log(JSON.stringify({ events, transport: socket.io.engine.transport.name }));
    clearTimeout(timer);
    socket.close();
    setTimeout(() => process.exit(0), 50);
  }
});
socket.on("connect_error", (e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(3); });
socket.on("connect", async () => {
  const ack = await socket.timeout(5000).emitWithAck("echo", { hello: "world", bin: Buffer.from([1, 2, 3]) });
  console.log(JSON.stringify({ ready: true, ack: plain(ack), transport: socket.io.engine.transport.name }));
});
