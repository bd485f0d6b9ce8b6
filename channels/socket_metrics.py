"""Metrics of this process's sockets: how many, and what was refused or closed for misbehaving.

The hub and its endpoint guards keep plain counters (the event loop is
single-threaded); this collector reads them when /metrics is scraped.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .hub import Hub


class SocketMetrics(Collector):
    """Sockets, pending handshakes, protocol errors and refusals, per endpoint path where it applies."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        hub = self._hub
        yield GaugeMetricFamily("klear_sockets", "Connected Socket.IO sockets.", value=len(hub.conns))
        pending = GaugeMetricFamily("klear_socket_handshakes_pending",
                                    "Engine.IO connections without a Socket.IO CONNECT yet.", labels=["path"])
        errors = CounterMetricFamily("klear_socket_protocol_errors", "Malformed Socket.IO packets received.",
                                     labels=["path"])
        refused = CounterMetricFamily("klear_socket_handshakes_refused",
                                      "Engine.IO connections refused: too many pending handshakes.", labels=["path"])
        timed_out = CounterMetricFamily("klear_socket_handshakes_timed_out",
                                        "Engine.IO connections closed for not completing a Socket.IO CONNECT in time.",
                                        labels=["path"])
        for ep in hub.endpoints:
            pending.add_metric([ep.path], ep.guard.waiting)
            errors.add_metric([ep.path], ep.guard.protocol_errors)
            refused.add_metric([ep.path], ep.guard.handshakes_refused)
            timed_out.add_metric([ep.path], ep.guard.handshakes_timed_out)
        yield from (pending, errors, refused, timed_out)
        yield CounterMetricFamily("klear_sockets_refused_too_many", "Socket.IO connects refused: too many sockets per user.",
                                  value=hub.refused_too_many)
