// The Socket.IO connection (docs/protocol.md): authenticated with the current
// access token on every (re)connect, kept signed in when the server warns that
// the token is expiring, and `call` for events that answer with an ack.

export class EventRefused extends Error {
  constructor(error) {
    super(error.message || error.code);
    this.code = error.code;
    this.error = error;
  }
}

export class Realtime {
  constructor(api, { onConnect, onDisconnect } = {}) {
    this.api = api;
    // `io` is the global of the vendored socket.io.min.js (4.8.4).
    this.socket = window.io({
      path: "/socket.io",
      transports: ["websocket"],
      auth: (cb) => cb({ token: api.accessToken }),
    });
    this.socket.on("connect", () => onConnect && onConnect());
    this.socket.on("disconnect", () => onDisconnect && onDisconnect());
    this.socket.on("connect_error", async (err) => {
      if (err.data && err.data.code === "token_expired") {
        await api.refresh().catch(() => {});
        this.socket.connect();
      }
    });
    this.socket.on("auth:expiring", async () => {
      await api.refresh();
      await this.call("auth:refresh", { token: api.accessToken }).catch(() => {});
    });
  }

  on(event, handler) {
    this.socket.on(event, handler);
  }

  off(event, handler) {
    this.socket.off(event, handler);
  }

  async call(event, payload, timeout = 10000) {
    const ack = await this.socket.timeout(timeout).emitWithAck(event, payload);
    if (!ack || !ack.ok) throw new EventRefused((ack && ack.error) || { code: "refused" });
    return ack;
  }

  close() {
    this.socket.disconnect();
  }
}
