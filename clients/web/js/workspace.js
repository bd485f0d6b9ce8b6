// The practitioner's workspace: profile and booking rules, offerings, weekly hours,
// days off and time off, and the calendar-feed link. Each part is its own form
// that saves on its own, so a first-time practitioner fills them top to bottom
// (a setup checklist at the top says what is still missing) and later edits one.

import { $, MODALITIES, announce, button, element, field, input, onSubmit, select, timeZones, when, zone } from "./dom.js";

const DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
const errorLine = () => element("p", { className: "error", role: "alert", "data-error": "" });

export class Workspace {
  constructor(api) {
    this.api = api;
    this.root = $("#workspace");
  }

  get id() {
    return this.api.user.id;
  }

  async show() {
    this.profile = await this.api.call("GET", `/practitioners/${this.id}`).catch((e) => {
      if (e.status === 404) return null;
      throw e;
    });
    this.hours = this.profile ? await this.api.call("GET", `/practitioners/${this.id}/availability`) : null;
    const offers = this.profile ? this.profile.offerings.filter((o) => o.active) : [];
    const steps = [
      ["Profile", Boolean(this.profile)], ["An offering", offers.length > 0],
      ["Weekly hours", Boolean(this.hours && this.hours.weekly.length)],
    ];
    const missing = steps.filter(([, done]) => !done).map(([name]) => name);
    this.root.replaceChildren(
      element("h1", { id: "workspace-title", tabIndex: -1, textContent: "Your workspace" }),
      element("p", { className: missing.length ? "notice" : "hint", id: "setup-state",
        textContent: missing.length ? `To be bookable, still set up: ${missing.join(", ")}.` : "You are bookable. Clients can find you and book your free times." }),
      this.profileForm(), this.offeringsPart(), this.hoursForm(), this.timeOffPart(), this.feedPart());
  }

  async refresh(focusSelector) {
    await this.show();
    const target = focusSelector && this.root.querySelector(focusSelector);
    (target || $("#workspace-title")).focus();
  }

  profileForm() {
    const p = this.profile || { bio: "", modalities: [], languages: [], time_zone: zone.current, booking_rules: {} };
    const r = { buffer_before_min: 0, buffer_after_min: 0, min_notice_min: 240, horizon_days: 90, request_ttl_min: 1440, slot_interval_min: 30, ...p.booking_rules };
    const bio = element("textarea", { name: "bio", maxLength: 4000, rows: 4, value: p.bio });
    const modalities = element("fieldset", { className: "choices grid" }, element("legend", { textContent: "Practices" }),
      ...MODALITIES.map((m) => element("label", {}, input("modality", { type: "checkbox", value: m, checked: p.modalities.includes(m) }), ` ${m.replaceAll("_", " ")}`)));
    const num = (name, value, min, max) => input(name, { type: "number", min, max, value, required: true, inputMode: "numeric" });
    const form = element("form", { id: "profile-form" },
      field("About you", bio, "Shown on your profile page."),
      modalities,
      field("Languages", input("languages", { value: p.languages.join(", ") }), "Language tags separated by commas, e.g. en, fr, pt-BR."),
      field("Time zone of your hours", select("time_zone", timeZones(), p.time_zone)),
      field("Show clients \"Available now\"", input("show_available_now", { type: "checkbox", checked: !!p.show_available_now }),
        "On your profile and in search, while you are online, not away, bookable and not in a session."),
      element("fieldset", { className: "choices grid" }, element("legend", { textContent: "Booking rules (minutes unless stated)" }),
        field("Free before each session", num("buffer_before_min", r.buffer_before_min, 0, 240)),
        field("Free after each session", num("buffer_after_min", r.buffer_after_min, 0, 240)),
        field("Least notice for a booking", num("min_notice_min", r.min_notice_min, 0, 43200)),
        field("How far ahead (days)", num("horizon_days", r.horizon_days, 1, 730)),
        field("Time to answer a request", num("request_ttl_min", r.request_ttl_min, 5, 20160)),
        field("Spacing of start times", num("slot_interval_min", r.slot_interval_min, 5, 240))),
      element("button", { type: "submit", textContent: "Save profile" }),
      errorLine());
    onSubmit(form, async (data) => {
      const rules = Object.fromEntries(["buffer_before_min", "buffer_after_min", "min_notice_min", "horizon_days", "request_ttl_min", "slot_interval_min"]
        .map((k) => [k, Number(data.get(k))]));
      await this.api.call("PUT", `/practitioners/${this.id}`, {
        bio: data.get("bio"), modalities: data.getAll("modality"), time_zone: data.get("time_zone"),
        languages: data.get("languages").split(",").map((s) => s.trim()).filter(Boolean),
        booking_rules: { ...p.booking_rules, ...rules }, show_available_now: data.has("show_available_now"),
      });
      await this.refresh("#offering-title");
      announce("Profile saved.");
    });
    return part("profile-title", "Profile", form);
  }

