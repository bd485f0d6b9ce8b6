// The agenda of both roles: upcoming sessions as cards, and for a practitioner the
// requests waiting for an answer. Every action a role may take is a button on the
// card (confirm, decline with a reason, cancel with a reason, reschedule, finish,
// no-show, chat, join video); after an action, focus moves to what changed.
// `extra` adds a part to each card (sharing health records) and loads what it needs with the list.

import { $, announce, button, element, field, input, price, timeOnly, when } from "./dom.js";

const LIVE = ["requested", "confirmed", "in_session"];

export class Bookings {
  constructor(api, { onChat, onVideo, onReschedule, extra }) {
    this.api = api;
    this.hooks = { onChat, onVideo, onReschedule };
    this.extra = extra;
    this.items = [];
    this.unread = new Map();  // the other person's id -> unread messages in your conversation with them
  }

  other(b) {
    return this.api.user.id === b.client.id ? b.practitioner : b.client;
  }

  async load() {
    const since = new Date(Date.now() - 3 * 3600 * 1000).toISOString();
    const [found, threads] = await Promise.all([
      this.api.call("GET", `/bookings?from=${encodeURIComponent(since)}&limit=100`),
      this.api.call("GET", "/conversations").catch(() => ({ conversations: [] })),
      this.extra.load().catch(() => {}),  // the sessions still show if this part cannot load
    ]);
    this.unread = new Map(threads.conversations.filter((c) => c.kind === "direct" && c.unread > 0)
      .map((c) => [c.member_ids.find((id) => id !== this.api.user.id), c.unread]));
    const now = Date.now();
    this.items = found.items.filter((b) => new Date(b.end_at).getTime() + 15 * 60000 > now
      && (LIVE.includes(b.status) || b.status === "completed"));
    this.render();
    return this.items;
  }

  find(id) {
    return this.items.find((b) => b.id === id);
  }

  // A live reload must not take focus away from the card the user was on.
  render() {
    const focused = document.activeElement;
    const card = focused && focused.closest && focused.closest("li.card[data-id]");
    const inside = card ? [...card.querySelectorAll("button, h3")].indexOf(focused) : -1;
    this.paint();
    if (card) {
      const again = document.querySelector(`li.card[data-id="${card.dataset.id}"]`);
      const target = again && (again.querySelectorAll("button, h3")[inside] || again.querySelector("h3"));
      (target || $("#bookings-title")).focus();
    }
  }

  paint() {
    const practitioner = this.api.user.role === "practitioner";
    const requests = practitioner ? this.items.filter((b) => b.status === "requested") : [];
    const agenda = this.items.filter((b) => !requests.includes(b));
    fill($("#request-list"), requests, "No requests waiting.", (b) => this.card(b));
    fill($("#booking-list"), agenda, "No upcoming sessions.", (b) => this.card(b));
  }

