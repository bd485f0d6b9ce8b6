"""Retention: what each kind of data is once it is over, and how old it must be to go.

Each kind names the rows that are finished with (a read notification, an expired export, an ended session,
a finished job, an ended consent) and the instant they finished; `sweep` removes (or only counts, for the
dry-run report) those that finished more than the kind's period ago. Health records and the audit log are
not here: a practitioner must keep records for years set by their profession's law, and the audit log is
append-only proof of access (docs/records.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .database import Database

# kind -> (table, the condition and instant that make a row over, with $1 = the cut-off instant)
_OVER = {
    "notifications": ("notifications", "read_at IS NOT NULL AND read_at < $1"),
    "exports": ("exports", "expires_at IS NOT NULL AND expires_at < $1"),
    "sessions": ("auth_sessions", "revoked_at IS NOT NULL AND revoked_at < $1"),
    "jobs": ("jobs", "state IN ('done', 'dead') AND finished_at < $1"),
    "consents": ("consent_grants", "(status IN ('revoked', 'declined') AND coalesce(revoked_at, decided_at) < $1) "
                                   "OR (status = 'active' AND expires_at < $1)"),
}
KINDS = tuple(_OVER)


async def sweep(db: Database, periods: dict[str, int], now: datetime, *, apply: bool) -> dict[str, int]:
    """Per kind, how many rows are past their retention period; removed too when `apply`."""
    found: dict[str, int] = {}
    for kind, days in periods.items():
        table, over = _OVER[kind]
        cutoff = now - timedelta(days=days)
        if apply:
            tag = await db.execute(f"retention.{kind}", f"DELETE FROM {table} WHERE {over}", cutoff)
            found[kind] = int(tag.rsplit(" ", 1)[1])
        else:
            row = await db.fetchrow(f"retention.{kind}.count", f"SELECT count(*) AS n FROM {table} WHERE {over}", cutoff)
            found[kind] = 0 if row is None else int(row["n"])
    return found
