// The client's journey: search, a practitioner's profile with offerings, a month calendar marking days with
// free times (and "next available"), the times of a day, a review step (time in both zones, price,
// cancellation policy, a note), then a confirmation with an ICS file. Rescheduling reuses the calendar and review.
//
// Search is the server's (GET /search/practitioners, docs/search.md: typos, filters, ranking, pages); the page
// shows what it answers. The cards on screen are watched for "available now" (available:watch); any other
// screen of this view, or another view, ends the watch.

import { $, MODALITIES, announce, button, dayOf, element, field, input, plural, price, select, timeOnly, when, zone }
  from "./dom.js";

const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const PRICE = { type: "number", min: 0, step: 0.01 };
const line = (textContent, className = "") => element("p", { className, textContent });
const dots = (...parts) => parts.filter(Boolean).join(" · ");
const words = (list) => list.map((m) => m.replaceAll("_", " ")).join(", ");
const rating = (r) => (r.count ? `${r.average.toFixed(1)} ★ from ${plural(r.count, "review")}` : "No reviews yet");
const badge = (on) => element("p", { className: "now", hidden: !on, textContent: "Available now" });
const seal = (p) => p.verified && line("✓ Verified credentials", "verified");

export class Finder {
  constructor(api, { onBooked, rt }) {
    this.api = api;
    this.onBooked = onBooked;
    this.rt = rt;             // () => the Realtime connection (null signed out)
    this.root = $("#find");
    this.chosen = null;       // {practitioner, offering, reschedule?: booking}
    this.month = null;        // Date of the first of the month shown (UTC noon)
    this.slotsByDay = new Map();
    this.ids = [];            // the practitioners listed, in order
    this.badges = new Map();  // id -> [their "Available now" line, their name]
    this.watching = [];       // the ids the socket watches
  }

  // Every screen of the view goes through here, so the watch follows what is on screen.
  screen(...nodes) {
    this.root.replaceChildren(...nodes.filter(Boolean));
    this.watch();
  }

  // -- search ---------------------------------------------------------------------------------------

