"""The SFU sends ICE checks only to networks the operator allows (issue 10, item 8).

A client names addresses in its candidates, trickled or in its answer, and the
server would send STUN binding requests to each from inside our network. The
policy is checked on its own, then through real aiortc peers: a local UDP
socket named in a refused candidate must receive nothing while one in an
allowed network gets checks, and a client whose own candidates are all refused
still connects (the server learns its address from the client's checks).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aioice import Connection
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from klear_client.participant import SyntheticParticipant
from rtc.sfu.candidates import CandidateFilter, networks
from rtc.sfu.peer import Message
from rtc.sfu.room import SfuRoom

from ..support.eventually import eventually, holds
from ..support.media import Media

REFUSED_BY_DEFAULT = ["127.0.0.1", "127.8.9.10", "::1", "169.254.169.254", "169.254.10.1", "fe80::1", "0.0.0.0",
                      "224.0.0.251", "255.255.255.255", "240.0.0.1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
                      "fd00:ec2::254", "100.100.100.200", "168.63.129.16", "host.local", "example.org"]
ALLOWED_BY_DEFAULT = ["10.1.2.3", "192.168.0.7", "172.16.5.4", "203.0.113.9", "100.64.0.1", "2001:db8::5",
                      "fd12:3456::1"]


def line(host: str, port: int = 9) -> str:
    return f"candidate:1 1 udp 2130706431 {host} {port} typ host"


def test_the_default_refuses_loopback_link_local_metadata_and_names() -> None:
    default = CandidateFilter()
    assert [h for h in REFUSED_BY_DEFAULT if default.allows_candidate(line(h))] == []
    assert [h for h in ALLOWED_BY_DEFAULT if not default.allows_candidate(line(h))] == []


def test_a_server_on_loopback_only_allows_loopback_but_never_metadata() -> None:
    on_loopback = CandidateFilter(allow_loopback=True)
    assert on_loopback.allows("127.0.0.1") and on_loopback.allows("::1")
    assert not on_loopback.allows("169.254.169.254") and not on_loopback.allows("fe80::1")


def test_explicit_networks_allow_exactly_those_and_never_metadata() -> None:
    explicit = CandidateFilter(networks("10.0.0.0/8, 169.254.0.0/16"))
    assert explicit.allows("10.9.9.9") and explicit.allows("169.254.1.1")
    assert not explicit.allows("192.168.1.1") and not explicit.allows("127.0.0.1")
    assert not explicit.allows("169.254.169.254")
    assert networks("auto") is None
    for bad in ("10.0.0.0/33", "ten", ""):
        with pytest.raises(ValueError, match="comma-separated networks"):
            networks(bad)


def test_refused_candidate_lines_are_taken_out_of_an_answer() -> None:
    sdp = ("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
           f"a={line('169.254.169.254', 80)}\r\na={line('203.0.113.9', 4000)}\r\na={line('127.0.0.1', 5000)}\r\n"
           "a=end-of-candidates\r\n")
    kept, dropped = CandidateFilter().answer(sdp)
    assert dropped == 2
    assert kept == f"v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na={line('203.0.113.9', 4000)}\r\na=end-of-candidates\r\n"


class Trap(asyncio.DatagramProtocol):
    """A UDP socket that records whatever reaches it (a STUN check, here)."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.append(data)


@pytest.fixture
async def traps() -> AsyncIterator[dict[str, tuple[Trap, int]]]:
    """A trap on 127.0.0.1 and one on 127.0.0.2 (both loopback on Linux), by host: (trap, port)."""
    loop = asyncio.get_running_loop()
    made: dict[str, tuple[Trap, int]] = {}
    transports = []
    for host in ("127.0.0.1", "127.0.0.2"):
        transport, trap = await loop.create_datagram_endpoint(Trap, local_addr=(host, 0))
        transports.append(transport)
        made[host] = (trap, transport.get_extra_info("sockname")[1])
    yield made
    for transport in transports:
        transport.close()


async def trickling_room(candidates: CandidateFilter) -> SfuRoom:
    """A room with one participant "a" that answered like a browser which trickles (no candidates in the answer,
    no end-of-candidates) and is gone: nothing answers the server's checks, so they go on for the test."""
    offers: list[Message] = []

    async def signal(peer_id: str, message: Message) -> None:
        offers.append(message)

    room = SfuRoom(signal, candidates=candidates)
    await room.add_participant("a", [("video", "camera")])
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offers[0]["sdp"], type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    sdp = "".join(line for line in pc.localDescription.sdp.splitlines(keepends=True)
                  if not line.startswith(("a=candidate:", "a=end-of-candidates")))
    await pc.close()
    await room.handle_signal("a", {"type": "answer", "sdp": sdp})
    return room