  offeringsPart() {
    const list = element("ul", { className: "cards", "aria-label": "Your offerings" });
    for (const o of (this.profile ? this.profile.offerings : [])) {
      list.append(element("li", { className: "card" },
        element("h3", { textContent: `${o.name}${o.active ? "" : " (archived)"}` }),
        element("p", { className: "hint", textContent: `${o.duration_min} min · ${o.price_minor === 0 ? "Free" : `${(o.price_minor / 100).toFixed(2)} ${o.currency}`} · ${o.mode.replace("_", " ")} · ${o.needs_approval ? "needs approval" : "instant"}${o.capacity > 1 ? ` · ${o.capacity} places` : ""}` }),
        button(o.active ? `Archive ${o.name}` : `Restore ${o.name}`, async () => {
          await this.api.call("PATCH", `/practitioners/${this.id}/offerings/${o.id}`, { active: !o.active });
          await this.refresh("#offering-title");
          announce(o.active ? `${o.name} archived: no new bookings.` : `${o.name} restored.`);
        })));
    }
    const mode = select("mode", [["video", "Video"], ["in_person", "In person"]], "video");
    const address = element("textarea", { name: "address", maxLength: 500, rows: 2 });
    const addressField = field("Address (in person only)", address);
    addressField.hidden = true;
    mode.addEventListener("change", () => { addressField.hidden = mode.value !== "in_person"; address.required = !addressField.hidden; });
    const form = element("form", { id: "offering-form" },
      field("Name", input("name", { required: true, maxLength: 120 })),
      field("Description", element("textarea", { name: "description", maxLength: 2000, rows: 2 })),
      field("Length (minutes)", input("duration_min", { type: "number", min: 5, max: 480, value: 60, required: true })),
      field("Price", input("price", { type: "number", min: 0, step: "0.01", value: "0", required: true }), "0 for a free session."),
      field("Currency", input("currency", { value: "EUR", pattern: "[A-Z]{3}", maxLength: 3, required: true }), "Three letters, e.g. EUR."),
      field("Mode", mode), addressField,
      element("label", {}, input("needs_approval", { type: "checkbox" }), " I confirm each booking myself (needs approval)"),
      field("Places per session", input("capacity", { type: "number", min: 1, max: 100, value: 1, required: true }), "1 for one-to-one; more for a class."),
      field("Late cancellation (minutes before the start)", input("late_cancel_min", { type: "number", min: 0, max: 20160, value: 1440, required: true })),
      element("button", { type: "submit", textContent: "Add offering" }),
      errorLine());
    onSubmit(form, async (data) => {
      const body = {
        name: data.get("name"), description: data.get("description"), duration_min: Number(data.get("duration_min")),
        price_minor: Math.round(Number(data.get("price")) * 100), currency: data.get("currency"), mode: data.get("mode"),
        needs_approval: data.get("needs_approval") === "on", capacity: Number(data.get("capacity")),
        late_cancel_min: Number(data.get("late_cancel_min")),
      };
      if (body.mode === "in_person") body.address = data.get("address");
      if (!this.profile) throw new Error("Save your profile first.");
      await this.api.call("POST", `/practitioners/${this.id}/offerings`, body);
      await this.refresh("#hours-title");
      announce(`Offering ${body.name} added.`);
    });
    return part("offering-title", "Offerings", list, element("h3", { textContent: "Add an offering" }), form);
  }

