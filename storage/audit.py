"""The audit trail: every read or write of someone else's data, and every refused attempt; append-only and
hash-chained.

Entries are chained by the database itself (storage/functions/audit_log_chain.sql) and can be neither
changed nor deleted (audit_log_append_only.sql). `verify` recomputes the chain and names the first entry
that does not fit, so an edited, deleted or reordered entry is found.

Chaining serialises appends on the chain's head row, held until each commit. So appends made at the same
time are written together (`Appender`): one INSERT, one commit and one hold of the head for the whole group,
the way PostgreSQL groups commits, instead of each waiting for the one before. Every caller still returns
only once its own entry is committed.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .database import Database

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BATCH = 5000


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    seq: int | None
    at: datetime
    actor_id: uuid.UUID | None
    action: str
    subject_id: uuid.UUID | None
    resource: str | None
    reason: str | None
    outcome: str
    request_id: str | None


_COLUMNS = "id, seq, at, actor_id, action, subject_id, resource, reason, outcome, request_id"


async def record(
    db: Database,
    *,
    actor_id: uuid.UUID | None,
    action: str,
    subject_id: uuid.UUID | None,
    resource: str | None,
    request_id: str | None,
    reason: str | None = None,
    allowed: bool = True,
) -> None:
    """Append one entry: `actor_id` did `action` on `resource` of `subject_id`, because of `reason` (the grant or
    booking the access rested on), or tried to and was refused (`allowed=False`). Returns once it is committed."""
    appender = db.audit_appender
    if appender is None:
        appender = db.audit_appender = Appender(db)
    await appender.append((actor_id, action, subject_id, resource, request_id, reason,
                           "allowed" if allowed else "denied"))


_Row = tuple[uuid.UUID | None, str, uuid.UUID | None, str | None, str | None, str | None, str]


class Appender:
    """Writes the entries appended while a write is in flight as the next group (at most `group` rows)."""

    def __init__(self, db: Database, group: int = 500) -> None:
        self._db = db
        self._group = group
        self._waiting: list[tuple[_Row, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def append(self, row: _Row) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, done))
        if self._writer is None:  # the first append of a quiet moment writes; later ones join its next group
            self._writer = asyncio.create_task(self._write_all())
        await asyncio.shield(done)  # a cancelled request does not take its entry out of the group

    async def _write_all(self) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting[:self._group], self._waiting[self._group:]
                try:
                    await self._insert([row for row, _ in group])
                except Exception as exc:  # each waiting request gets the failure: nothing is lost silently
                    for _, done in group:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                except BaseException:  # cancelled (shutdown): no entry is left waiting for a writer that is gone
                    for _, done in group + self._waiting:
                        if not done.done():
                            done.set_exception(RuntimeError("the audit writer stopped"))
                    self._waiting = []
                    raise
                for _, done in group:
                    if not done.done():
                        done.set_result(None)
        finally:
            self._writer = None

    async def _insert(self, rows: list[_Row]) -> None:
        columns = list(zip(*rows))
        await self._db.execute(
            "audit.record",
            """INSERT INTO audit_log (actor_id, action, subject_id, resource, request_id, reason, outcome)
               SELECT a, b, c, d, e, f, g
               FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[])
                    WITH ORDINALITY AS u (a, b, c, d, e, f, g, n)
               ORDER BY n""",
            *columns,
        )


async def entries_for_subject(db: Database, subject_id: uuid.UUID, limit: int = 100) -> list[AuditEntry]:
    """Everything recorded about this person, newest first."""
    rows = await db.fetch(
        "audit.entries_for_subject",
        f"SELECT {_COLUMNS} FROM audit_log WHERE subject_id = $1 ORDER BY id DESC LIMIT $2",
        subject_id, limit,
    )
    return [AuditEntry(**dict(r)) for r in rows]


async def accesses_by_others(
    db: Database, subject_id: uuid.UUID, *, before: int | None, limit: int, action_prefix: str | None = None
) -> list[AuditEntry]:
    """Who else read, wrote or tried to reach this person's data, newest first, before entry id `before`; only
    actions starting with `action_prefix` when given (`record.`: their health records)."""
    rows = await db.fetch(
        "audit.accesses_by_others",
        f"""SELECT {_COLUMNS} FROM audit_log
            WHERE subject_id = $1 AND actor_id IS DISTINCT FROM $1 AND ($2::bigint IS NULL OR id < $2)
              AND ($4::text IS NULL OR starts_with(action, $4))
            ORDER BY id DESC LIMIT $3""",
        subject_id, before, limit, action_prefix,
    )
    return [AuditEntry(**dict(r)) for r in rows]


def entry_hash(prev: bytes, row: dict[str, Any] | Any) -> bytes:
    """The chain hash of an entry after `prev`: the same text audit_log_chain.sql hashes."""

    def text(value: object) -> str:
        return "\\N" if value is None else str(value)

    micros = (row["at"] - _EPOCH) // timedelta(microseconds=1)
    fields = [str(row["seq"]), str(micros), text(row["actor_id"]), row["action"], text(row["subject_id"]),
              text(row["resource"]), text(row["reason"]), row["outcome"], text(row["request_id"])]
    return hashlib.sha256(prev + "\x1f".join(fields).encode()).digest()


@dataclass(frozen=True, slots=True)
class Verdict:
    """What `verify` found: how many entries it checked, the head, and the first problem (None: intact)."""

    checked: int
    head_seq: int
    head_hash: bytes
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


async def verify(db: Database, anchors: list[tuple[int, bytes]] | None = None) -> Verdict:
    """Recompute the whole chain; name the first entry that was edited, removed, inserted or moved.

    `anchors` are (seq, hash) pairs kept outside the database (printed by an earlier verify); each must
    match, as must the anchors the database keeps. One snapshot is read throughout.
    """
    async with db.transaction("audit.verify", isolation="repeatable_read") as conn:
        head = await conn.fetchrow("SELECT seq, hash FROM audit_chain")
        wanted = {r["seq"]: bytes(r["hash"]) for r in await conn.fetch("SELECT seq, hash FROM audit_anchors")}
        wanted.update(anchors or [])
        head_seq, head_hash = (head["seq"], bytes(head["hash"])) if head else (0, b"")
        prev, expected = b"", 1

        def verdict(problem: str | None) -> Verdict:
            return Verdict(expected - 1, head_seq, head_hash, problem)

        async for row in conn.cursor(
            "SELECT id, seq, at, actor_id, action, subject_id, resource, reason, outcome, request_id, prev_hash, hash "
            "FROM audit_log WHERE seq IS NOT NULL ORDER BY seq", prefetch=_BATCH,
        ):
            seq, name = row["seq"], f"entry seq {row['seq']} (id {row['id']})"
            if seq != expected:
                return verdict(f"entry seq {expected} is missing (the next is {name})" if seq > expected
                               else f"{name} is duplicated")
            if bytes(row["prev_hash"]) != prev:
                return verdict(f"{name} does not follow seq {seq - 1}: it was moved, or the entry before it changed")
            if entry_hash(prev, row) != bytes(row["hash"]):
                return verdict(f"{name} was altered after it was written")
            prev = bytes(row["hash"])
            if seq in wanted and wanted.pop(seq) != prev:
                return verdict(f"the anchor at seq {seq} does not match: the chain was rewritten up to {name}")
            expected += 1
    if head_seq != expected - 1:
        return verdict(f"entries after seq {expected - 1} are missing (the chain's head is at seq {head_seq})"
                       if head_seq > expected - 1 else f"the chain's head (seq {head_seq}) is behind its entries")
    if head_hash != prev:
        return verdict(f"the chain's head hash does not match entry seq {head_seq}")
    if wanted:
        return verdict(f"the anchor at seq {min(wanted)} names an entry the chain does not have")
    return verdict(None)
