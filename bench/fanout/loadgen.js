#!/usr/bin/env node
// Socket.IO fan-out load generator.
//
// Opens N subscriber connections (raw `ws` sockets speaking Engine.IO v4 /
// Socket.IO v5 -- much cheaper than socket.io-client) sharded over W child
// processes, plus one publisher connection in this (parent) process. The
// publisher emits an event with an ack and keeps a FIXED WINDOW of publishes
// in flight (default 1): a new publish is sent only when an ack comes back.
// Every payload carries a send timestamp (CLOCK_MONOTONIC, microseconds, as
// the marker "kkts<digits>"); each subscriber computes end-to-end latency on
// receipt. The marker is found by a byte search in the raw frame, so it works
// whatever envelope the server wraps the payload in (and for msgpack, whose
// strings are raw UTF-8).
//
// Output (stdout, one JSON object): deliveries/s, latency p50/p90/p99/max,
// publishes/s, loss check, and the generator's own CPU / event-loop
// utilisation per process (the headroom evidence).
//
// Generic knobs so it can drive the real Klear Karma server:
//   --auth-file FILE        JSON array; element i is the CONNECT auth of
//                           subscriber i (e.g. [{"token":"..."}, ...])
//   --auth JSON             CONNECT auth for every subscriber ("{i}" in any
//                           string is replaced by the subscriber index)
//   --publisher-auth JSON   CONNECT auth of the publisher
//   --join-event NAME --join-args JSON   event (with ack) each subscriber
//                           emits after connecting, e.g. conversation:join
//   --publish-event NAME --publish-args JSON   the event the publisher emits
//                           with an ack; the string "__TS__" inside the args
//                           is replaced by the timestamp marker and "__UUID__"
//                           by a fresh UUID per publish (e.g. a client_id)
//   --deliver-event NAME    event name subscribers count (default "bench")
//   --parser json|msgpack   Socket.IO parser (msgpack = socket.io-msgpack-parser)
//   --client raw|ws         websocket client implementation (default raw, see
//                           below); both offer permessage-deflate like a
//                           browser unless --no-deflate-offer is given
//
// Usage: node loadgen.js --url http://127.0.0.1:3000 [--clients 1000]
//        [--workers 2] [--window 1] [--rate 0] [--warmup 3] [--duration 10]
//        [--payload-bytes 100] [--server-pid PID[,PID...]]  (CPU summed over the pids)
//        node loadgen.js --idle --clients 10000 ...   (open, hold, no publisher)
//        [--browser-headers]   (raw client: add a desktop browser's handshake headers)
"use strict";

const { fork } = require("child_process");
const { performance } = require("perf_hooks");
const WebSocket = require("ws");
const { randomUUID } = require("crypto");

// ---------------------------------------------------------------- helpers

function parseArgs(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) continue;
    const k = a.slice(2);
    const nxt = argv[i + 1];
    if (nxt === undefined || nxt.startsWith("--")) o[k] = true;
    else { o[k] = nxt; i++; }
  }
  return o;
}

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

// Log-linear latency histogram in microseconds: 1 us resolution below 1 ms,
// then 1 % wide buckets up to ~100 s.
const LIN = 1000;
const LOGSTEP = Math.log(1.01);
const NBUCKETS = LIN + Math.ceil(Math.log(1e8 / LIN) / LOGSTEP) + 2;
function bucketOf(us) {
  if (us < 0) us = 0;
  if (us < LIN) return us | 0;
  const b = LIN + Math.floor(Math.log(us / LIN) / LOGSTEP);
  return b < NBUCKETS ? b : NBUCKETS - 1;
}
function bucketUpper(b) {
  if (b < LIN) return b + 1;
  return LIN * Math.exp((b - LIN + 1) * LOGSTEP);
}
function percentile(hist, total, p) {
  if (total === 0) return null;
  const target = Math.ceil(total * p);
  let acc = 0;
  for (let b = 0; b < hist.length; b++) {
    acc += hist[b];
    if (acc >= target) return bucketUpper(b);
  }
  return bucketUpper(hist.length - 1);
}

