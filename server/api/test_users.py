"""Admin: load-test accounts made in bulk with their first token pairs, and removed by batch.

`klear loadtest` signs in as an admin, creates the clients and practitioners it drives here, sets them
up through the public API as each of them, and deletes the batch when it ends.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field, model_validator

from storage import test_users

from ..errors import NotFound
from ..routing import Call, Input, Output, RouteTable
from .fields import TimeZone

routes = RouteTable("admin")

MAX_PER_CALL = 1000


class TestUsersIn(Input):
    batch_id: uuid.UUID | None = Field(None, description="Add to this batch (made if new); omit for a new batch.")
    clients: int = Field(0, ge=0, le=MAX_PER_CALL)
    practitioners: int = Field(0, ge=0, le=MAX_PER_CALL)
    time_zone: TimeZone = "UTC"

    @model_validator(mode="after")
    def _bounded(self) -> TestUsersIn:
        if not 1 <= self.clients + self.practitioners <= MAX_PER_CALL:
            raise ValueError(f"ask for 1 to {MAX_PER_CALL} accounts per call (clients + practitioners)")
        return self


class TestUserOut(Output):
    id: uuid.UUID
    role: Literal["client", "practitioner"]
    display_name: str
    access_token: str
    refresh_token: str = Field(description="Single use, as from /auth/login.")
    expires_in: int


class TestUsersOut(Output):
    batch_id: uuid.UUID
    users: list[TestUserOut]


class RemovedOut(Output):
    batch_id: uuid.UUID
    deleted_users: int


@routes.post("/admin/test-users", body=TestUsersIn, response=TestUsersOut, status=201, roles=("admin",), errors=(422,))
async def create_test_users(call: Call[TestUsersIn]) -> TestUsersOut:
    """Create load-test clients and practitioners, each signed in; no password can sign in as them."""
    rt, body = call.runtime, call.body
    batch_id = body.batch_id or uuid.uuid4()
    roles = ["client"] * body.clients + ["practitioner"] * body.practitioners
    refresh = [rt.tokens.new_refresh() for _ in roles]
    made = await test_users.create(
        rt.db, batch_id=batch_id, created_by=call.principal.user_id, roles=roles, time_zone=body.time_zone,
        refresh_hashes=[h for _, h in refresh], refresh_ttl=rt.settings.server.refresh_token_ttl,
    )
    await call.audit("test_users.create", subject_id=None, resource=f"test-user-batch:{batch_id}")
    out = []
    for user, (token, _) in zip(made, refresh, strict=True):
        access, _ = rt.tokens.issue_access(user.id, user.role, user.session_id)
        out.append(TestUserOut(
            id=user.id, role=user.role, display_name=user.display_name,  # type: ignore[arg-type]
            access_token=access, refresh_token=token, expires_in=rt.tokens.access_ttl,
        ))
    return TestUsersOut(batch_id=batch_id, users=out)


@routes.delete("/admin/test-users/{batch_id}", response=RemovedOut, roles=("admin",), errors=(404,))
async def remove_test_users(call: Call[None]) -> RemovedOut:
    """Delete a batch of load-test accounts with everything they made (bookings, messages, sessions)."""
    batch_id = call.uuid("batch_id")
    deleted = await test_users.remove_batch(call.runtime.db, batch_id)
    if deleted is None:
        raise NotFound("No load-test batch with that id.")
    await call.audit("test_users.remove", subject_id=None, resource=f"test-user-batch:{batch_id}")
    return RemovedOut(batch_id=batch_id, deleted_users=deleted)
