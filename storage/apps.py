"""Apps (OAuth 2.0 clients), authorization codes, app grants and personal access tokens.

A grant to an app and a personal access token are rows of `auth_sessions`
(kind `app` or `pat`) with the scopes they allow, so ending one goes through
the same path as signing out a login (see storage/migrations/0060_apps.sql).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from .accounts import _USER_COLUMNS, User, _user
from .database import Database, require


@dataclass(frozen=True, slots=True)
class App:
    id: uuid.UUID
    client_id: str
    confidential: bool
    owner_id: uuid.UUID
    platform: bool
    name: str
    logo_url: str | None
    redirect_uris: list[str]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AppWithSecret:
    """An app and the hash of its secret, for checking a client's credentials."""

    app: App
    secret_hash: bytes | None


_APP_COLUMNS = "a.id, a.client_id, a.secret_hash, a.owner_id, a.platform, a.name, a.logo_url, a.redirect_uris, a.created_at"


def _app(row: asyncpg.Record) -> App:
    return App(
        id=row["id"], client_id=row["client_id"], confidential=row["secret_hash"] is not None, owner_id=row["owner_id"],
        platform=row["platform"], name=row["name"], logo_url=row["logo_url"], redirect_uris=list(row["redirect_uris"]),
        created_at=row["created_at"],
    )


async def create_app(
    db: Database, *, client_id: str, secret_hash: bytes | None, owner_id: uuid.UUID, platform: bool, name: str,
    logo_url: str | None, redirect_uris: list[str],
) -> App:
    row = await db.fetchrow(
        "apps.create_app",
        f"""
        INSERT INTO apps AS a (id, client_id, secret_hash, owner_id, platform, name, logo_url, redirect_uris)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_APP_COLUMNS}
        """,
        uuid.uuid4(), client_id, secret_hash, owner_id, platform, name, logo_url, redirect_uris,
    )
    return _app(require(row, "app"))


async def apps_of(db: Database, owner_id: uuid.UUID) -> list[App]:
    rows = await db.fetch(
        "apps.apps_of",
        f"SELECT {_APP_COLUMNS} FROM apps a WHERE a.owner_id = $1 AND a.deleted_at IS NULL ORDER BY a.created_at",
        owner_id,
    )
    return [_app(r) for r in rows]


async def get_app(db: Database, app_id: uuid.UUID) -> App | None:
    row = await db.fetchrow(
        "apps.get_app", f"SELECT {_APP_COLUMNS} FROM apps a WHERE a.id = $1 AND a.deleted_at IS NULL", app_id
    )
    return None if row is None else _app(row)


async def find_client(db: Database, client_id: str) -> AppWithSecret | None:
    """A live app by its public client id, with its secret's hash."""
    row = await db.fetchrow(
        "apps.find_client", f"SELECT {_APP_COLUMNS} FROM apps a WHERE a.client_id = $1 AND a.deleted_at IS NULL", client_id
    )
    return None if row is None else AppWithSecret(_app(row), row["secret_hash"])


async def delete_app(db: Database, app_id: uuid.UUID) -> list[uuid.UUID]:
    """Delete an app and revoke every grant to it; returns the sessions revoked (to announce)."""
    async with db.transaction("apps.delete_app") as conn:
        await conn.execute("UPDATE apps SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL", app_id)
        rows = await conn.fetch(
            """
            UPDATE auth_sessions SET revoked_at = now(), revoked_reason = 'app_deleted'
            WHERE app_id = $1 AND revoked_at IS NULL RETURNING id
            """,
            app_id,
        )
    return [r["id"] for r in rows]


async def save_code(
    db: Database, *, code_hash: bytes, app_id: uuid.UUID, user_id: uuid.UUID, redirect_uri: str, scopes: list[str],
    code_challenge: str, expires_at: datetime,
) -> None:
    await db.execute(
        "apps.save_code",
        """
        INSERT INTO oauth_codes (code_hash, app_id, user_id, redirect_uri, scopes, code_challenge, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        """,
        code_hash, app_id, user_id, redirect_uri, scopes, code_challenge, expires_at,
    )


class Exchange(enum.Enum):
    ISSUED = "issued"
    UNKNOWN = "unknown"  # no such code, or another app's, or another redirect URI
    EXPIRED = "expired"
    REUSED = "reused"  # exchanged before: what that exchange issued is now revoked
    WRONG_VERIFIER = "wrong_verifier"


@dataclass(frozen=True, slots=True)
class CodeGrant:
    """A code exchanged for a new app session with its first refresh token."""

    outcome: Exchange
    session_id: uuid.UUID | None = None
    user: User | None = None
    scopes: list[str] | None = None


