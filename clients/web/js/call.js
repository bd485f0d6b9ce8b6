// The call screen: a pre-join lobby (camera and microphone preview with device
// choice, the session window with a countdown, who is already in the room), the
// call itself (large speaker view, controls kept in view, screen share only where
// the browser has it), and automatic recovery: a failed connection or a socket
// that came back rejoins by itself, showing "Reconnecting…" meanwhile.

import { $, announce, element, plural, select, timeOnly, when } from "./dom.js";
import { VideoRoom } from "./video.js";

export class Call {
  constructor(api, rtOf, names) {
    this.api = api;
    this.rtOf = rtOf;           // () => the current Realtime
    this.names = names;
    this.room = null;
    this.booking = null;
    this.stream = null;
    this.tiles = new Map();
    this.timer = null;
    this.recovering = false;
    this.controls();
  }

  state(text) {
    $("#video-state").textContent = text;
  }

  // -- lobby ------------------------------------------------------------------------------------

  async lobby(b) {
    if (this.room) await this.leave();
    this.booking = b;
    const section = $("#video");
    section.hidden = false;
    section.classList.remove("in-call");
    $("#video-title").textContent = `Video: ${b.offering.name}`;
    $("#video-title").tabIndex = -1;
    await this.preview();
    await this.checkWindow();
    $("#video-title").focus();
  }

  async preview(constraints = { audio: true, video: { width: 640, height: 480 } }) {
    if (this.stream) for (const t of this.stream.getTracks()) t.stop();
    try {
      this.stream = await navigator.mediaDevices.getUserMedia(constraints);
      $("#local-video").srcObject = this.stream;
      await this.devicePickers();
    } catch (e) {
      this.stream = null;
      this.state(`No camera or microphone (${e.name}). You can still join to watch and listen.`);
    }
  }

  async devicePickers() {
    const box = $("#devices");
    const devices = await navigator.mediaDevices.enumerateDevices();
    const pick = (kind, label, key) => {
      const found = devices.filter((d) => d.kind === kind);
      if (found.length < 2) return null;
      const current = this.stream.getTracks().find((t) => t.kind === key)?.getSettings().deviceId;
      const s = select(kind, found.map((d, i) => [d.deviceId, d.label || `${label} ${i + 1}`]), current);
      s.id = `pick-${kind}`;
      s.addEventListener("change", () => {
        const video = key === "video" ? { deviceId: { exact: s.value } } : { width: 640, height: 480 };
        const audio = key === "audio" ? { deviceId: { exact: s.value } } : true;
        this.preview({ audio, video });
      });
      return element("div", { className: "field" }, element("label", { for: s.id, textContent: label }), s);
    };
    box.replaceChildren(...[pick("videoinput", "Camera", "video"), pick("audioinput", "Microphone", "audio")].filter(Boolean));
  }

  async checkWindow() {
    clearTimeout(this.timer);
    const b = this.booking;
    if (!b || this.room) return;
    const join = $("#join-call");
    let s;
    try {
      s = await this.rtOf().call("rtc:state", { booking_id: b.id });
    } catch (e) {
      this.state(`Could not check the session: ${e.message}`);
      join.disabled = true;
      return;
    }
    const opens = new Date(s.window.opens_at);
    if (s.admission === "open") {
      join.disabled = false;
      const others = s.participants.filter((p) => p.user_id !== this.api.user.id);
      this.state(others.length ? `${others.map((p) => p.display_name).join(", ")} ${others.length > 1 ? "are" : "is"} in the room.`
        : "The room is open. Nobody else is here yet.");
      this.timer = setTimeout(() => this.checkWindow(), 10000);
    } else if (s.admission === "too_early") {
      join.disabled = true;
      const minutes = Math.ceil((opens - Date.now()) / 60000);
      const wait = minutes > 120 ? `on ${when(s.window.opens_at, { dateStyle: "medium", timeStyle: "short" })}` : `in ${plural(minutes, "minute")}, at ${timeOnly(s.window.opens_at)}`;
      this.state(`You can join ${wait}. This page opens the room by itself.`);
      this.timer = setTimeout(() => this.checkWindow(), Math.min(Math.max(opens - Date.now(), 1000), 30000));
    } else {
      join.disabled = true;
      this.state(s.admission === "too_late" ? "This session's time is over." : "This session cannot be joined (it is not confirmed).");
    }
  }

  // -- the call ----------------------------------------------------------------------------------

  tracks() {
    if (!this.stream) return {};
    return { camera: this.stream.getVideoTracks()[0], microphone: this.stream.getAudioTracks()[0] };
  }

  async join() {
    clearTimeout(this.timer);
    const room = new VideoRoom(this.rtOf(), {
      onRemote: (id, entry) => {
        const tile = this.tileFor(id, entry);
        this.tiles.set(id, tile);
        $("#tiles").prepend(tile);
        this.people();
      },
      onRemoteGone: (id) => { this.tiles.get(id)?.remove(); this.tiles.delete(id); this.people(); },
      onPeople: () => this.people(),
      onEnded: (reason) => this.ended(reason),
      onConnection: (state) => this.connection(state),
      announce,
    });
    this.room = room;
    try {
      await room.join(this.booking.id, this.tracks());
      $("#video").classList.add("in-call");
      this.state(room.people.size ? "" : "Waiting for the other person…");
      announce(`Joined the video session. ${plural(room.people.size, "other person", "other people")} here.`);
      $("#toggle-mic").focus();
    } catch (e) {
      room.close();
      this.room = null;
      this.stream = null;
      this.state(`Could not join: ${e.message}`);
      await this.preview();
      await this.checkWindow();
    }
  }

