"""Access tokens (short-lived HS256 JWTs) and refresh tokens (opaque, stored hashed)."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

import jwt

_ISSUER = "klear"


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


class Tokens:
    """Issues and verifies tokens with the process's signing key."""

    def __init__(self, signing_key: bytes, access_ttl: int) -> None:
        self._key = signing_key
        self.access_ttl = access_ttl

    def issue_access(self, user_id: uuid.UUID, role: str, session_id: uuid.UUID, *, ttl: int | None = None) -> tuple[str, int]:
        """A signed access token and its expiry (Unix seconds)."""
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
            return Claims(uuid.UUID(data["sub"]), data["role"], uuid.UUID(data["sid"]), data["jti"], data["exp"])
        except jwt.ExpiredSignatureError:
            raise TokenError("token_expired", "The access token has expired; refresh it.") from None
        except (jwt.InvalidTokenError, ValueError, KeyError, TypeError):
            raise TokenError("token_invalid", "The access token is not valid.") from None

    @staticmethod
    def new_refresh() -> tuple[str, bytes]:
        """A fresh refresh token and the hash under which it is stored."""
        token = secrets.token_urlsafe(32)
        return token, Tokens.hash_refresh(token)

    @staticmethod
    def hash_refresh(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()