async def exchange_code(
    db: Database, *, code_hash: bytes, app_id: uuid.UUID, redirect_uri: str, verifies: Callable[[str], bool], now: datetime,
    refresh_hash: bytes, refresh_ttl: int,
) -> CodeGrant:
    """Spend an authorization code: check app, redirect URI, expiry and PKCE, and open the app's session.

    `verifies` is a callable taking the stored code challenge and saying whether the client's verifier
    matches it (the PKCE check belongs to the protocol layer). A code already spent revokes the session it
    opened, inside the same transaction.
    """
    async with db.transaction("apps.exchange_code") as conn:
        row = await conn.fetchrow(
            """
            SELECT user_id, redirect_uri, scopes, code_challenge, expires_at, session_id
            FROM oauth_codes WHERE code_hash = $1 AND app_id = $2 FOR UPDATE
            """,
            code_hash, app_id,
        )
        if row is None or row["redirect_uri"] != redirect_uri:
            return CodeGrant(Exchange.UNKNOWN)
        if row["session_id"] is not None:
            await conn.execute(
                """
                UPDATE auth_sessions SET revoked_at = now(), revoked_reason = 'code_reuse'
                WHERE id = $1 AND revoked_at IS NULL
                """,
                row["session_id"],
            )
            return CodeGrant(Exchange.REUSED, row["session_id"])
        if row["expires_at"] <= now:
            return CodeGrant(Exchange.EXPIRED)
        if not verifies(row["code_challenge"]):
            return CodeGrant(Exchange.WRONG_VERIFIER)
        session_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO auth_sessions (id, user_id, kind, app_id, scopes) VALUES ($1, $2, 'app', $3, $4)",
            session_id, row["user_id"], app_id, row["scopes"],
        )
        await conn.execute(
            "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))",
            refresh_hash, session_id, refresh_ttl,
        )
        await conn.execute("UPDATE oauth_codes SET session_id = $2 WHERE code_hash = $1", code_hash, session_id)
        user_row = await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM users u WHERE u.id = $1", row["user_id"])
    return CodeGrant(Exchange.ISSUED, session_id, await _user(db, require(user_row, "user")), list(row["scopes"]))


async def owner_session(db: Database, app_id: uuid.UUID, owner_id: uuid.UUID, scopes: list[str], ttl: int) -> uuid.UUID:
    """The session of a client-credentials grant: the app acting for its owner. No refresh token: the app
    asks again with its credentials. A live session with the same scopes is reused rather than multiplied."""
    row = await db.fetchrow(
        "apps.owner_session",
        """
        WITH found AS (
            SELECT id FROM auth_sessions
            WHERE app_id = $1 AND user_id = $2 AND kind = 'app' AND scopes = $3::text[] AND revoked_at IS NULL
              AND expires_at > now() + make_interval(secs => $4)
            LIMIT 1
        ), made AS (
            INSERT INTO auth_sessions (id, user_id, kind, app_id, scopes, expires_at)
            SELECT $5, $2, 'app', $1, $3::text[], now() + make_interval(secs => $4 * 2)
            WHERE NOT EXISTS (SELECT 1 FROM found)
            RETURNING id
        )
        SELECT id FROM found UNION ALL SELECT id FROM made
        """,
        app_id, owner_id, scopes, ttl, uuid.uuid4(),
    )
    return require(row, "session")["id"]  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What introspection and revocation need to know of a session."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    app_id: uuid.UUID | None
    scopes: list[str] | None
    live: bool


async def session_info(db: Database, session_id: uuid.UUID) -> SessionInfo | None:
    row = await db.fetchrow(
        "apps.session_info",
        """
        SELECT id, user_id, app_id, scopes,
               revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) AS live
        FROM auth_sessions WHERE id = $1
        """,
        session_id,
    )
    if row is None:
        return None
    return SessionInfo(row["id"], row["user_id"], row["app_id"], row["scopes"], row["live"])


async def session_of_refresh(db: Database, token_hash: bytes) -> SessionInfo | None:
    """The session a refresh token belongs to, live only while the token itself is unspent and unexpired."""
    row = await db.fetchrow(
        "apps.session_of_refresh",
        """
        SELECT s.id, s.user_id, s.app_id, s.scopes,
               s.revoked_at IS NULL AND t.used_at IS NULL AND t.expires_at > now() AS live
        FROM refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id WHERE t.token_hash = $1
        """,
        token_hash,
    )
    if row is None:
        return None
    return SessionInfo(row["id"], row["user_id"], row["app_id"], row["scopes"], row["live"])


async def revoke(db: Database, session_id: uuid.UUID, reason: str) -> bool:
    """Revoke one session; False if it already was."""
    tag = await db.execute(
        "apps.revoke",
        "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $2 WHERE id = $1 AND revoked_at IS NULL",
        session_id, reason,
    )
    return tag.endswith(" 1")


