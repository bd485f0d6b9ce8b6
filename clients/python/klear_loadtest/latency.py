"""Latency recording: one HdrHistogram per operation per second, encoded so processes can be merged.

Why HdrHistogram: percentiles of merged runs must be exact to the histogram's precision, and
averaging per-process percentiles is wrong. Each generator process records into the current
second's histograms and hands the encoded second to the coordinator, which adds them up.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

# Microseconds, 1 µs to one hour, 3 significant digits.
LOWEST_US, HIGHEST_US, DIGITS = 1, 3_600_000_000, 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def decode(encoded: str) -> HdrHistogram:
    return HdrHistogram.decode(encoded.encode())


@dataclass
class Second:
    """What one process saw in one second: latencies of successes, and failures, per operation."""

    histograms: dict[str, HdrHistogram] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    error_codes: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)

    def ok(self, op: str, seconds: float) -> None:
        hist = self.histograms.get(op)
        if hist is None:
            hist = self.histograms[op] = new_histogram()
        hist.record_value(min(HIGHEST_US, max(LOWEST_US, int(seconds * 1e6))))

    def failed(self, op: str, code: str) -> None:
        self.errors[op] += 1
        self.error_codes[f"{op}:{code}"] += 1

    def refusal(self, op: str) -> None:
        """An answer the scenario expects sometimes (a slot taken meanwhile): neither success nor error."""
        self.refused[op] += 1

    def encode(self) -> dict[str, Any]:
        return {
            "histograms": {op: h.encode().decode() for op, h in self.histograms.items()},
            "errors": dict(self.errors), "error_codes": dict(self.error_codes), "refused": dict(self.refused),
            "events": dict(self.events),
        }


@dataclass
class Merged:
    """Seconds from every process added together: per operation one histogram and counters."""

    histograms: dict[str, HdrHistogram] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    error_codes: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)

    def add(self, encoded: dict[str, Any]) -> None:
        for op, text in encoded["histograms"].items():
            hist = self.histograms.get(op)
            if hist is None:
                hist = self.histograms[op] = new_histogram()
            hist.add(decode(text))
        self.errors.update(encoded["errors"])
        self.error_codes.update(encoded["error_codes"])
        self.refused.update(encoded["refused"])
        self.events.update(encoded["events"])

    def ops(self) -> list[str]:
        return sorted(set(self.histograms) | set(self.errors))

    def count(self, op: str | None = None) -> int:
        hists = self.histograms.values() if op is None else [h for o, h in self.histograms.items() if o == op]
        return sum(h.get_total_count() for h in hists)

    def error_count(self, op: str | None = None) -> int:
        return sum(self.errors.values()) if op is None else self.errors.get(op, 0)

    def percentile_ms(self, op: str | None, pct: float) -> float | None:
        """The `pct` percentile of `op` (of every operation when None) in milliseconds; None without data."""
        if op is None:
            hist = new_histogram()
            for h in self.histograms.values():
                hist.add(h)
        else:
            found = self.histograms.get(op)
            if found is None:
                return None
            hist = found
        if hist.get_total_count() == 0:
            return None
        return float(hist.get_value_at_percentile(pct)) / 1000.0

    def summary(self, op: str | None) -> dict[str, Any]:
        return {
            "count": self.count(op), "errors": self.error_count(op),
            "refused": sum(self.refused.values()) if op is None else self.refused.get(op, 0),
            **{f"p{p:g}_ms": self.percentile_ms(op, p) for p in (50, 90, 99, 99.9)},
            "max_ms": self.percentile_ms(op, 100),
        }