  connection(state) {
    if (state === "connected") {
      if (this.recovering) announce("Reconnected.");
      this.recovering = false;
      this.state(this.room && this.room.people.size ? "" : "Waiting for the other person…");
    } else if (state === "disconnected") {
      this.state("Connection unstable; reconnecting…");
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.room && this.room.pc && this.room.pc.connectionState !== "connected" && this.recover(), 5000);
    } else if (state === "failed") {
      this.recover();
    }
  }

  // Rejoin with the same camera and microphone; retried with a growing pause until it works or the user leaves.
  async recover(attempt = 0) {
    if (!this.room || (this.recovering && attempt === 0)) return;
    this.recovering = true;
    this.state("Reconnecting…");
    announce("Connection lost; reconnecting…");
    try {
      for (const tile of this.tiles.values()) tile.remove();
      this.tiles.clear();
      await this.room.rejoin();
      this.state(this.room.people.size ? "Reconnected." : "Reconnected. Waiting for the other person…");
    } catch (e) {
      if (["too_late", "not_joinable", "not_found"].includes(e.code)) {
        this.recovering = false;
        return this.ended(e.code);
      }
      setTimeout(() => this.recover(attempt + 1), Math.min(1000 * 2 ** attempt, 10000) * (0.5 + Math.random()));
    }
  }

  // The socket came back after a drop: the server had removed us, so rejoin.
  socketBack() {
    if (this.room) this.recover();
    else if (this.booking && !$("#video").hidden) this.checkWindow();
  }

  tileFor(id, entry) {
    const name = this.names.get(entry.publisher) || this.room?.people.get(entry.publisher)?.display_name || "Guest";
    if (entry.kind === "audio") {
      const audio = element("audio", { autoplay: true });
      audio.srcObject = new MediaStream([entry.track]);
      audio.dataset.publication = id;
      return audio;
    }
    const label = entry.source === "screen" ? `${name}'s screen` : name;
    const video = element("video", { autoplay: true, playsInline: true, muted: true, "aria-label": label });
    video.srcObject = new MediaStream([entry.track]);
    return element("figure", { className: "tile remote" }, video, element("figcaption", { textContent: label }));
  }

  people() {
    const room = this.room;
    const list = $("#people");
    list.replaceChildren(element("li", { textContent: `You (${this.api.user.display_name})` }));
    if (!room) return;
    for (const [id, person] of room.people) {
      const mutes = [...room.remote.entries()].filter(([, e]) => e.publisher === id)
        .filter(([pub]) => room.muted.get(pub)).map(([, e]) => e.source);
      list.append(element("li", { textContent: `${person.display_name} (${person.role})${mutes.length ? `, muted: ${mutes.join(", ")}` : ""}` }));
    }
    if (!this.recovering) this.state(room.people.size ? "" : "Waiting for the other person…");
  }

  ended(reason) {
    this.room = null;
    this.clearTiles();
    this.resetControls();
    $("#video").classList.remove("in-call");
    this.state(reason === "server_shutdown" ? "The server restarted; join again." : `The session ended (${reason.replaceAll("_", " ")}).`);
    announce($("#video-state").textContent);
  }

  clearTiles() {
    for (const tile of this.tiles.values()) tile.remove();
    this.tiles.clear();
  }

  async leave() {
    clearTimeout(this.timer);
    const room = this.room;
    this.room = null;
    this.recovering = false;
    if (room) await room.leave();
    if (this.stream) for (const t of this.stream.getTracks()) t.stop();
    this.stream = null;
    this.clearTiles();
    $("#local-video").srcObject = null;
    $("#video").classList.remove("in-call");
    this.resetControls();
    this.people();
  }

  resetControls() {
    for (const id of ["#toggle-mic", "#toggle-camera", "#toggle-screen"]) $(id).setAttribute("aria-pressed", "false");
    $("#toggle-mic").textContent = "Mute microphone";
    $("#toggle-camera").textContent = "Turn camera off";
    $("#toggle-screen").textContent = "Share screen";
  }

  controls() {
    const toggle = (selector, onLabel, offLabel, act) => $(selector).addEventListener("click", async () => {
      if (!this.room) return;
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
    toggle("#toggle-mic", "Unmute microphone", "Mute microphone", (on) => this.room.setMuted("microphone", on));
    toggle("#toggle-camera", "Turn camera on", "Turn camera off", (on) => this.room.setMuted("camera", on));
    toggle("#toggle-screen", "Stop sharing", "Share screen", async (on) => {
      if (!on) return this.room.stopScreen();
      const stream = await navigator.mediaDevices.getDisplayMedia({ video: true });
      const track = stream.getVideoTracks()[0];
      track.addEventListener("ended", () => {
        if (this.room && $("#toggle-screen").getAttribute("aria-pressed") === "true") $("#toggle-screen").click();
      });
      await this.room.shareScreen(track);
    });
    // Screen share only where the browser has it (not on phones).
    $("#toggle-screen").hidden = !(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
    $("#join-call").addEventListener("click", () => this.join());
    $("#leave").addEventListener("click", async () => {
      await this.leave();
      $("#video").hidden = true;
      this.booking = null;
      announce("You left the video session.");
    });
  }
}
