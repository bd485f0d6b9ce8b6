// REST calls under /api/v1, with the tokens kept for this tab and refreshed when they expire.
//
// Tokens live in sessionStorage: they survive a reload of this tab and are
// gone when it closes; nothing is shared with other tabs or sites.

const KEY = "klear.session";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.details = details || [];
  }
}

export class Api {
  constructor() {
    const saved = sessionStorage.getItem(KEY);
    this.session = saved ? JSON.parse(saved) : null;
    this.refreshing = null;
  }

  get user() {
    return this.session ? this.session.user : null;
  }

  get accessToken() {
    return this.session ? this.session.access_token : null;
  }

  keep(body) {
    this.session = body;
    sessionStorage.setItem(KEY, JSON.stringify(body));
  }

  forget() {
    this.session = null;
    sessionStorage.removeItem(KEY);
  }

  async login(email, password) {
    this.keep(await this.call("POST", "/auth/login", { email, password }, { auth: false }));
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

  // One refresh at a time, however many requests found the token expired.
  refresh() {
    if (!this.refreshing) {
      this.refreshing = this.call("POST", "/auth/refresh", { refresh_token: this.session.refresh_token }, { auth: false })
        .then((body) => this.keep(body))
        .finally(() => { this.refreshing = null; });
    }
    return this.refreshing;
  }

  async call(method, path, body, { auth = true, headers = {}, retried = false } = {}) {
    const h = { ...headers };
    if (body !== undefined) h["Content-Type"] = "application/json";
    if (auth && this.session) h.Authorization = `Bearer ${this.session.access_token}`;
    const response = await fetch(`/api/v1${path}`, {
      method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (response.ok) return data;
    const error = (data && data.error) || {};
    if (response.status === 401 && auth && this.session && !retried && error.code === "token_expired") {
      await this.refresh();
      return this.call(method, path, body, { auth, headers, retried: true });
    }
    throw new ApiError(response.status, error.code || "http_error", error.message, error.details);
  }
}
