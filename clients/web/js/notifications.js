// The bell: the unread count in the header (a badge, named for screen readers),
// the list of notifications (GET /notifications), marked read when seen, and new
// ones live from `notification:new`.

import { $, announce, element, plural, when } from "./dom.js";

const TEXT = {
  booking_requested: "requested", booking_created: "booked", booking_confirmed: "confirmed", booking_declined: "declined",
  booking_expired: "expired without an answer", booking_cancelled: "cancelled", booking_rescheduled: "moved",
  reminder_24h: "starts in 24 hours", reminder_15m: "starts in 15 minutes",
};

export function notificationText(n) {
  const d = n.data || {};
  const who = d.counterpart ? ` with ${d.counterpart.display_name}` : "";
  const at = d.start_at ? ` on ${when(d.start_at, { dateStyle: "medium", timeStyle: "short" })}` : "";
  return `${d.offering_name || "A session"}${who}${at}: ${TEXT[n.kind] || n.kind.replaceAll("_", " ")}.`;
}

export class Notifications {
  constructor(api) {
    this.api = api;
    this.unread = 0;
    $("#mark-all-read").addEventListener("click", async () => {
      const marked = await this.api.call("POST", "/notifications/read", { all: true });
      this.setUnread(marked.unread);
      await this.show();
      announce("All notifications marked as read.");
    });
  }

  setUnread(n) {
    this.unread = n;
    const badge = $("#bell-count");
    badge.hidden = n === 0;
    badge.textContent = String(n);
    $("#bell").setAttribute("aria-label", n ? `Notifications, ${plural(n, "unread")}` : "Notifications");
  }

  async count() {
    const found = await this.api.call("GET", "/notifications?limit=1");
    this.setUnread(found.unread);
  }

  arrived(n) {
    this.setUnread(this.unread + 1);
    if (!$("#notifications").hidden) this.prepend(n);
  }

  item(n) {
    return element("li", { className: n.read_at ? "note" : "note unread" },
      element("span", { textContent: `${n.read_at ? "" : "New: "}${notificationText(n)}` }), " ",
      element("time", { dateTime: n.created_at, className: "hint", textContent: when(n.created_at, { dateStyle: "short", timeStyle: "short" }) }));
  }

  prepend(n) {
    const list = $("#notification-list");
    list.querySelector(".empty")?.remove();
    list.prepend(this.item(n));
  }

  async show() {
    const found = await this.api.call("GET", "/notifications?limit=50");
    const list = $("#notification-list");
    list.replaceChildren(...found.items.map((n) => this.item(n)));
    if (!found.items.length) list.append(element("li", { className: "empty", textContent: "Nothing yet." }));
    this.setUnread(found.unread);
    const unseen = found.items.filter((n) => !n.read_at).map((n) => n.id);
    if (unseen.length) {
      const marked = await this.api.call("POST", "/notifications/read", { ids: unseen });
      this.setUnread(marked.unread);
    }
  }
}
