"""The only module that touches aiortc internals: encoded-frame passthrough, for the SFU and the SDK alike.

It lives in the SDK because both need it and the SDK installs and runs without
the server: the SFU (rtc.sfu) imports it from here, so the version-pinned hack
has exactly one home.

Why this exists: aiortc always decodes what it receives (one decoder thread
per receiving track) and encodes what it sends, and its maintainer declined a
passthrough mode (aiortc issue #449). An SFU must forward the encoded frames
untouched, so this adapter bends aiortc 1.16.0 at three points and nowhere
else:

1. Receiving (``adopt_receiver``): the ``RTCRtpReceiver`` of a transceiver is
   turned into a ``PassthroughReceiver`` before aiortc calls ``receive()`` on
   it. Its ``receive()`` does what upstream does *minus* starting the decoder
   thread, and the receiver's jitter buffer is replaced by an object that
   feeds ``klear_client.assembly`` and hands complete frames to a sink synchronously on
   the event loop. Upstream's SRTP, RTX unwrapping, NACK generation and
   receiver reports stay in place; its REMB bandwidth estimator stays too
   unless the caller opts out (it is pure Python and costs about as much as
   the rest of the receive path, see the capacity benchmark). Private
   attributes used: ``_RTCRtpReceiver__{started,codecs,rtx_ssrc,transport,
   rtcp_task,jitter_buffer,decoder_thread,decoder_queue,
   remote_bitrate_estimator}``; upstream's
   ``__stop_decoder`` (called on stop, on transport loss and on RTCP BYE)
   reaches our stand-in and becomes the end-of-stream signal.
2. Keyframe requests in (``intercept_keyframe_requests``): a sender that
   receives PLI/FIR calls ``self._send_keyframe()``, which upstream turns into
   "encode the next frame as a keyframe", a no-op for pre-encoded packets. We
   shadow that method on the instance so the request reaches the forwarder.
3. Keyframe requests out (``PassthroughReceiver.request_keyframe``): sends a
   PLI to the publisher through upstream's ``_send_rtcp_pli``.

Sending needs no hook: aiortc's public ``MediaStreamTrack.recv()`` may return
an ``av.Packet``, which ``RTCRtpSender._next_encoded_frame`` packetizes with the
codec's ``pack()`` instead of encoding (see ``rtc.sfu.subscriber``).

The version is checked at import: these names are private and change between
releases, so any other aiortc version must fail loudly rather than misbehave.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

import aiortc
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters
from aiortc.rtp import RtpPacket

from .assembly import Assembled, AudioAssembler, VideoAssembler

SUPPORTED_AIORTC = "1.16.0"
PASSTHROUGH_CODECS = frozenset({"vp8", "opus"})

if aiortc.__version__ != SUPPORTED_AIORTC:  # pragma: no cover - guarded import
    raise ImportError(
        f"klear_client.passthrough adapts aiortc {SUPPORTED_AIORTC} internals; "
        f"found aiortc {aiortc.__version__}"
    )


class FrameSink(Protocol):
    """Where a passthrough receiver delivers what it reassembles."""

    def on_assembled(self, assembled: Assembled) -> None:
        """Complete frames (in order) and/or a loss report, on the event loop."""

    def on_end(self) -> None:
        """The remote stopped sending for good (BYE, transport closed, stop)."""


class _Assembler(Protocol):
    def add(
        self, seq: int, timestamp: int, marker: bool, payload: bytes, data: bytes
    ) -> Assembled: ...


class _JitterBufferStandIn:
    """Takes the place of the receiver's ``JitterBuffer``.

    Upstream calls ``add(packet)`` with ``packet._data`` already depayloaded
    and expects ``(pli_flag, frame)``. We return ``(False, None)`` so upstream
    never queues anything for a decoder, and deliver frames to the sink
    ourselves: one packet can complete several frames when a retransmission
    fills a gap, which upstream's one-frame return value cannot express.
    Keyframe requests are left to the forwarder, which rate-limits them.
    """

    def __init__(self, assembler: _Assembler, sink: FrameSink) -> None:
        self._assembler = assembler
        self._sink = sink
        self.media_ssrc: int | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, None]:
        self.media_ssrc = packet.ssrc
        assembled = self._assembler.add(
            packet.sequence_number,
            packet.timestamp,
            bool(packet.marker),
            packet.payload,
            packet._data,  # type: ignore[attr-defined]  # set by upstream depayload
        )
        if assembled.frames or assembled.lost:
            self._sink.on_assembled(assembled)
        return False, None


class _DecoderStandIn:
    """Takes the place of both the decoder thread and its input queue.

    Upstream's ``__stop_decoder`` does ``queue.put(None); thread.join()``; with
    this object in both slots that becomes a single end-of-stream callback and
    no thread ever exists.
    """

    def __init__(self, on_end: Callable[[], None]) -> None:
        self._on_end = on_end

    def put(self, item: object) -> None:
        if item is None:
            self._on_end()

    def join(self) -> None:
        """Nothing to wait for: there is no thread."""


class PassthroughReceiver(RTCRtpReceiver):
    """An ``RTCRtpReceiver`` that forwards encoded frames instead of decoding.

    Instances are made by ``adopt_receiver`` (class swap on the receiver that
    ``RTCPeerConnection`` created), never constructed directly.
    """

    _sink: FrameSink
    _ended: bool
    _pli_tasks: set[asyncio.Task[None]]
    _buffer: _JitterBufferStandIn | None

    async def receive(self, parameters: RTCRtpReceiveParameters) -> None:
        if self._RTCRtpReceiver__started:  # type: ignore[has-type]
            return
        codecs = self._RTCRtpReceiver__codecs  # type: ignore[attr-defined]
        rtx_ssrc = self._RTCRtpReceiver__rtx_ssrc  # type: ignore[attr-defined]
        for codec in parameters.codecs:
            codecs[codec.payloadType] = codec
        for encoding in parameters.encodings:
            if encoding.rtx:
                rtx_ssrc[encoding.rtx.ssrc] = encoding.ssrc
        media = [c for c in parameters.codecs if c.name.lower() != "rtx"]
        if not media or media[0].name.lower() not in PASSTHROUGH_CODECS:
            raise ValueError(f"no passthrough codec in {parameters.codecs}")
        assembler: _Assembler = (
            VideoAssembler() if media[0].name.lower() == "vp8" else AudioAssembler()
        )
        self._buffer = _JitterBufferStandIn(assembler, self._sink)
        self._RTCRtpReceiver__jitter_buffer = self._buffer
        stand_in = _DecoderStandIn(self._end)
        self._RTCRtpReceiver__decoder_queue = stand_in
        self._RTCRtpReceiver__decoder_thread = stand_in
        self._RTCRtpReceiver__transport._register_rtp_receiver(  # type: ignore[attr-defined]
            self, parameters
        )
        self._RTCRtpReceiver__rtcp_task = asyncio.ensure_future(self._run_rtcp())
        self._RTCRtpReceiver__started = True

    async def stop(self) -> None:
        await super().stop()
        self._end()
        if self._pli_tasks:
            await asyncio.gather(*self._pli_tasks, return_exceptions=True)

    def request_keyframe(self) -> bool:
        """Send one PLI to the remote sender now; False if not yet possible.

        Rate limiting is the caller's job (``rtc.sfu.forwarding``).
        """
        if self._ended or self._buffer is None or self._buffer.media_ssrc is None:
            return False
        task = asyncio.ensure_future(self._send_rtcp_pli(self._buffer.media_ssrc))
        self._pli_tasks.add(task)
        task.add_done_callback(self._pli_tasks.discard)
        return True

    def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        if self.track is not None:
            self.track.stop()
        self._sink.on_end()


def adopt_receiver(
    receiver: RTCRtpReceiver, sink: FrameSink, estimate_bandwidth: bool = True
) -> PassthroughReceiver:
    """Make ``receiver`` forward encoded frames to ``sink`` instead of decoding.

    ``estimate_bandwidth=False`` drops upstream's REMB estimator: the remote
    sender then gets no REMB from us and relies on loss-based control (RTCP
    receiver reports still flow).

    Must be called before aiortc calls ``receive()`` on it: right after
    ``addTransceiver`` on the offering side, or from the ``track`` event /
    right after ``setRemoteDescription`` on the answering side (aiortc starts
    receivers from a task scheduled by the *next* description it applies).
    """
    if type(receiver) is not RTCRtpReceiver:
        raise TypeError(f"cannot adopt {type(receiver).__name__}")
    if receiver._RTCRtpReceiver__started:  # type: ignore[attr-defined]
        raise RuntimeError("receiver already started: its decoder thread runs")
    if not estimate_bandwidth:
        receiver._RTCRtpReceiver__remote_bitrate_estimator = None  # type: ignore[attr-defined]
    receiver.__class__ = PassthroughReceiver
    adopted: PassthroughReceiver = receiver  # type: ignore[assignment]
    adopted._sink = sink
    adopted._ended = False
    adopted._pli_tasks = set()
    adopted._buffer = None
    return adopted


def intercept_keyframe_requests(
    sender: RTCRtpSender, on_request: Callable[[], None]
) -> None:
    """Route PLI/FIR that ``sender`` receives to ``on_request``.

    Upstream's ``_handle_rtcp_packet`` calls ``self._send_keyframe()`` for both
    PLI and FIR; an instance attribute shadows the method.
    """
    sender._send_keyframe = on_request  # type: ignore[method-assign]


async def close_connection(pc: RTCPeerConnection, settle_timeout: float = 2.0) -> None:
    """Close ``pc`` without leaking aioice's consent task or aiortc's RTCP tasks.

    aioice 0.13 races: once ICE checks succeed, ``Connection.connect()`` may
    sleep up to 20 ms before it reads the result and starts its consent
    freshness task; a ``close()`` landing in that window runs first, and the
    task started afterwards loops forever. Waiting until no ICE transport is
    ``checking`` (bounded: a peer that never answers checks must still close)
    lets ``connect()`` finish, so ``close()`` cancels the task.
    """
    if pc.iceConnectionState == "checking":
        settled = asyncio.Event()

        def on_change() -> None:
            if pc.iceConnectionState != "checking":
                settled.set()

        pc.on("iceconnectionstatechange", on_change)
        try:
            await asyncio.wait_for(settled.wait(), settle_timeout)
        except TimeoutError:
            pass
        finally:
            pc.remove_listener("iceconnectionstatechange", on_change)
    await pc.close()
    # aiortc's connect task (started by a renegotiation) may start a sender or
    # receiver while close() is stopping the others, leaving its RTCP task
    # running; once the transports are closed it can start no more, so stop
    # every transceiver again (stopping is idempotent).
    for transceiver in pc.getTransceivers():
        await transceiver.stop()
