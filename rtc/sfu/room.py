"""``SfuRoom``: the media plane of one video session, driven by signalling.

Why this shape: the session layer (membership, booking windows, Socket.IO,
multi-process routing) decides *who* is in a session and *what* they may
publish; this object only does media. It owns one ``Peer`` per participant
and one ``Publication`` per published track, and every published track is
forwarded to every other participant. It holds no global state: create one
per session, ``await close()`` when the session ends.

Driving it (all methods are coroutines except ``stats``):

* ``add_participant(peer_id, publish=[("audio", "microphone"), ...])``:
  creates the participant's peer, its publications and its subscriptions to
  everything already published, then offers (see ``rtc.sfu.peer`` for why the
  server is the only offerer). Returns the new publication ids.
* ``handle_signal(peer_id, message)``: the client's ``{"type": "answer"}``
  and ``{"type": "candidate"}`` messages.
* ``publish(peer_id, kind, source)`` / ``unpublish(peer_id, publication_id)``:
  a participant starts or stops a track (e.g. screen share); the server
  renegotiates the publisher and every subscriber.
* ``remove_participant(peer_id)`` and ``close()``.

Connection state changes are reported to ``on_peer_state(peer_id, state)``;
the room does not evict a participant whose connection ``failed`` (the
session layer decides whether to wait for a reconnect or remove it).

Options: ``pli_interval`` (minimum seconds between PLIs to one publisher),
``queue_limit`` (frames a slow subscriber may lag before it is flushed and
resynchronised on a keyframe) and ``candidates`` (the networks remote ICE candidates may name,
``rtc.sfu.candidates``; the session layer always passes the operator's) and
``bandwidth_estimation`` (send REMB to
publishers, computed by aiortc's pure-Python estimator; turning it off saves
about a third of the SFU's CPU in two-person sessions, see
``bench/sfu_capacity.py``, and publishers then rely on loss-based congestion
control).

Server-initiated messages (offers) go to the ``signal(peer_id, message)``
callback given to the constructor. Offers list the m-lines with their labels:
``role`` is ``publish`` (the client attaches its ``source`` track to that
``mid``) or ``subscribe`` (the m-line carries ``publication`` from
``publisher``); ``direction`` ``inactive`` means the track is gone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aiortc import RTCConfiguration

from rtc.sfu.candidates import ANY, CandidateFilter
from rtc.sfu.peer import (
    Message,
    NegotiationError,
    Peer,
    Signal,
    StateCallback,
    default_configuration,
)
from rtc.sfu.publisher import Publication

logger = logging.getLogger(__name__)


class SfuRoom:
    """Participants and publications of one session; full-mesh forwarding."""

    def __init__(
        self,
        signal: Signal,
        configuration: Callable[[], RTCConfiguration] = default_configuration,
        on_peer_state: StateCallback | None = None,
        pli_interval: float = 0.5,
        queue_limit: int = 60,
        bandwidth_estimation: bool = True,
        candidates: CandidateFilter = ANY,
    ) -> None:
        self._signal = signal
        self._candidates = candidates
        self._bandwidth_estimation = bandwidth_estimation
        self._configuration = configuration
        self._on_peer_state = on_peer_state
        self._pli_interval = pli_interval
        self._queue_limit = queue_limit
        self._peers: dict[str, Peer] = {}
        self._publications: dict[str, Publication] = {}
        self._ids = itertools.count(1)
        self._closed = False

    @property
    def participant_ids(self) -> list[str]:
        return list(self._peers)

    def publications(self) -> list[dict[str, str]]:
        return [
            {
                "id": p.id,
                "publisher": p.owner.peer_id,
                "kind": p.kind,
                "source": p.source,
            }
            for p in self._publications.values()
        ]

    async def add_participant(
        self, peer_id: str, publish: Sequence[tuple[str, str]] = ()
    ) -> list[str]:
        """Join ``peer_id``, publishing ``(kind, source)`` tracks at once."""
        if self._closed:
            raise RuntimeError("room is closed")
        if peer_id in self._peers:
            raise ValueError(f"{peer_id} is already in the room")
        peer = Peer(
            peer_id, self._signal, self._configuration(), self._on_peer_state, self._candidates
        )
        self._peers[peer_id] = peer
        for publication in self._publications.values():
            publication.subscribe(peer)
        created = [self._publish(peer, kind, source) for kind, source in publish]
        touched = {peer}
        for publication in created:
            touched.update(publication.affected_peers())
        await self._negotiate(touched)
        return [publication.id for publication in created]

    async def publish(self, peer_id: str, kind: str, source: str) -> str:
        """Start forwarding a new track of ``peer_id`` to everyone else."""
        publication = self._publish(self._peer(peer_id), kind, source)
        await self._negotiate(publication.affected_peers())
        return publication.id

    async def unpublish(self, peer_id: str, publication_id: str) -> None:
        publication = self._publications.get(publication_id)
        if publication is None or publication.owner.peer_id != peer_id:
            raise KeyError(f"{peer_id} has no publication {publication_id}")
        del self._publications[publication_id]
        await self._negotiate(publication.close())

    async def handle_signal(self, peer_id: str, message: Message) -> int:
        """Apply a client message: ``answer`` or ``candidate``. Returns how
        many of its candidates were dropped (their addresses not allowed)."""
        peer = self._peer(peer_id)
        kind = message.get("type")
        if kind == "answer":
            return await peer.handle_answer(message)
        if kind == "candidate":
            return 0 if await peer.add_ice_candidate(message) else 1
        raise NegotiationError(f"unexpected message type {kind!r}")

    async def remove_participant(self, peer_id: str) -> None:
        """Unpublish everything of ``peer_id``, drop its subscriptions and
        close its connection; the others are renegotiated."""
        peer = self._peers.pop(peer_id, None)
        if peer is None:
            return
        touched: set[Peer] = set()
        for publication in list(self._publications.values()):
            if publication.owner is peer:
                del self._publications[publication.id]
                touched.update(publication.close())
            else:
                publication.unsubscribe(peer_id)
        touched.discard(peer)
        await peer.close()
        await self._negotiate(touched)

    async def close(self) -> None:
        """End the session: every forwarder stopped, every connection closed."""
        self._closed = True
        for publication in self._publications.values():
            publication.close()
        self._publications.clear()
        peers = list(self._peers.values())
        self._peers.clear()
        await asyncio.gather(*(peer.close() for peer in peers))

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per-publication forwarding counters."""
        return {
            p.id: {
                "publisher": p.owner.peer_id,
                "kind": p.kind,
                "subscribers": p.forwarder.subscriber_count,
                **dataclasses.asdict(p.forwarder.stats),
            }
            for p in self._publications.values()
        }

    def _publish(self, peer: Peer, kind: str, source: str) -> Publication:
        publication_id = f"{peer.peer_id}/{source}/{next(self._ids)}"
        publication = Publication(
            publication_id,
            peer,
            kind,
            source,
            pli_interval=self._pli_interval,
            queue_limit=self._queue_limit,
            estimate_bandwidth=self._bandwidth_estimation,
        )
        self._publications[publication_id] = publication
        for other in self._peers.values():
            if other is not peer:
                publication.subscribe(other)
        return publication

    def _peer(self, peer_id: str) -> Peer:
        peer = self._peers.get(peer_id)
        if peer is None:
            raise KeyError(f"{peer_id} is not in the room")
        return peer

    async def _negotiate(self, peers: Iterable[Peer]) -> None:
        """Offer to every peer concurrently; one failing signal callback
        (a client gone away) must not stop the others."""
        targets = [peer for peer in set(peers) if peer.peer_id in self._peers]
        results = await asyncio.gather(
            *(peer.negotiate() for peer in targets), return_exceptions=True
        )
        for peer, result in zip(targets, results, strict=True):
            if isinstance(result, Exception):
                logger.warning("offer to %s failed: %r", peer.peer_id, result)
