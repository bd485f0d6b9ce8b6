"""Discovery's settings: how long after a session its client may review it; how often recommendations are recomputed."""

from __future__ import annotations

from dataclasses import dataclass

from storage.settings import seconds, setting, whole


@dataclass(frozen=True, slots=True)
class DiscoverySettings:
    review_window_days: int = setting(
        "KLEAR_REVIEW_WINDOW_DAYS", whole(1, 3650), "60",
        "Days after a completed session's end during which its client may review it.",
    )
    recommendations_interval: float = setting(
        "KLEAR_RECOMMENDATIONS_INTERVAL", seconds(1, 604800), "3600",
        "Seconds between recomputations of \"booked together\" recommendations from booking history (a durable job).",
    )
