"""Load-test accounts: created in bulk with their first login session, removed by batch.

Creating thousands of accounts through registration would cost a password hash each (about 100 ms of
CPU) and trip the registration limits; a load test needs neither. These accounts get a password hash no
password matches, so only the token pair handed to the admin who made them signs them in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from .accounts import email_index, sealed_profile
from .database import Database

UNUSABLE_PASSWORD = "!load-test-account"


@dataclass(frozen=True, slots=True)
class NewTestUser:
    id: uuid.UUID
    display_name: str
    role: str
    time_zone: str
    session_id: uuid.UUID


async def create(
    db: Database, *, batch_id: uuid.UUID, created_by: uuid.UUID, roles: list[str], time_zone: str,
    refresh_hashes: list[bytes], refresh_ttl: int,
) -> list[NewTestUser]:
    """Create one account per entry of `roles` in `batch_id` (made if new), each with a login session
    whose first refresh token hashes to the matching entry of `refresh_hashes`; one transaction."""
    users = []
    for role in roles:
        user_id = uuid.uuid4()
        users.append(NewTestUser(user_id, f"Load test {role} {user_id.hex[:8]}", role, time_zone, uuid.uuid4()))
    emails = [f"loadtest-{u.id.hex}@loadtest.invalid" for u in users]
    keys = await db.keys.sealers_for(db, [u.id for u in users])  # every new key in one query
    sealed = [sealed_profile(keys, u.id, u.role, e, u.display_name) for u, e in zip(users, emails, strict=True)]
    async with db.transaction("test_users.create") as conn:
        await conn.execute(
            "INSERT INTO test_user_batches (id, created_by) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            batch_id, created_by,
        )
        await conn.execute(
            """
            INSERT INTO users (id, email_index, email_sealed, password_hash, display_name, name_sealed, role, time_zone)
            SELECT id, idx, email, $4, name, name_sealed, role, $8
            FROM unnest($1::uuid[], $2::bytea[], $3::bytea[], $5::text[], $6::bytea[], $7::text[])
                 AS t(id, idx, email, name, name_sealed, role)
            """,
            [u.id for u in users], [email_index(db, e) for e in emails], [s[0] for s in sealed],
            UNUSABLE_PASSWORD, [s[1] for s in sealed], [s[2] for s in sealed], roles, time_zone,
        )
        await conn.execute(
            "INSERT INTO test_users (user_id, batch_id) SELECT unnest($1::uuid[]), $2", [u.id for u in users], batch_id
        )
        await conn.execute(
            "INSERT INTO auth_sessions (id, user_id) SELECT * FROM unnest($1::uuid[], $2::uuid[])",
            [u.session_id for u in users], [u.id for u in users],
        )
        await conn.execute(
            """
            INSERT INTO refresh_tokens (token_hash, session_id, expires_at)
            SELECT h, s, now() + make_interval(secs => $3) FROM unnest($1::bytea[], $2::uuid[]) AS t(h, s)
            """,
            refresh_hashes, [u.session_id for u in users], refresh_ttl,
        )
    return users


async def remove_batch(db: Database, batch_id: uuid.UUID) -> int | None:
    """Delete a batch's accounts (their bookings, messages, sessions and data keys go with them) and the
    conversations left with no member; None when there is no such batch."""
    async with db.transaction("test_users.remove_batch") as conn:
        found = await conn.fetchval("SELECT 1 FROM test_user_batches WHERE id = $1 FOR UPDATE", batch_id)
        if found is None:
            return None
        conversations = await conn.fetch(
            """
            SELECT DISTINCT m.conversation_id FROM conversation_members m
            JOIN test_users t ON t.user_id = m.user_id WHERE t.batch_id = $1
            """,
            batch_id,
        )
        # Their data keys go too: load-test accounts need no tombstone of their key (nobody's data is kept).
        await conn.execute(
            "DELETE FROM data_keys k USING test_users t WHERE t.user_id = k.owner_id AND t.batch_id = $1", batch_id
        )
        deleted = await conn.fetchval(
            """
            WITH gone AS (DELETE FROM users u USING test_users t WHERE t.user_id = u.id AND t.batch_id = $1 RETURNING 1)
            SELECT count(*) FROM gone
            """,
            batch_id,
        )
        await conn.execute(
            """
            DELETE FROM conversations c WHERE c.id = ANY($1::uuid[])
              AND NOT EXISTS (SELECT 1 FROM conversation_members m WHERE m.conversation_id = c.id)
            """,
            [r["conversation_id"] for r in conversations],
        )
        await conn.execute("DELETE FROM test_user_batches WHERE id = $1", batch_id)
    return int(deleted)
