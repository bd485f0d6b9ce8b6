"""The booking state machine: which action may move a booking from which status, by whom, and when.

    requested ──confirm──▶ confirmed ──start──▶ in_session ──complete──▶ completed
        │  ╲                   │  ╲                                        ▲
     decline ╲ cancel       cancel  no_show / complete (after the start) ──┘
     expire   ╲             reschedule
        ▼      ▼               ▼
    declined  cancelled     cancelled (linked to its replacement)

Every change goes through `decide`, which either returns the transition or
raises `TransitionRefused` carrying the HTTP status and code the API returns.
The table is the whole policy; nothing else changes a booking's status.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.session_window import CLOSES_AFTER, OPENS_BEFORE

from .errors import Refused


class Status(enum.StrEnum):
    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    IN_SESSION = "in_session"
    COMPLETED = "completed"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


class Action(enum.StrEnum):
    CONFIRM = "confirm"
    DECLINE = "decline"
    EXPIRE = "expire"
    CANCEL = "cancel"
    RESCHEDULE = "reschedule"
    START = "start"
    COMPLETE = "complete"
    NO_SHOW = "no_show"


class Role(enum.StrEnum):
    CLIENT = "client"
    PRACTITIONER = "practitioner"
    SYSTEM = "system"


class Window(enum.Enum):
    """When, relative to the session, an action is allowed."""

    ANY = "any"
    BEFORE_START = "before_start"  # until the scheduled start
    JOINABLE = "joinable"  # the session window: from OPENS_BEFORE the start until CLOSES_AFTER the end
    AFTER_START = "after_start"  # once the scheduled start has passed


@dataclass(frozen=True, slots=True)
class Rule:
    to: Status
    roles: frozenset[Role]
    window: Window = Window.ANY


_PEOPLE = frozenset({Role.CLIENT, Role.PRACTITIONER})
_P = frozenset({Role.PRACTITIONER})
_SYS = frozenset({Role.SYSTEM})

RULES: dict[tuple[Status, Action], Rule] = {
    (Status.REQUESTED, Action.CONFIRM): Rule(Status.CONFIRMED, _P, Window.BEFORE_START),
    (Status.REQUESTED, Action.DECLINE): Rule(Status.DECLINED, _P),
    (Status.REQUESTED, Action.EXPIRE): Rule(Status.DECLINED, _SYS),
    (Status.REQUESTED, Action.CANCEL): Rule(Status.CANCELLED, _PEOPLE),
    (Status.REQUESTED, Action.RESCHEDULE): Rule(Status.CANCELLED, _PEOPLE, Window.BEFORE_START),
    (Status.CONFIRMED, Action.CANCEL): Rule(Status.CANCELLED, _PEOPLE, Window.BEFORE_START),
    (Status.CONFIRMED, Action.RESCHEDULE): Rule(Status.CANCELLED, _PEOPLE, Window.BEFORE_START),
    (Status.CONFIRMED, Action.START): Rule(Status.IN_SESSION, _PEOPLE, Window.JOINABLE),
    (Status.CONFIRMED, Action.NO_SHOW): Rule(Status.NO_SHOW, _P | _SYS, Window.AFTER_START),
    (Status.CONFIRMED, Action.COMPLETE): Rule(Status.COMPLETED, _P | _SYS, Window.AFTER_START),
    (Status.IN_SESSION, Action.COMPLETE): Rule(Status.COMPLETED, _PEOPLE | _SYS),
}


class TransitionRefused(Refused):
    """An action that the state machine does not allow."""


def decide(status: Status, action: Action, role: Role, *, now: datetime, start: datetime, end: datetime) -> Rule:
    """The rule that lets `role` apply `action` to a booking in `status` now; raises `TransitionRefused` otherwise."""
    rule = RULES.get((status, action))
    if rule is None:
        raise TransitionRefused(
            409, "illegal_transition", f"A {status.value} booking cannot be {_past(action)}.",
            [{"status": status.value, "action": action.value}],
        )
    if role not in rule.roles:
        who = " or ".join(sorted(r.value for r in rule.roles - _SYS)) or "the system"
        raise TransitionRefused(403, "forbidden", f"Only the {who} may {action.value.replace('_', ' ')} this booking.")
    if rule.window is Window.BEFORE_START and now >= start:
        raise TransitionRefused(409, "too_late", f"The session has started; it can no longer be {_past(action)}.")
    if rule.window is Window.JOINABLE and now < start - OPENS_BEFORE:
        raise TransitionRefused(409, "too_early", "The session can be started at most 10 minutes before its time.")
    if rule.window is Window.JOINABLE and now >= end + CLOSES_AFTER:
        raise TransitionRefused(409, "too_late", "The session closed 15 minutes after its end; it can no longer be started.")
    if rule.window is Window.AFTER_START and now < start:
        raise TransitionRefused(409, "too_early", f"The session has not started yet; it cannot be {_past(action)}.")
    return rule


def is_late_cancellation(now: datetime, start: datetime, policy_window: timedelta) -> bool:
    """Whether cancelling now falls inside the offering's late-cancellation window before the start."""
    return now >= start - policy_window


def _past(action: Action) -> str:
    return {
        Action.CONFIRM: "confirmed", Action.DECLINE: "declined", Action.EXPIRE: "expired",
        Action.CANCEL: "cancelled", Action.RESCHEDULE: "rescheduled", Action.START: "started",
        Action.COMPLETE: "completed", Action.NO_SHOW: "marked a no-show",
    }[action]
