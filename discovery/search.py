"""Practitioner search: the query's words corrected against the vocabulary, the filters and the score applied in
one statement (storage/discovery.py), and, when a free slot is asked for, the booking's own slot rules.

Pages continue after the (score, id) of the last result, carried in an opaque
cursor with the instant the first page was computed at, so every page of one
search measures "soonest" and "within N days" from the same moment. A result
never moves to another page because something was added or removed before it.

With a free-slot filter the score gains the soonest factor, which is only
known after the slots are computed. The scan reads candidates in order of the
score without it, in batches, and stops once no unread candidate could still
reach the page: each one's final score is at most its score plus the soonest
weight. The rank is therefore exact, and the cost is the slot finding of the
candidates read (at most MAX_SCANNED; docs/search.md).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from storage import discovery as store
from storage.database import Database
from storage.discovery import Candidate, Filters
from storage.errors import Refusal
from storage.practitioners import Offering

from . import ranking, typos

# (practitioner ids, which offerings count, from, to) -> the first free start of each that has one.
Soonest = Callable[[list[uuid.UUID], Callable[[Offering], bool], datetime, datetime], Awaitable[dict[uuid.UUID, datetime]]]

BATCH = 200
MAX_SCANNED = 5000


@dataclass(frozen=True, slots=True)
class Request:
    text: str | None
    filters: Filters  # `groups` is filled in here from `text`
    free_within: timedelta | None
    limit: int
    cursor: str | None


@dataclass(frozen=True, slots=True)
class Result:
    candidate: Candidate
    soonest: float
    score: float
    next_free: datetime | None


@dataclass(frozen=True, slots=True)
class Page:
    results: list[Result]
    next_cursor: str | None
    corrections: dict[str, list[str]]
    now: datetime


class BadCursor(Refusal):
    status, code, default_message = 422, "invalid_cursor", "The cursor is not one this search returned; start again without it."


def _encode(score: float, pid: uuid.UUID, now: datetime) -> str:
    raw = json.dumps([score, str(pid), now.isoformat()]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[float, uuid.UUID, datetime]:
    try:
        score, pid, now = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        parsed = float(score), uuid.UUID(pid), datetime.fromisoformat(now)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise BadCursor(details=[{"loc": ["query", "cursor"], "message": "not a cursor of this search", "type": "invalid_cursor"}]) from None
    if parsed[2].tzinfo is None:
        raise BadCursor()
    return parsed


async def search(db: Database, request: Request, *, soonest: Soonest, now: datetime) -> Page:
    """One page of results for `request`, with the corrections made to its words."""
    after: tuple[float, uuid.UUID] | None = None
    if request.cursor is not None:
        score, pid, now = _decode(request.cursor)
        after = (score, pid)
    filters, corrected = await _with_text(db, request.filters, request.text)
    if request.free_within is None:
        found = await store.candidates(db, filters, ranking.WEIGHTS, limit=request.limit + 1, before=after)
        results = [Result(c, 0.0, c.score, None) for c in found]
    else:
        results = await _available(db, filters, request, after, soonest, now)
    page = results[: request.limit]
    more = len(results) > request.limit
    cursor = _encode(page[-1].score, page[-1].candidate.id, now) if more and page else None
    return Page(page, cursor, corrected, now)


async def _with_text(db: Database, filters: Filters, text: str | None) -> tuple[Filters, dict[str, list[str]]]:
    """The filters with the query's word groups, and the corrections each word received."""
    words = typos.words(text or "")
    if not words:
        return replace(filters, groups=None), {}
    near = await store.vocabulary_near(db, words)
    corrected = {w: fixes for w in words if (fixes := typos.corrections(w, near[w]))}
    return replace(filters, groups=typos.groups(words, near)), corrected


def offering_filter(f: Filters) -> Callable[[Offering], bool]:
    """Which offerings' slots count: those passing the search's mode, price and currency filters."""
    def accepts(o: Offering) -> bool:
        return (
            (f.mode is None or o.mode == f.mode) and (f.price_min is None or o.price_minor >= f.price_min)
            and (f.price_max is None or o.price_minor <= f.price_max) and (f.currency is None or o.currency == f.currency)
        )
    return accepts


async def _available(
    db: Database, filters: Filters, request: Request, after: tuple[float, uuid.UUID] | None, soonest: Soonest,
    now: datetime,
) -> list[Result]:
    """Results with a free slot within the window, ranked with the soonest factor (see the module's docstring)."""
    assert request.free_within is not None
    want = request.limit + 1
    kept: list[Result] = []
    accepts = offering_filter(filters)
    scan_from, scanned = after, 0
    while scanned < MAX_SCANNED:
        batch = await store.candidates(db, filters, ranking.WEIGHTS, limit=BATCH, before=scan_from)
        if not batch:
            break
        scanned += len(batch)
        free = await soonest([c.id for c in batch], accepts, now, now + request.free_within)
        for c in batch:
            if c.id in free:
                factor = ranking.soonest_factor(free[c.id], now)
                score = c.score + ranking.SOONEST * factor
                if after is None or (score, _neg(c.id)) < (after[0], _neg(after[1])):
                    kept.append(Result(c, factor, score, free[c.id]))
        kept.sort(key=lambda r: (-r.score, r.candidate.id))
        del kept[want:]
        scan_from = (batch[-1].score, batch[-1].id)
        if len(batch) < BATCH or (len(kept) == want and batch[-1].score + ranking.SOONEST < kept[-1].score):
            break
    return kept


def _neg(pid: uuid.UUID) -> int:
    """Ids order ascending within equal scores, which descend: compare (score, -id)."""
    return -pid.int
