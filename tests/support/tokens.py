"""Access tokens re-signed with the server's real key, to test what the server does with them."""

from __future__ import annotations

import jwt

from klear_client import Session
from server.config import load
from server.keys import resolve


def signing_key(server_env: dict[str, str]) -> bytes:
    """The key the test servers sign with (they run with fixed keys from `server_env`)."""
    return resolve(load(env=server_env)).jwt


def resigned(server_env: dict[str, str], session: Session, **changes: object) -> str:
    """`session`'s access token with `changes` to its claims, validly signed."""
    claims = jwt.decode(session.access_token, options={"verify_signature": False})
    claims.update(changes)
    return jwt.encode(claims, signing_key(server_env), algorithm="HS256")


def claims_of(session: Session, **changes: object) -> dict[str, object]:
    """`session`'s access-token claims with `changes`, unsigned (to sign with another key)."""
    claims = jwt.decode(session.access_token, options={"verify_signature": False})
    claims.update(changes)
    return claims
