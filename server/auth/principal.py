"""Who is calling: a verified access token whose login session is still live."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage import accounts, apps
from storage.accounts import User

from ..errors import Unauthorized
from .tokens import PAT_PREFIX, Claims, TokenError, Tokens

if TYPE_CHECKING:
    from ..runtime import Runtime


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in user, as stored now (role and profile fresh from the database)."""

    user: User
    claims: Claims

    @property
    def user_id(self) -> uuid.UUID:
        return self.user.id

    @property
    def role(self) -> str:
        return self.user.role

    @property
    def session_id(self) -> uuid.UUID:
        return self.claims.session_id

    @property
    def scopes(self) -> frozenset[str] | None:
        """What an app's or a script's token may do; None for the person's own sign-in (everything)."""
        return self.claims.scopes


async def _personal_token(runtime: Runtime, token: str) -> Principal:
    """A personal access token: looked up by its hash on every use (it is long-lived and revocable at once)."""
    found = await apps.use_pat(runtime.db, Tokens.hash_refresh(token))
    if found is None:
        raise Unauthorized("This personal access token is not valid, has expired or was revoked.", code="token_revoked")
    expires = int(found.expires_at.timestamp()) if found.expires_at is not None else 2**62
    claims = Claims(found.user.id, found.user.role, found.session_id, "", expires, frozenset(found.scopes))
    return Principal(found.user, claims)


async def authenticate_token(runtime: Runtime, token: str, *, cached: bool = True) -> Principal:
    """Verify an access token's signature and expiry, then that its session was not revoked.

    REST requests use the per-process `SessionCache`. Sockets pass
    `cached=False`: they authenticate once per connection, so caching would
    only cost memory per idle connection; their session is checked in
    PostgreSQL and later revocations reach them over the bus.
    """
    if token.startswith(PAT_PREFIX):
        return await _personal_token(runtime, token)
    cache = runtime.sessions
    try:
        claims = cache.verify(token) if cached else runtime.tokens.verify_access(token)
    except TokenError as exc:
        raise Unauthorized(str(exc), code=exc.code) from None
    if not cached:
        found = await accounts.session_user(runtime.db, claims.session_id, claims.user_id)
        if found is None:
            raise Unauthorized("This session has been signed out; sign in again.", code="token_revoked")
        return Principal(found, claims)
    user = cache.user(claims.session_id)
    if user is None or user.id != claims.user_id:
        epoch = cache.epoch
        user = await accounts.session_user(runtime.db, claims.session_id, claims.user_id)
        if user is None:
            raise Unauthorized("This session has been signed out; sign in again.", code="token_revoked")
        cache.remember(claims.session_id, user, epoch)
    return Principal(user, claims)


async def authenticate(runtime: Runtime, header: str | None) -> Principal:
    """The principal behind an `Authorization: Bearer <token>` header."""
    if not header:
        raise Unauthorized("Sign in first: send Authorization: Bearer <access token>.", code="missing_token")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Use the Bearer scheme: Authorization: Bearer <access token>.", code="token_invalid")
    return await authenticate_token(runtime, token.strip())
