// The page: sign in, upcoming bookings in local time, booking a slot, chat, video.
// Plain DOM, no framework and no build step; every text that changes is
// announced through the status line or a live region.

import { Api } from "./api.js";
import { Chat } from "./chat.js";
import { CONSENT_PATH, showConsent } from "./consent.js";
import { Realtime } from "./realtime.js";
import { VideoRoom } from "./video.js";

const $ = (selector) => document.querySelector(selector);
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
const longDate = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });
const shortTime = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });

const api = new Api();
const state = { rt: null, chat: null, room: null, bookings: [], names: new Map(), feedSeq: null, reload: null };

function announce(text) {
  $("#status").textContent = text;
}

function element(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children);
  return node;
}

function button(label, onClick, extra = {}) {
  return element("button", { type: "button", textContent: label, onclick: onClick, ...extra });
}

function showError(target, error) {
  target.textContent = error ? error.message || String(error) : "";
}

// -- signing in and out ------------------------------------------------------------------------

async function signedIn() {
  $("#signin").hidden = true;
  $("#account").hidden = false;
  $("#whoami").textContent = `Signed in as ${api.user.display_name}`;
  if (location.pathname === CONSENT_PATH) return showConsent(api);  // an app asks for access: nothing else here
  $("#app").hidden = false;
  $("#zone").textContent = zone;
  state.names.set(api.user.id, api.user.display_name);
  state.rt = new Realtime(api, {
    onConnect: () => { announce("Connected."); followBookings(); },
    onDisconnect: () => announce("Connection lost; reconnecting…"),
  });
  state.rt.on("bookings:update", (u) => {
    state.feedSeq = Math.max(state.feedSeq || 0, u.seq);
    clearTimeout(state.reload);
    state.reload = setTimeout(() => loadBookings(), 200);  // a burst of updates reloads once
  });
  await Promise.all([loadBookings(), loadConnectedApps()]);
  $("#main").focus();
}

// -- connected apps ------------------------------------------------------------------------------

async function loadConnectedApps() {
  const { items } = await api.call("GET", "/me/apps");
  const list = $("#connected-list");
  list.replaceChildren();
  if (!items.length) list.append(element("li", { textContent: "No connected apps." }));
  for (const app of items) {
    const scopes = element("ul", {}, ...app.scopes.map((s) => element("li", { textContent: s.description })));
    list.append(element("li", { className: "card" },
      element("h3", { textContent: app.name }),
      scopes,
      button("Remove access", async () => {
        await api.call("DELETE", `/me/apps/${app.app_id}`);
        announce(`${app.name} can no longer use your account.`);
        await loadConnectedApps();
      }, { ariaLabel: `Remove access for ${app.name}` }),
    ));
  }
}

function signedOut() {
  $("#consent").hidden = true;
  if (state.room) state.room.close();
  if (state.chat) state.chat.close();
  if (state.rt) state.rt.close();
  Object.assign(state, { rt: null, chat: null, room: null, feedSeq: null });
  $("#app").hidden = true;
  $("#account").hidden = true;
  $("#signin").hidden = false;
}

function formSubmit(form, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = form.querySelector("[data-error]") || $("#book-error");
    showError(error, null);
    try {
      await action(new FormData(form));
    } catch (e) {
      showError(error, e);
    }
  });
}

formSubmit($("#signin-form"), async (data) => {
  await api.login(data.get("email"), data.get("password"));
  await signedIn();
});

formSubmit($("#register-form"), async (data) => {
  await api.register({
    display_name: data.get("display_name"), email: data.get("email"), password: data.get("password"),
    role: data.get("role"),
  });
  await signedIn();
});

$("#sign-out").addEventListener("click", async () => {
  await api.logout();
  signedOut();
  announce("Signed out.");
});

// -- upcoming bookings ---------------------------------------------------------------------------

async function loadBookings() {
  const since = new Date(Date.now() - 3 * 3600 * 1000).toISOString();
  const found = await api.call("GET", `/bookings?from=${encodeURIComponent(since)}&limit=50`);
  const now = Date.now();
  state.bookings = found.items.filter((b) => new Date(b.end_at).getTime() + 15 * 60000 > now
    && !["cancelled", "declined"].includes(b.status));
  const list = $("#booking-list");
  list.replaceChildren();
  if (!state.bookings.length) list.append(element("li", { textContent: "No upcoming sessions." }));
  for (const b of state.bookings) {
    const other = api.user.id === b.client.id ? b.practitioner : b.client;
    state.names.set(other.id, other.display_name);
    const when = element("time", { dateTime: b.start_at, textContent: longDate.format(new Date(b.start_at)) });
    const item = element("li", { className: "card" },
      element("h3", { textContent: `${b.offering.name} with ${other.display_name}` }),
      element("p", {}, when, ` until ${shortTime.format(new Date(b.end_at))} · ${b.status.replace("_", " ")}`),
      button(`Chat with ${other.display_name}`, () => openChat(b)),
    );
    if (b.mode === "video" && ["confirmed", "in_session", "completed"].includes(b.status)) {
      const join = button("Join video", () => joinVideo(b), { className: "primary" });
      join.append(element("span", { className: "visually-hidden", textContent: `: ${b.offering.name}, ${longDate.format(new Date(b.start_at))}` }));
      join.dataset.booking = b.id;
      item.append(join);
    }
    list.append(item);
  }
}

