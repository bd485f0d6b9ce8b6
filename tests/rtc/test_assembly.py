"""Frame reassembly and keyframe gating under loss and reordering, which
loopback never produces: the real classes fed with hand-made packets."""

from __future__ import annotations

import asyncio

import pytest
from aiortc.mediastreams import MediaStreamError

from klear_client.assembly import Assembled, AudioAssembler, EncodedFrame, VideoAssembler
from rtc.sfu.forwarding import TrackForwarder

START, CONT = b"\x10", b"\x00"  # VP8 descriptor: S=1 PID=0 / continuation
KEY, DELTA = b"\x00", b"\x01"  # first byte of a VP8 frame: P bit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


Packet = tuple[int, int, bool, bytes, bytes]


def video_frame(first_seq: int, ts: int, parts: int, key: bool) -> list[Packet]:
    """``VideoAssembler.add`` arguments for the packets of one frame."""
    packets: list[Packet] = []
    for i in range(parts):
        seq = (first_seq + i) % 65536
        data = (KEY if key else DELTA) + bytes([i]) if i == 0 else bytes([ts % 256, i])
        packets.append((seq, ts, i == parts - 1, START if i == 0 else CONT, data))
    return packets


def test_frame_released_on_marker_not_on_next_frame() -> None:
    asm = VideoAssembler()
    packets = video_frame(65534, 1000, 3, key=True)
    assert asm.add(*packets[0]).frames == ()
    assert asm.add(*packets[1]).frames == ()
    out = asm.add(*packets[2])  # sequence wraps 65535 -> 0 inside the frame
    assert len(out.frames) == 1 and out.frames[0].keyframe and not out.lost
    assert out.frames[0].timestamp == 1000


def test_reordered_packets_wait_then_release_frames_in_order() -> None:
    asm = VideoAssembler()
    f1 = video_frame(10, 0, 2, key=True)
    f2 = video_frame(12, 3000, 2, key=False)
    assert asm.add(*f1[0]).frames == ()
    assert asm.add(*f2[0]).frames == ()
    assert asm.add(*f2[1]).frames == ()  # complete, but f1 is not yet
    out = asm.add(*f1[1])  # the retransmission fills the gap
    assert [f.timestamp for f in out.frames] == [0, 3000]
    assert asm.add(*f1[1]).frames == ()  # duplicate ignored


def test_unrecovered_loss_skips_to_next_frame_and_reports_it() -> None:
    clock = Clock()
    asm = VideoAssembler(max_wait=0.2, clock=clock)
    f1 = video_frame(0, 0, 2, key=True)
    f2 = video_frame(2, 3000, 2, key=False)
    f3 = video_frame(4, 6000, 1, key=False)
    assert len(asm.add(*f1[0]).frames + asm.add(*f1[1]).frames) == 1
    asm.add(*f2[1])  # f2's first packet is lost for good
    clock.now = 0.1
    assert asm.add(*f3[0]) == Assembled()  # still waiting for a NACK retransmission
    clock.now = 0.3
    out = asm.add(*video_frame(5, 9000, 1, key=False)[0])
    assert out.lost and [f.timestamp for f in out.frames] == [6000, 9000]


def test_joining_mid_frame_waits_for_a_frame_start() -> None:
    asm = VideoAssembler()
    f1 = video_frame(0, 0, 2, key=False)
    assert asm.add(*f1[1]) == Assembled()
    f2 = video_frame(2, 3000, 1, key=True)
    assert [f.timestamp for f in asm.add(*f2[0]).frames] == [3000]


def test_restarted_sequence_resets_instead_of_stalling() -> None:
    asm = VideoAssembler()
    for packet in video_frame(30000, 0, 1, key=True):
        asm.add(*packet)
    out = asm.add(*video_frame(100, 90000, 1, key=True)[0])  # new random origin
    assert out.lost and [f.timestamp for f in out.frames] == [90000]


def test_audio_drops_late_packets() -> None:
    asm = AudioAssembler()
    assert len(asm.add(5, 960, False, b"a", b"a").frames) == 1
    assert asm.add(4, 0, False, b"b", b"b").frames == ()
    assert len(asm.add(7, 2880, False, b"c", b"c").frames) == 1
    assert len(asm.add(40000, 0, False, b"d", b"d").frames) == 1  # restarted


async def test_loss_holds_started_subscribers_until_the_next_keyframe() -> None:
    plis: list[int] = []

    def send_pli() -> bool:
        plis.append(1)
        return True

    forwarder = TrackForwarder("video", 90000, send_pli=send_pli)
    track = forwarder.attach()
    pull = asyncio.ensure_future(track.recv())  # sender starts pulling
    await asyncio.sleep(0)
    assert plis == [1] and track.waiting_for_keyframe
    forwarder.on_assembled(Assembled((EncodedFrame(b"\x01d", 0, False),)))
    assert not pull.done()  # a delta before any keyframe is not forwarded
    forwarder.on_assembled(Assembled((EncodedFrame(b"\x00k", 3000, True),)))
    packet = await pull
    assert bytes(packet) == b"\x00k" and packet.pts == 3000
    forwarder.on_assembled(Assembled((EncodedFrame(b"\x01e", 6000, False),), lost=True))
    assert track.waiting_for_keyframe and track.frames_dropped == 2
    assert forwarder.stats.frames_lost == 1
    forwarder.close()
    assert track.readyState == "live"  # ends once its sender pulls again
    with pytest.raises(MediaStreamError):
        await track.recv()
    assert track.readyState == "ended"