function sioUrl(base, path) {
  const u = new URL(base);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  u.pathname = path || "/socket.io/";
  u.search = "EIO=4&transport=websocket";
  return u.toString();
}

function substitute(value, i) {
  if (typeof value === "string") return value.split("{i}").join(String(i));
  if (Array.isArray(value)) return value.map((v) => substitute(v, i));
  if (value && typeof value === "object") {
    const o = {};
    for (const k of Object.keys(value)) o[k] = substitute(value[k], i);
    return o;
  }
  return value;
}

// ------------------------------------------------------ Socket.IO codecs
// Minimal client-side encoders/decoders for the two parsers we support.

function makeCodec(kind) {
  if (kind === "msgpack") {
    const notepack = require("notepack.io");
    return {
      binary: true,
      connect: (auth) => notepack.encode(auth ? { type: 0, nsp: "/", data: auth } : { type: 0, nsp: "/" }),
      event: (id, args) => notepack.encode(id == null ? { type: 2, nsp: "/", data: args } : { type: 2, nsp: "/", data: args, id }),
      // returns {type, id} for frames we care about (or null)
      peek: (buf, isBinary) => {
        if (!isBinary) return { eio: buf.toString() };
        const p = notepack.decode(buf);
        return { type: p.type, id: p.id, data: p.data };
      },
    };
  }
  return {
    binary: false,
    connect: (auth) => (auth ? "40" + JSON.stringify(auth) : "40"),
    event: (id, args) => "42" + (id == null ? "" : String(id)) + JSON.stringify(args),
    peek: null,
  };
}

// ------------------------------------------------------ websocket clients
// Two interchangeable client implementations with the same small interface
// ({send(data), terminate(), onmessage(buf, isBinary), onclose(code, reason)}):
//   "raw" (default): a plain TCP socket with a minimal RFC 6455 client --
//        handshake, frame parser, masked sends (zero mask key). It offers
//        permessage-deflate exactly like a browser does and inflates if the
//        server accepts it, so servers see the same handshake as from `ws`.
//   "ws": the `ws` package with default options (also offers deflate).
// raw is ~2-3x cheaper per received frame, which is what lets one core of
// generator outrun one core of server (see README, "generator headroom").

const net = require("net");
const crypto = require("crypto");
const zlib = require("zlib");

function connectWsLib(url, offerDeflate) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: offerDeflate });
    const early = []; // frames that arrived before the caller installed onmessage
    const c = {
      onmessage: null, onclose: null,
      send: (d) => ws.send(d),
      terminate: () => ws.terminate(),
      deflate: false,
      start: () => { for (const [p, b] of early.splice(0)) c.onmessage(p, b); },
    };
    ws.on("open", () => { c.deflate = !!(ws.extensions && ws.extensions.includes("permessage-deflate")); resolve(c); });
    ws.on("error", (e) => reject(e));
    ws.on("message", (buf, isBinary) => (c.onmessage ? c.onmessage(buf, isBinary) : early.push([buf, isBinary])));
    ws.on("close", (code, reason) => c.onclose && c.onclose(code, reason.toString()));
  });
}

const DEFLATE_TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const ZERO_MASK = Buffer.alloc(4);

function clientFrame(data) {
  const isBin = Buffer.isBuffer(data);
  const payload = isBin ? data : Buffer.from(data);
  const n = payload.length;
  const op = isBin ? 0x82 : 0x81;
  let head;
  if (n < 126) head = Buffer.from([op, 0x80 | n]);
  else if (n < 65536) { head = Buffer.alloc(4); head[0] = op; head[1] = 0x80 | 126; head.writeUInt16BE(n, 2); }
  else { head = Buffer.alloc(10); head[0] = op; head[1] = 0x80 | 127; head.writeBigUInt64BE(BigInt(n), 2); }
  // mask key 0000: XOR with zero leaves the payload as is (RFC 6455 allows any key)
  return Buffer.concat([head, ZERO_MASK, payload]);
}

const READ_BUF = Buffer.alloc(256 * 1024);

