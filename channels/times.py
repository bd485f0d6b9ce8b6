"""Times as clients see them on the socket: ISO 8601 in UTC with `Z`, the format of every time in the API."""

from __future__ import annotations

from datetime import datetime, timezone


def iso_time(timestamp: float | None) -> str | None:
    """Unix seconds (what tokens and presence keep) as the API writes times; None stays None."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat().replace("+00:00", "Z")
