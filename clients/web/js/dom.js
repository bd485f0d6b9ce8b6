// Small DOM and formatting helpers shared by the page's modules.

export const $ = (selector, root = document) => root.querySelector(selector);

export function element(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key.startsWith("aria-") || key.startsWith("data-") || key === "role" || key === "for") node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export function button(label, onClick, extra = {}) {
  return element("button", { type: "button", textContent: label, onclick: onClick, ...extra });
}

// The one polite live region: every change the user did not just cause is read out here.
export function announce(text) {
  const status = $("#status");
  status.textContent = text;
}

// A short visual note for live changes (also announced through the status line).
export function toast(text) {
  announce(text);
  const box = element("p", { className: "toast", textContent: text });
  $("#toasts").append(box);
  setTimeout(() => box.remove(), 6000);
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

export function price(minor, currency) {
  if (minor === 0) return "Free";
  return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(minor / 100);
}

// Times in the viewer's zone; `zone.current` follows the account setting.
export const zone = { current: Intl.DateTimeFormat().resolvedOptions().timeZone };

export function when(iso, options = { dateStyle: "full", timeStyle: "short" }, tz = zone.current) {
  return new Intl.DateTimeFormat(undefined, { ...options, timeZone: tz }).format(new Date(iso));
}

export const timeOnly = (iso, tz) => when(iso, { timeStyle: "short" }, tz);

// The date (YYYY-MM-DD) of an instant in a zone.
export function dayOf(iso, tz = zone.current) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" })
    .format(new Date(iso));
}

export function showError(target, error) {
  target.textContent = error ? error.message || String(error) : "";
}

// Runs a form's action on submit; its error goes in the form's [data-error] and focus stays usable.
export function onSubmit(form, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = form.querySelector("[data-error]");
    if (error) showError(error, null);
    const submit = form.querySelector("[type=submit]");
    if (submit) submit.disabled = true;
    try {
      await action(new FormData(form), form);
    } catch (e) {
      if (error) showError(error, e);
      else announce(e.message);
    } finally {
      if (submit) submit.disabled = false;
    }
  });
}

// A labelled input: <label for> + control, for forms built in script.
let ids = 0;
export function field(label, control, hint) {
  control.id = control.id || `f${++ids}`;
  const parts = [element("label", { for: control.id, textContent: label }), control];
  if (hint) {
    const h = element("p", { className: "hint", id: `${control.id}-hint`, textContent: hint });
    control.setAttribute("aria-describedby", h.id);
    parts.push(h);
  }
  return element("div", { className: "field" }, ...parts);
}

export function input(name, props = {}) {
  return element("input", { name, ...props });
}

export function select(name, options, value) {
  const s = element("select", { name });
  for (const o of options) {
    const [v, text] = Array.isArray(o) ? o : [o, o];
    s.append(element("option", { value: v, textContent: text, selected: v === value }));
  }
  return s;
}

// scheduler/vocabulary.py Modality
export const MODALITIES = ["yoga", "meditation", "reiki", "acupuncture", "massage", "nutrition", "counselling",
  "naturopathy", "breathwork", "ayurveda", "homeopathy", "herbalism", "osteopathy", "chiropractic", "reflexology",
  "sound_healing", "pilates", "tai_chi", "qigong", "life_coaching"];

export function timeZones() {
  return Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [zone.current];
}
