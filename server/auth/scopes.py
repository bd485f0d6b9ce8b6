"""What an app or a script may be allowed to do: the scopes, in the words the consent screen shows.

A person's own sign-in may do everything the person may. A token issued to an
app (OAuth 2.0) or a personal access token carries scopes, and each API
operation names the one scope it needs (`scope=` on its route); an operation
that names none is for the person alone. No scope reaches health records.
"""

from __future__ import annotations

SCOPES: dict[str, str] = {
    "bookings:read": "See your bookings and follow their changes",
    "bookings:write": "Book, confirm, decline, cancel, reschedule, start and complete sessions for you",
    "availability:read": "See practitioners' working hours and free slots",
    "availability:write": "Change your working hours and time off",
    "profile:read": "See your name, email address and time zone, and others' public profiles",
    "messages:read": "Read your conversations and messages",
}


# What an app's socket may do, by scope: follow the bookings of the person who authorised it (channels/live.py),
# and move the socket to a fresh token. Chat, presence and video stay the person's own.
_SOCKET_EVENTS = {
    "bookings:read": frozenset({"booking:subscribe", "booking:unsubscribe", "bookings:subscribe", "bookings:unsubscribe",
                                "auth:refresh"}),
}


def socket_events(scopes: frozenset[str] | None) -> frozenset[str] | None:
    """The client events a socket on a token with `scopes` may send; None: all (the person's own sign-in)."""
    if scopes is None:
        return None
    return frozenset().union(*(_SOCKET_EVENTS.get(s, frozenset()) for s in scopes))


def unknown(scopes: list[str]) -> list[str]:
    """The names in `scopes` that are not scopes."""
    return [s for s in scopes if s not in SCOPES]


def ordered(scopes: set[str] | frozenset[str] | list[str]) -> list[str]:
    """`scopes` without repeats, in the order of `SCOPES` (so equal grants compare equal)."""
    wanted = set(scopes)
    return [s for s in SCOPES if s in wanted]