  card(b) {
    const other = this.other(b);
    const mine = this.api.user.id === b.practitioner.id ? "practitioner" : "client";
    const time = element("time", { dateTime: b.start_at, textContent: when(b.start_at) });
    const heading = element("h3", { tabIndex: -1, textContent: `${b.offering.name} with ${other.display_name}` });
    const status = element("span", { className: `pill ${b.status}`, textContent: statusText(b) });
    const item = element("li", { className: "card", "data-id": b.id },
      heading,
      element("p", {}, time, ` until ${timeOnly(b.end_at)} · `, status),
      element("p", { className: "hint", textContent: `${b.mode === "video" ? "Video" : `In person, ${b.address}`} · ${price(b.price_minor, b.currency)}` }),
    );
    if (b.note && mine === "practitioner") item.append(element("p", { className: "hint", textContent: `Note: ${b.note}` }));
    if (b.status === "requested" && b.expires_at) {
      item.append(element("p", { className: "hint", textContent: `Awaiting an answer until ${when(b.expires_at, { dateStyle: "medium", timeStyle: "short" })}.` }));
    }
    const actions = element("div", { className: "actions" });
    const label = ` (${b.offering.name}, ${when(b.start_at, { dateStyle: "medium", timeStyle: "short" })})`;
    const add = (text, act, extra = {}) => {
      const btn = button(text, act, extra);
      btn.append(element("span", { className: "visually-hidden", textContent: label }));
      actions.append(btn);
      return btn;
    };
    const unread = this.unread.get(other.id);
    add(`Chat with ${other.display_name}${unread ? ` (${unread} unread)` : ""}`, () => this.hooks.onChat(other, b));
    if (b.mode === "video" && ["confirmed", "in_session"].includes(b.status)) {
      const join = add("Join video", () => this.hooks.onVideo(b), { className: "primary" });
      join.dataset.booking = b.id;
    }
    if (mine === "practitioner" && b.status === "requested") {
      add("Confirm", () => this.act(b, "confirm"), { className: "primary" });
      add("Decline…", () => this.withReason(item, b, "decline", "Decline request"));
    }
    if (LIVE.slice(0, 2).includes(b.status)) {
      if (mine === "client") add("Reschedule", () => this.hooks.onReschedule(b));
      add("Cancel…", () => this.withReason(item, b, "cancel", "Cancel session"), { className: "danger" });
    }
    if (mine === "practitioner" && ["confirmed", "in_session"].includes(b.status) && new Date(b.start_at) <= new Date()) {
      add("Finish", () => this.act(b, "complete"));
      add("Mark no-show", () => this.act(b, "no-show"));
    }
    item.append(actions);
    const more = this.extra.part(b);
    if (more) item.append(more);
    return item;
  }

  // An inline form asking for an optional reason, then the action.
  withReason(item, b, action, title) {
    if (item.querySelector("form")) return item.querySelector("textarea").focus();
    const reason = element("textarea", { name: "reason", maxLength: 1000, rows: 2 });
    const error = element("p", { className: "error", role: "alert" });
    const form = element("form", { className: "inline" },
      field(`Reason (optional, shown to ${this.other(b).display_name})`, reason),
      element("button", { type: "submit", className: "danger", textContent: title }),
      button("Keep it", () => { form.remove(); item.querySelector("h3").focus(); }),
      error);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await this.act(b, action, { reason: reason.value.trim() || null });
      } catch (e) {
        error.textContent = e.message;
      }
    });
    item.append(form);
    reason.focus();
  }

  async act(b, action, body) {
    const done = await this.api.call("POST", `/bookings/${b.id}/${action}`, body);
    announce(`${b.offering.name} on ${when(b.start_at, { dateStyle: "medium", timeStyle: "short" })}: ${statusText(done)}.`);
    await this.load();
    this.focus(done.id);
    return done;
  }

  // Focus the card of `id`, or the list heading if it is gone.
  focus(id) {
    const card = document.querySelector(`li.card[data-id="${id}"] h3`);
    (card || $("#bookings-title")).focus();
  }
}

function fill(list, items, empty, make) {
  list.replaceChildren(...(items.length ? items.map(make) : [element("li", { className: "empty", textContent: empty })]));
}

export function statusText(b) {
  return {
    requested: "awaiting confirmation", confirmed: "confirmed", in_session: "in session", completed: "completed",
    declined: "declined", cancelled: "cancelled", no_show: "no-show",
  }[b.status] || b.status.replaceAll("_", " ");
}

// What a live booking update (docs/booking.md, the event body) means to the person reading it; the
// booking in it carries ids only, so the caller passes the title of the loaded card when there is one.
export function describeUpdate(event, title) {
  const b = event.booking || {};
  const name = title || "A session";
  const at = b.start_at ? when(b.start_at, { dateStyle: "medium", timeStyle: "short" }) : "";
  const kind = (event.type || "").replace("booking.", "");
  const what = {
    created: b.status === "requested" ? "requested" : "booked",
    confirmed: "confirmed", declined: "declined", cancelled: "cancelled", expired: "declined: no answer in time",
    rescheduled: "moved", started: "started", completed: "finished", no_show: "marked as a no-show",
  }[kind] || "updated";
  return `${name}${at ? ` on ${at}` : ""}: ${what}.`;
}
