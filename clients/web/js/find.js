// The client's journey: search, a practitioner's profile with offerings, a month
// calendar marking days with free times (and "next available"), the times of a day,
// a review step (time in both zones, price, cancellation policy, a note), then a
// confirmation with an ICS file. Rescheduling reuses the calendar and review.

import { $, MODALITIES, announce, button, dayOf, element, field, input, plural, price, select, timeOnly, when, zone }
  from "./dom.js";

const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

export class Finder {
  constructor(api, { onBooked }) {
    this.api = api;
    this.onBooked = onBooked;
    this.root = $("#find");
    this.chosen = null;       // {practitioner, offering, reschedule?: booking}
    this.month = null;        // Date of the first of the month shown (UTC noon)
    this.slotsByDay = new Map();
  }

  // -- search ---------------------------------------------------------------------------------------

  showSearch() {
    const q = input("q", { type: "search", autocomplete: "off" });
    const modality = select("modality", [["", "Any"], ...MODALITIES.map((m) => [m, m.replaceAll("_", " ")])]);
    const language = input("language", { maxLength: 20, placeholder: "en" });
    const mode = select("mode", [["", "Any"], ["video", "Video"], ["in_person", "In person"]]);
    const maxPrice = input("max_price", { type: "number", min: 0, step: 1, inputMode: "numeric" });
    const form = element("form", { id: "search-form", className: "filters" },
      field("Name or words in the bio", q), field("Practice", modality), field("Language (e.g. en, fr)", language),
      field("Mode", mode), field("Highest price", maxPrice),
      element("button", { type: "submit", textContent: "Find practitioners" }),
      element("p", { className: "error", role: "alert", "data-error": "" }));
    this.results = element("ul", { id: "practitioner-list", className: "cards", "aria-label": "Practitioners" });
    this.root.replaceChildren(element("h1", { id: "find-title", tabIndex: -1, textContent: "Book a session" }), form, this.results);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      form.querySelector("[data-error]").textContent = "";
      try {
        await this.search(new FormData(form));
      } catch (e) {
        form.querySelector("[data-error]").textContent = e.message;
      }
    });
  }

  async search(data) {
    const params = new URLSearchParams({ limit: "100" });
    if (data.get("modality")) params.set("modality", data.get("modality"));
    if (data.get("language")) params.set("language", data.get("language").trim());
    const found = await this.api.call("GET", `/practitioners?${params}`);
    const words = (data.get("q") || "").toLowerCase().split(/\s+/).filter(Boolean);
    const mode = data.get("mode");
    const max = data.get("max_price") === "" ? null : Number(data.get("max_price")) * 100;
    const matches = found.items.map((p) => ({
      ...p, offerings: p.offerings.filter((o) => o.active && (!mode || o.mode === mode) && (max === null || o.price_minor <= max)),
    })).filter((p) => p.offerings.length
      && words.every((w) => `${p.display_name} ${p.bio} ${p.modalities.join(" ")}`.toLowerCase().includes(w)));
    this.results.replaceChildren(...matches.map((p) => this.card(p)));
    if (!matches.length) this.results.append(element("li", { className: "empty", textContent: "No practitioners match." }));
    announce(`${plural(matches.length, "practitioner")} found.`);
  }

  card(p) {
    const cheapest = Math.min(...p.offerings.map((o) => o.price_minor));
    const approval = p.offerings.some((o) => o.needs_approval);
    return element("li", { className: "card" },
      element("h2", { className: "h3", textContent: p.display_name }),
      element("p", { textContent: p.modalities.map((m) => m.replaceAll("_", " ")).join(", ") || "—" }),
      p.bio ? element("p", { className: "bio", textContent: p.bio.length > 160 ? `${p.bio.slice(0, 157)}…` : p.bio }) : null,
      element("p", { className: "hint", textContent: [
        p.languages.length ? `Speaks ${p.languages.join(", ")}` : null, `Based in ${p.time_zone}`,
        `from ${price(cheapest, p.offerings[0].currency)}`, approval ? "some sessions need approval" : null,
      ].filter(Boolean).join(" · ") }),
      button(`View ${p.display_name}'s profile`, () => this.showProfile(p.id)));
  }

  // -- profile --------------------------------------------------------------------------------------

  async showProfile(id) {
    const p = await this.api.call("GET", `/practitioners/${id}`);
    const offers = p.offerings.filter((o) => o.active);
    const list = element("ul", { className: "cards", "aria-label": "Offerings" }, ...offers.map((o) => element("li", { className: "card" },
      element("h3", { textContent: o.name }),
      o.description ? element("p", { textContent: o.description }) : null,
      element("p", { className: "hint", textContent: offeringFacts(o) }),
      button(`Choose a time for ${o.name}`, () => this.showCalendar(p, o), { className: "primary" }))));
    this.root.replaceChildren(
      button("← Back to search", () => { this.showSearch(); $("#find-title").focus(); }),
      element("h1", { id: "find-title", tabIndex: -1, textContent: p.display_name }),
      element("p", { className: "bio", textContent: p.bio || "" }),
      element("p", { className: "hint", textContent: [p.modalities.join(", "), p.languages.length ? `Speaks ${p.languages.join(", ")}` : "",
        `Time zone ${p.time_zone}`].filter(Boolean).join(" · ") }),
      element("h2", { textContent: "Offerings" }), list);
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
    this.root.replaceChildren(
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
    this.root.replaceChildren(
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
