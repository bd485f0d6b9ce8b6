"""Erasing one person (GDPR art. 17): crypto-shred their data key, tombstone their account, remove what can go.

What stays, and why (docs/records.md, Erasure):
- the users row, as a tombstone: its id is the pseudonym the kept bookings reference; no email (a random
  blind index, no sealed value), no password, no sealed name, the clear display name "Deleted user";
- bookings (time, offering, price, status) with their events: the practitioner's accounting facts, which tax
  law requires them to keep; the notes and reasons on them are cleared;
- the audit entries about them: the proof of who accessed their data, which the controller must be able to show;
  they hold ids and reasons, never content;
- the data_keys row as the tombstone of the destroyed key (wrapped key NULL), so no new key is made for them;
- session notes an erased practitioner wrote stay in their clients' records (they are the clients' data).

Everything sealed with the person's key (records, name, email, the messages they sent, the notes and reasons
they wrote, their notifications) was unreadable from the moment the key was shredded; the rows or values are
removed too, as are their sign-in secrets (the two-factor secret, sealed with the system key, and recovery
codes) and pending password-reset and email-verification tokens. Migration 0029 dropped the foreign keys that made notifications and booking feed entries go
with a deleted user; they are removed here explicitly.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from .accounts import ERASED_NAME
from .database import Database


@dataclass(frozen=True, slots=True)
class Erased:
    """What the erasure ended: the login sessions to announce as revoked."""

    sessions: list[uuid.UUID]


async def erase(db: Database, user_id: uuid.UUID) -> Erased:
    """Erase `user_id` in one transaction (idempotent: a second call finds nothing left to remove)."""
    async with db.transaction("erasure.erase") as conn:
        await conn.execute(
            """UPDATE data_keys SET wrapped = NULL, shredded_at = now() WHERE owner_id = $1 AND wrapped IS NOT NULL""",
            user_id)
        await conn.execute(
            """INSERT INTO data_keys (owner_id, wrapped, master, shredded_at) VALUES ($1, NULL, '\\x'::bytea, now())
               ON CONFLICT (owner_id) DO NOTHING""", user_id)
        await conn.execute(
            """UPDATE users SET email_index = $2, email_sealed = NULL, password_hash = '!erased', display_name = $3,
                      name_sealed = NULL, erased_at = coalesce(erased_at, now()), updated_at = now() WHERE id = $1""",
            user_id, secrets.token_bytes(32), ERASED_NAME)
        sessions = [r["id"] for r in await conn.fetch(
            """UPDATE auth_sessions SET revoked_at = now(), revoked_reason = 'erased'
               WHERE user_id = $1 AND revoked_at IS NULL RETURNING id""", user_id)]
        await conn.execute(
            "DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM auth_sessions WHERE user_id = $1)", user_id)
        for table in ("device_keys", "calendar_feeds", "notification_preferences", "notifications", "booking_feed",
                      "booking_feed_counters", "exports", "two_factor", "two_factor_recovery_codes",
                      "password_resets", "email_verifications", "conversation_members"):
            await conn.execute(f"DELETE FROM {table} WHERE user_id = $1", user_id)
        # Before leaving their conversations: what they wrote is emptied, what others wrote stays with them.
        await conn.execute(
            """UPDATE messages SET body_sealed = NULL, ciphertext = NULL, nonce = NULL,
                      deleted_at = coalesce(deleted_at, now()) WHERE sender_id = $1""", user_id)
        await conn.execute("DELETE FROM health_records WHERE client_id = $1", user_id)
        await conn.execute("DELETE FROM consent_grants WHERE client_id = $1 OR practitioner_id = $1", user_id)
        await conn.execute(
            """UPDATE bookings SET note_sealed = NULL, cancel_reason_sealed = NULL, decline_reason_sealed = NULL
               WHERE client_id = $1 OR practitioner_id = $1""", user_id)
        # A practitioner: the public profile goes, and nothing more can be booked.
        await conn.execute("UPDATE practitioners SET bio = '', modalities = '{}', languages = '{}' WHERE user_id = $1",
                           user_id)
        await conn.execute("UPDATE offerings SET active = false WHERE practitioner_id = $1", user_id)
        for table in ("availability_rules", "availability_overrides", "time_off"):
            await conn.execute(f"DELETE FROM {table} WHERE practitioner_id = $1", user_id)
    return Erased(sessions)


async def future_bookings(db: Database, user_id: uuid.UUID, now: datetime) -> list[uuid.UUID]:
    """The person's bookings still to come (requested or confirmed, not started): cancelled before erasure."""
    rows = await db.fetch(
        "erasure.future_bookings",
        """SELECT id FROM bookings WHERE (client_id = $1 OR practitioner_id = $1)
           AND status IN ('requested', 'confirmed') AND start_at > $2 ORDER BY start_at""",
        user_id, now,
    )
    return [r["id"] for r in rows]