// --browser-headers: what a desktop Chrome adds to a websocket handshake
// (~700 bytes), so per-connection memory is measured with realistic
// request headers rather than the bare minimum.
const BROWSER_HEADERS = process.argv.includes("--browser-headers") ? [
  "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  "Accept-Encoding: gzip, deflate, br, zstd",
  "Accept-Language: en-US,en;q=0.9,de;q=0.8",
  "Cache-Control: no-cache",
  "Pragma: no-cache",
  "Cookie: kk_session=" + "a".repeat(64) + "; _ga=GA1.1.1234567890.1700000000; theme=dark",
  "Sec-CH-UA: \"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"",
  "Sec-CH-UA-Mobile: ?0",
  "Sec-CH-UA-Platform: \"Windows\"",
  "Sec-Fetch-Dest: websocket",
  "Sec-Fetch-Mode: websocket",
  "Sec-Fetch-Site: same-origin",
  "",
].join("\r\n") : "";

function connectRaw(url, offerDeflate) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    // onread: the kernel data lands in one static per-process buffer and our
    // callback parses it synchronously -- no stream machinery, no Buffer
    // allocation per read. Anything kept past the callback must be copied.
    const sock = net.connect({
      host: u.hostname, port: parseInt(u.port || "80", 10),
      onread: { buffer: READ_BUF, callback: (n, b) => { onChunk(b.subarray(0, n)); } },
    });
    sock.setNoDelay(true);
    const key = crypto.randomBytes(16).toString("base64");
    let handshaken = false;
    let buf = null; // unparsed bytes
    let fragments = null;
    let fragOp = 0;
    let fragRsv1 = false;
    let inflater = null;
    let closed = false;
    const c = {
      onmessage: null, onclose: null, deflate: false,
      send: (d) => { if (!closed) sock.write(clientFrame(d)); },
      terminate: () => { closed = true; sock.destroy(); },
    };
    const early = []; // frames parsed before the caller installed onmessage
    c.start = () => { for (const [p, b] of early.splice(0)) c.onmessage(p, b); };
    const emit = (p, b) => { if (c.onmessage) c.onmessage(p, b); else early.push([Buffer.from(p), b]); };
    function deliver(op, payload, rsv1) {
      const isBinary = op === 2;
      if (rsv1 && inflater) {
        // context takeover: one streaming inflater per connection, in order
        inflater.write(Buffer.from(payload));
        inflater.write(DEFLATE_TRAILER);
        inflater.flush(zlib.constants.Z_SYNC_FLUSH, () => {
          const out = inflater.chunks.length === 1 ? inflater.chunks[0] : Buffer.concat(inflater.chunks);
          inflater.chunks = [];
          emit(out, isBinary);
        });
      } else {
        emit(payload, isBinary);
      }
    }
    function parse() {
      while (buf && buf.length >= 2) {
        const b0 = buf[0];
        const b1 = buf[1];
        let len = b1 & 0x7f;
        let off = 2;
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
        else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
        const masked = (b1 & 0x80) !== 0;
        if (masked) off += 4;
        if (buf.length < off + len) return;
        let payload = buf.subarray(off, off + len);
        if (masked) {
          const m = buf.subarray(off - 4, off);
          payload = Buffer.from(payload);
          for (let j = 0; j < payload.length; j++) payload[j] ^= m[j & 3];
        }
        buf = buf.length === off + len ? null : buf.subarray(off + len);
        const fin = (b0 & 0x80) !== 0;
        const rsv1 = (b0 & 0x40) !== 0;
        const op = b0 & 0x0f;
        if (op === 8) { closed = true; const code = len >= 2 ? payload.readUInt16BE(0) : 1005; sock.end(); c.onclose && c.onclose(code, payload.subarray(2).toString()); return; }
        if (op === 9) { if (!closed) sock.write(Buffer.concat([Buffer.from([0x8a, 0x80 | payload.length]), ZERO_MASK, payload])); continue; }
        if (op === 10) continue;
        if (op === 0) {
          fragments.push(Buffer.from(payload));
          if (fin) { const all = Buffer.concat(fragments); fragments = null; deliver(fragOp, all, fragRsv1); }
          continue;
        }
        if (!fin) { fragments = [Buffer.from(payload)]; fragOp = op; fragRsv1 = rsv1; continue; }
        deliver(op, payload, rsv1);
      }
    }
    sock.on("connect", () => {
      sock.setNoDelay(true);
      let req = `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`;
      if (offerDeflate) req += "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
      // same-origin, as the page that opened it (engineio checks Origin)
      if (BROWSER_HEADERS) req += `Origin: ${u.protocol === "wss:" ? "https" : "http"}://${u.host}\r\n` + BROWSER_HEADERS;
      sock.write(req + "\r\n");
    });
    function onChunk(chunk) {
      // chunk is a view of READ_BUF: only valid until we return
      buf = buf ? Buffer.concat([buf, chunk]) : chunk;
      if (!handshaken) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) { buf = Buffer.from(buf); return; }
        const head = buf.subarray(0, end).toString("latin1");
        buf = buf.length > end + 4 ? buf.subarray(end + 4) : null;
        if (!/^HTTP\/1\.1 101/.test(head)) { reject(new Error("handshake failed: " + head.split("\r\n")[0])); sock.destroy(); return; }
        const ext = /\r\nsec-websocket-extensions:\s*([^\r]*)/i.exec(head);
        if (ext && ext[1].includes("permessage-deflate")) {
          c.deflate = true;
          const mwb = /server_max_window_bits=(\d+)/.exec(ext[1]);
          inflater = zlib.createInflateRaw({ windowBits: mwb ? parseInt(mwb[1], 10) : 15 });
          inflater.chunks = [];
          inflater.on("data", (d) => inflater.chunks.push(d));
        }
        handshaken = true;
        resolve(c);
      }
      parse();
      if (buf && buf.buffer === READ_BUF.buffer) buf = Buffer.from(buf); // keep a partial frame
    }
    sock.on("error", (e) => { if (!handshaken) reject(e); });
    sock.on("close", () => { if (!closed) { closed = true; c.onclose && c.onclose(1006, "socket closed"); } });
  });
}

