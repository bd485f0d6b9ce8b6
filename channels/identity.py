"""Who a socket is: what channels needs to know of a token, and the check the server passes in.

Checking tokens (signatures, expiry, revoked sessions) is the server's
business; channels only asks, through an `Authenticate` it is given when the
server wires it, and keeps the answer for as long as the socket is open.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Identity:
    """The account and login session behind a token, and when the token expires (Unix seconds).

    `events` limits a socket to those client events: an app's token (see the
    server's scopes) follows bookings and is not the person being present, so
    its socket is in no user room, shows no presence and hears no notification.
    None: the person's own sign-in, every event.
    """

    user_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: float
    events: frozenset[str] | None = None


Authenticate = Callable[[str], Awaitable[Identity]]
"""Check an access token and return its identity; raise a `storage.errors.Refusal` (e.g. code
`token_expired` or `token_revoked`) when it is not valid, or a `StorageError` when it cannot be checked."""
