// The chat of one conversation (docs/protocol.md): join with the last seq seen
// (missed messages arrive first, in order), send with a client_id kept until
// the ack, mark what was shown as read, show the others' receipts and typing.
// A message being sent shows at once as "Sending…", then "Sent", then "Read".

export class Chat {
  constructor(rt, me, names, { list, typingLine, announce }) {
    this.rt = rt;
    this.me = me;
    this.names = names;          // user id -> display name
    this.view = { list, typingLine, announce };
    this.conversationId = null;
    this.lastSeq = 0;
    this.theirRead = 0;          // highest seq another member has read
    this.typingTimers = new Map();
    this.lastTypingSent = 0;
    this.pending = new Map();    // client_id -> the item shown while sending
    this.handlers = {
      "message:new": (m) => this.mine(m) && this.show(m),
      "receipt:read": (r) => this.mine(r) && this.receipt(r),
      typing: (t) => this.mine(t) && this.typing(t),
      connect: () => this.conversationId && this.join(this.conversationId),
    };
    for (const [event, handler] of Object.entries(this.handlers)) rt.on(event, handler);
  }

  mine(event) {
    return event.conversation_id === this.conversationId;
  }

  async open(conversationId) {
    if (this.conversationId && this.conversationId !== conversationId) {
      await this.rt.call("conversation:leave", { conversation_id: this.conversationId }).catch(() => {});
      this.view.list.replaceChildren();
      this.lastSeq = 0;
      this.theirRead = 0;
      this.pending.clear();
    }
    this.conversationId = conversationId;
    await this.join(conversationId);
  }

  async join(conversationId) {
    const ack = await this.rt.call("conversation:join", { conversation_id: conversationId, last_seq: this.lastSeq });
    this.markRead();
    return ack;
  }

  async send(body) {
    const payload = { conversation_id: this.conversationId, client_id: crypto.randomUUID(), body };
    const item = this.item({ sender_id: this.me, body, created_at: new Date().toISOString() });
    item.querySelector(".receipt").textContent = "Sending…";
    this.pending.set(payload.client_id, item);
    this.view.list.append(item);
    item.scrollIntoView({ block: "nearest" });
    for (let attempt = 0; ; attempt++) {
      try {
        const ack = await this.rt.call("message:send", payload);
        if (!item.dataset.seq) item.querySelector(".receipt").textContent = "Sent";
        return ack;
      } catch (error) {
        // No ack (timeout or disconnect): resend with the same client_id, stored once.
        if (error.code || attempt >= 3) {
          this.pending.delete(payload.client_id);
          item.querySelector(".receipt").textContent = "Not sent";
          throw error;
        }
      }
    }
  }

  item(m) {
    const item = document.createElement("li");
    item.className = m.sender_id === this.me ? "message own" : "message";
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = m.sender_id === this.me ? "You" : (this.names.get(m.sender_id) || "Them");
    const text = document.createElement("span");
    text.className = "body";
    text.textContent = m.deleted ? "(deleted)" : (m.body ?? "(encrypted)");
    const when = document.createElement("time");
    when.dateTime = m.created_at;
    when.textContent = new Date(m.created_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const seen = document.createElement("span");
    seen.className = "receipt";
    item.append(who, text, when, seen);
    return item;
  }

  show(m) {
    if (m.seq <= this.lastSeq) return;
    this.lastSeq = m.seq;
    const pending = this.pending.get(m.client_id);
    this.pending.delete(m.client_id);
    const item = pending || this.item(m);
    item.dataset.seq = String(m.seq);
    if (!pending) this.view.list.append(item);
    item.scrollIntoView({ block: "nearest" });
    this.paintReceipts();
    if (m.sender_id !== this.me) {
      this.clearTyping(m.sender_id);
      this.markRead();
    }
  }

  markRead() {
    if (this.lastSeq > 0 && document.visibilityState === "visible") {
      this.rt.call("receipt:read", { conversation_id: this.conversationId, seq: this.lastSeq }).catch(() => {});
    }
  }

  receipt(r) {
    if (r.user_id === this.me) return;
    this.theirRead = Math.max(this.theirRead, r.seq);
    this.paintReceipts();
  }

  paintReceipts() {
    for (const item of this.view.list.querySelectorAll("li.own[data-seq]")) {
      item.querySelector(".receipt").textContent = Number(item.dataset.seq) <= this.theirRead ? "Read" : "Sent";
    }
  }

  // While the user types: "start" at most once a second; "stop" when the field empties or a message goes out.
  userTyped(hasText) {
    const now = Date.now();
    if (hasText && now - this.lastTypingSent >= 1000) {
      this.lastTypingSent = now;
      this.rt.call("typing", { conversation_id: this.conversationId, state: "start" }).catch(() => {});
    } else if (!hasText && this.lastTypingSent) {
      this.lastTypingSent = 0;
      this.rt.call("typing", { conversation_id: this.conversationId, state: "stop" }).catch(() => {});
    }
  }

  typing(t) {
    if (t.user_id === this.me) return;
    if (t.state === "stop") return this.clearTyping(t.user_id);
    clearTimeout(this.typingTimers.get(t.user_id));
    // A "start" not refreshed for a few seconds counts as stopped.
    this.typingTimers.set(t.user_id, setTimeout(() => this.clearTyping(t.user_id), 4000));
    this.paintTyping();
  }

  clearTyping(userId) {
    clearTimeout(this.typingTimers.get(userId));
    this.typingTimers.delete(userId);
    this.paintTyping();
  }

  paintTyping() {
    const who = [...this.typingTimers.keys()].map((id) => this.names.get(id) || "Someone");
    this.view.typingLine.textContent = who.length ? `${who.join(", ")} ${who.length > 1 ? "are" : "is"} typing…` : "";
  }

  close() {
    for (const [event, handler] of Object.entries(this.handlers)) this.rt.off(event, handler);
    for (const timer of this.typingTimers.values()) clearTimeout(timer);
  }
}
