// A chat client written only from docs/protocol.md, with the official socket.io-client.
// The Python test drives it over stdin/stdout with one JSON object per line.
//   argv: <server url> <access token> <conversation id> <json|msgpack>
import { createInterface } from "node:readline";
import { createRequire } from "node:module";
import { randomUUID } from "node:crypto";
import { io } from "socket.io-client";

const require = createRequire(import.meta.url);
const [url, token, conversationId, framing] = process.argv.slice(2);
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const lines = createInterface({ input: process.stdin });
const commands = [];
let waiting = null;
lines.on("line", (line) => { const cmd = JSON.parse(line); waiting ? (waiting(cmd), (waiting = null)) : commands.push(cmd); });
const nextCommand = () => commands.length ? Promise.resolve(commands.shift()) : new Promise((r) => (waiting = r));

const options = { path: "/socket.io", transports: ["websocket"], auth: (cb) => cb({ token }), reconnection: false };
if (framing === "msgpack") Object.assign(options, { path: "/socket.io-msgpack", parser: require("socket.io-msgpack-parser") });
const socket = io(url, options);

let lastSeq = 0;
const received = [];
socket.on("message:new", (m) => {
  if (m.conversation_id !== conversationId) return;
  lastSeq = Math.max(lastSeq, m.seq);
  received.push(m.seq);
  say({ event: "message:new", seq: m.seq, body: m.body, sender_id: m.sender_id });
});
socket.on("connect_error", (err) => say({ event: "connect_error", message: err.message, code: err.data?.code }));

async function join() {
  return socket.timeout(10000).emitWithAck("conversation:join", { conversation_id: conversationId, last_seq: lastSeq });
}

socket.on("connect", async () => {
  const ack = await join();
  say({ event: "joined", ok: ack.ok, last_seq: ack.last_seq, e2ee: ack.conversation?.e2ee });
});

for (;;) {
  const cmd = await nextCommand();
  if (cmd.do === "send") {
    const ack = await socket.timeout(10000).emitWithAck("message:send", { conversation_id: conversationId, client_id: randomUUID(), body: cmd.body });
    say({ event: "sent", ok: ack.ok, seq: ack.message?.seq, duplicate: ack.duplicate });
  } else if (cmd.do === "bad") {
    const ack = await socket.timeout(10000).emitWithAck("message:send", { conversation_id: conversationId, body: 42 });
    say({ event: "bad", ok: ack.ok, code: ack.error?.code });
  } else if (cmd.do === "disconnect") {
    socket.disconnect();
    say({ event: "offline" });
  } else if (cmd.do === "reconnect") {
    socket.connect();
  } else if (cmd.do === "report") {
    say({ event: "report", received });
  } else if (cmd.do === "quit") {
    socket.disconnect();
    process.exit(0);
  }
}