@dataclass(frozen=True, slots=True)
class Connection:
    """An app a person has authorised: its live grants taken together."""

    app: App
    scopes: list[str]
    since: datetime
    last_used_at: datetime


async def connections(db: Database, user_id: uuid.UUID) -> list[Connection]:
    rows = await db.fetch(
        "apps.connections",
        f"""
        SELECT {_APP_COLUMNS}, array_agg(DISTINCT x ORDER BY x) AS granted,
               min(s.created_at) AS since, max(s.last_used_at) AS last_used
        FROM auth_sessions s JOIN apps a ON a.id = s.app_id CROSS JOIN LATERAL unnest(s.scopes) AS x
        WHERE s.user_id = $1 AND s.kind = 'app' AND s.revoked_at IS NULL AND a.deleted_at IS NULL
          AND (s.expires_at IS NULL OR s.expires_at > now())
        GROUP BY a.id ORDER BY min(s.created_at)
        """,
        user_id,
    )
    return [Connection(_app(r), list(r["granted"]), r["since"], r["last_used"]) for r in rows]


async def disconnect(db: Database, user_id: uuid.UUID, app_id: uuid.UUID) -> list[uuid.UUID]:
    """A person withdraws every grant they gave an app; returns the sessions revoked (to announce)."""
    rows = await db.fetch(
        "apps.disconnect",
        """
        UPDATE auth_sessions SET revoked_at = now(), revoked_reason = 'by_person'
        WHERE user_id = $1 AND app_id = $2 AND revoked_at IS NULL RETURNING id
        """,
        user_id, app_id,
    )
    return [r["id"] for r in rows]


@dataclass(frozen=True, slots=True)
class PersonalToken:
    id: uuid.UUID
    name: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None


def _pat(row: asyncpg.Record) -> PersonalToken:
    used = row["last_used_at"] if row["last_used_at"] != row["created_at"] else None
    return PersonalToken(row["id"], row["name"], list(row["scopes"]), row["created_at"], used, row["expires_at"])


async def create_pat(
    db: Database, user_id: uuid.UUID, *, name: str, scopes: list[str], token_hash: bytes, expires_at: datetime | None,
) -> PersonalToken:
    row = await db.fetchrow(
        "apps.create_pat",
        """
        INSERT INTO auth_sessions (id, user_id, kind, scopes, name, token_hash, expires_at)
        VALUES ($1, $2, 'pat', $3, $4, $5, $6)
        RETURNING id, name, scopes, created_at, last_used_at, expires_at
        """,
        uuid.uuid4(), user_id, scopes, name, token_hash, expires_at,
    )
    return _pat(require(row, "token"))


async def pats_of(db: Database, user_id: uuid.UUID) -> list[PersonalToken]:
    rows = await db.fetch(
        "apps.pats_of",
        """
        SELECT id, name, scopes, created_at, last_used_at, expires_at FROM auth_sessions
        WHERE user_id = $1 AND kind = 'pat' AND revoked_at IS NULL ORDER BY created_at
        """,
        user_id,
    )
    return [_pat(r) for r in rows]


async def revoke_pat(db: Database, user_id: uuid.UUID, token_id: uuid.UUID) -> bool:
    tag = await db.execute(
        "apps.revoke_pat",
        """
        UPDATE auth_sessions SET revoked_at = now(), revoked_reason = 'by_person'
        WHERE id = $1 AND user_id = $2 AND kind = 'pat' AND revoked_at IS NULL
        """,
        token_id, user_id,
    )
    return tag.endswith(" 1")


@dataclass(frozen=True, slots=True)
class PatUse:
    session_id: uuid.UUID
    user: User
    scopes: list[str]
    expires_at: datetime | None


async def use_pat(db: Database, token_hash: bytes) -> PatUse | None:
    """The live personal access token with this hash, its last use recorded (at most once a minute)."""
    row = await db.fetchrow(
        "apps.use_pat",
        f"""
        WITH t AS (
            SELECT id, user_id, scopes, expires_at, created_at, last_used_at FROM auth_sessions
            WHERE token_hash = $1 AND kind = 'pat' AND revoked_at IS NULL
              AND (expires_at IS NULL OR expires_at > now())
        ), touched AS (
            UPDATE auth_sessions s SET last_used_at = now() FROM t
            WHERE s.id = t.id AND (t.last_used_at = t.created_at OR t.last_used_at < now() - interval '1 minute')
        )
        SELECT t.id AS session_id, t.scopes, t.expires_at AS token_expires_at, {_USER_COLUMNS}
        FROM t JOIN users u ON u.id = t.user_id
        """,
        token_hash,
    )
    if row is None:
        return None
    return PatUse(row["session_id"], await _user(db, row), list(row["scopes"]), row["token_expires_at"])
