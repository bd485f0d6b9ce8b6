"""Access tokens (short-lived HS256 JWTs) and refresh tokens (opaque, stored hashed)."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

import jwt

_ISSUER = "klear"
PAT_PREFIX = "klear_pat_"  # personal access tokens say what they are (and secret scanners can spot them)


class TokenError(Exception):
    """An access token was refused; `code` says why (token_expired, token_invalid)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: uuid.UUID
    role: str
    session_id: uuid.UUID
    jti: str
    expires_at: int
    scopes: frozenset[str] | None = None  # an app's or a script's token: only these; None: all the person may do
    app_id: uuid.UUID | None = None  # the app a token was issued to


class Tokens:
    """Issues and verifies tokens with the process's signing key."""

    def __init__(self, signing_key: bytes, access_ttl: int) -> None:
        self._key = signing_key
        self.access_ttl = access_ttl

    def issue_access(
        self, user_id: uuid.UUID, role: str, session_id: uuid.UUID, *, ttl: int | None = None,
        scopes: list[str] | None = None, app_id: uuid.UUID | None = None,
    ) -> tuple[str, int]:
        """A signed access token and its expiry (Unix seconds); an app's carries its scopes and app id."""
        now = int(time.time())
        exp = now + (self.access_ttl if ttl is None else ttl)
        claims = {
            "iss": _ISSUER,
            "sub": str(user_id),
            "role": role,
            "sid": str(session_id),
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": exp,
        }
        if scopes is not None:
            claims["scope"] = " ".join(scopes)
        if app_id is not None:
            claims["app"] = str(app_id)
        return jwt.encode(claims, self._key, algorithm="HS256"), exp

    def verify_access(self, token: str) -> Claims:
        """The claims of a valid token; raises `TokenError` otherwise."""
        try:
            data = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                issuer=_ISSUER,
                options={"require": ["exp", "iat", "sub", "sid", "jti", "role", "iss"]},
            )
            scopes = frozenset(data["scope"].split()) if "scope" in data else None
            app_id = uuid.UUID(data["app"]) if "app" in data else None
            return Claims(
                uuid.UUID(data["sub"]), data["role"], uuid.UUID(data["sid"]), data["jti"], data["exp"], scopes, app_id
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token_expired", "The access token has expired; refresh it.") from None
        except (jwt.InvalidTokenError, ValueError, KeyError, TypeError, AttributeError):
            raise TokenError("token_invalid", "The access token is not valid.") from None

    @staticmethod
    def new_refresh() -> tuple[str, bytes]:
        """A fresh refresh token and the hash under which it is stored."""
        token = secrets.token_urlsafe(32)
        return token, Tokens.hash_refresh(token)

    @staticmethod
    def hash_refresh(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()
