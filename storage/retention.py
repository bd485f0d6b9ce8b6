"""Retention: what each kind of data is once it is over, and how old it must be to go.

Each kind names the rows that are finished with (a read notification, an expired export, an ended session,
a finished job, an ended consent) and the instant they finished; `sweep` removes (or only counts, for the
dry-run report) those that finished more than the kind's period ago. Health records and the audit log are
not here: a practitioner must keep records for years set by their profession's law, and the audit log is
append-only proof of access (docs/records.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .database import Database


@dataclass(frozen=True, slots=True)
class _Kind:
    table: str
    over: str  # the rows that are over and have been for longer than the cut-off instant $1


_OVER = {
    "notifications": _Kind("notifications", "read_at IS NOT NULL AND read_at < $1"),
    "exports": _Kind("exports", "expires_at IS NOT NULL AND expires_at < $1"),
    "sessions": _Kind("auth_sessions", "revoked_at IS NOT NULL AND revoked_at < $1"),
    "jobs": _Kind("jobs", "state IN ('done', 'dead') AND finished_at < $1"),
    "consents": _Kind("consent_grants", "(status IN ('revoked', 'declined') AND coalesce(revoked_at, decided_at) < $1) "
                                        "OR (status = 'active' AND expires_at < $1)"),
}
KINDS = tuple(_OVER)


async def sweep(db: Database, periods: dict[str, int], now: datetime, *, apply: bool) -> dict[str, int]:
    """Per kind, how many rows are past their retention period; removed too when `apply`."""
    found: dict[str, int] = {}
    for kind, days in periods.items():
        table, over = _OVER[kind].table, _OVER[kind].over
        cutoff = now - timedelta(days=days)
        if apply:
            tag = await db.execute(f"retention.{kind}", f"DELETE FROM {table} WHERE {over}", cutoff)
            found[kind] = int(tag.rsplit(" ", 1)[1])
        else:
            row = await db.fetchrow(f"retention.{kind}.count", f"SELECT count(*) AS n FROM {table} WHERE {over}", cutoff)
            found[kind] = 0 if row is None else int(row["n"])
    return found
