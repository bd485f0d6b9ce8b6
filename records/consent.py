"""Consent: a client grants a practitioner scopes of their record until an expiry, a practitioner proposes a
grant on a booking for the client to accept or decline, and the client revokes any grant at any time.

Every change is announced live to both people's sockets (`consent:proposed`, `consent:granted`,
`consent:declined`, `consent:revoked`), so the client's booking shows a proposal as it arrives, the
practitioner's shows the answer, and a screen showing the client's records can close them at once; the
server refuses the next read either way. Grants and revocations are audited; a proposal or a decline gives
no access, so it is not.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Any

from storage import accounts, audit, bookings, consents
from storage.bus import Bus
from storage.bus_messages import UserPush
from storage.database import Database
from storage.errors import NotFound, Refusal

from .access import Actor


class ConsentRefused(Refusal):
    status, code = 422, "invalid_consent"


async def names(db: Database, grants: list[consents.Grant]) -> dict[uuid.UUID, str]:
    """The display names of the people of `grants`, so a screen can say who asks and who was given access
    without a lookup per grant. Through `accounts`, which owns how names are stored."""
    ids = list({person for g in grants for person in (g.client_id, g.practitioner_id)})
    return {u.id: u.display_name for u in await accounts.get_public_users(db, ids)} if ids else {}


def shown(grant: consents.Grant, people: dict[uuid.UUID, str]) -> dict[str, Any]:
    """A grant as the API lists it, with both people's names (`people` from `names`)."""
    return {**asdict(grant), "client_name": people[grant.client_id], "practitioner_name": people[grant.practitioner_id]}


def body(grant: consents.Grant, people: dict[uuid.UUID, str]) -> dict[str, Any]:
    """A grant as the live events carry it: the API's shape, in JSON types."""
    out = {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in shown(grant, people).items()}
    for key in ("expires_at", "created_at", "decided_at", "revoked_at"):
        value: datetime | None = getattr(grant, key)
        out[key] = None if value is None else value.isoformat().replace("+00:00", "Z")
    return out


async def _announce(db: Database, bus: Bus, event: str, grant: consents.Grant) -> None:
    data = body(grant, await names(db, [grant]))
    await bus.route_many([(e.channel, e.encode()) for e in (
        UserPush(grant.practitioner_id, event, data), UserPush(grant.client_id, event, data))])


async def _audit(db: Database, actor: Actor, action: str, grant: consents.Grant) -> None:
    await audit.record(db, actor_id=actor.user_id, action=action, subject_id=grant.client_id,
                       resource=f"consent:{grant.id}", request_id=actor.request_id, reason=",".join(grant.scopes))


def _check_expiry(actor: Actor, expires_at: datetime) -> None:
    if expires_at <= actor.now:
        raise ConsentRefused("expires_at must be in the future.", details=[{"loc": ["body", "expires_at"]}])


async def give(
    db: Database, bus: Bus, actor: Actor, practitioner_id: uuid.UUID, scopes: list[str], expires_at: datetime
) -> consents.Grant:
    """The client (actor) lets a practitioner read `scopes` of their record until `expires_at`."""
    _check_expiry(actor, expires_at)
    users = await accounts.get_public_users(db, [practitioner_id])
    if not users or users[0].role != "practitioner":
        raise NotFound("practitioner")
    grant = await consents.create(db, client_id=actor.user_id, practitioner_id=practitioner_id, scopes=scopes,
                                  expires_at=expires_at, status="active")
    await _audit(db, actor, "consent.grant", grant)
    await _announce(db, bus, "consent:granted", grant)
    return grant


async def propose(
    db: Database, bus: Bus, actor: Actor, booking_id: uuid.UUID, scopes: list[str], expires_at: datetime
) -> consents.Grant:
    """The practitioner of a booking proposes a grant its client will accept or decline; the client's open
    screens show it at once (`consent:proposed`)."""
    _check_expiry(actor, expires_at)
    booking = await bookings.get(db, booking_id)
    if booking is None or booking.practitioner_id != actor.user_id:
        raise NotFound("booking")
    grant = await consents.create(db, client_id=booking.client_id, practitioner_id=actor.user_id, scopes=scopes,
                                  expires_at=expires_at, status="proposed", booking_id=booking_id)
    await _announce(db, bus, "consent:proposed", grant)
    return grant


async def decide(db: Database, bus: Bus, actor: Actor, grant_id: uuid.UUID, accept: bool) -> consents.Grant:
    """The client accepts or declines a proposed grant. One whose expiry has passed can no longer be accepted
    (it would grant nothing); declining it still closes it."""
    grant = await consents.decide(db, grant_id, actor.user_id, accept, actor.now)
    if grant is None:
        stale = await consents.get(db, grant_id)
        if stale is not None and stale.client_id == actor.user_id and stale.status == "proposed":
            raise ConsentRefused("This request expired before it was accepted; the practitioner can ask again.",
                                 details=[{"loc": ["path", "grant_id"], "type": "expired"}])
        raise NotFound("proposed grant")
    if accept:
        await _audit(db, actor, "consent.grant", grant)
    await _announce(db, bus, "consent:granted" if accept else "consent:declined", grant)
    return grant


async def revoke(db: Database, bus: Bus, actor: Actor, grant_id: uuid.UUID) -> consents.Grant:
    """The client ends a grant at once; the practitioner's sockets hear `consent:revoked`."""
    grant = await consents.revoke(db, grant_id, actor.user_id)
    if grant is None:
        raise NotFound("grant")
    await _audit(db, actor, "consent.revoke", grant)
    await _announce(db, bus, "consent:revoked", grant)
    return grant
