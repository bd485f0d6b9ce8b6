"""The audit log is append-only and hash-chained: `klear audit verify` finds an edited, deleted or reordered
entry, and names it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from storage import audit
from storage.crypto import Sealer
from storage.database import Database

ROOT = Path(__file__).resolve().parents[2]


async def _filled(database_url: str, n: int = 6) -> Database:
    db = await Database.connect(database_url, Sealer(b"k" * 32), min_size=1, max_size=2)
    subject = uuid.uuid4()
    for i in range(n):
        await audit.record(db, actor_id=uuid.uuid4(), action="record.read", subject_id=subject,
                           resource=f"record:{i}", request_id=f"req-{i}", reason=f"grant:{i}")
    return db


async def _tamper(database_url: str, sql: str) -> None:
    """Change the log as someone who can switch triggers off would (a superuser, by hand)."""
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(sql)
    finally:
        await conn.close()


async def test_an_intact_log_verifies_and_the_trigger_refuses_changes(database_url):
    db = await _filled(database_url)
    try:
        verdict = await audit.verify(db)
        assert verdict.ok and verdict.checked == 6 and verdict.head_seq == 6
        async with db.connection("t") as conn:
            for sql in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute(sql)
        assert (await audit.verify(db, [(verdict.head_seq, verdict.head_hash)])).ok
    finally:
        await db.close()


@pytest.mark.parametrize("sql, named", [
    ("UPDATE audit_log SET resource = 'record:other' WHERE seq = 3", "entry seq 3"),
    ("DELETE FROM audit_log WHERE seq = 4", "entry seq 4 is missing"),
    ("UPDATE audit_log SET seq = -2 WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 5;"
     "UPDATE audit_log SET seq = 5 WHERE seq = -2", "entry seq 2"),
    ("DELETE FROM audit_log WHERE seq = 6", "after seq 5 are missing"),
])
async def test_editing_deleting_or_reordering_an_entry_is_found_and_named(database_url, sql, named):
    db = await _filled(database_url)
    try:
        await _tamper(database_url, sql)
        verdict = await audit.verify(db)
    finally:
        await db.close()
    assert not verdict.ok and named in (verdict.problem or ""), verdict.problem


async def test_concurrent_appends_chain_in_one_order(database_url):
    db = await Database.connect(database_url, Sealer(b"k" * 32), min_size=1, max_size=8)
    try:
        await asyncio.gather(*(audit.record(db, actor_id=uuid.uuid4(), action="record.read", subject_id=uuid.uuid4(),
                                            resource=None, request_id=None) for _ in range(200)))
        verdict = await audit.verify(db)
    finally:
        await db.close()
    assert verdict.ok and verdict.checked == 200


async def test_a_rewritten_chain_disagrees_with_an_anchor_kept_outside(database_url):
    db = await _filled(database_url)
    try:
        kept = await audit.verify(db)
        # Recompute every hash after an edit, as a careful tamperer would: the chain is consistent again...
        await _tamper(database_url, "UPDATE audit_log SET resource = 'forged' WHERE seq = 2")
        async with db.connection("t") as conn:
            rows = await conn.fetch("SELECT * FROM audit_log WHERE seq IS NOT NULL ORDER BY seq")
        prev = b""
        fixes = []
        for r in rows:
            digest = audit.entry_hash(prev, r)
            fixes.append(f"UPDATE audit_log SET prev_hash = '\\x{prev.hex()}', hash = '\\x{digest.hex()}' WHERE seq = {r['seq']};")
            prev = digest
        await _tamper(database_url, "".join(fixes) + f"UPDATE audit_chain SET hash = '\\x{prev.hex()}';")
        assert (await audit.verify(db)).ok
        # ...but not with the head printed before.
        verdict = await audit.verify(db, [(kept.head_seq, kept.head_hash)])
    finally:
        await db.close()
    assert not verdict.ok and "anchor at seq 6" in (verdict.problem or "")


async def test_klear_audit_verify_exits_1_naming_the_first_bad_entry(database_url, tmp_path):
    db = await _filled(database_url)
    await db.close()
    await _tamper(database_url, "UPDATE audit_log SET actor_id = NULL WHERE seq = 2")
    env = {**os.environ, "DATABASE_URL": database_url, "KLEAR_DATA_DIR": str(tmp_path),
           "KLEAR_DATA_KEY": "test-data-key-" + "d" * 40, "KLEAR_SECRET_KEY": "s" * 48,
           "PYTHONPATH": f"{ROOT}:{ROOT / 'clients' / 'python'}"}
    done = subprocess.run([sys.executable, "-m", "server", "audit", "verify"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "entry seq 2" in done.stderr, done.stderr