// Live updates of all our bookings (docs/protocol.md): start from the feed's current position, and after a
// reconnect from the last update seen, so nothing is missed and old history is not replayed.
async function followBookings() {
  if (state.feedSeq === null) state.feedSeq = (await api.call("GET", "/me/booking-feed?limit=1&after=0")).last_seq;
  const ack = await state.rt.call("bookings:subscribe", { last_seq: state.feedSeq }).catch(() => null);
  if (ack) state.feedSeq = Math.max(state.feedSeq, ack.last_seq);
}

$("#refresh-bookings").addEventListener("click", () => loadBookings().then(() => announce("Bookings updated.")));

// -- booking a slot ------------------------------------------------------------------------------

let chosen = null;

formSubmit($("#search-form"), async (data) => {
  const modality = data.get("modality");
  const found = await api.call("GET", `/practitioners${modality ? `?modality=${encodeURIComponent(modality)}` : ""}`);
  const list = $("#practitioner-list");
  list.replaceChildren();
  for (const p of found.items) {
    const offers = p.offerings.filter((o) => o.active);
    if (!offers.length) continue;
    const item = element("li", { className: "card" },
      element("h3", { textContent: p.display_name }),
      element("p", { textContent: p.modalities.join(", ") }));
    for (const o of offers) {
      const price = new Intl.NumberFormat(undefined, { style: "currency", currency: o.currency }).format(o.price_minor / 100);
      item.append(button(`${o.name}, ${o.duration_min} min, ${price} (${o.mode.replace("_", " ")})`, () => {
        chosen = { practitioner: p, offering: o };
        $("#slot-offering").textContent = `${o.name} with ${p.display_name}`;
        $("#slot-form").hidden = false;
        $("#slot-form").elements.day.value = new Date().toLocaleDateString("en-CA"); // YYYY-MM-DD, local
        $("#slot-form").elements.day.focus();
      }));
    }
    list.append(item);
  }
  announce(`${list.children.length} practitioners found.`);
});

formSubmit($("#slot-form"), async (data) => {
  const day = data.get("day");
  const q = new URLSearchParams({ offering: chosen.offering.id, from: day, to: day, tz: zone });
  const found = await api.call("GET", `/practitioners/${chosen.practitioner.id}/slots?${q}`);
  const list = $("#slot-list");
  list.replaceChildren();
  for (const slot of found.slots) {
    list.append(element("li", {}, button(shortTime.format(new Date(slot.start)), () => book(slot))));
  }
  announce(found.slots.length ? `${found.slots.length} free times on ${day}.` : `No free times on ${day}.`);
});

async function book(slot) {
  try {
    const booking = await api.call("POST", "/bookings", { offering_id: chosen.offering.id, start_at: slot.start },
      { headers: { "Idempotency-Key": crypto.randomUUID() } });
    $("#slot-list").replaceChildren();
    announce(`Booked for ${longDate.format(new Date(booking.start_at))} (${booking.status}).`);
    await loadBookings();
  } catch (e) {
    showError($("#book-error"), e);
  }
}

// -- chat ------------------------------------------------------------------------------------------

async function openChat(b) {
  $("#chat").hidden = false;
  const other = api.user.id === b.client.id ? b.practitioner : b.client;
  $("#chat-title").textContent = `Chat with ${other.display_name}`;
  if (!state.chat) {
    state.chat = new Chat(state.rt, api.user.id, state.names,
      { list: $("#messages"), typingLine: $("#typing"), announce });
  }
  await state.chat.open(b.conversation_id);
  $("#message-input").focus();
}

$("#message-input").addEventListener("input", (event) => state.chat && state.chat.userTyped(event.target.value !== ""));

$("#message-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("#message-input");
  const body = input.value.trim();
  if (!body || !state.chat) return;
  try {
    await state.chat.send(body);
    input.value = "";
    state.chat.userTyped(false);
  } catch (e) {
    announce(`Not sent: ${e.message}`);
  }
});

document.addEventListener("visibilitychange", () => state.chat && state.chat.markRead());

// -- video -----------------------------------------------------------------------------------------

const tiles = new Map(); // publication id -> tile element