async def answered_room(candidates: CandidateFilter, media: Media) -> tuple[SfuRoom, SyntheticParticipant]:
    """A room with one synthetic participant "a" (publishing a camera) whose offer it answered."""
    clients: dict[str, SyntheticParticipant] = {}

    async def signal(peer_id: str, message: Message) -> None:
        await clients[peer_id].handle_signal(message)

    room = SfuRoom(signal, candidates=candidates)

    async def send(message: Message) -> None:
        await room.handle_signal("a", message)

    clients["a"] = SyntheticParticipant("a", send, media.sources, lambda _: None)
    await room.add_participant("a", [("video", "camera")])
    return room, clients["a"]


def named_hosts(room: SfuRoom, peer_id: str) -> set[str]:
    """The addresses the client's candidates gave the server's ICE agent for `peer_id` (not those it learnt
    from checks that reached it, peer-reflexive ones)."""
    pc = room._peers[peer_id]._pc  # what aioice was actually given
    connections: list[Connection] = [t.receiver.transport.transport._connection for t in pc.getTransceivers()]
    return {c.host for conn in connections for c in conn.remote_candidates if c.type != "prflx"}


async def test_a_candidate_outside_the_allowed_networks_gets_no_stun_check(traps) -> None:
    room = await trickling_room(CandidateFilter(networks=(ipaddress.ip_network("127.0.0.2/32"),)))
    try:
        refused, refused_port = traps["127.0.0.1"]
        allowed, allowed_port = traps["127.0.0.2"]
        for host, port in (("127.0.0.1", refused_port), ("169.254.169.254", 80), ("127.0.0.2", allowed_port)):
            dropped = await room.handle_signal("a", {"type": "candidate", "candidate": line(host, port),
                                                     "sdpMid": "0", "sdpMLineIndex": 0})
            assert dropped == (host != "127.0.0.2"), host
        await eventually(lambda: holds(any(d[:2] == b"\x00\x01" for d in allowed.received)), timeout=10)
        assert refused.received == [], "a STUN check went to an address outside the allowed networks"
        assert named_hosts(room, "a") == {"127.0.0.2"}
    finally:
        await room.close()


async def test_by_default_loopback_gets_checks_only_from_a_server_on_loopback(traps) -> None:
    """The issue's case: a server listening on a public address never checks 127.0.0.1 or 169.254.169.254;
    the same candidate sent to a server that listens on loopback only is checked."""
    public = await trickling_room(CandidateFilter())
    on_loopback = await trickling_room(CandidateFilter(allow_loopback=True))
    try:
        (refused, refused_port), (allowed, allowed_port) = traps["127.0.0.1"], traps["127.0.0.2"]
        for room, host, port in ((public, "127.0.0.1", refused_port), (public, "169.254.169.254", 80),
                                 (on_loopback, "127.0.0.2", allowed_port), (on_loopback, "169.254.169.254", 80)):
            dropped = await room.handle_signal("a", {"type": "candidate", "candidate": line(host, port),
                                                     "sdpMid": "0", "sdpMLineIndex": 0})
            assert dropped == (host != "127.0.0.2"), host
        await eventually(lambda: holds(any(d[:2] == b"\x00\x01" for d in allowed.received)), timeout=10)
        assert refused.received == [], "a server on a public address sent a STUN check to loopback"
        assert named_hosts(public, "a") == set() and named_hosts(on_loopback, "a") == {"127.0.0.2"}
    finally:
        await public.close()
        await on_loopback.close()


async def test_a_client_whose_candidates_are_all_refused_still_connects(media: Media) -> None:
    """The server on a public address: the client's loopback candidates (in its answer) are dropped, and the
    server learns the client's address from the client's own checks instead."""
    room, client = await answered_room(CandidateFilter(), media)
    try:
        assert named_hosts(room, "a") == set(), "the answer's loopback candidates reached the ICE agent"
        await eventually(lambda: holds(client.connection_state == room._peers["a"].connection_state == "connected"),
                         timeout=15)
    finally:
        await room.close()
        await client.close()
