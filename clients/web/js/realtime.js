// The Socket.IO connection (docs/protocol.md): authenticated with the current
// access token on every (re)connect, kept signed in when the server warns that
// the token is expiring, and `call` for events that answer with an ack.
//
// A refused connection is retried with exponential backoff and jitter, never at
// once: an expired access token is refreshed first (Api.refresh, which ends the
// session when the refresh token is no good), a revoked session ends it at once.

// The vendored Socket.IO client (4.8.4) as an ES module: no global, and 6.5 KB smaller than its UMD build.
import { io } from "../vendor/socket.io.esm.min.js";
import { backoff } from "./api.js";

export class EventRefused extends Error {
  constructor(error) {
    super(error.message || error.code);
    this.code = error.code;
    this.error = error;
  }
}

const ENDS_SESSION = new Set(["token_revoked", "token_invalid", "missing_token"]);

export class Realtime {
  constructor(api, { onConnect, onDisconnect, onRetry } = {}) {
    this.api = api;
    this.failures = 0;
    this.retryTimer = null;
    this.closed = false;
    this.socket = io({
      path: "/socket.io",
      transports: ["websocket"],
      auth: (cb) => cb({ token: api.accessToken }),
    });
    this.socket.on("connect", () => { this.failures = 0; if (onConnect) onConnect(); });
    this.socket.on("disconnect", (reason) => {
      if (onDisconnect) onDisconnect(reason);
      // The server closed us (an expired token, a restarting process): socket.io does not come back by itself.
      if (reason === "io server disconnect") this.retryLater(onRetry);
    });
    this.socket.on("connect_error", async (err) => {
      const code = err.data && err.data.code;
      if (ENDS_SESSION.has(code)) return this.endSession(code);
      if (this.socket.active) return;  // a transport error: socket.io retries by itself, with its own backoff
      if (code === "token_expired") {
        try {
          await api.refresh();
        } catch {
          return;  // the session ended; the page is back at sign-in
        }
      }
      this.retryLater(onRetry);
    });
    this.socket.on("auth:expired", async (e) => {
      if (e && e.code === "token_revoked") this.endSession(e.code);
    });
    this.socket.on("auth:expiring", async () => {
      try {
        await api.refresh();
      } catch {
        return;
      }
      await this.call("auth:refresh", { token: api.accessToken }).catch(() => {});
    });
  }

  // After a refusal the socket stays down until we connect again: wait longer each time.
  retryLater(onRetry) {
    if (this.closed || this.retryTimer) return;
    const wait = backoff(this.failures++, 1000, 30000);
    if (onRetry) onRetry(wait);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.closed && this.api.session) this.socket.connect();
    }, wait);
  }

  endSession(code) {
    const reason = code === "token_revoked"
      ? "You were signed out (this session was ended on another device or tab). Please sign in again."
      : "Your session is no longer valid. Please sign in again.";
    this.close();
    this.api.forget(reason);
    if (this.api.ended) this.api.ended(reason);
  }

  get connected() {
    return this.socket.connected;
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
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.socket.disconnect();
  }
}
