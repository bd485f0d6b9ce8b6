"""Refusals of the scheduling domain, each with the HTTP status and stable code the API answers with.

The booking service is also driven by job handlers, so it does not raise HTTP
errors itself; `Refused` is a `storage.errors.Refusal`, which the REST and
Socket.IO boundaries render.
"""

from __future__ import annotations

from typing import Any

from storage.errors import Refusal


class Refused(Refusal):
    """The request cannot be carried out as asked; says why in API terms."""

    def __init__(self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message, code=code, status=status, details=details)


def not_found(what: str) -> Refused:
    return Refused(404, "not_found", f"No {what} with that id.")


def slot_unavailable(reason: str, message: str | None = None) -> Refused:
    messages = {
        "taken": "That time has just been booked by someone else; pick another slot.",
        "class_full": "This class is full; pick another time.",
        "day_full": "The practitioner has no more room on that day.",
        "too_soon": "That time is too soon: the practitioner needs more notice.",
        "beyond_horizon": "That time is too far ahead to book yet.",
        "outside_hours": "That time is not one of the practitioner's slots.",
        "time_off": "The practitioner is away at that time.",
    }
    return Refused(409, "slot_unavailable", message or messages[reason], [{"reason": reason}])
