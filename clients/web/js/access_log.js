// "Who has seen my health data" (account view, clients): every time someone else read, wrote or tried to reach
// the person's health records (GET /me/access-log?about=health), newest first, a page at a time, in their time
// zone. What was reached is named from the person's own records (read here, not audited: their own data).

import { $, announce, element, when } from "./dom.js";

const PAGE = 20;
// What someone did, as done and as tried.
const DID = {
  "record.read": ["read", "read"], "record.read_versions": ["read earlier versions of", "read earlier versions of"],
  "record.list": ["read", "read"], "record.write": ["wrote", "write"],
};
// A part of the record, by record kind or by the scope a refusal names.
const PART = { history: "your health history", intake: "your intake answers", note: "a session note about you",
  notes: "session notes about you", attachment: "your documents and images", attachments: "your documents and images" };

export class AccessLog {
  constructor(api) {
    this.api = api;
    this.last = null;
    this.mine = new Map();
    $("#access-more").addEventListener("click", () => this.older());
  }

  async show() {
    this.last = null;
    const [page, records] = await Promise.all([this.page(), this.api.call("GET", "/records")]);
    this.mine = new Map(records.records.map((r) => [`record:${r.id}`, r]));
    $("#access-list").replaceChildren(...(page.length ? page.map((e) => this.item(e))
      : [element("li", { className: "empty", textContent: "No one else has read or tried to read your health records." })]));
    this.more(page);
  }

  page() {
    const before = this.last ? `&before=${this.last}` : "";
    return this.api.call("GET", `/me/access-log?about=health&limit=${PAGE}${before}`).then((r) => r.entries);
  }

  // A full page may have more behind it: the button stays (and keeps focus) until a page comes back short.
  more(page) {
    this.last = page.length ? page.at(-1).id : this.last;
    const button = $("#access-more");
    if (page.length < PAGE && document.activeElement === button) $("#access-title").focus();
    button.hidden = page.length < PAGE;
  }

  async older() {
    const found = await this.page().catch((e) => { announce(e.message); return null; });
    if (!found) return;
    $("#access-list").append(...found.map((e) => this.item(e)));
    announce(found.length ? `${found.length} older entries shown.` : "There are no older entries.");
    this.more(found);
  }

  item(e) {
    const record = this.mine.get(e.resource);
    const scope = (e.reason || "").startsWith("scope:") ? e.reason.slice(6) : null;
    const what = record ? (record.kind === "history" ? `“${record.current.body.title}” in your health history`
      : record.kind === "attachment" ? `your file “${record.current.body.filename}”` : PART[record.kind])
      : (e.resource || "").endsWith(":records") ? "your records" : PART[scope] || "a record about you";
    const [done, tried] = DID[e.action] || ["reached", "reach"];
    const who = e.actor_name || "Someone";
    const allowed = e.outcome === "allowed";
    return element("li", { className: "note" },
      element("time", { dateTime: e.at, className: "hint", textContent: when(e.at, { dateStyle: "medium", timeStyle: "short" }) }), " ",
      element("strong", { textContent: allowed ? "Allowed:" : "Refused:" }), " ",
      element("span", { textContent: allowed ? `${who} ${done} ${what}.` : `${who} tried to ${tried} ${what}.` }));
  }
}
