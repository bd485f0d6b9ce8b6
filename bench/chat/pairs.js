// Persisted chat load: N two-person conversations, each with a sender and a receiver.
// Each sender keeps one message:send in flight (the next is sent when the ack arrives);
// the receiver counts message:new. Reports acked and delivered messages/s, ack latency
// and end-to-end latency (send -> receiver), as JSON on stdout, and checks delivery: after
// sending stops and in-flight messages drain, every acked message (warm-up included) must
// have reached its receiver once, in seq order.
//   node pairs.js <url> <pairs.json> <warmup s> <duration s>
// pairs.json: [{"conversation_id", "sender": token, "receiver": token,
//               "sender_url"?, "receiver_url"?}, ...]  (per-member server; default <url>)
"use strict";
const { readFileSync } = require("fs");
const { randomUUID } = require("crypto");
const { io } = require("../fanout/node_modules/socket.io-client");

const [url, file, warmupS, durationS] = process.argv.slice(2);
const pairs = JSON.parse(readFileSync(file, "utf8"));
const nowUs = () => Number(process.hrtime.bigint() / 1000n);
const connect = (token, at) => io(at || url, { transports: ["websocket"], auth: { token }, reconnection: false });
const ack = [];
const e2e = [];
let acked = 0, delivered = 0, errors = 0, measuring = false, running = true;
let ackedAll = 0, receivedAll = 0, late = 0, gaps = 0, noSeq = 0; // delivery check, whole run
const receivedByUrl = {}; // messages received per receiver's server, whole run

function percentile(values, p) {
  if (!values.length) return null;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] / 1000;
}

async function ready(socket) {
  if (!socket.connected) await new Promise((res, rej) => { socket.once("connect", res); socket.once("connect_error", rej); });
}

async function main() {
  const sockets = [];
  for (const p of pairs) {
    const sender = connect(p.sender, p.sender_url), receiver = connect(p.receiver, p.receiver_url);
    sockets.push(sender, receiver);
    await Promise.all([ready(sender), ready(receiver)]);
    const joined = await receiver.timeout(30000).emitWithAck("conversation:join", { conversation_id: p.conversation_id, last_seq: 2 ** 53 - 1 });
    if (!joined.ok) throw new Error("join refused: " + JSON.stringify(joined));
    // highest seq received: one sender with one message in flight, so seqs arrive n, n+1, n+2...
    let hi = null;
    const at = p.receiver_url || url;
    receivedByUrl[at] = receivedByUrl[at] || 0;
    receiver.on("message:new", (m) => {
      receivedAll++;
      receivedByUrl[at]++;
      if (typeof m.seq !== "number") { noSeq++; return; } // cannot be checked: fails the check
      if (hi !== null && m.seq <= hi) late++; // a duplicate or an overtaken message
      else { if (hi !== null && m.seq > hi + 1) gaps++; hi = m.seq; } // lost, or overtaken (then also late)
      if (!measuring) return;
      delivered++;
      e2e.push(nowUs() - Number(m.body.slice(0, 16)));
    });
    p.socket = sender;
  }
  const loop = async (p) => {
    while (running) {
      const t0 = nowUs();
      try {
        const a = await p.socket.timeout(30000).emitWithAck("message:send", {
          conversation_id: p.conversation_id, client_id: randomUUID(), body: String(t0).padStart(16, "0") + " hello, see you at nine",
        });
        if (!a.ok) { errors++; continue; }
        ackedAll++;
        if (measuring) { acked++; ack.push(nowUs() - t0); }
      } catch (err) { errors++; }
    }
  };
  const loops = pairs.map(loop);
  await new Promise((r) => setTimeout(r, Number(warmupS) * 1000));
  measuring = true;
  process.stderr.write("klear-bench: window start\n"); // the bench reads CPU use at these two marks
  const started = nowUs();
  await new Promise((r) => setTimeout(r, Number(durationS) * 1000));
  measuring = false;
  process.stderr.write("klear-bench: window end\n");
  const seconds = (nowUs() - started) / 1e6;
  running = false;
  await Promise.all(loops);
  const drainUntil = Date.now() + 5000; // let the last acked messages arrive
  while (receivedAll < ackedAll + late && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 300));
  const cpu = process.cpuUsage();
  process.stdout.write(JSON.stringify({
    pairs: pairs.length, seconds, acked_per_s: acked / seconds, delivered_per_s: delivered / seconds, errors,
    ack_ms: { p50: percentile(ack, 50), p99: percentile(ack, 99) },
    e2e_ms: { p50: percentile(e2e, 50), p99: percentile(e2e, 99) },
    delivery_check: { acked: ackedAll, received: receivedAll, missing: ackedAll - (receivedAll - late),
                      duplicate_or_reordered: late, gaps, without_seq: noSeq },
    received_by_url: receivedByUrl,
    generator_cpu_s: (cpu.user + cpu.system) / 1e6,
  }) + "\n");
  for (const s of sockets) s.disconnect();
  process.exit(0);
}
main().catch((err) => { console.error(err); process.exit(1); });
