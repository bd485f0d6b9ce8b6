// Sharing health records (docs/records.md, consent): on a booking card the practitioner asks for access
// (which parts, until when) and sees the answer; the client sees who asks for what, until when, and accepts
// or declines, then "Shared with … until …" with Stop sharing. The account view lists what is shared now,
// since a grant outlives its booking's card. Every change arrives live (`consent:*`), so both screens follow.

import { $, announce, button, element, field, select, toast, when } from "./dom.js";

// Each scope: its name, what a practitioner asks for, and what the client is asked to share.
const SCOPES = {
  history: ["Health history", "The conditions, medication, allergies and notes they keep.", "your health history (conditions, medication, allergies and notes)"],
  intake: ["Intake answers", "What they answered on intake questionnaires.", "your answers to intake questionnaires"],
  notes: ["Session notes", "Notes other practitioners wrote about their sessions (never private ones).", "session notes from your other practitioners"],
  attachments: ["Attachments", "Documents and images they uploaded, such as test results.", "documents and images you uploaded"],
};
const DAYS = [0, 7, 30, 90, 365];  // how long after the session a request may last
const day = (iso) => when(iso, { dateStyle: "medium" });
const words = (list) => (list.length > 1 ? `${list.slice(0, -1).join(", ")} and ${list.at(-1)}` : list[0]);
const over = (g) => new Date(g.expires_at) <= new Date();

export class Sharing {
  constructor(api) {
    this.api = api;
    this.grants = [];
    this.bookings = new Map();  // the bookings whose cards show a part, to redraw one when its grant changes
    this.busy = null;           // the grant an answer is on its way for
  }

  get client() {
    return this.api.user.role === "client";
  }

  async load() {
    this.grants = (await this.api.call("GET", "/consents")).grants;
  }

  // A changed grant (our answer, or a live event): redraw what shows it, and tell of the other person's change.
  update(g, live = false) {
    const at = this.grants.findIndex((x) => x.id === g.id);  // kept newest first: a new one goes on top
    if (at < 0) this.grants.unshift(g);
    else this.grants[at] = g;
    const b = this.bookings.get(g.booking_id);
    const card = b && document.querySelector(`li.card[data-id="${b.id}"]`);
    if (card) {
      const old = card.querySelector(".sharing");
      const had = old && old.contains(document.activeElement);
      const part = this.part(b);
      if (old) old.replaceWith(part);
      else card.append(part);
      if (had) part.querySelector("[data-state]").focus();
    }
    if (this.client && !$("#account").hidden) this.showShared();
    if (live && (g.status === "proposed") === this.client) toast(this.said(g));
  }

  // What a grant's state means, in the reader's words.
  said(g) {
    const until = day(g.expires_at);
    if (this.client) {
      const who = g.practitioner_name;
      return {
        proposed: over(g) ? `${who}'s request to read your health records expired on ${until}.`
          : `${who} asks to read ${words(g.scopes.map((s) => SCOPES[s][2]))}, until ${until}.`,
        active: over(g) ? `Sharing with ${who} ended on ${until}.` : `Shared with ${who} until ${until}.`,
        declined: `You declined ${who}'s request to read your health records.`,
        revoked: `You stopped sharing your health records with ${who}.`,
      }[g.status];
    }
    const who = g.client_name;
    const what = words(g.scopes.map((s) => SCOPES[s][0].toLowerCase()));
    return {
      proposed: over(g) ? `Your request expired on ${until} without an answer.`
        : `Waiting for ${who}'s answer: you asked to read their ${what} until ${until}.`,
      active: over(g) ? `${who}'s sharing ended on ${until}.`
        : `${g.booking_id ? "Accepted: " : ""}${who} shares their ${what} with you until ${until}.`,
      declined: `${who} declined your request to read their health records.`,
      revoked: `${who} stopped sharing their health records with you.`,
    }[g.status];
  }

  // The "Health records" part of a booking card (none for a client until a practitioner asks).
  part(b) {
    this.bookings.set(b.id, b);
    const g = this.grants.find((x) => x.booking_id === b.id);  // the latest one
    if (this.client && !g) return null;
    const box = element("div", { className: "sharing", "data-sharing": b.id }, element("h4", { textContent: "Health records" }));
    if (this.client) return this.answer(box, g, b);
    box.append(element("p", { tabIndex: -1, "data-state": "", textContent: g ? this.said(g) : `You cannot read ${b.client.display_name}'s health records.` }));
    if (!g || over(g) || ["declined", "revoked"].includes(g.status)) {
      box.append(button(`Ask ${g ? "again " : ""}for access to health records`, () => this.ask(box, b)));
    }
    return box;
  }

