// REST calls under /api/v1, with one sign-in per browser shared by its tabs.
//
// The token pair lives in localStorage: every tab of this origin sees the same
// session, a new tab starts signed in, and signing out in one tab signs out all
// (the `storage` event). Refresh tokens are single use and a spent one presented
// again revokes the session, so tabs refresh one at a time under a Web Lock and
// a tab that waited adopts the pair the other tab just stored. localStorage is
// readable by script on this origin only; the strict CSP (server/webclient.py)
// allows no script but our own files. See docs/web.md for the trade-off.
//
// A refresh that the server refuses (expired, revoked, reused, unknown) ends
// the session at once; one that fails for a transient reason (network, 5xx,
// 429) is retried with exponential backoff and jitter a few times, then ends
// the session too. Never a loop.

const KEY = "klear.session";
const TERMINAL = new Set(["token_expired", "token_revoked", "token_reused", "token_invalid", "invalid_payload"]);
const RETRIES = 4;

export class ApiError extends Error {
  constructor(status, code, message, details, retryAfter) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.details = details || [];
    this.retryAfter = retryAfter;
  }
}

// The wait before retry `attempt` (0, 1, …): exponential from `base` ms up to `cap`, "full jitter".
export function backoff(attempt, base = 500, cap = 15000) {
  return Math.random() * Math.min(cap, base * 2 ** attempt);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function read() {
  try {
    return JSON.parse(localStorage.getItem(KEY));
  } catch {
    return null;
  }
}

export class Api {
  constructor() {
    this.session = read();
    this.refreshing = null;
    this.ended = null;           // (reason) => void: the page returns to sign-in
    this.refreshCalls = 0;       // for diagnostics and the tests
    window.addEventListener("storage", (event) => {
      if (event.key !== KEY) return;
      const had = this.session;
      this.session = read();
      if (had && !this.session && this.ended) this.ended(localStorage.getItem(`${KEY}.ended`) || "You signed out in another tab.");
      if (!had && this.session && this.onSignedInElsewhere) this.onSignedInElsewhere();
    });
  }

  get user() {
    return this.session ? this.session.user : null;
  }

  get accessToken() {
    return this.session ? this.session.access_token : null;
  }

  keep(body) {
    this.session = body;
    localStorage.setItem(KEY, JSON.stringify(body));
  }

  // `reason` tells the other tabs why they are signed out too.
  forget(reason = "You signed out in another tab.") {
    this.session = null;
    localStorage.setItem(`${KEY}.ended`, reason);
    localStorage.removeItem(KEY);
  }

  async login(email, password, totp_code = null) {
    const body = totp_code ? { email, password, totp_code } : { email, password };
    this.keep(await this.call("POST", "/auth/login", body, { auth: false }));
  }

  // The server answers a new and a taken address alike (202); signing in with the same
  // password then succeeds only for the account just made (the owner of a taken one is emailed).
  async register(fields) {
    const time_zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    await this.call("POST", "/auth/register", { ...fields, time_zone }, { auth: false });
    try {
      await this.login(fields.email, fields.password);
    } catch (error) {
      if (error.code !== "invalid_credentials") throw error;
      throw new ApiError(error.status, "registration_not_signed_in",
        "We could not sign you in to a new account. If this address already has one, its owner has been emailed: sign in instead.");
    }
  }

  async logout() {
    if (this.session) {
      await this.call("POST", "/auth/logout", { refresh_token: this.session.refresh_token }, { auth: false })
        .catch(() => {});
    }
    this.forget();
  }

  // One refresh at a time in this tab, and across tabs under a Web Lock. Resolves with the new pair, or
  // rejects after ending the session (the page is then back at sign-in).
  refresh() {
    if (!this.refreshing) {
      const spent = this.session && this.session.refresh_token;
      const run = () => this.refreshOnce(spent);
      const locked = navigator.locks ? navigator.locks.request("klear.refresh", run) : run();
      this.refreshing = locked.finally(() => { this.refreshing = null; });
    }
    return this.refreshing;
  }

  async refreshOnce(spent) {
    const stored = read();
    if (stored && stored.refresh_token !== spent) {  // another tab refreshed while we waited for the lock
      this.session = stored;
      return stored;
    }
    if (!stored) {  // another tab's session ended meanwhile; its `storage` event has signed this tab out
      this.session = null;
      throw new ApiError(401, "signed_out", "You were signed out.");
    }
    for (let attempt = 0; ; attempt++) {
      try {
        this.refreshCalls += 1;
        const body = await this.call("POST", "/auth/refresh", { refresh_token: spent }, { auth: false });
        this.keep(body);
        return body;
      } catch (error) {
        if (error.status === 401 || TERMINAL.has(error.code)) return this.end(reasonOf(error));
        if (attempt >= RETRIES) return this.end("We could not reach the server to keep you signed in.");
        await sleep(error.retryAfter ? error.retryAfter * 1000 : backoff(attempt, 1000));
      }
    }
  }

  end(reason) {
    this.forget(reason);
    if (this.ended) this.ended(reason);
    throw new ApiError(401, "signed_out", reason);
  }

  async call(method, path, body, { auth = true, headers = {}, retried = false } = {}) {
    const h = { ...headers };
    if (body !== undefined) h["Content-Type"] = "application/json";
    if (auth && this.session) h.Authorization = `Bearer ${this.session.access_token}`;
    let response;
    try {
      response = await fetch(`/api/v1${path}`, {
        method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "network", "We could not reach the server. Check your connection and try again.");
    }
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (response.ok) return data;
    const error = (data && data.error) || {};
    if (response.status === 401 && auth && this.session && !retried && error.code === "token_expired") {
      await this.refresh();
      return this.call(method, path, body, { auth, headers, retried: true });
    }
    const retryAfter = Number(response.headers.get("Retry-After")) || undefined;
    let message = error.message;
    if (response.status === 429 && retryAfter) message = `${message || "Too many attempts."} Try again in ${waitText(retryAfter)}.`;
    throw new ApiError(response.status, error.code || "http_error", message, error.details, retryAfter);
  }
}

function reasonOf(error) {
  if (error.code === "token_expired") return "Your session has expired. Please sign in again.";
  if (error.code === "token_revoked" || error.code === "token_reused") return "You were signed out (this session was ended on another device or tab). Please sign in again.";
  return "Your session is no longer valid. Please sign in again.";
}

export function waitText(seconds) {
  const s = Math.ceil(seconds);
  if (s < 60) return `${s} second${s === 1 ? "" : "s"}`;
  const m = Math.ceil(s / 60);
  return `${m} minute${m === 1 ? "" : "s"}`;
}
