"""The records package's settings: how long each kind of data is kept (retention)."""

from __future__ import annotations

from dataclasses import dataclass

from storage.retention import KINDS
from storage.settings import ConfigError, setting


def _retention(raw: str) -> dict[str, int]:
    periods: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        kind, _, days = part.partition("=")
        if kind not in KINDS:
            raise ConfigError(f"unknown kind {kind!r} (kinds: {', '.join(KINDS)})")
        if not days.isdigit() or not 1 <= int(days) <= 36500:
            raise ConfigError(f"{kind}: days must be a whole number from 1 to 36500")
        periods[kind] = int(days)
    return periods


DEFAULT_RETENTION = "notifications=365,exports=1,sessions=90,jobs=30,consents=2190"


@dataclass(frozen=True, slots=True)
class RecordsSettings:
    retention: dict[str, int] = setting(
        "KLEAR_RETENTION", _retention, DEFAULT_RETENTION,
        "Days each kind of data is kept once it is over (KIND=DAYS,...): read notifications, expired exports, "
        "ended login sessions, finished jobs, ended consents. A kind left out is kept. Applied daily by a durable "
        "job; `klear retention` shows what it would remove. Health records and the audit log are never removed "
        "by age (docs/records.md).",
    )