  // The client's view of a grant in `box`: what is asked, with Accept and Decline; or Stop sharing.
  answer(box, g, b) {
    const state = element("p", { tabIndex: -1, "data-state": "", textContent: this.said(g) });
    const error = element("p", { className: "error", role: "alert" });
    const actions = element("div", { className: "actions" });
    box.append(state);
    if (g.status === "proposed" && !over(g)) {
      state.textContent = `${g.practitioner_name} asks to read, until ${day(g.expires_at)}:`;
      box.append(element("ul", {}, ...g.scopes.map((s) => element("li", { textContent: SCOPES[s][2] }))),
        element("p", { className: "hint", textContent: "Nothing is shared unless you accept. You can stop sharing at any time." }));
      actions.append(this.act(g, b, "Accept", "decision", { accept: true }, error, "primary"),
        this.act(g, b, "Decline", "decision", { accept: false }, error, ""));
    }
    if (g.status === "active" && !over(g)) actions.append(this.act(g, b, "Stop sharing", "revoke", undefined, error, "danger"));
    box.append(actions, error);
    return box;
  }

  // A button answering or ending a grant. It stays enabled (and focused) while the answer is on its way, so a
  // keyboard user is not dropped; a second press meanwhile does nothing.
  act(g, b, label, path, body, error, className) {
    const context = [g.practitioner_name, b && b.start_at && when(b.start_at, { dateStyle: "medium", timeStyle: "short" })];
    const btn = button(label, async () => {
      if (this.busy) return;
      this.busy = g.id;
      error.textContent = "";
      announce("Sending your answer…");
      try {
        const done = await this.api.call("POST", `/consents/${g.id}/${path}`, body);
        this.busy = null;
        this.update(done);
        announce(this.said(done));
      } catch (e) {
        this.busy = null;
        error.textContent = e.status === 404 ? "This request is no longer open: it was answered elsewhere or has ended." : e.message;
        if (e.status === 404 || e.status === 422) {  // nothing left to answer here: say why, where the buttons were
          btn.parentElement.replaceChildren();
          error.tabIndex = -1;
          error.focus();
          this.load().catch(() => {});
        }
      }
    }, { className });
    btn.append(element("span", { className: "visually-hidden", textContent: ` (health records, ${context.filter(Boolean).join(", ")})` }));
    return btn;
  }

  // The practitioner's request: which parts of the record, and until how long after the session.
  ask(box, b) {
    if (box.querySelector("form")) return box.querySelector("input").focus();
    const end = new Date(b.end_at).getTime();
    const until = DAYS.map((d) => [d, new Date(end + d * 86400000)]).filter(([, t]) => t > new Date());
    const length = select("expires_at", until.map(([d, t]) => [t.toISOString(),
      `${d ? `${d} days after the session` : "Until the session ends"} (until ${day(t.toISOString())})`]),
    (until.find(([d]) => d === 30) || until[0] || [])[1]?.toISOString());
    const error = element("p", { className: "error", role: "alert" });
    const form = element("form", { className: "inline" },
      element("fieldset", { className: "choices" }, element("legend", { textContent: "What would you like to read?" }),
        ...Object.entries(SCOPES).map(([value, [label, hint]]) => {
          const id = `ask-${b.id}-${value}`;
          return element("div", {},
            element("label", {}, element("input", { type: "checkbox", name: "scope", value, "aria-describedby": id }), ` ${label}`),
            element("p", { className: "hint", id, textContent: hint }));
        })),
      field("For how long", length),
      element("button", { type: "submit", textContent: "Send request" }),
      button("Cancel", () => { form.remove(); box.querySelector("button").focus(); }),
      error);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const scopes = [...form.querySelectorAll("input:checked")].map((c) => c.value);
      if (!scopes.length) {
        error.textContent = "Choose at least one part of the record.";
        return form.querySelector("input").focus();
      }
      if (this.busy) return;
      this.busy = b.id;
      error.textContent = "";
      announce("Sending your request…");
      try {
        const sent = await this.api.call("POST", "/consents/proposals", { booking_id: b.id, scopes, expires_at: length.value });
        this.busy = null;
        this.update(sent);
        announce(`Request sent to ${b.client.display_name}.`);
        $(`[data-sharing="${b.id}"] [data-state]`).focus();
      } catch (e) {
        this.busy = null;
        error.textContent = e.message;
      }
    });
    box.append(form);
    form.querySelector("input").focus();
  }

  // The account view (clients): requests waiting and grants in force, whatever booking they came with.
  showShared() {
    const list = $("#shared-list");
    const had = list.contains(document.activeElement);
    const now = this.grants.filter((g) => ["proposed", "active"].includes(g.status) && !over(g));
    list.replaceChildren(...(now.length ? now.map((g) => {
      const b = this.bookings.get(g.booking_id);
      const card = element("li", { className: "card" }, element("h3", { textContent: g.practitioner_name }),
        b && element("p", { className: "hint", textContent: `${b.offering.name}, ${when(b.start_at, { dateStyle: "medium", timeStyle: "short" })}` }));
      return this.answer(card, g, b);
    }) : [element("li", { className: "empty", textContent: "You are not sharing your health records with anyone." })]));
    if (had) $("#shared-title").focus();
  }
}
