"""The person's own rights over their data: the export of everything about them (a durable job, then an
expiring link) and erasure (with it, the end of their live sockets and future bookings). What an export holds
is decided in records/export.py; what erasure removes and keeps, in storage/erasure.py; docs/records.md."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Literal

from aiohttp import web
from pydantic import Field

from scheduler import bookings as scheduler_bookings
from records import attachments, export
from scheduler.states import Action
from storage import accounts, audit, erasure
from storage.errors import Refusal

from ..appkeys import SCHEDULER
from ..errors import Forbidden, NotFound
from ..routing import Call, Input, Output, QueryInput, RouteTable
from .fields import Instant, Password

routes = RouteTable("privacy")
log = logging.getLogger(__name__)


class EraseIn(Input):
    current_password: Password = Field(description="Your password, to confirm it is you.")


@routes.post("/me/erase", body=EraseIn, status=204, errors=(403, 422))
async def erase_me(call: Call[EraseIn]) -> None:
    """Erase your account for good (GDPR art. 17): your data key is destroyed, your future bookings cancelled,
    your sockets closed; only pseudonymised booking facts stay for the practitioner's accounting."""
    rt, user = call.runtime, call.principal.user
    found = await accounts.find_for_login(rt.db, user.email)
    if found is None or not await rt.passwords.verify(found[1], call.body.current_password):
        raise Forbidden("Wrong password.", code="wrong_password")
    deps = call.request.app[SCHEDULER].deps
    for booking_id in await erasure.future_bookings(rt.db, user.id, deps.clock.now()):
        try:
            await scheduler_bookings.act(deps, booking_id, Action.CANCEL, actor=user)
        except Refusal as refused:  # it started meanwhile: it runs to its end, and is kept like any past one
            log.info("booking kept at erasure", extra={"event": "erasure_booking_kept", "booking_id": str(booking_id),
                                                       "code": refused.code})
    files = await attachments.files_of(rt.db, user.id)
    erased = await erasure.erase(rt.db, user.id)
    rt.db.keys.forget(user.id)
    await attachments.forget_files(rt.blobs, files)  # already unreadable (the key is gone); now gone too
    for session_id in erased.sessions:  # every process closes the sockets of these sessions
        await rt.sessions.revoke_session(rt.bus, session_id)
    await rt.sessions.user_changed(rt.bus, user.id)  # ... and forgets the user and their data key
    await audit.record(rt.db, actor_id=user.id, action="account.erase", subject_id=user.id, resource=f"user:{user.id}",
                       request_id=call.request_id)


class ExportOut(Output):
    id: uuid.UUID
    status: Literal["queued", "ready"]
    created_at: Instant
    ready_at: Instant | None
    expires_at: Instant | None = Field(description="When the download link stops working.")
    size_bytes: int | None
    download_url: str | None = Field(description="A link that needs no sign-in, until `expires_at`; keep it private.")


class DownloadQuery(QueryInput):
    token: str = Field(min_length=1, max_length=100)


@routes.get("/me/export", response=ExportOut, status=200, also_status=(202,))
async def my_export(call: Call[None]) -> ExportOut:
    """Export everything about you (GDPR art. 15 and 20): starts an archive (202) unless one is in progress or
    ready; when ready (200), `download_url` fetches it until `expires_at`."""
    rt = call.runtime
    now: datetime = call.request.app[SCHEDULER].deps.clock.now()
    made, _ = await export.request(rt.db, call.principal.user_id, now)
    if made.status != "ready":
        call.status = 202
    url = None if made.status != "ready" else f"/api/v1/me/export/{made.id}/download?token={made.token}"
    return ExportOut(id=made.id, status=made.status, created_at=made.created_at, ready_at=made.ready_at,  # type: ignore[arg-type]
                     expires_at=made.expires_at, size_bytes=made.size_bytes, download_url=url)


@routes.get("/me/export/{export_id}/download", query=DownloadQuery, auth=False, errors=(404, 422),
            content_type="application/zip")
async def download_export(call: Call[None]) -> web.Response:
    """The archive behind an export link (a zip: export.json, and the attachments); 404 once expired."""
    now: datetime = call.request.app[SCHEDULER].deps.clock.now()
    data = await export.download(call.runtime.db, call.uuid("export_id"), call.query.token, now)
    if data is None:
        raise NotFound("No export behind this link, or the link expired.")
    return web.Response(body=data, content_type="application/zip",
                        headers={"Content-Disposition": 'attachment; filename="klear-export.zip"',
                                 "Cache-Control": "no-store"})