// Opens one Engine.IO/Socket.IO websocket connection. Calls onFrame(buf,
// isBinary) for every frame after the Socket.IO CONNECT completed (and the
// optional join ack), answers Engine.IO pings.
async function openConnection(url, codec, auth, join, onFrame, onClose, clientKind, offerDeflate) {
  const c = await (clientKind === "ws" ? connectWsLib : connectRaw)(url, offerDeflate);
  return new Promise((resolve, reject) => {
    let state = 0; // 0 wait OPEN, 1 wait CONNECT ack, 2 wait join ack, 3 ready
    const timer = setTimeout(() => { reject(new Error("connect timeout")); c.terminate(); }, 30000);
    c.onclose = (code, reason) => {
      if (state < 3) { clearTimeout(timer); reject(new Error(`closed during handshake ${code} ${reason}`)); }
      else if (onClose) onClose(code, reason);
    };
    c.onmessage = (buf, isBinary) => {
      // Engine.IO ping (text "2") -> pong "3", whatever the parser
      if (!isBinary && buf.length === 1 && buf[0] === 0x32) { c.send("3"); return; }
      if (state === 3) { onFrame(buf, isBinary); return; }
      if (state === 0) {
        if (!isBinary && buf[0] === 0x30) { state = 1; c.send(codec.connect(auth)); }
        return;
      }
      let type, id;
      if (codec.binary) {
        if (!isBinary) return;
        const p = codec.peek(buf, true); type = p.type; id = p.id;
      } else {
        const s = buf.toString();
        if (s[0] !== "4") return;
        type = s.charCodeAt(1) - 48;
        const m = /^4\d(\d+)/.exec(s); id = m ? parseInt(m[1], 10) : undefined;
        if (type === 4) { clearTimeout(timer); reject(new Error("CONNECT_ERROR " + s)); c.terminate(); return; }
      }
      if (state === 1 && type === 0) {
        if (join) { state = 2; c.send(codec.event(1, [join.event, ...join.args])); }
        else { state = 3; clearTimeout(timer); resolve(c); }
      } else if (state === 1 && type === 4) {
        clearTimeout(timer); reject(new Error("CONNECT_ERROR")); c.terminate();
      } else if (state === 2 && type === 3 && id === 1) {
        state = 3; clearTimeout(timer); resolve(c);
      }
    };
    if (c.start) c.start();
  });
}

