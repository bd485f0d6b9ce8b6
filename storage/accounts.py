"""Users, login sessions and refresh tokens.

A user's email and, unless they are a practitioner, their display name are personal: both are sealed with the
user's own data key (`users.email_sealed`, `users.name_sealed`), so erasing them (shredding the key) leaves
nothing readable. A practitioner's name is public (their profile and search show it) and stays in
`users.display_name`, as does an erased account's "Deleted user". Logins find an email through its blind
index, which stays on the system key: it must be computed before anyone knows whose the address is.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from .database import Database, require
from .errors import Duplicate
from .keyring import Sealers

_EMAIL_PURPOSE = "users.email"
NAME = "users.name"
ERASED_NAME = "Deleted user"


class EmailTaken(Duplicate):
    """Another account already uses this email address."""

    def __init__(self) -> None:
        super().__init__("users_email_unique")


@dataclass(frozen=True, slots=True)
class User:
    id: uuid.UUID
    email: str
    display_name: str
    role: str
    time_zone: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PublicUser:
    """What any signed-in user may see of another."""

    id: uuid.UUID
    display_name: str
    role: str
    time_zone: str


class Refresh(enum.Enum):
    ROTATED = "rotated"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    REUSED = "reused"


@dataclass(frozen=True, slots=True)
class RefreshResult:
    outcome: Refresh
    session_id: uuid.UUID | None = None
    user: User | None = None
    scopes: list[str] | None = None  # an app's grant: what its tokens may do


_USER_COLUMNS = "u.id, u.email_sealed, u.display_name, u.name_sealed, u.role, u.time_zone, u.created_at, u.updated_at"


def public_name(role: str) -> bool:
    """Whether a user of `role` shows their name to everyone (so it is not sealed): practitioners only."""
    return role == "practitioner"


def name_context(user_id: uuid.UUID) -> str:
    return f"{NAME}:{user_id}"


def email_context(user_id: uuid.UUID) -> str:
    return f"{_EMAIL_PURPOSE}:{user_id}"


def needs_key(user_id: uuid.UUID, display_name: str | None) -> list[uuid.UUID]:
    """The owner whose key opens this name: [] for a public one (`display_name` set), else [user_id]."""
    return [] if display_name is not None else [user_id]


def shown_name(keys: Sealers, user_id: uuid.UUID, display_name: str | None, name_sealed: bytes | None) -> str:
    """The name to show: the public one, else the sealed one opened; "Deleted user" once the key is gone."""
    if display_name is not None:
        return display_name
    opened = keys.open_text(user_id, name_sealed, name_context(user_id))
    return ERASED_NAME if opened is None else opened


async def names(db: Database, people: list[tuple[uuid.UUID, str | None, bytes | None]]) -> list[str]:
    """`shown_name` of each (id, display_name, name_sealed), with every key needed loaded in one go."""
    keys = await db.keys.sealers_for(db, [i for i, name, _ in people for i in needs_key(i, name)])
    return [shown_name(keys, i, name, sealed) for i, name, sealed in people]


async def _users(db: Database, rows: list[asyncpg.Record]) -> list[User]:
    keys = await db.keys.sealers_for(db, [r["id"] for r in rows if r["email_sealed"] is not None
                                          or r["name_sealed"] is not None])
    return [
        User(
            id=r["id"],
            email=keys.open_text(r["id"], r["email_sealed"], email_context(r["id"])) or "",  # "": erased
            display_name=shown_name(keys, r["id"], r["display_name"], r["name_sealed"]),
            role=r["role"],
            time_zone=r["time_zone"],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
        )
        for r in rows
    ]


async def _user(db: Database, row: asyncpg.Record) -> User:
    return (await _users(db, [row]))[0]


def sealed_profile(
    keys: Sealers, user_id: uuid.UUID, role: str, email: str, display_name: str
) -> tuple[bytes, str | None, bytes | None]:
    """(email_sealed, display_name, name_sealed) of a new account, sealed with `keys[user_id]`."""
    sealer = keys[user_id]
    if public_name(role):
        return sealer.seal_text(email, email_context(user_id)), display_name, None
    return sealer.seal_text(email, email_context(user_id)), None, sealer.seal_text(display_name, name_context(user_id))


def email_index(db: Database, email: str) -> bytes:
    """The blind index of a normalised email address (system key: looked up before the owner is known)."""
    return db.sealer.blind_index(email.strip().lower(), _EMAIL_PURPOSE)


async def create_user(
    db: Database, *, email: str, password_hash: str, display_name: str, role: str, time_zone: str
) -> User:
    """Insert an account, its email and private name sealed with its new data key; raise `EmailTaken` if the
    address is in use."""
    user_id = uuid.uuid4()
    email_sealed, public, name_sealed = sealed_profile(
        await db.keys.sealers_for(db, [user_id]), user_id, role, email, display_name)
    try:
        row = await db.fetchrow(
            "accounts.create_user",
            f"""
            INSERT INTO users AS u (id, email_index, email_sealed, password_hash, display_name, name_sealed, role,
                                    time_zone)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            RETURNING {_USER_COLUMNS}
            """,
            user_id, email_index(db, email), email_sealed, password_hash, public, name_sealed, role, time_zone,
        )
    except Duplicate as exc:
        if exc.constraint == "users_email_unique":
            raise EmailTaken() from exc
        raise
    return await _user(db, require(row, "user"))


async def find_for_login(db: Database, email: str) -> tuple[User, str] | None:
    """The account and password hash for `email`, or None."""
    row = await db.fetchrow(
        "accounts.find_for_login",
        f"SELECT {_USER_COLUMNS}, u.password_hash FROM users u WHERE u.email_index = $1",
        email_index(db, email),
    )
    return None if row is None else (await _user(db, row), row["password_hash"])


async def get_user(db: Database, user_id: uuid.UUID) -> User:
    row = await db.fetchrow("accounts.get_user", f"SELECT {_USER_COLUMNS} FROM users u WHERE u.id = $1", user_id)
    return await _user(db, require(row, "user"))


async def get_public_users(db: Database, user_ids: list[uuid.UUID]) -> list[PublicUser]:
    rows = await db.fetch(
        "accounts.get_public_users",
        "SELECT id, display_name, name_sealed, role, time_zone FROM users WHERE id = ANY($1::uuid[])",
        user_ids,
    )
    shown = await names(db, [(r["id"], r["display_name"], r["name_sealed"]) for r in rows])
    return [PublicUser(r["id"], name, r["role"], r["time_zone"]) for r, name in zip(rows, shown, strict=True)]


async def session_user(db: Database, session_id: uuid.UUID, user_id: uuid.UUID) -> User | None:
    """The user behind a live (not revoked) login session, or None. One round trip per request (their key is
    cached after the first)."""
    row = await db.fetchrow(
        "accounts.session_user",
        f"""
        SELECT {_USER_COLUMNS} FROM auth_sessions s JOIN users u ON u.id = s.user_id
        WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND (s.expires_at IS NULL OR s.expires_at > now())
        """,
        session_id, user_id,
    )
    return None if row is None else await _user(db, row)


async def update_profile(
    db: Database, user_id: uuid.UUID, role: str, *, display_name: str | None, time_zone: str | None
) -> User:
    """Change the name (public for a practitioner, sealed for anyone else) or the time zone of `user_id`, whose
    role is `role`."""
    public = name_sealed = None
    if display_name is not None and public_name(role):
        public = display_name
    elif display_name is not None:
        name_sealed = (await db.keys.sealer_for(db, user_id)).seal_text(display_name, name_context(user_id))
    async with db.transaction("accounts.update_profile") as conn:
        row = await conn.fetchrow(
            f"""
            UPDATE users AS u SET display_name = coalesce($2, u.display_name),
                                  name_sealed = coalesce($3, u.name_sealed),
                                  time_zone = coalesce($4, u.time_zone),
                                  updated_at = now()
            WHERE u.id = $1 AND u.role = $5 RETURNING {_USER_COLUMNS}
            """,
            user_id, public, name_sealed, time_zone, role,
        )
        if public is not None and row is not None:
            await conn.execute("SELECT practitioner_search_refresh($1)", user_id)  # search shows the new name
    return await _user(db, require(row, "user"))


async def set_password_hash(db: Database, user_id: uuid.UUID, password_hash: str) -> None:
    await db.execute("accounts.set_password_hash", "UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash)


async def create_session(db: Database, user_id: uuid.UUID, refresh_hash: bytes, ttl_seconds: int) -> uuid.UUID:
    """Start a login session with its first refresh token."""
    session_id = uuid.uuid4()
    async with db.transaction("accounts.create_session") as conn:
        await conn.execute("INSERT INTO auth_sessions (id, user_id) VALUES ($1, $2)", session_id, user_id)
        await conn.execute(
            "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))",
            refresh_hash, session_id, ttl_seconds,
        )
    return session_id


async def rotate_refresh(
    db: Database, old_hash: bytes, new_hash: bytes, ttl_seconds: int, *, app_id: uuid.UUID | None = None
) -> RefreshResult:
    """Spend a refresh token and issue its successor in one transaction.

    Presenting a token that was already spent revokes its whole session: only
    a copy held by someone else can be presented twice. `app_id` None takes
    only a login's tokens; an app's id, only that app's grants (so neither
    can be exchanged for the other).
    """
    async with db.transaction("accounts.rotate_refresh") as conn:
        row = await conn.fetchrow(
            """
            SELECT t.session_id, t.used_at, t.expires_at < now() AS expired, s.revoked_at, s.user_id, s.scopes
            FROM refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id
            WHERE t.token_hash = $1 AND s.app_id IS NOT DISTINCT FROM $2 AND s.kind IN ('login', 'app')
            FOR UPDATE OF t, s
            """,
            old_hash, app_id,
        )
        if row is None:
            return RefreshResult(Refresh.UNKNOWN)
        session_id = row["session_id"]
        if row["revoked_at"] is not None:
            return RefreshResult(Refresh.REVOKED, session_id)
        if row["used_at"] is not None:
            await conn.execute(
                "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = 'refresh_reuse' WHERE id = $1", session_id
            )
            return RefreshResult(Refresh.REUSED, session_id)
        if row["expired"]:
            return RefreshResult(Refresh.EXPIRED, session_id)
        await conn.execute("UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1", old_hash)
        await conn.execute(
            "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))",
            new_hash, session_id, ttl_seconds,
        )
        user_row = await conn.fetchrow(
            f"""
            UPDATE auth_sessions s SET last_used_at = now() FROM users u
            WHERE s.id = $1 AND u.id = s.user_id RETURNING {_USER_COLUMNS}
            """,
            session_id,
        )
    scopes = None if row["scopes"] is None else list(row["scopes"])
    return RefreshResult(Refresh.ROTATED, session_id, await _user(db, require(user_row, "user")), scopes)


async def revoke_session(db: Database, session_id: uuid.UUID, reason: str) -> bool:
    """Revoke a login session; False if it was already revoked or does not exist."""
    tag = await db.execute(
        "accounts.revoke_session",
        "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $2 WHERE id = $1 AND revoked_at IS NULL",
        session_id, reason,
    )
    return tag.endswith(" 1")


async def revoked_sessions(db: Database, session_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of `session_ids` are revoked or gone: what a process checks its sockets against after missing
    revocation announcements (a Redis outage)."""
    rows = await db.fetch(
        "accounts.live_sessions",
        "SELECT id FROM auth_sessions WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL",
        session_ids,
    )
    return set(session_ids) - {r["id"] for r in rows}


async def session_of_refresh(db: Database, token_hash: bytes) -> uuid.UUID | None:
    """The session a refresh token belongs to, whatever its state."""
    row = await db.fetchrow(
        "accounts.session_of_refresh", "SELECT session_id FROM refresh_tokens WHERE token_hash = $1", token_hash
    )
    return None if row is None else row["session_id"]