function tileFor(publicationId, entry) {
  const name = state.names.get(entry.publisher) || (state.room && state.room.people.get(entry.publisher)?.display_name) || "Guest";
  if (entry.kind === "audio") {
    const audio = element("audio", { autoplay: true });
    audio.srcObject = new MediaStream([entry.track]);
    audio.dataset.publication = publicationId;
    return audio;
  }
  const label = entry.source === "screen" ? `${name}'s screen` : name;
  const video = element("video", { autoplay: true, playsInline: true, muted: true });
  video.setAttribute("aria-label", label);
  video.srcObject = new MediaStream([entry.track]);
  return element("figure", { className: "tile" }, video, element("figcaption", { textContent: label }));
}

function renderPeople() {
  const room = state.room;
  const list = $("#people");
  list.replaceChildren(element("li", { textContent: `You (${api.user.display_name})` }));
  if (!room) return;
  for (const [id, person] of room.people) {
    const mutes = [...room.remote.entries()].filter(([, e]) => e.publisher === id)
      .filter(([pub]) => room.muted.get(pub)).map(([, e]) => e.source);
    list.append(element("li", { textContent: `${person.display_name} (${person.role})${mutes.length ? `, muted: ${mutes.join(", ")}` : ""}` }));
  }
}

async function localTracks() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
    $("#local-video").srcObject = stream;
    return { camera: stream.getVideoTracks()[0], microphone: stream.getAudioTracks()[0] };
  } catch (e) {
    announce(`No camera or microphone (${e.name}); joining to watch and listen only.`);
    return {};
  }
}

async function joinVideo(b) {
  if (state.room) await leaveVideo();
  $("#video").hidden = false;
  const tracks = await localTracks();
  const room = new VideoRoom(state.rt, {
    onRemote: (id, entry) => {
      const tile = tileFor(id, entry);
      tiles.set(id, tile);
      $("#tiles").append(tile);
      renderPeople();
    },
    onRemoteGone: (id) => { tiles.get(id)?.remove(); tiles.delete(id); renderPeople(); },
    onPeople: renderPeople,
    onEnded: (reason) => {
      state.room = null;
      $("#local-video").srcObject = null;
      resetControls();
      announce(reason === "server_shutdown" ? "The server restarted; join again." : `The session ended (${reason.replaceAll("_", " ")}).`);
    },
    announce,
  });
  state.room = room;
  try {
    await room.join(b.id, tracks);
    announce(`Joined the video session. ${room.people.size} other ${room.people.size === 1 ? "person" : "people"} here.`);
    $("#toggle-mic").focus();
  } catch (e) {
    room.close();
    state.room = null;
    announce(`Could not join: ${e.message}`);
  }
}

async function leaveVideo() {
  const room = state.room;
  state.room = null;
  if (room) await room.leave();
  for (const tile of tiles.values()) tile.remove();
  tiles.clear();
  $("#local-video").srcObject = null;
  resetControls();
  renderPeople();
}

function resetControls() {
  for (const id of ["#toggle-mic", "#toggle-camera", "#toggle-screen"]) $(id).setAttribute("aria-pressed", "false");
  $("#toggle-mic").textContent = "Mute microphone";
  $("#toggle-camera").textContent = "Turn camera off";
  $("#toggle-screen").textContent = "Share screen";
}

function toggle(selector, onLabel, offLabel, act) {
  $(selector).addEventListener("click", async () => {
    if (!state.room) return;
    const control = $(selector);
    const pressed = control.getAttribute("aria-pressed") !== "true";
    try {
      await act(pressed);
      control.setAttribute("aria-pressed", String(pressed));
      control.textContent = pressed ? onLabel : offLabel;
    } catch (e) {
      announce(e.message);
    }
  });
}

toggle("#toggle-mic", "Unmute microphone", "Mute microphone", (on) => state.room.setMuted("microphone", on));
toggle("#toggle-camera", "Turn camera on", "Turn camera off", (on) => state.room.setMuted("camera", on));
toggle("#toggle-screen", "Stop sharing", "Share screen", async (on) => {
  if (!on) return state.room.stopScreen();
  const stream = await navigator.mediaDevices.getDisplayMedia({ video: true });
  const track = stream.getVideoTracks()[0];
  track.addEventListener("ended", () => {
    if (state.room && $("#toggle-screen").getAttribute("aria-pressed") === "true") $("#toggle-screen").click();
  });
  await state.room.shareScreen(track);
});

$("#leave").addEventListener("click", async () => {
  await leaveVideo();
  $("#video").hidden = true;
  announce("You left the video session.");
});

// Diagnostics (and the browser test): the current video room, e.g. `await klear.room().stats()`.
window.klear = { room: () => state.room };

if (api.session) {
  signedIn().catch(() => { api.forget(); signedOut(); });
}
