"""Discovery's settings: how long after a session its client may review it."""

from __future__ import annotations

from dataclasses import dataclass

from storage.settings import setting, whole


@dataclass(frozen=True, slots=True)
class DiscoverySettings:
    review_window_days: int = setting(
        "KLEAR_REVIEW_WINDOW_DAYS", whole(1, 3650), "60",
        "Days after a completed session's end during which its client may review it.",
    )
