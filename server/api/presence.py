"""Presence over REST: who of your contacts is online, away or offline, and when last seen."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Literal

from pydantic import Field, field_validator

from storage import conversations

from ..appkeys import CHANNELS
from ..routing import Call, Output, QueryInput, RouteTable

routes = RouteTable("presence")


class PresenceQuery(QueryInput):
    user_ids: str = Field(description="Comma-separated user ids (at most 200).")

    @field_validator("user_ids")
    @classmethod
    def _ids(cls, value: str) -> str:
        parts = [p for p in value.split(",") if p]
        if not 1 <= len(parts) <= 200:
            raise ValueError("give between 1 and 200 user ids")
        for p in parts:
            uuid.UUID(p)
        return value

    def ids(self) -> list[uuid.UUID]:
        return list(dict.fromkeys(uuid.UUID(p) for p in self.user_ids.split(",") if p))


class PresenceOut(Output):
    user_id: uuid.UUID
    state: Literal["online", "away", "offline"]
    last_seen: datetime | None = Field(description="When the user last went offline (ISO 8601, UTC).")


class PresenceList(Output):
    users: list[PresenceOut] = Field(description="Only users who share a conversation with you are listed.")


@routes.get("/presence", query=PresenceQuery, response=PresenceList, errors=(422, 503))
async def presence(call: Call[None]) -> PresenceList:
    """Presence of people you share a conversation with. Audited. 503 `unavailable` while presence
    (kept in Redis) cannot be read."""
    me = call.principal.user_id
    wanted = call.query.ids()
    allowed = await conversations.shared_with(call.runtime.db, me, wanted) | ({me} if me in wanted else set())
    statuses = await call.request.app[CHANNELS].presence.status([u for u in wanted if u in allowed])
    for user_id in allowed - {me}:
        await call.audit("user.presence.read", subject_id=user_id, resource=f"user:{user_id}:presence")
    return PresenceList(users=[
        PresenceOut(user_id=u, state=s.state,  # type: ignore[arg-type]
                    last_seen=datetime.fromtimestamp(s.last_seen, timezone.utc) if s.last_seen else None)
        for u, s in statuses.items()
    ])
