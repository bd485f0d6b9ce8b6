// A chat client written only from docs/protocol.md, with the official socket.io-client, and end-to-end
// encryption with tweetnacl following the byte layout documented there.
// The Python test drives it over stdin/stdout with one JSON object per line.
//   argv: <server url> <access token> <conversation id> <json|msgpack>
import { createInterface } from "node:readline";
import { createRequire } from "node:module";
import { randomUUID } from "node:crypto";
import { io } from "socket.io-client";
import nacl from "tweetnacl";
import notepack from "notepack.io";

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

// --- end-to-end encryption, as docs/protocol.md lays it out ---
const api = async (method, path, body) => {
  const resp = await fetch(`${url}/api/v1${path}`, {
    method, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: resp.status, body: resp.status === 204 ? null : await resp.json() };
};
// Received binary fields are base64 text; under msgpack a client may also meet raw bytes.
const bytes = (v) => {
  if (typeof v === "string") return new Uint8Array(Buffer.from(v, "base64"));
  return ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v);
};
const b64 = (u8) => Buffer.from(u8).toString("base64");
const device = { userId: null, keyId: null, pair: null, known: new Map() }; // known: "user/key" -> public key

async function learn(userId) {
  const listing = await api("GET", `/users/${userId}/keys`);
  const labels = [];
  for (const k of listing.body.keys) {
    device.known.set(`${userId}/${k.key_id}`, bytes(k.public_key));
    labels.push(`${userId}/${k.key_id}`);
  }
  return labels;
}

function seal(text, labels) {
  const key = nacl.randomBytes(nacl.secretbox.keyLength);
  const nonce = nacl.randomBytes(nacl.secretbox.nonceLength);
  const body = nacl.secretbox(new TextEncoder().encode(text), nonce, key);
  const keys = {};
  for (const label of labels) {
    const wrapNonce = nacl.randomBytes(nacl.box.nonceLength);
    const boxed = nacl.box(key, wrapNonce, device.known.get(label), device.pair.secretKey);
    keys[label] = Buffer.concat([wrapNonce, boxed]); // the box's nonce, then its output
  }
  const envelope = notepack.encode({ v: 1, body: Buffer.from(body), keys });
  if (framing === "msgpack") return { ciphertext: envelope, nonce: Buffer.from(nonce), sender_key_id: device.keyId };
  return { ciphertext: b64(envelope), nonce: b64(nonce), sender_key_id: device.keyId };
}

async function unseal(senderId, sealed) {
  const envelope = notepack.decode(Buffer.from(bytes(sealed.ciphertext)));
  const wrapped = bytes(envelope.keys[`${device.userId}/${device.keyId}`]);
  const label = `${senderId}/${sealed.sender_key_id}`;
  if (!device.known.has(label)) await learn(senderId);
  const key = nacl.box.open(wrapped.subarray(24), wrapped.subarray(0, 24), device.known.get(label), device.pair.secretKey);
  const text = key && nacl.secretbox.open(bytes(envelope.body), bytes(sealed.nonce), key);
  return text ? new TextDecoder().decode(text) : null;
}

let lastSeq = 0;
const received = [];
socket.on("message:new", async (m) => {
  if (m.conversation_id !== conversationId) return;
  lastSeq = Math.max(lastSeq, m.seq);
  received.push(m.seq);
  let sealed = {};
  if (m.e2ee && device.pair) {
    try {
      sealed = { text: await unseal(m.sender_id, m.e2ee), ciphertext_type: typeof m.e2ee.ciphertext };
    } catch (err) {
      sealed = { text: null, error: String(err) };
    }
  }
  say({ event: "message:new", seq: m.seq, body: m.body, sender_id: m.sender_id, ...sealed });
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
  } else if (cmd.do === "e2ee") {
    device.pair = nacl.box.keyPair();
    device.keyId = cmd.key_id;
    device.userId = (await api("GET", "/me")).body.id;
    const made = await api("POST", "/devices/keys", { key_id: cmd.key_id, public_key: b64(device.pair.publicKey) });
    say({ event: "e2ee", status: made.status });
  } else if (cmd.do === "send_sealed") {
    const labels = (await Promise.all(cmd.members.map(learn))).flat();
    const e2ee = seal(cmd.text, labels);
    const ack = await socket.timeout(10000).emitWithAck("message:send", { conversation_id: conversationId, client_id: randomUUID(), e2ee });
    say({ event: "sent", ok: ack.ok, seq: ack.message?.seq, code: ack.error?.code });
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
