"""Practitioner search: the query's words corrected against the vocabulary, the filters and the score applied in
one statement (storage/discovery.py), and, when a free slot is asked for, the booking's own slot rules.

Pages continue after a position carried in an opaque cursor with the instant
the first page was computed at, so every page of one search measures
"soonest" and "within N days" from the same moment. The position is the
(score, id) of the page's last result, so a result never moves to another
page because something was added or removed before it.

With a free-slot filter, the soonest factor joins the score in SQL, computed
from each practitioner's recorded first free slot (practitioner_search, kept
by the job `search.first_free`) as it stood at that instant, so it orders the
whole result. Whether a practitioner is free within the window, and the
`next_free_slot` shown, are still decided by the booking's slot finder at
query time. Slot finding costs about a quarter of a millisecond per
practitioner, so it cannot be run over every match of a broad query:
candidates are read in score order in growing batches until a page of
available ones is found, and the next page goes on after the last one shown
(docs/search.md).
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

FIRST_BATCH, MAX_BATCH = 20, 400
MAX_SCANNED = 2000  # practitioners whose slots one page may compute; past it the page ends early


@dataclass(frozen=True, slots=True)
class Request:
    text: str | None
    filters: Filters  # `groups` is filled in here from `text`
    free_within: timedelta | None
    limit: int
    cursor: str | None


@dataclass(frozen=True, slots=True)
class Result:
    candidate: Candidate  # its factors and score
    next_free: datetime | None  # by the slot finder at query time, for the search's offerings


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
        results = [Result(c, None) for c in found[: request.limit]]
        position = (results[-1].candidate.score, results[-1].candidate.id) if len(found) > request.limit else None
    else:
        results, position = await _available(db, filters, request, after, soonest, now)
    cursor = None if position is None else _encode(position[0], position[1], now)
    return Page(results, cursor, corrected, now)


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
) -> tuple[list[Result], tuple[float, uuid.UUID] | None]:
    """A page of practitioners free within the window, in score order, and where the next page starts (see the
    module's docstring)."""
    assert request.free_within is not None
    accepts = offering_filter(filters)
    found: list[Result] = []  # available ones, in score order
    scan_from, scanned, size, exhausted = after, 0, max(FIRST_BATCH, 2 * request.limit), False
    while len(found) <= request.limit and scanned < MAX_SCANNED:
        batch = await store.candidates(db, filters, ranking.WEIGHTS, limit=size, before=scan_from, soonest_from=now)
        scanned += len(batch)
        free = await soonest([c.id for c in batch], accepts, now, now + request.free_within) if batch else {}
        found += [Result(c, free[c.id]) for c in batch if c.id in free]
        if len(batch) < size:
            exhausted = True
            break
        scan_from, size = (batch[-1].score, batch[-1].id), min(MAX_BATCH, 4 * size)
    page = found[: request.limit]
    if len(found) > request.limit:
        return page, (page[-1].candidate.score, page[-1].candidate.id)
    return page, None if exhausted else scan_from  # the scan stopped early: the next page goes on from there
