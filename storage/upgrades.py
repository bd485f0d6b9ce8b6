"""Upgrade steps in Python: what a migration leaves to do because SQL cannot reach what it needs (the data keys).

A migration that needs a step queues it by name in `pending_upgrades`, and only when there is data to convert,
so a fresh database never runs one. `run_pending` runs the queued steps after the migrations, while the caller
still holds the migration lock (server/runtime.py, `open_database`): one process converts, the others wait
and then find nothing queued. A step's row is deleted once the step has finished; steps commit batch by
batch and select only what is still unconverted, so one interrupted by a crash resumes at the next start.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from . import reseal
from .database import Database
from .errors import MigrationError

STEPS: dict[str, Callable[[Database], Awaitable[int]]] = {
    "owner_keys": reseal.run,  # migration 0100
}


async def run_pending(db: Database) -> dict[str, int]:
    """Run every queued step (the database needs its keyring); returns how many rows each one converted."""
    queued = [r["name"] for r in await db.fetch(
        "upgrades.pending", "SELECT name FROM pending_upgrades ORDER BY queued_at, name")]
    unknown = [name for name in queued if name not in STEPS]
    if unknown:
        raise MigrationError(f"the database waits for upgrade steps this version does not have: {', '.join(unknown)}")
    done: dict[str, int] = {}
    for name in queued:
        done[name] = await STEPS[name](db)
        await db.execute("upgrades.done", "DELETE FROM pending_upgrades WHERE name = $1", name)
    return done
