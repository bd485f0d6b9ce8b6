"""The scheduling clock: what "now" means for notice, horizons, reminders and job due times.

It is the system clock plus a fixed shift read from the settings
(`KLEAR_CLOCK_SHIFT`, zero in production). Tests and rehearsals start
processes with a shift to make a reminder fall due seconds later, without
patching code. Every scheduling decision reads this clock and passes the
instant to SQL explicitly, so all processes started with the same shift agree.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """UTC now, shifted by a constant."""

    def __init__(self, shift: timedelta = timedelta(0)) -> None:
        self.shift = shift

    def now(self) -> datetime:
        return datetime.now(UTC) + self.shift
