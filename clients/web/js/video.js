// One video session (docs/video.md). The server always offers and this page
// only answers, so the two sides never offer at once:
//   - `rtc:offer` lists every m-line with its role: "publish" m-lines are
//     where our own tracks go (we attach the track for its `source` and send),
//     "subscribe" m-lines carry someone else's publication (we receive);
//     "inactive" means that track is gone.
//   - publishing later (screen share) is a request, `rtc:publish`; the server
//     adds the m-line and sends a new offer.
// Offers are handled strictly one after another.
//
// Recovery: aiortc has no ICE restart, so a connection that fails (or a socket
// that reconnected, which drops us from the room) is replaced by joining again
// with the same local tracks: `rejoin`, driven by the page (call.js).

export class VideoRoom {
  constructor(rt, { onRemote, onRemoteGone, onPeople, onEnded, onConnection, announce }) {
    this.rt = rt;
    this.hooks = { onRemote, onRemoteGone, onPeople, onEnded, onConnection, announce };
    this.bookingId = null;
    this.pc = null;
    this.sessionId = null;
    this.local = {};            // source -> MediaStreamTrack we publish
    this.mine = new Map();      // publication id -> source (our publications)
    this.attached = new Set();  // mids our tracks are attached to
    this.remote = new Map();    // publication id -> {track, publisher, source, kind}
    this.people = new Map();    // user id -> {display_name, role}
    this.muted = new Map();     // publication id -> muted
    this.queue = Promise.resolve();
    this.handlers = {
      "rtc:offer": (offer) => { this.queue = this.queue.then(() => this.answer(offer)).catch((e) => this.fail(e)); },
      "rtc:participant_joined": (e) => this.mineOnly(e, () => {
        this.people.set(e.participant.user_id, e.participant);
        this.hooks.announce(`${e.participant.display_name} joined.`);
        this.hooks.onPeople();
      }),
      "rtc:participant_left": (e) => this.mineOnly(e, () => {
        const who = this.people.get(e.user_id);
        this.people.delete(e.user_id);
        // A lost connection is not a goodbye: their page rejoins by itself.
        if (who && e.reason === "disconnected") this.hooks.announce(`${who.display_name} lost their connection; reconnecting…`);
        else if (who && e.reason !== "rejoined" && e.reason !== "replaced") this.hooks.announce(`${who.display_name} left.`);
        this.hooks.onPeople();
      }),
      "rtc:track_published": (e) => this.mineOnly(e, () => {
        this.muted.set(e.publication.id, e.publication.muted);
        this.hooks.onPeople();
      }),
      "rtc:track_unpublished": (e) => this.mineOnly(e, () => this.dropRemote(e.publication_id)),
      "rtc:mute": (e) => this.mineOnly(e, () => { this.muted.set(e.publication_id, e.muted); this.hooks.onPeople(); }),
      "rtc:ended": (e) => this.mineOnly(e, () => this.ended(e.reason)),
    };
    for (const [event, handler] of Object.entries(this.handlers)) rt.on(event, handler);
  }

  mineOnly(event, act) {
    if (!this.sessionId || event.session_id === this.sessionId) act();
  }

  async join(bookingId, tracks) {
    this.bookingId = bookingId;
    this.local = { ...tracks };
    const publish = Object.keys(this.local).filter((source) => this.local[source]);
    const ack = await this.rt.call("rtc:join", { booking_id: bookingId, publish });
    this.sessionId = ack.session_id;
    for (const p of ack.participants) this.people.set(p.user_id, p);
    for (const p of ack.publications) this.muted.set(p.id, p.muted);
    this.hooks.onPeople();
    return ack;
  }

  ensurePeerConnection(iceServers) {
    if (this.pc) return;
    this.pc = new RTCPeerConnection({ iceServers: iceServers || [], bundlePolicy: "max-bundle" });
    this.pc.onicecandidate = (event) => {
      if (!this.sessionId) return;
      const candidate = event.candidate ? event.candidate.toJSON() : { candidate: "" };
      this.rt.call("rtc:candidate", { session_id: this.sessionId, ...candidate }).catch(() => {});
    };
    const pc = this.pc;
    pc.onconnectionstatechange = () => {
      if (this.pc === pc && this.hooks.onConnection) this.hooks.onConnection(pc.connectionState);
    };
  }

