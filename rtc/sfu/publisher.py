"""A published track: the publisher's receiving m-line plus its fan-out.

Why one object: a publication ties together three things that must live and
die together: the ``recvonly`` transceiver on the publisher's peer (made a
passthrough receiver so nothing is decoded and no decoder thread starts), the
``TrackForwarder`` that receives its frames, and one ``sendonly``
transceiver per subscriber whose sender pulls a ``ForwardedTrack``.
Subscribers' PLI/FIR reach the forwarder's rate-limited keyframe requester,
which sends the PLI through the publisher's receiver.

Closing a publication ends every subscriber track (their aiortc sender tasks
exit on ``MediaStreamError``) and marks every m-line involved ``inactive``;
the caller renegotiates the peers listed in ``affected_peers()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiortc import RTCRtpTransceiver
from klear_client.passthrough import adopt_receiver, intercept_keyframe_requests

from rtc.sfu.forwarding import TrackForwarder
from rtc.sfu.peer import Peer
from rtc.sfu.subscriber import ForwardedTrack

CLOCK_RATES = {"audio": 48000, "video": 90000}


@dataclass(frozen=True, slots=True)
class Subscription:
    """One subscriber's view of a publication."""

    peer: Peer
    track: ForwardedTrack
    transceiver: RTCRtpTransceiver


class Publication:
    """One track published by one participant, forwarded to subscribers."""

    def __init__(
        self,
        publication_id: str,
        owner: Peer,
        kind: str,
        source: str,
        pli_interval: float = 0.5,
        queue_limit: int = 60,
        estimate_bandwidth: bool = True,
    ) -> None:
        if kind not in CLOCK_RATES:
            raise ValueError(f"unknown media kind {kind!r}")
        self.id = publication_id
        self.owner = owner
        self.kind = kind
        self.source = source
        self.transceiver = owner.add_transceiver(
            kind,
            "recvonly",
            label={"role": "publish", "publication": publication_id, "source": source},
        )
        self.forwarder = TrackForwarder(
            kind,
            CLOCK_RATES[kind],
            send_pli=self._send_pli,
            pli_interval=pli_interval,
            queue_limit=queue_limit,
        )
        self._receiver = adopt_receiver(
            self.transceiver.receiver, self.forwarder, estimate_bandwidth
        )
        self._subscriptions: dict[str, Subscription] = {}
        self.closed = False

    @property
    def subscriber_ids(self) -> list[str]:
        return list(self._subscriptions)

    def subscribe(self, peer: Peer) -> Subscription:
        """Add a ``sendonly`` m-line to ``peer`` carrying this publication."""
        if self.closed:
            raise RuntimeError(f"publication {self.id} is closed")
        if peer.peer_id in self._subscriptions:
            return self._subscriptions[peer.peer_id]
        track = self.forwarder.attach()
        transceiver = peer.add_transceiver(
            self.kind,
            "sendonly",
            label={
                "role": "subscribe",
                "publication": self.id,
                "publisher": self.owner.peer_id,
                "source": self.source,
            },
            track=track,
        )
        intercept_keyframe_requests(
            transceiver.sender, self.forwarder.keyframes.request
        )
        subscription = Subscription(peer, track, transceiver)
        self._subscriptions[peer.peer_id] = subscription
        return subscription

    def unsubscribe(self, peer_id: str) -> Peer | None:
        """Stop forwarding to ``peer_id``; returns its peer to renegotiate."""
        subscription = self._subscriptions.pop(peer_id, None)
        if subscription is None:
            return None
        self.forwarder.detach(subscription.track)
        subscription.peer.deactivate(subscription.transceiver)
        return subscription.peer

    def affected_peers(self) -> list[Peer]:
        """The owner and every subscriber: the peers a change here touches."""
        return [self.owner, *(s.peer for s in self._subscriptions.values())]

    def close(self) -> list[Peer]:
        """End forwarding; returns the peers to renegotiate. Idempotent."""
        if self.closed:
            return []
        peers = self.affected_peers()
        self.closed = True
        self.forwarder.close()
        self.owner.deactivate(self.transceiver)
        for subscription in self._subscriptions.values():
            subscription.peer.deactivate(subscription.transceiver)
        self._subscriptions.clear()
        return peers

    def _send_pli(self) -> bool:
        return self._receiver.request_keyframe()
