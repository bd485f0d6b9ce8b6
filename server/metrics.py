"""Prometheus metrics for one process, on a registry of its own (no global state).

The request path only increments plain counters in dictionaries: the event
loop is single-threaded, so the locks prometheus_client's instruments take on
every update buy nothing here. A collector turns the counters into Prometheus
families when /metrics is scraped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from storage.bus import Bus

PoolUsage = Callable[[], tuple[int, int, int]]

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _Histogram:
    """Bucket counts (the last one is +Inf) and the running sum, for one label set."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds

    def family_buckets(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, count in zip((*map(str, BUCKETS), "+Inf"), self.counts):
            running += count
            out.append((bound, float(running)))
        return out


class Metrics(Collector):
    """The process's metrics: HTTP requests and latency, named database work, pool usage."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._requests: dict[tuple[str, str, int], int] = {}
        self._latency: dict[tuple[str, str], _Histogram] = {}
        self._queries: dict[tuple[str, bool], _Histogram] = {}
        self._pool: PoolUsage | None = None
        self._bus: Bus | None = None
        self.registry.register(self)

    def watch_pool(self, usage: PoolUsage | None) -> None:
        """Report this pool's usage at scrape time (None stops reporting)."""
        self._pool = usage

    def watch_bus(self, bus: Bus | None) -> None:
        """Report this bus's traffic at scrape time (None stops reporting)."""
        self._bus = bus

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        self._requests[key] = self._requests.get(key, 0) + 1
        hist = self._latency.get((route, method))
        if hist is None:
            hist = self._latency[(route, method)] = _Histogram()
        hist.observe(seconds)

    def observe_query(self, name: str, seconds: float, ok: bool) -> None:
        hist = self._queries.get((name, ok))
        if hist is None:
            hist = self._queries[(name, ok)] = _Histogram()
        hist.observe(seconds)

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily | GaugeMetricFamily]:
        requests = CounterMetricFamily("klear_http_requests", "HTTP requests by route, method and status.",
                                       labels=["route", "method", "status"])
        for (route, method, status), count in self._requests.items():
            requests.add_metric([route, method, str(status)], count)
        yield requests
        latency = HistogramMetricFamily("klear_http_request_duration_seconds", "HTTP request latency by route and method.",
                                        labels=["route", "method"])
        for (route, method), h in self._latency.items():
            latency.add_metric([route, method], h.family_buckets(), h.total)
        yield latency
        queries = HistogramMetricFamily("klear_db_query_duration_seconds", "Named database units of work, by name and outcome.",
                                        labels=["query", "ok"])
        for (name, ok), h in self._queries.items():
            queries.add_metric([name, "true" if ok else "false"], h.family_buckets(), h.total)
        yield queries
        if self._pool is not None:
            size, idle, maximum = self._pool()
            for name, value, doc in (
                ("klear_db_pool_connections", size, "Open PostgreSQL connections in the pool."),
                ("klear_db_pool_idle", idle, "Idle PostgreSQL connections in the pool."),
                ("klear_db_pool_in_use", size - idle, "PostgreSQL connections checked out of the pool."),
                ("klear_db_pool_max", maximum, "Maximum size of the pool."),
            ):
                yield GaugeMetricFamily(name, doc, value=value)

        if self._bus is not None:
            yield from _bus_families(self._bus)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _bus_families(bus: Bus) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
    """What the bus carried for this process: routing works if `received` follows this process's own sockets."""
    received = CounterMetricFamily("klear_bus_messages_received", "Bus messages this process's handlers received, "
                                   "by channel kind (its own routed messages are not among them).", labels=["kind"])
    for kind, count in bus.received.items():
        received.add_metric([kind], count)
    yield received
    published = CounterMetricFamily("klear_bus_messages_published", "Bus messages this process published to Redis, "
                                    "by channel kind.", labels=["kind"])
    for kind, count in bus.published.items():
        published.add_metric([kind], count)
    yield published
    yield GaugeMetricFamily("klear_bus_shard_subscriptions", "Routed (sharded pub/sub) channels this process "
                            "listens to now.", value=bus.shard_subscriptions)
    yield GaugeMetricFamily("klear_bus_unsent", "Publications waiting for Redis to take them again (routed ones and "
                            "auth revocations are held, in order, while Redis refuses them).", value=bus.unsent)
