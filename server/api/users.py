"""Your own account, and the public profile of others."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import model_validator

from storage import accounts

from ..errors import NotFound
from ..routing import Call, Input, Output, RouteTable
from .auth import UserOut
from .fields import DisplayName, TimeZone

routes = RouteTable("users")


class ProfileUpdate(Input):
    display_name: DisplayName | None = None
    time_zone: TimeZone | None = None

    @model_validator(mode="after")
    def _something(self) -> ProfileUpdate:
        if self.display_name is None and self.time_zone is None:
            raise ValueError("send display_name, time_zone or both")
        return self


class PublicUserOut(Output):
    id: uuid.UUID
    display_name: str
    role: Literal["client", "practitioner", "admin"]
    time_zone: str


@routes.get("/me", response=UserOut, errors=(401,), scope="profile:read")
async def me(call: Call[None]) -> UserOut:
    """Your own account."""
    return UserOut.model_validate(call.principal.user)


@routes.patch("/me", body=ProfileUpdate, response=UserOut, errors=(401, 422))
async def update_me(call: Call[ProfileUpdate]) -> UserOut:
    """Change your display name or time zone. A client's or admin's name is stored encrypted with their own key;
    a practitioner's is public (their profile and search show it)."""
    rt, me = call.runtime, call.principal.user
    user = await accounts.update_profile(
        rt.db, me.id, me.role, display_name=call.body.display_name, time_zone=call.body.time_zone
    )
    await rt.sessions.user_changed(rt.bus, user.id)
    return UserOut.model_validate(user)


@routes.get("/users/{user_id}", response=PublicUserOut, errors=(401, 404), scope="profile:read")
async def get_user(call: Call[None]) -> PublicUserOut:
    """Another person's public profile (name, role, time zone). Audited."""
    user_id = call.uuid("user_id")
    found = await accounts.get_public_users(call.runtime.db, [user_id])
    if not found:
        raise NotFound("No user with that id.")
    if user_id != call.principal.user_id:
        await call.audit("user.read", subject_id=user_id, resource=f"user:{user_id}")
    return PublicUserOut.model_validate(found[0])
