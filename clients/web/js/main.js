// The page: sign-in, then the views of the signed-in person (sessions, booking
// or the practitioner's workspace, notifications, account), with chat and video
// below. Plain DOM, no framework and no build step; every change the user did
// not cause is announced through the status line (a polite live region).

import { AccessLog } from "./access_log.js";
import { Api } from "./api.js";
import { Bookings, describeUpdate } from "./bookings.js";
import { Call } from "./call.js";
import { Chat } from "./chat.js";
import { CONSENT_PATH, showConsent } from "./consent.js";
import { loadConnectedApps } from "./connected_apps.js";
import { $, announce, element, onSubmit, timeZones, toast, zone } from "./dom.js";
import { Finder } from "./find.js";
import { Notifications } from "./notifications.js";
import { Realtime } from "./realtime.js";
import { installReset } from "./reset.js";
import { Sharing } from "./sharing.js";
import { TwoFactor } from "./two_factor.js";
import { EmailVerification } from "./verify.js";
import { Workspace } from "./workspace.js";

const api = new Api();
const names = new Map();
const state = { rt: null, chat: null, chatWith: null, feedSeq: null, reload: null, view: "bookings", presence: new Map() };

const sharing = new Sharing(api);
const accessLog = new AccessLog(api);
const bookings = new Bookings(api, {
  onChat: (other) => openChat(other),
  onVideo: (b) => call.lobby(b),
  onReschedule: async (b) => { await show("find", false); await finder.reschedule(b); },
  extra: sharing,
});
const finder = new Finder(api, {
  onBooked: (b, go) => (go ? show("bookings").then(() => bookings.focus(b.id)) : bookings.load()),
  rt: () => state.rt,
});
const workspace = new Workspace(api);
const notifications = new Notifications(api);
const call = new Call(api, () => state.rt, names);
const twoFactor = new TwoFactor(api);

// -- views ----------------------------------------------------------------------------------------