async function openMany(count, concurrency, fn) {
  const out = new Array(count);
  let next = 0;
  async function lane() {
    while (next < count) {
      const i = next++;
      out[i] = await fn(i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return out;
}

// ------------------------------------------------------------- subscriber

const MARK = Buffer.from("kkts");
const SEQ = Buffer.from('"seq":');

async function subscriberMain() {
  let cfg = null;
  let hist = new Float64Array(NBUCKETS);
  let count = 0;
  let latSum = 0;
  let countAll = 0; // deliveries since connect, never reset (loss check)
  // order check, for servers whose deliveries carry a "seq" (ours): per connection, every seq
  // must be the previous one + 1; one lower or equal is a duplicate or an overtaken message
  let seqFrames = 0, late = 0, gaps = 0;
  let closed = 0;
  let closeReasons = {};
  let elu0 = performance.eventLoopUtilization();
  let cpu0 = process.cpuUsage();
  let t0 = nowUs();

  function onFrame(buf, _binary, st) {
    // A delivery is any frame carrying the timestamp marker; the publisher
    // is a separate connection, so acks never land here.
    const at = buf.indexOf(MARK);
    if (at < 0) return;
    let ts = 0;
    for (let j = at + 4; j < buf.length; j++) {
      const c = buf[j] - 48;
      if (c < 0 || c > 9) break;
      ts = ts * 10 + c;
    }
    const lat = nowUs() - ts;
    hist[bucketOf(lat)]++;
    count++;
    countAll++;
    latSum += lat;
    const s = buf.indexOf(SEQ);
    if (s < 0) return;
    let j = s + SEQ.length, seq = 0;
    while (buf[j] === 32) j++;
    for (; j < buf.length; j++) {
      const c = buf[j] - 48;
      if (c < 0 || c > 9) break;
      seq = seq * 10 + c;
    }
    seqFrames++;
    if (st.hi !== null && seq <= st.hi) late++;
    else { if (st.hi !== null && seq > st.hi + 1) gaps++; st.hi = seq; }
  }
  function onClose(code, reason) {
    closed++;
    const k = `${code} ${reason}`;
    closeReasons[k] = (closeReasons[k] || 0) + 1;
  }

  process.on("message", async (m) => {
    if (m.cmd === "open") {
      cfg = m;
      const codec = makeCodec(cfg.parser);
      try {
        const socks = await openMany(cfg.indices.length, 25, (k) => {
          const i = cfg.indices[k];
          const auth = cfg.authList ? cfg.authList[i] : (cfg.auth ? substitute(cfg.auth, i) : null);
          const join = cfg.joinEvent ? { event: cfg.joinEvent, args: substitute(cfg.joinArgs || [], i) } : null;
          const st = { hi: null };
          return openConnection(cfg.url, codec, auth, join, (buf, bin) => onFrame(buf, bin, st), onClose,
                                cfg.clientKind, cfg.offerDeflate);
        });
        process.socks = socks;
        process.send({ cmd: "opened", n: socks.length, deflate: socks.filter((s) => s.deflate).length });
      } catch (e) {
        process.send({ cmd: "error", error: String(e && e.stack || e) });
      }
    } else if (m.cmd === "reset") {
      hist = new Float64Array(NBUCKETS); count = 0; latSum = 0;
      elu0 = performance.eventLoopUtilization(); cpu0 = process.cpuUsage(); t0 = nowUs();
      process.send({ cmd: "reset-done" });
    } else if (m.cmd === "report") {
      const elu = performance.eventLoopUtilization(elu0);
      const cpu = process.cpuUsage(cpu0);
      const wall = nowUs() - t0;
      process.send({
        cmd: "stats", hist: Array.from(hist), count, latSum, countAll, seqFrames, late, gaps, closed, closeReasons,
        elu: elu.utilization, cpu: (cpu.user + cpu.system) / wall, wallUs: wall,
      });
    } else if (m.cmd === "close") {
      for (const s of process.socks || []) s.terminate();
      setTimeout(() => process.exit(0), 50);
    }
  });
  process.send({ cmd: "hello" });
}

// ------------------------------------------------------------- parent

function ask(child, msg, reply) {
  return new Promise((resolve, reject) => {
    const h = (m) => {
      if (m.cmd === reply) { child.off("message", h); resolve(m); }
      else if (m.cmd === "error") { child.off("message", h); reject(new Error(m.error)); }
    };
    child.on("message", h);
    child.send(msg);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Linux /proc sampling: CPU seconds of a pid (utime+stime) and of the whole
// machine (busy = all but idle+iowait), so a run can show that the server
// under test was saturated and how much CPU foreign processes took.
const fs = require("fs");
const CLK_TCK = 100;
function procCpuSeconds(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return (parseInt(f[11], 10) + parseInt(f[12], 10)) / CLK_TCK;
  } catch (e) { return null; }
}
function machineBusySeconds() {
  try {
    const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] || 0);
    const total = f.reduce((x, y) => x + y, 0);
    return (total - idle) / CLK_TCK;
  } catch (e) { return null; }
}

async function parentMain(a) {
  const url = sioUrl(a.url || "http://127.0.0.1:3000", a.path);
  const clients = parseInt(a.clients || "1000", 10);
  const workers = Math.max(1, parseInt(a.workers || "2", 10));
  const window = Math.max(1, parseInt(a.window || "1", 10));
  const rate = parseFloat(a.rate || "0"); // publishes/s cap, 0 = ack-paced only
  const warmup = parseFloat(a.warmup || "3");
  const duration = parseFloat(a.duration || "10");
  const payloadBytes = parseInt(a["payload-bytes"] || "100", 10);
  const parser = a.parser || "json";
  const publishEvent = a["publish-event"] || "publish";
  const deliverEvent = a["deliver-event"] || "bench";
  // incompressible filler (random base64), so permessage-deflate gets no
  // free ride from a run of identical bytes
  const pad = crypto.randomBytes(payloadBytes).toString("base64").slice(0, Math.max(0, payloadBytes - 40));
  const publishArgs = a["publish-args"] ? JSON.parse(a["publish-args"]) : [{ ts: "__TS__", pad }];
  const authList = a["auth-file"] ? JSON.parse(require("fs").readFileSync(a["auth-file"], "utf8")) : null;
  const auth = a.auth ? JSON.parse(a.auth) : null;
  const publisherAuth = a["publisher-auth"] ? JSON.parse(a["publisher-auth"]) : { role: "publisher" };
  const joinEvent = a["join-event"] || null;
  const joinArgs = a["join-args"] ? JSON.parse(a["join-args"]) : [];
  const codec = makeCodec(parser);
  const clientKind = a.client || "raw";
  // like a browser, offer permessage-deflate unless told not to
  const offerDeflate = !a["no-deflate-offer"];

  // shard subscribers over child processes
  const kids = [];
  for (let w = 0; w < workers; w++) {
    const childArgs = ["--subscriber"];
    if (BROWSER_HEADERS) childArgs.push("--browser-headers");
    const child = fork(__filename, childArgs, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    await new Promise((r) => child.once("message", r)); // hello
    kids.push(child);
  }
  const tOpen = Date.now();
  const opened = await Promise.all(kids.map((child, w) => {
    const indices = [];
    for (let i = w; i < clients; i += workers) indices.push(i);
    return ask(child, { cmd: "open", url, parser, indices, authList, auth, joinEvent, joinArgs, clientKind, offerDeflate }, "opened");
  }));
  const connectSeconds = (Date.now() - tOpen) / 1000;

  if (a.idle) {
    // --idle: hold the subscriber connections open (answering Engine.IO
    // pings) until SIGTERM or stdin closes; used by idle_memory.py
    process.stdout.write(JSON.stringify({ opened: clients, connect_seconds: connectSeconds }) + "\n");
    const bye = () => { for (const c of kids) c.send({ cmd: "close" }); setTimeout(() => process.exit(0), 300); };
    process.on("SIGTERM", bye);
    process.stdin.on("end", bye);
    process.stdin.resume();
    return;
  }

  // publisher
  let acked = 0;
  let sent = 0;
  let inflight = 0;
  let running = true;
  let nextId = 1;
  const ackLatHist = new Float64Array(NBUCKETS);
  const sentAt = new Map();
  const templ = JSON.stringify(publishArgs);
  function buildArgs() {
    return JSON.parse(templ.split("__TS__").join("kkts" + nowUs()).split("__UUID__").join(randomUUID()));
  }
  let pub;
  let pendingTimer = null;
  const pubFrame = (buf, isBinary) => {
    let id;
    if (codec.binary) {
      if (!isBinary) return;
      const p = codec.peek(buf, true);
      if (p.type !== 3) return;
      id = p.id;
    } else {
      if (buf[0] !== 0x34 || buf[1] !== 0x33) return; // "43<id>[...]"
      let j = 2; id = 0;
      for (; j < buf.length; j++) { const c = buf[j] - 48; if (c < 0 || c > 9) break; id = id * 10 + c; }
    }
    const t = sentAt.get(id);
    if (t === undefined) return;
    sentAt.delete(id);
    ackLatHist[bucketOf(nowUs() - t)]++;
    acked++;
    inflight--;
    pump();
  };
  const startUs = nowUs();
  function pump() {
    while (running && inflight < window) {
      if (rate > 0) {
        const due = startUs + (sent * 1e6) / rate;
        const wait = due - nowUs();
        if (wait > 0) {
          if (!pendingTimer) pendingTimer = setTimeout(() => { pendingTimer = null; pump(); }, Math.max(1, wait / 1000));
          return;
        }
      }
      const id = nextId++;
      sentAt.set(id, nowUs());
      inflight++;
      sent++;
      pub.send(codec.event(id, [publishEvent, ...buildArgs()]));
    }
  }
  pub = await openConnection(url, codec, publisherAuth, null, pubFrame, null, clientKind, offerDeflate);
  pump();

  await sleep(warmup * 1000);
  // measurement window
  await Promise.all(kids.map((c) => ask(c, { cmd: "reset" }, "reset-done")));
  const acked0 = acked;
  const sent0 = sent;
  ackLatHist.fill(0);
  const serverPids = a["server-pid"] ? String(a["server-pid"]).split(",").map((x) => parseInt(x, 10)) : [];
  const serversCpu = () => {
    const each = serverPids.map(procCpuSeconds);
    return each.length && !each.includes(null) ? each.reduce((x, y) => x + y, 0) : null;
  };
  const srvCpu0 = serversCpu();
  const mach0 = machineBusySeconds();
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const tm0 = nowUs();
  await sleep(duration * 1000);
  const stats = await Promise.all(kids.map((c) => ask(c, { cmd: "report" }, "stats")));
  const wallUs = nowUs() - tm0;
  const srvCpu1 = serversCpu();
  const mach1 = machineBusySeconds();
  const pubElu = performance.eventLoopUtilization(elu0).utilization;
  const pubCpu = (() => { const c = process.cpuUsage(cpu0); return (c.user + c.system) / wallUs; })();
  const ackedMeasured = acked - acked0;
  const sentMeasured = sent - sent0;

  // stop publishing, let in-flight messages drain, then check for loss
  running = false;
  if (pendingTimer) clearTimeout(pendingTimer);
  const drainDeadline = Date.now() + 5000;
  while (inflight > 0 && Date.now() < drainDeadline) await sleep(20);
  await sleep(500);
  const finals = await Promise.all(kids.map((c) => ask(c, { cmd: "report" }, "stats")));

  const hist = new Float64Array(NBUCKETS);
  let count = 0;
  let latSum = 0;
  for (const s of stats) {
    count += s.count; latSum += s.latSum;
    for (let b = 0; b < NBUCKETS; b++) hist[b] += s.hist[b];
  }
  const deliveredAll = finals.reduce((x, s) => x + s.countAll, 0);
  const seqFrames = finals.reduce((x, s) => x + s.seqFrames, 0);
  const closedDuring = finals.reduce((x, s) => x + s.closed, 0);
  const closeReasons = {};
  for (const s of finals) for (const [k, v] of Object.entries(s.closeReasons)) closeReasons[k] = (closeReasons[k] || 0) + v;
  const r3 = (x) => (x == null ? null : Math.round(x * 1000) / 1000);
  const ms = (us) => (us == null ? null : r3(us / 1000));
  const secs = wallUs / 1e6;
  const out = {
    url, clients, workers, window, rate, parser, client: clientKind, offer_deflate: offerDeflate, payload_bytes: payloadBytes,
    publish_event: publishEvent, deliver_event: deliverEvent,
    connect_seconds: r3(connectSeconds),
    deflate_negotiated: opened.reduce((x, o) => x + (o.deflate || 0), 0),
    measure_seconds: r3(secs),
    deliveries: count,
    deliveries_per_s: Math.round(count / secs),
    publishes_per_s: Math.round(ackedMeasured / secs),
    latency_ms: {
      mean: count ? ms(latSum / count) : null,
      p50: ms(percentile(hist, count, 0.5)),
      p90: ms(percentile(hist, count, 0.9)),
      p99: ms(percentile(hist, count, 0.99)),
      max: ms(percentile(hist, count, 1.0)),
    },
    ack_latency_ms: (() => {
      const n = ackLatHist.reduce((x, y) => x + y, 0);
      return { p50: ms(percentile(ackLatHist, n, 0.5)), p99: ms(percentile(ackLatHist, n, 0.99)) };
    })(),
    loss_check: {
      // exact only once every publish was acked (in_flight_at_end 0): an
      // unacked publish may or may not have been delivered
      published_total: sent,
      acked_total: acked,
      in_flight_at_end: inflight,
      expected_deliveries: acked * clients,
      delivered_total: deliveredAll,
      missing: inflight === 0 ? acked * clients - deliveredAll : null,
      // null when deliveries carry no seq (the reference servers, msgpack)
      duplicate_or_reordered: seqFrames ? finals.reduce((x, s) => x + s.late, 0) : null,
      gaps: seqFrames ? finals.reduce((x, s) => x + s.gaps, 0) : null,
      subscribers_closed: closedDuring,
      close_reasons: closeReasons,
    },
    server_cpu: srvCpu0 != null && srvCpu1 != null ? r3((srvCpu1 - srvCpu0) / secs) : null,
    machine_busy_cores: mach0 != null && mach1 != null ? r3((mach1 - mach0) / secs) : null,
    generator: {
      // event-loop utilisation (0..1) and CPU (cores) of each generator process
      // during the measurement window: the headroom evidence
      subscriber_elu: stats.map((s) => r3(s.elu)),
      subscriber_cpu: stats.map((s) => r3(s.cpu)),
      publisher_elu: r3(pubElu),
      publisher_cpu: r3(pubCpu),
      sent_in_window: sentMeasured,
    },
  };
  process.stdout.write(JSON.stringify(out) + "\n");
  pub.terminate();
  for (const c of kids) c.send({ cmd: "close" });
  setTimeout(() => process.exit(0), 300);
}

if (process.argv.includes("--subscriber")) {
  subscriberMain();
} else {
  const a = parseArgs(process.argv.slice(2));
  if (a.help) {
    console.log(require("fs").readFileSync(__filename, "utf8").split("\n").filter((l) => l.startsWith("//")).join("\n"));
    process.exit(0);
  }
  parentMain(a).catch((e) => { console.error(e); process.exit(1); });
}