  async answer(offer) {
    this.sessionId = this.sessionId || offer.session_id;
    this.ensurePeerConnection(offer.ice_servers);
    const pc = this.pc;
    await pc.setRemoteDescription({ type: "offer", sdp: offer.sdp });
    const byMid = new Map(pc.getTransceivers().map((t) => [t.mid, t]));
    for (const info of offer.transceivers) {
      const transceiver = byMid.get(info.mid);
      if (!transceiver) continue;
      if (info.direction === "inactive") {
        transceiver.direction = "inactive";
        if (info.role === "publish") {
          await transceiver.sender.replaceTrack(null);
          this.mine.delete(info.publication);
        } else {
          this.dropRemote(info.publication);
        }
      } else if (info.role === "publish") {
        if (!this.attached.has(info.mid)) {
          await transceiver.sender.replaceTrack(this.local[info.source] || null);
          transceiver.direction = "sendonly";
          this.attached.add(info.mid);
          this.mine.set(info.publication, info.source);
        }
      } else {
        transceiver.direction = "recvonly";
        if (!this.remote.has(info.publication)) {
          const entry = { track: transceiver.receiver.track, publisher: info.publisher, source: info.source, kind: info.kind };
          this.remote.set(info.publication, entry);
          this.hooks.onRemote(info.publication, entry);
        }
      }
    }
    await pc.setLocalDescription(await pc.createAnswer());
    await this.rt.call("rtc:answer", { session_id: offer.session_id, sdp: pc.localDescription.sdp });
  }

  publicationOf(source) {
    for (const [id, s] of this.mine) if (s === source) return id;
    return null;
  }

  async setMuted(source, muted) {
    const track = this.local[source];
    if (track) track.enabled = !muted;
    const id = this.publicationOf(source);
    if (id) await this.rt.call("rtc:mute", { session_id: this.sessionId, publication_id: id, muted });
  }

  async shareScreen(track) {
    this.local.screen = track;
    const ack = await this.rt.call("rtc:publish", { session_id: this.sessionId, source: "screen" });
    this.mine.set(ack.publication.id, "screen");
    return ack.publication;
  }

  async stopScreen() {
    const id = this.publicationOf("screen");
    const track = this.local.screen;
    delete this.local.screen;
    if (id) await this.rt.call("rtc:unpublish", { session_id: this.sessionId, publication_id: id });
    if (track) track.stop();
  }

  dropRemote(publicationId) {
    if (this.remote.delete(publicationId)) this.hooks.onRemoteGone(publicationId);
  }

  // getStats() of the connection, reduced to what the page (and its tests) show: per received track,
  // frames decoded and the picture size; per sent track, frames encoded.
  async stats() {
    if (!this.pc) return { inbound: [], outbound: [] };
    const report = await this.pc.getStats();
    const inbound = [], outbound = [];
    report.forEach((s) => {
      if (s.type === "inbound-rtp") {
        inbound.push({ kind: s.kind, mid: s.mid, framesDecoded: s.framesDecoded || 0, frameWidth: s.frameWidth || 0,
                       frameHeight: s.frameHeight || 0, bytesReceived: s.bytesReceived || 0 });
      } else if (s.type === "outbound-rtp") {
        outbound.push({ kind: s.kind, mid: s.mid, framesEncoded: s.framesEncoded || 0, bytesSent: s.bytesSent || 0 });
      }
    });
    return { inbound, outbound, connectionState: this.pc.connectionState };
  }

  async leave() {
    if (this.sessionId) await this.rt.call("rtc:leave", { session_id: this.sessionId }).catch(() => {});
    this.close();
  }

  ended(reason) {
    this.close();
    this.hooks.onEnded(reason);
  }

  fail(error) {
    this.hooks.announce(`Video problem: ${error.message}`);
  }

  // Join again from a clean connection, keeping our camera and microphone (not a screen share).
  async rejoin() {
    const { camera, microphone } = this.local;
    this.reset();
    this.queue = Promise.resolve();
    return this.join(this.bookingId, { camera, microphone });
  }

  reset() {
    for (const id of [...this.remote.keys()]) this.dropRemote(id);
    if (this.pc) this.pc.close();
    this.pc = null;
    this.sessionId = null;
    this.mine.clear();
    this.attached.clear();
    this.people.clear();
    if (this.local.screen) this.local.screen.stop();
    delete this.local.screen;
  }

  close() {
    for (const [event, handler] of Object.entries(this.handlers)) this.rt.off(event, handler);
    for (const track of Object.values(this.local)) if (track) track.stop();
    this.reset();
  }
}