async function show(view, focus = true) {
  state.view = view;
  for (const section of document.querySelectorAll(".view")) section.hidden = section.dataset.viewName !== view;
  finder.watch();  // "available now" of the results only while they show
  for (const b of document.querySelectorAll("#nav [data-view]")) {
    if (b.dataset.view === view) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  if (view === "bookings") await bookings.load();
  if (view === "find" && !$("#find").childElementCount) finder.showSearch();
  if (view === "workspace") await workspace.show();
  if (view === "notifications") await notifications.show();
  if (view === "account") {
    const health = api.user.role === "client" ? [sharing.load().then(() => sharing.showShared()), accessLog.show()] : [];
    await Promise.all([twoFactor.show(), verification.show(), ...health]);
  }
  if (focus) $(`#${view} h1`)?.focus();
}

for (const b of document.querySelectorAll("#nav [data-view]")) {
  b.addEventListener("click", () => show(b.dataset.view).catch((e) => announce(e.message)));
}

// -- signing in and out ---------------------------------------------------------------------------

async function signedIn() {
  const user = api.user;
  zone.current = user.time_zone || zone.current;
  $("#signin").hidden = true;
  if (location.pathname === CONSENT_PATH) return showConsent(api);  // an app asks for access: nothing else here
  $("#app").hidden = false;
  $("#nav").hidden = false;
  for (const node of document.querySelectorAll("[data-role]")) node.hidden = node.dataset.role !== user.role;
  $("#whoami").textContent = `Signed in as ${user.display_name} (${user.role}).`;
  $("#zone").textContent = zone.current;
  fillZones();
  names.set(user.id, user.display_name);
  state.rt = new Realtime(api, {
    onConnect: () => {
      announce("Connected.");
      followBookings();
      call.socketBack();
      finder.watch(true);
    },
    onDisconnect: () => announce("Connection lost; reconnecting…"),
    onRetry: (wait) => announce(`Could not connect; trying again in ${Math.ceil(wait / 1000)} s.`),
  });
  // A burst of updates reloads the list once; then each change the other person made is told, by name.
  const told = [];
  state.rt.on("bookings:update", (u) => {
    state.feedSeq = Math.max(state.feedSeq || 0, u.seq);
    const event = u.event || {};
    if (event.actor && event.actor.user_id !== user.id) told.push(u);
    clearTimeout(state.reload);
    state.reload = setTimeout(async () => {
      await bookings.load().catch(() => {});
      for (const update of told.splice(0)) {
        const known = bookings.find(update.booking_id);
        toast(describeUpdate(update.event, known ? `${known.offering.name} with ${bookings.other(known).display_name}` : null));
      }
    }, 200);
  });
  state.rt.on("notification:new", (n) => notifications.arrived(n));
  for (const event of ["consent:proposed", "consent:granted", "consent:declined", "consent:revoked"]) {
    state.rt.on(event, (g) => sharing.update(g, true));
  }
  state.rt.on("available:changed", (c) => finder.changed(c));
  state.rt.on("presence", (p) => { state.presence.set(p.user_id, p); paintPresence(); });
  await Promise.all([show(user.role === "practitioner" ? "bookings" : "bookings", false), notifications.count(), loadConnectedApps(api)]);
  $("#bookings-title").focus();
}

function signedOut(reason) {
  $("#consent").hidden = true;
  call.leave().catch(() => {});
  $("#video").hidden = true;
  $("#chat").hidden = true;
  if (state.chat) state.chat.close();
  if (state.rt) state.rt.close();
  Object.assign(state, { rt: null, chat: null, chatWith: null, feedSeq: null });
  $("#app").hidden = true;
  $("#nav").hidden = true;
  $("#signin").hidden = false;
  $("#signin-reason").textContent = reason || "";
  $("#find").replaceChildren();
  finder.page = null;  // the next sign-in starts a new search
  $("#signin-title").tabIndex = -1;
  $("#signin-title").focus();
}

api.ended = (reason) => signedOut(reason);
api.onSignedInElsewhere = () => signedIn().catch((e) => announce(e.message));

onSubmit($("#signin-form"), async (data) => {
  try {
    await api.login(data.get("email"), data.get("password"), data.get("totp_code") || null);
  } catch (e) {
    if (e.code !== "totp_required") throw e;
    $("#signin-code").hidden = false;
    $("#signin-totp").focus();
    throw e;
  }
  $("#signin-form").reset();
  $("#signin-code").hidden = true;
  await signedIn();
});

onSubmit($("#register-form"), async (data) => {
  await api.register({
    display_name: data.get("display_name"), email: data.get("email"), password: data.get("password"),
    role: data.get("role"),
  });
  await signedIn();
  if (api.user.role === "practitioner") await show("workspace");
});

$("#sign-out").addEventListener("click", async () => {
  await api.logout();
  signedOut("You signed out.");
});

// -- account --------------------------------------------------------------------------------------

function fillZones() {
  const s = $("#zone-select");
  if (!s.options.length) for (const z of timeZones()) s.append(element("option", { value: z, textContent: z.replaceAll("_", " ") }));
  s.value = zone.current;
}

onSubmit($("#zone-form"), async (data) => {
  const user = await api.call("PATCH", "/me", { time_zone: data.get("time_zone") });
  api.keep({ ...api.session, user });
  zone.current = user.time_zone;
  $("#zone").textContent = zone.current;
  announce(`Time zone set to ${zone.current}. Times are now shown in it.`);
});

// -- sessions and live updates --------------------------------------------------------------------

// Live updates of all our bookings (docs/protocol.md): start from the feed's current position, and after a
// reconnect from the last update seen, so nothing is missed and old history is not replayed.
async function followBookings() {
  if (state.feedSeq === null) state.feedSeq = (await api.call("GET", "/me/booking-feed?limit=1&after=0")).last_seq;
  const ack = await state.rt.call("bookings:subscribe", { last_seq: state.feedSeq }).catch(() => null);
  if (ack) state.feedSeq = Math.max(state.feedSeq, ack.last_seq);
}

$("#refresh-bookings").addEventListener("click", () => bookings.load().then(() => announce("Sessions updated.")));

// -- chat: one thread per pair of people ------------------------------------------------------------

async function openChat(other) {
  names.set(other.id, other.display_name);
  $("#chat").hidden = false;
  $("#chat-title").textContent = `Chat with ${other.display_name}`;
  state.chatWith = other;
  // The server keeps one direct conversation per client and practitioner (accepted once they have a booking).
  const conversation = await api.call("POST", "/conversations", { participant_id: other.id });
  if (!state.chat) {
    state.chat = new Chat(state.rt, api.user.id, names, { list: $("#messages"), typingLine: $("#typing"), announce });
  }
  await state.chat.open(conversation.id);
  const together = bookings.items.filter((b) => b.client.id === other.id || b.practitioner.id === other.id);
  $("#chat-bookings").textContent = together.length
    ? `Your sessions together: ${together.map((b) => `${b.offering.name}, ${new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short", timeZone: zone.current }).format(new Date(b.start_at))}`).join("; ")}.`
    : "";
  const found = await api.call("GET", `/presence?user_ids=${other.id}`).catch(() => null);
  for (const p of (found && found.users) || []) state.presence.set(p.user_id, p);
  paintPresence();
  $("#message-input").focus();
}

function paintPresence() {
  const other = state.chatWith;
  if (!other) return;
  const p = state.presence.get(other.id);
  $("#chat-presence").textContent = !p ? "" : p.state === "online" ? `${other.display_name} is online.`
    : p.state === "away" ? `${other.display_name} is away.`
    : `${other.display_name} is offline${p.last_seen ? `, last seen ${new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short", timeZone: zone.current }).format(new Date(p.last_seen))}` : ""}.`;
}

$("#message-input").addEventListener("input", (event) => state.chat && state.chat.userTyped(event.target.value !== ""));

$("#message-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("#message-input");
  const body = input.value.trim();
  if (!body || !state.chat) return;
  input.value = "";
  state.chat.userTyped(false);
  try {
    await state.chat.send(body);
  } catch (e) {
    announce(`Not sent: ${e.message}`);
    input.value = body;
  }
});

document.addEventListener("visibilitychange", () => state.chat && state.chat.markRead());

// Diagnostics (and the browser tests): the current video room, e.g. `await klear.room().stats()`.
window.klear = { room: () => call.room, socket: () => state.rt && state.rt.socket };

installReset(api);
const verification = new EmailVerification(api);
if (api.session) {
  signedIn().catch((e) => { if (api.session) { api.forget(); signedOut(e.message); } });
}
