"""What a run does: how many users stay connected doing what, the arrival rate of each operation, and
the objectives it is judged by. `--profile seed` is the seed's promise: 10,000 connected users,
100,000 requests a minute, every answer's p99 under 200 ms, 99.9 % of requests successful.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Operation scenarios (share of the arrival rate) and connected-user scenarios (share of the users).
OPERATIONS = ("browse", "book", "chat", "presence")
POPULATION = ("idle", "chat", "presence", "subscribers")
# Per-user ceilings the server enforces (KLEAR_CHAT_RATE 30/10, KLEAR_PRESENCE_RATE 10/10), halved so
# an open-loop generator's bursts stay under them.
PER_USER_RATE = {"chat": 1.5, "presence": 0.5}


@dataclass(frozen=True)
class Slo:
    """One objective: `metric` of `op` (all operations when "*") must be at most `limit`."""

    op: str
    metric: str  # p50_ms, p99_ms, p99.9_ms, error_ratio
    limit: float

    @property
    def name(self) -> str:
        return f"{self.op} {self.metric} <= {self.limit:g}"

    @classmethod
    def parse(cls, text: str) -> Slo:
        """`OP:METRIC<=LIMIT`, e.g. `*:p99_ms<=200` or `chat.send:error_ratio<=0.001`."""
        try:
            target, limit = text.split("<=")
            op, metric = target.split(":")
            return cls(op.strip(), metric.strip(), float(limit))
        except ValueError:
            raise ValueError(f"SLO {text!r}: write OP:METRIC<=LIMIT, e.g. *:p99_ms<=200") from None


SEED_SLOS = (Slo("*", "p99_ms", 200.0), Slo("*", "error_ratio", 0.001))


@dataclass
class Mix:
    users: int
    rate: float  # operations per second, all processes together
    duration: float
    operations: dict[str, float] = field(default_factory=lambda: {"browse": 5, "book": 1, "chat": 3, "presence": 1})
    population: dict[str, float] = field(default_factory=lambda: {"idle": 6, "chat": 2, "presence": 1, "subscribers": 1})
    slos: tuple[Slo, ...] = SEED_SLOS
    video_pairs: int = 0  # client and practitioner in their booking's video session, each publishing

    def rates(self) -> dict[str, float]:
        total = sum(self.operations.values()) or 1.0
        return {op: self.rate * w / total for op, w in self.operations.items() if w > 0}

    def population_counts(self) -> dict[str, int]:
        """Users per connected scenario; chat and presence get at least what their rate needs."""
        total = sum(self.population.values()) or 1.0
        counts = {k: int(self.users * self.population.get(k, 0) / total) for k in POPULATION}
        rates = self.rates()
        for scenario, per_user in PER_USER_RATE.items():
            counts[scenario] = max(counts[scenario], int(rates.get(scenario, 0) / per_user) + 1)
        counts["chat"] += counts["chat"] % 2  # pairs
        counts["subscribers"] = max(counts["subscribers"], 2)  # someone to book with
        return counts

    def counts(self) -> dict[str, int]:
        counts = {**self.population_counts(), "video": 2 * self.video_pairs}
        return {**counts, "total": sum(counts.values())}

    def describe(self) -> dict[str, Any]:
        return {"users": self.counts(), "rate_per_s": self.rate, "requests_per_min": self.rate * 60,
                "duration_s": self.duration, "operations": self.operations, "population": self.population,
                "slos": [s.name for s in self.slos], "operation_rates": self.rates()}


def profile(name: str) -> Mix:
    if name == "seed":
        return Mix(users=10_000, rate=100_000 / 60, duration=300)
    if name == "smoke":
        return Mix(users=20, rate=20, duration=5)
    raise ValueError(f"unknown profile {name!r} (seed or smoke)")


def weights(text: str, names: tuple[str, ...]) -> dict[str, float]:
    """`browse=5,book=1` into a dict; names not given weigh 0."""
    out = dict.fromkeys(names, 0.0)
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if name not in names:
            raise ValueError(f"{name!r} is not one of {', '.join(names)}")
        out[name] = float(value)
    return out