  hoursForm() {
    const weekly = this.hours ? this.hours.weekly : [];
    const rows = DAYS.map((day) => {
      const ranges = weekly.filter((w) => w.weekday === day);
      const first = ranges[0];
      const name = day[0].toUpperCase() + day.slice(1);
      return element("fieldset", { className: "day-row" }, element("legend", { textContent: name }),
        element("label", {}, input(`${day}-open`, { type: "checkbox", checked: Boolean(first) }), " Open"),
        field(`${name} from`, input(`${day}-start`, { type: "time", value: first ? first.start : "09:00" })),
        field(`${name} until`, input(`${day}-end`, { type: "time", value: first ? (first.end === "24:00" ? "23:59" : first.end) : "17:00" })),
        ranges.length > 1 ? element("p", { className: "hint", textContent: `Also open ${ranges.slice(1).map((w) => `${w.start}–${w.end}`).join(", ")} (kept).` }) : null);
    });
    const dayOff = input("day_off", { type: "date" });
    const form = element("form", { id: "hours-form" },
      element("p", { className: "hint", textContent: `In your profile's time zone${this.hours ? `, ${this.hours.time_zone}` : ""}.` }),
      element("div", { className: "week" }, ...rows),
      field("Add a day off (optional)", dayOff),
      this.hours && this.hours.overrides.length ? element("p", { className: "hint", textContent: `Days off and extra hours: ${this.hours.overrides.map((o) => o.kind === "day_off" ? `${o.date} off` : `${o.date} ${o.start}–${o.end}`).join(", ")}.` }) : null,
      element("button", { type: "submit", textContent: "Save hours" }),
      errorLine());
    onSubmit(form, async (data) => {
      if (!this.profile) throw new Error("Save your profile first.");
      const next = [];
      for (const day of DAYS) {
        const ranges = weekly.filter((w) => w.weekday === day);
        if (data.get(`${day}-open`) !== "on") continue;
        const end = data.get(`${day}-end`) === "23:59" ? "24:00" : data.get(`${day}-end`);
        next.push({ weekday: day, start: data.get(`${day}-start`), end }, ...ranges.slice(1));
      }
      const overrides = [...this.hours.overrides];
      if (data.get("day_off")) overrides.push({ date: data.get("day_off"), kind: "day_off" });
      await this.api.call("PUT", `/practitioners/${this.id}/availability`, { weekly: next, overrides });
      await this.refresh("#timeoff-title");
      announce("Hours saved.");
    });
    return part("hours-title", "Weekly hours", form);
  }

  timeOffPart() {
    const list = element("ul", { className: "plain", "aria-label": "Time off" });
    for (const t of (this.hours ? this.hours.time_off : [])) {
      const text = `${when(t.starts_at, { dateStyle: "medium", timeStyle: "short" })} – ${when(t.ends_at, { dateStyle: "medium", timeStyle: "short" })}`;
      list.append(element("li", {}, `${text} `, button("Remove", async () => {
        await this.api.call("DELETE", `/practitioners/${this.id}/time-off/${t.id}`);
        await this.refresh("#timeoff-title");
        announce(`Time off ${text} removed.`);
      }, { "aria-label": `Remove time off ${text}` })));
    }
    if (!list.children.length) list.append(element("li", { textContent: "No time off planned." }));
    const form = element("form", { id: "timeoff-form" },
      field("From", input("starts_at", { type: "datetime-local", required: true }), "In this device's time zone."),
      field("Until", input("ends_at", { type: "datetime-local", required: true })),
      element("button", { type: "submit", textContent: "Add time off" }),
      errorLine());
    onSubmit(form, async (data) => {
      if (!this.profile) throw new Error("Save your profile first.");
      await this.api.call("POST", `/practitioners/${this.id}/time-off`, {
        starts_at: new Date(data.get("starts_at")).toISOString(), ends_at: new Date(data.get("ends_at")).toISOString(),
      });
      await this.refresh("#timeoff-title");
      announce("Time off added.");
    });
    return part("timeoff-title", "Time off", list, form);
  }

  feedPart() {
    const out = element("div");
    const make = button("Create my calendar link", async () => {
      const { url } = await this.api.call("POST", "/me/calendar-feed");
      const box = input("feed", { readOnly: true, value: url });
      out.replaceChildren(field("Your calendar link (keep it secret)", box, "Paste it into your calendar app as a subscription. Creating a new link stops the old one."),
        button("Copy link", async () => { await navigator.clipboard.writeText(url).catch(() => box.select()); announce("Link copied."); }));
      box.focus();
      make.textContent = "Create a new link (the old one stops working)";
    });
    return part("feed-title", "Calendar feed", element("p", { className: "hint", textContent: "See your sessions in your own calendar app." }), make, out);
  }
}

function part(id, title, ...children) {
  return element("section", { className: "part", "aria-labelledby": id },
    element("h2", { id, tabIndex: -1, textContent: title }), ...children);
}
