"""Video over REST: the state of a booking's video session (who is in, since when), the same from every process.

Why REST as well as the `rtc:state` event: an app shows "your practitioner is
waiting" before it opens a socket or joins, and every process answers the same
(rtc asks the session's owner). Signalling itself is Socket.IO only
(docs/video.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from ..appkeys import VIDEO
from ..routing import Call, Output, RouteTable

routes = RouteTable("video")


class VideoWindow(Output):
    opens_at: datetime
    closes_at: datetime


class VideoParticipant(Output):
    user_id: uuid.UUID
    display_name: str
    role: Literal["practitioner", "client"]
    joined_at: datetime = Field(description="When their current connection joined (a rejoin starts it again).")


class VideoStateOut(Output):
    booking_id: uuid.UUID
    session_id: uuid.UUID
    admission: Literal["open", "not_joinable", "too_early", "too_late"] = Field(
        description="open: you may join now; otherwise the code `rtc:join` would answer. The status decides "
        "before the time: a cancelled booking is not_joinable, never too_early."
    )
    window: VideoWindow = Field(description="When this booking's session may be joined.")
    participants: list[VideoParticipant] = Field(
        description="Who is in the session now (you too, if you are), in the order they joined; "
        "empty unless admission is open."
    )


@routes.get("/bookings/{booking_id}/video", response=VideoStateOut, errors=(404, 409, 503))
async def video_state(call: Call[None]) -> VideoStateOut:
    """The state of your booking's video session: who is in and since when. Audited."""
    state = await call.request.app[VIDEO].session_state(
        call.uuid("booking_id"), call.principal.user_id, request_id=call.request_id
    )
    return VideoStateOut.model_validate(state)
