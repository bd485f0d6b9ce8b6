"""Prometheus metrics for one process, on a registry of its own (no global state).

Label children are cached per (method, route, status) so the per-request cost
is two dict lookups and two observations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

PoolUsage = Callable[[], tuple[int, int, int]]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _PoolCollector(Collector):
    """Reads pool usage at scrape time, so nothing is updated on the request path."""

    def __init__(self) -> None:
        self.usage: PoolUsage | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.usage is None:
            return
        size, idle, maximum = self.usage()
        for name, value, doc in (
            ("klear_db_pool_connections", size, "Open PostgreSQL connections in the pool."),
            ("klear_db_pool_idle", idle, "Idle PostgreSQL connections in the pool."),
            ("klear_db_pool_in_use", size - idle, "PostgreSQL connections checked out of the pool."),
            ("klear_db_pool_max", maximum, "Maximum size of the pool."),
        ):
            yield GaugeMetricFamily(name, doc, value=value)


class Metrics:
    """The process's metrics registry and the instruments the server updates."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "klear_http_requests", "HTTP requests by route, method and status.", ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "klear_http_request_duration_seconds", "HTTP request latency by route and method.", ["route", "method"],
            buckets=_BUCKETS, registry=self.registry,
        )
        self.queries = Histogram(
            "klear_db_query_duration_seconds", "Named database units of work, by name and outcome.", ["query", "ok"],
            buckets=_BUCKETS, registry=self.registry,
        )
        self._pool = _PoolCollector()
        self.registry.register(self._pool)
        self._req_children: dict[tuple[str, str, int], object] = {}
        self._lat_children: dict[tuple[str, str], object] = {}
        self._query_children: dict[tuple[str, bool], object] = {}

    def watch_pool(self, usage: PoolUsage | None) -> None:
        """Report this pool's usage at scrape time (None stops reporting)."""
        self._pool.usage = usage

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        counter = self._req_children.get(key)
        if counter is None:
            counter = self._req_children[key] = self.requests.labels(route, method, str(status))
        counter.inc()  # type: ignore[attr-defined]
        lkey = (route, method)
        hist = self._lat_children.get(lkey)
        if hist is None:
            hist = self._lat_children[lkey] = self.latency.labels(route, method)
        hist.observe(seconds)  # type: ignore[attr-defined]

    def observe_query(self, name: str, seconds: float, ok: bool) -> None:
        key = (name, ok)
        hist = self._query_children.get(key)
        if hist is None:
            hist = self._query_children[key] = self.queries.labels(name, "true" if ok else "false")
        hist.observe(seconds)  # type: ignore[attr-defined]

    def render(self) -> bytes:
        return generate_latest(self.registry)