  showSearch(keep = false) {
    if (!keep || !this.page) {
      const form = element("form", { id: "search-form", className: "filters" },
        field("Words to find", input("q", { type: "search", autocomplete: "off", maxLength: 200 }),
          "A name, a practice, a town or words from a profile; small typos are corrected."),
        field("Practice", select("modality", [["", "Any"], ...MODALITIES.map((m) => [m, words([m])])])),
        field("Mode", select("mode", [["", "Any"], ["video", "Video"], ["in_person", "In person"]])),
        field("Language they speak (e.g. en, fr)", input("language", { pattern: "[a-z]{2,3}(-[A-Za-z0-9]{2,8})*", title: "A language code such as en, fr or pt-BR" })),
        field("Free to book", select("free_within_days", [["", "Any time"], [1, "In the next 24 hours"], ...[3, 7, 14].map((d) => [d, `Within ${d} days`])])),
        field("Lowest price", input("price_min", PRICE)), field("Highest price", input("price_max", PRICE)),
        field("Rating", select("min_rating", [["", "Any"], ...[3, 4, 4.5].map((r) => [r, `${r} ★ or more`])])),
        field("Verified credentials only", input("verified", { type: "checkbox", value: true })),
        element("button", { type: "submit", textContent: "Find practitioners" }),
        element("p", { className: "error", role: "alert", "data-error": "" }));
      this.corrected = line("", "notice");
      this.results = element("ul", { id: "practitioner-list", className: "cards", "aria-label": "Practitioners" });
      this.more = button("Show more", () => {
        this.loading ||= this.search().catch((e) => announce(e.message)).finally(() => { this.loading = null; });
      }, { hidden: true });
      this.ids = [];
      this.page = [element("h1", { id: "find-title", tabIndex: -1, textContent: "Book a session" }), form, this.corrected, this.results, this.more];
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const error = form.querySelector("[data-error]");
        error.textContent = "";
        await this.search(new FormData(form)).catch((e) => { error.textContent = e.message; });
      });
    }
    this.screen(...this.page);
  }

  // A new search from the form's `data`, or without it the next page of the last one.
  async search(data) {
    const params = new URLSearchParams(data ? "" : this.params);
    if (data) {
      const [low, high] = [data.get("price_min"), data.get("price_max")];
      if (low && high && +low > +high) throw new Error("The lowest price is above the highest price.");
      for (const [k, v] of data) if (v.trim()) params.set(k, k.startsWith("price") ? Math.round(v * 100) : v.trim());
      this.params = String(params);
    } else params.set("cursor", this.cursor);
    const found = await this.api.call("GET", `/search/practitioners?${params}`);
    if (data) {
      this.ids = [];
      this.badges = new Map();
      this.results.replaceChildren();
      const fixes = found.corrections;
      const said = params.get("q")?.toLowerCase().match(/\p{L}+/gu) || [];
      this.corrected.textContent = Object.keys(fixes).length ? `Showing results for ${said.map((w) => (fixes[w] || [w]).join(" or ")).join(" ")}` : "";
    }
    const cards = found.items.map((p) => this.card(p));
    this.results.append(...cards);
    this.ids.push(...found.items.map((p) => p.id));
    this.cursor = found.next_cursor;
    this.more.hidden = !this.cursor;
    if (!this.ids.length) this.results.append(element("li", { className: "empty", textContent: "No practitioners match. Try other words or fewer filters." }));
    announce(`${plural(cards.length, data ? "practitioner" : "more practitioner")} ${data ? "found" : "shown"}.${this.cursor ? " Show more for the next ones." : ""} ${data ? this.corrected.textContent : ""}`.trim());
    if (!data) cards[0]?.querySelector("h2").focus();
    this.watch();
  }

  card(p) {
    const now = badge(p.available_now);
    const from = p.from_price && price(p.from_price.price_minor, p.from_price.currency);
    this.badges.set(p.id, [now, p.display_name]);
    return element("li", { className: "card" },
      element("h2", { className: "h3", tabIndex: -1, textContent: p.display_name }), now,
      line(words(p.modalities) || "—"), line(rating(p.rating)), seal(p),
      line(dots(from && (from === "Free" ? from : `from ${from}`), p.modes.map((m) => (m === "video" ? "video" : "in person")).join(" or "),
        p.place, p.languages.length && `speaks ${p.languages.join(", ")}`), "hint"),
      p.next_free_slot && line(`Next free time: ${when(p.next_free_slot)}`),
      button(`View ${p.display_name}'s profile`, () => this.showProfile(p.id)));
  }

  // -- available now ---------------------------------------------------------------------------------

  // Watches the cards while they are on screen (the latest 100 at most), else nothing; main.js calls this when
  // it shows a view, and with `again` on each (re)connect, as the server forgets a watch when a socket drops.
  async watch(again = false) {
    const ids = !this.root.hidden && this.results?.isConnected ? this.ids.slice(-100) : [];
    const rt = this.rt();
    if (again) this.watching = [];
    if (!rt?.connected || String(ids) === String(this.watching)) return;
    this.watching = ids;
    const heard = this.heard = new Set();  // changes that came before the ack are newer than it
    const ack = await rt.call("available:watch", { practitioner_ids: ids }).catch(() => { this.watching = null; });
    for (const item of ack?.items || []) if (!heard.has(item.practitioner_id)) this.mark(item);
  }

  // `available:changed`: the card follows and the status line says so (focus stays where it is).
  changed(change) {
    this.heard?.add(change.practitioner_id);
    const name = this.mark(change);
    if (name) announce(`${name} is ${change.available_now ? "" : "no longer "}available now.`);
  }

  // Shows or hides a card's "Available now"; the name when that changed it.
  mark({ practitioner_id: id, available_now: on }) {
    const [now, name] = this.badges.get(id) || [];
    if (!now || now.hidden === !on) return null;
    now.hidden = !on;
    return name;
  }

  // -- profile --------------------------------------------------------------------------------------

  async showProfile(id) {
    const p = await this.api.call("GET", `/practitioners/${id}/profile`);
    const list = element("ul", { className: "cards", "aria-label": "Offerings" }, ...p.offerings.map((o) => element("li", { className: "card" },
      element("h3", { textContent: o.name }),
      o.description ? line(o.description) : null,
      line(offeringFacts(o), "hint"),
      button(`Choose a time for ${o.name}`, () => this.showCalendar(p, o), { className: "primary" }))));
    const day = (iso) => when(iso, { dateStyle: "long" });
    const part = (title, items, none) => [element("h2", { textContent: title }), items.length
      ? element("ul", { className: "plain" }, ...items.map((i) => element("li", { className: "note" }, ...i))) : line(none)];
    this.screen(
      button("← Back to search", () => { this.showSearch(true); $("#find-title").focus(); }),
      element("h1", { id: "find-title", tabIndex: -1, textContent: p.display_name }),
      p.available_now && badge(true), line(rating(p.rating)), seal(p),
      line(p.bio, "bio"),
      line(dots(words(p.modalities), p.languages.length && `Speaks ${p.languages.join(", ")}`,
        p.location && `Sees clients in ${p.location.place}`, `Time zone ${p.time_zone}`), "hint"),
      line(p.next_free_slot ? `Next free time: ${when(p.next_free_slot)} (${zone.current})` : "No free times in the next six weeks."),
      element("h2", { textContent: "Offerings" }), list,
      ...(p.credentials.length ? part("Verified credentials", p.credentials.map((c) => [
        `${c.title}, ${c.issuer}${c.expires_at ? `, valid until ${day(c.expires_at)}` : ""}`])) : []),
      ...part("Reviews", p.reviews.map((r) => [
        element("p", {}, element("strong", { textContent: `${r.rating} of 5 ★` }), ` ${r.client_name}, ${day(r.created_at)}`),
        r.body && line(r.body), r.reply && line(`${p.display_name} replied: ${r.reply}`, "hint")]), "No reviews yet."));
    $("#find-title").focus();
  }

  // -- calendar ------------------------------------------------------------------------------------

  async reschedule(booking) {
    const p = await this.api.call("GET", `/practitioners/${booking.practitioner.id}`);
    const o = p.offerings.find((x) => x.id === booking.offering.id);
    await this.showCalendar(p, o, booking);
  }

  async showCalendar(p, o, reschedule = null) {
    this.chosen = { practitioner: p, offering: o, reschedule };
    const today = dayOf(new Date().toISOString());
    this.month = new Date(`${today.slice(0, 8)}01T12:00:00Z`);
    const tz = select("tz", [zone.current, ...(p.time_zone !== zone.current ? [p.time_zone] : [])], zone.current);
    tz.addEventListener("change", () => { this.viewZone = tz.value; this.renderMonth(); });
    this.viewZone = zone.current;
    this.grid = element("div", { className: "month" });
    this.times = element("div", { className: "day-times" });
    this.screen(
      button("← Back to profile", () => this.showProfile(p.id)),
      element("h1", { id: "find-title", tabIndex: -1, textContent: reschedule ? `Move ${o.name} with ${p.display_name}` : `${o.name} with ${p.display_name}` }),
      element("p", { className: "hint", textContent: offeringFacts(o) }),
      field("Show times in", tz),
      element("div", { className: "actions" },
        button("Next available", () => this.nextAvailable()),
      ),
      this.grid, this.times);
    await this.renderMonth();
    $("#find-title").focus();
  }

  async fetchSlots(fromDay, toDay) {
    const q = new URLSearchParams({ offering: this.chosen.offering.id, from: fromDay, to: toDay, tz: this.viewZone });
    return (await this.api.call("GET", `/practitioners/${this.chosen.practitioner.id}/slots?${q}`)).slots;
  }

  async renderMonth() {
    const first = this.month;
    const y = first.getUTCFullYear(), m = first.getUTCMonth();
    const days = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
    const iso = (d) => `${y}-${String(m + 1).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
    const slots = await this.fetchSlots(iso(1), iso(days));
    this.slotsByDay = new Map();
    for (const s of slots) {
      const d = dayOf(s.start, this.viewZone);
      if (!this.slotsByDay.has(d)) this.slotsByDay.set(d, []);
      this.slotsByDay.get(d).push(s);
    }
    const title = new Intl.DateTimeFormat(undefined, { month: "long", year: "numeric", timeZone: "UTC" }).format(first);
    const table = element("table", { className: "calendar" },
      element("caption", { textContent: `${title}: days with free times are marked` }),
      element("thead", {}, element("tr", {}, ...WEEKDAYS.map((d) => element("th", { scope: "col", textContent: d })))));
    const body = element("tbody");
    let row = element("tr");
    const lead = (new Date(Date.UTC(y, m, 1)).getUTCDay() + 6) % 7;
    for (let i = 0; i < lead; i++) row.append(element("td"));
    for (let d = 1; d <= days; d++) {
      const key = iso(d);
      const free = this.slotsByDay.get(key) || [];
      const long = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeZone: "UTC" }).format(new Date(`${key}T12:00:00Z`));
      const cell = free.length
        ? button(String(d), () => this.showDay(key), { className: "free", "aria-label": `${long}, ${plural(free.length, "free time")}` })
        : element("span", { className: "none" }, String(d), element("span", { className: "visually-hidden", textContent: `, ${long}, nothing free` }));
      row.append(element("td", {}, cell));
      if ((lead + d) % 7 === 0) { body.append(row); row = element("tr"); }
    }
    if (row.children.length) body.append(row);
    table.append(body);
    const shift = (n) => { this.month = new Date(Date.UTC(y, m + n, 1, 12)); this.renderMonth(); };
    this.grid.replaceChildren(
      element("div", { className: "actions" }, button("← Previous month", () => shift(-1)), button("Next month →", () => shift(1))),
      table);
    announce(`${title}: ${plural(this.slotsByDay.size, "day")} with free times.`);
  }

  async nextAvailable() {
    let from = new Date();
    for (let i = 0; i < 6; i++) {
      const to = new Date(from.getTime() + 41 * 86400000);
      const slots = await this.fetchSlots(dayOf(from.toISOString(), this.viewZone), dayOf(to.toISOString(), this.viewZone));
      if (slots.length) {
        const day = dayOf(slots[0].start, this.viewZone);
        this.month = new Date(`${day.slice(0, 8)}01T12:00:00Z`);
        await this.renderMonth();
        return this.showDay(day);
      }
      from = to;
    }
    announce("No free times in the next months.");
  }

  showDay(day) {
    const slots = this.slotsByDay.get(day) || [];
    const long = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeZone: "UTC" }).format(new Date(`${day}T12:00:00Z`));
    const list = element("ul", { id: "slot-list", className: "slots", "aria-label": "Free times" }, ...slots.map((s) =>
      element("li", {}, button(timeOnly(s.start, this.viewZone), () => this.review(s), {
        "aria-label": `${when(s.start, { dateStyle: "full", timeStyle: "short" }, this.viewZone)}${s.places_left > 1 ? `, ${plural(s.places_left, "place")} left` : ""}`,
      }))));
    const heading = element("h2", { id: "day-title", tabIndex: -1, textContent: `Free times on ${long}` });
    this.times.replaceChildren(heading, list);
    announce(`${plural(slots.length, "free time")} on ${long}.`);
    heading.focus();
  }

  // -- review and confirm ----------------------------------------------------------------------------

  review(slot) {
    const { practitioner: p, offering: o, reschedule } = this.chosen;
    const note = element("textarea", { name: "note", maxLength: 2000, rows: 3 });
    const error = element("p", { className: "error", role: "alert" });
    const late = o.late_cancel_min >= 60 ? plural(Math.round(o.late_cancel_min / 60), "hour") : plural(o.late_cancel_min, "minute");
    const form = element("form", { id: "review-form" },
      element("dl", { className: "facts" },
        element("dt", { textContent: "Session" }), element("dd", { textContent: `${o.name} with ${p.display_name}, ${o.duration_min} min, ${o.mode === "video" ? "video" : `in person at ${o.address}`}` }),
        element("dt", { textContent: "When (your time)" }), element("dd", { textContent: `${when(slot.start, undefined, zone.current)} (${zone.current})` }),
        p.time_zone !== zone.current ? element("dt", { textContent: `${p.display_name}'s time` }) : null,
        p.time_zone !== zone.current ? element("dd", { textContent: `${when(slot.start, undefined, p.time_zone)} (${p.time_zone})` }) : null,
        element("dt", { textContent: "Price" }), element("dd", { textContent: reschedule ? "Unchanged" : price(o.price_minor, o.currency) }),
        element("dt", { textContent: "Cancellation" }), element("dd", { textContent: `Free until ${late} before the start; later counts as a late cancellation.` }),
        element("dt", { textContent: "Confirmation" }), element("dd", { textContent: o.needs_approval ? `${p.display_name} confirms each request (you will be notified).` : "Confirmed at once." })),
      reschedule ? null : field("Note for the practitioner (optional)", note),
      element("button", { type: "submit", className: "primary", textContent: reschedule ? "Confirm the new time" : (o.needs_approval ? "Send request" : "Confirm booking") }),
      button("Choose another time", () => { dialog.remove(); $("#day-title")?.focus(); }),
      error);
    const dialog = element("section", { className: "review", "aria-labelledby": "review-title" },
      element("h2", { id: "review-title", tabIndex: -1, textContent: "Review your booking" }), form);
    this.times.querySelector(".review")?.remove();
    this.times.append(dialog);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      form.querySelector("[type=submit]").disabled = true;
      try {
        const headers = { "Idempotency-Key": crypto.randomUUID() };
        const booking = reschedule
          ? await this.api.call("POST", `/bookings/${reschedule.id}/reschedule`, { start_at: slot.start }, { headers })
          : await this.api.call("POST", "/bookings", { offering_id: o.id, start_at: slot.start, note: note.value.trim() || null }, { headers });
        this.confirmed(booking, Boolean(reschedule));
      } catch (e) {
        form.querySelector("[type=submit]").disabled = false;
        error.textContent = e.status === 409 ? `${e.message} That time was just taken: choose another.` : e.message;
        if (e.status === 409) await this.renderMonth();
      }
    });
    $("#review-title").focus();
  }

  confirmed(b, moved) {
    const { practitioner: p } = this.chosen;
    const ics = icsFile(b, p);
    const link = element("a", { href: URL.createObjectURL(new Blob([ics], { type: "text/calendar" })), download: "klear-session.ics", textContent: "Add to calendar (.ics)" });
    const verb = moved ? "Moved" : (b.status === "requested" ? "Requested" : "Booked");
    this.screen(
      element("h1", { id: "find-title", tabIndex: -1, textContent: `${verb}: ${b.offering.name} with ${p.display_name}` }),
      element("p", { textContent: `${when(b.start_at)} (${zone.current}).` }),
      element("p", { textContent: b.status === "requested" ? `${p.display_name} will confirm or decline; we will tell you.` : "Your session is confirmed." }),
      element("p", {}, link),
      button("See your sessions", () => this.onBooked(b, true)),
      button("Book another", () => { this.showSearch(); $("#find-title").focus(); }));
    announce(`${verb} for ${when(b.start_at)} (${b.status === "requested" ? "awaiting confirmation" : b.status}).`);
    $("#find-title").focus();
    this.onBooked(b, false);
  }
}

function offeringFacts(o) {
  return [`${o.duration_min} min`, price(o.price_minor, o.currency), o.mode === "video" ? "video" : `in person (${o.address})`,
    o.needs_approval ? "needs approval" : "instant booking", o.capacity > 1 ? `class of ${o.capacity}` : null].filter(Boolean).join(" · ");
}

function icsFile(b, p) {
  const stamp = (iso) => iso.replace(/[-:]/g, "").replace(/\.\d+/, "");
  const text = (s) => s.replace(/[\\;,]/g, (c) => `\\${c}`).replace(/\n/g, "\\n");
  return ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Klear Karma//web//EN", "BEGIN:VEVENT", `UID:${b.id}@klear`,
    `DTSTAMP:${stamp(new Date().toISOString())}`, `DTSTART:${stamp(b.start_at)}`, `DTEND:${stamp(b.end_at)}`,
    `SUMMARY:${text(`${b.offering.name} with ${p.display_name}`)}`, b.address ? `LOCATION:${text(b.address)}` : null,
    "END:VEVENT", "END:VCALENDAR"].filter(Boolean).join("\r\n");
}
