"""The person's own rights over their data: erasure (and, with it, the end of their live sockets and future
bookings). What is removed and what stays is decided in storage/erasure.py and documented in docs/records.md."""

from __future__ import annotations

import logging

from scheduler import bookings as scheduler_bookings
from scheduler.states import Action
from storage import accounts, audit, erasure
from storage.errors import Refusal

from ..appkeys import SCHEDULER
from ..errors import Forbidden
from ..routing import Call, Input, RouteTable
from .fields import Password

routes = RouteTable("privacy")
log = logging.getLogger(__name__)


class EraseIn(Input):
    password: Password


@routes.post("/me/erase", body=EraseIn, status=204, errors=(403, 422))
async def erase_me(call: Call[EraseIn]) -> None:
    """Erase your account for good (GDPR art. 17): your data key is destroyed, your future bookings cancelled,
    your sockets closed; only pseudonymised booking facts stay for the practitioner's accounting."""
    rt, user = call.runtime, call.principal.user
    found = await accounts.find_for_login(rt.db, user.email)
    if found is None or not await rt.passwords.verify(found[1], call.body.password):
        raise Forbidden("Wrong password.", code="wrong_password")
    deps = call.request.app[SCHEDULER].deps
    for booking_id in await erasure.future_bookings(rt.db, user.id, deps.clock.now()):
        try:
            await scheduler_bookings.act(deps, booking_id, Action.CANCEL, actor=user)
        except Refusal as refused:  # it started meanwhile: it runs to its end, and is kept like any past one
            log.info("booking kept at erasure", extra={"event": "erasure_booking_kept", "booking_id": str(booking_id),
                                                       "code": refused.code})
    erased = await erasure.erase(rt.db, user.id)
    rt.db.keys.forget(user.id)
    for session_id in erased.sessions:  # every process closes the sockets of these sessions
        await rt.sessions.revoke_session(rt.bus, session_id)
    await rt.sessions.user_changed(rt.bus, user.id)  # ... and forgets the user and their data key
    await audit.record(rt.db, actor_id=user.id, action="account.erase", subject_id=user.id, resource=f"user:{user.id}",
                       request_id=call.request_id)
