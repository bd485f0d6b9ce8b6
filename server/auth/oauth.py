"""OAuth 2.0 for apps: client authentication, the authorization request, and the token endpoint's grants.

Authlib (pinned in pyproject.toml) supplies the protocol's pieces: the errors
under the names the RFCs give them and their wire form, PKCE's S256 check and
verifier grammar (RFC 7636), scope strings and HTTP Basic client credentials.
Its `AuthorizationServer` is not used: its grants call storage synchronously,
and ours is asyncpg. The state lives in PostgreSQL (storage/apps.py); a grant
is a session of the person, so revoking it ends its tokens like a sign-out.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import errors as oauth_errors
from authlib.oauth2.rfc6749.util import extract_basic_authorization, scope_to_list
from authlib.oauth2.rfc7636.challenge import CODE_CHALLENGE_PATTERN, CODE_VERIFIER_PATTERN, compare_s256_code_challenge

from storage import accounts, apps
from storage.accounts import Refresh
from storage.apps import App, Exchange

from .scopes import SCOPES, ordered, unknown
from .tokens import TokenError, Tokens

if TYPE_CHECKING:
    from ..runtime import Runtime

OAuth2Error = oauth_errors.OAuth2Error
CODE_TTL = timedelta(minutes=5)  # RFC 6749 4.1.2: short-lived, ten minutes at most
CLIENT_CREDENTIALS_TTL = 3600

# Every OAuth error this server answers with, as the RFCs name them (the API's error-code table lists them too).
OAUTH_ERRORS = (
    ("invalid_request", "OAuth: a parameter is missing, repeated or malformed (RFC 6749)."),
    ("invalid_client", "OAuth: unknown app, or wrong client credentials."),
    ("invalid_grant", "OAuth: the code or refresh token is unknown, expired, spent, or PKCE's verifier does not match."),
    ("unauthorized_client", "OAuth: this app may not use this grant (a public app has no client credentials)."),
    ("unsupported_grant_type", "OAuth: the token endpoint does not know this grant_type."),
    ("unsupported_response_type", "OAuth: only response_type=code is supported."),
    ("invalid_scope", "OAuth: a scope asked for does not exist (or exceeds the grant)."),
    ("access_denied", "OAuth: the person declined the app's request."),
)


def hash_secret(secret: str) -> bytes:
    """Client secrets are random (256 bits), so a plain SHA-256 is enough to store them."""
    return hashlib.sha256(secret.encode()).digest()


CLIENT_ID = re.compile(r"^klear_app_[A-Za-z0-9_-]{1,64}$")


def new_client() -> tuple[str, str]:
    """A new app's public client id and secret."""
    return f"klear_app_{secrets.token_urlsafe(12)}", f"klear_secret_{secrets.token_urlsafe(32)}"


def parse_scope(raw: str | None, *, default: list[str] | None = None) -> list[str]:
    """The scopes a `scope` parameter names; `invalid_scope` for an unknown one."""
    asked = scope_to_list(raw) if raw else None
    if not asked:
        if default is None:
            raise oauth_errors.InvalidScopeError("Ask for at least one scope.")
        return default
    wrong = unknown(asked)
    if wrong:
        raise oauth_errors.InvalidScopeError(f"Unknown scope: {' '.join(wrong)}.")
    return ordered(asked)


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A valid authorization request (RFC 6749 4.1.1 with PKCE), ready to show on the consent screen."""

    app: App
    redirect_uri: str
    scopes: list[str]
    state: str | None
    code_challenge: str

    def redirect(self, params: list[tuple[str, str]]) -> str:
        """Where the browser goes back to the app with `params` (and the app's state)."""
        state = [("state", self.state)] if self.state is not None else []
        return str(add_params_to_uri(self.redirect_uri, params + state))


class NoRedirect(Exception):
    """The request names no app we know, or a redirect URI the app did not register: the error is shown to
    the person and never sent anywhere (RFC 6749 4.1.2.1), since the redirect could lead to an attacker."""

    def __init__(self, error: OAuth2Error) -> None:
        super().__init__(error.description)
        self.error = error


class Redirected(Exception):
    """Any other error of an authorization request: the app hears of it at its redirect URI."""

    def __init__(self, error: OAuth2Error, redirect_to: str) -> None:
        super().__init__(error.description)
        self.error = error
        self.redirect_to = redirect_to


async def check_authorization(rt: Runtime, params: Mapping[str, str | None]) -> AuthorizationRequest:
    """Validate an authorization request. Raises `NoRedirect` or `Redirected`."""
    client_id = params.get("client_id")
    found = await apps.find_client(rt.db, client_id) if client_id and CLIENT_ID.match(client_id) else None
    if found is None:
        raise NoRedirect(oauth_errors.InvalidClientError("No app with this client_id."))
    app = found.app
    redirect_uri = params.get("redirect_uri")
    if redirect_uri is None and len(app.redirect_uris) == 1:
        redirect_uri = app.redirect_uris[0]
    if redirect_uri not in app.redirect_uris:
        raise NoRedirect(oauth_errors.InvalidRequestError("redirect_uri is not one the app registered."))
    state = params.get("state")

    def fail(error: OAuth2Error) -> Redirected:
        body = [(k, v) for k, v in error.get_body() if k != "state"] + ([("state", state)] if state else [])
        return Redirected(error, str(add_params_to_uri(redirect_uri, body)))

    if params.get("response_type") != "code":
        raise fail(oauth_errors.UnsupportedResponseTypeError(params.get("response_type") or ""))
    challenge = params.get("code_challenge")
    if params.get("code_challenge_method") != "S256" or not challenge or not CODE_CHALLENGE_PATTERN.match(challenge):
        raise fail(oauth_errors.InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256."))
    try:
        scopes = parse_scope(params.get("scope"))
    except OAuth2Error as exc:
        raise fail(exc) from None
    return AuthorizationRequest(app, redirect_uri, scopes, state, challenge)


async def grant_code(rt: Runtime, request: AuthorizationRequest, user_id: uuid.UUID, now: datetime) -> str:
    """The person consented: a single-use code, to redirect the browser to the app with."""
    code = secrets.token_urlsafe(32)
    await apps.save_code(
        rt.db, code_hash=Tokens.hash_refresh(code), app_id=request.app.id, user_id=user_id,
        redirect_uri=request.redirect_uri, scopes=request.scopes, code_challenge=request.code_challenge,
        expires_at=now + CODE_TTL,
    )
    return request.redirect([("code", code)])


async def authenticate_client(rt: Runtime, form: Mapping[str, str], headers: Mapping[str, str]) -> App:
    """The app calling the token, revocation or introspection endpoint (HTTP Basic or the body's
    client_id and client_secret). A public app names itself and has no secret."""
    client_id, secret = extract_basic_authorization(headers)
    if client_id is None:
        client_id, secret = form.get("client_id"), form.get("client_secret")
    found = await apps.find_client(rt.db, client_id) if client_id and CLIENT_ID.match(client_id) else None
    if found is not None and found.secret_hash is None and not secret:
        return found.app
    if found is None or found.secret_hash is None or not secret \
            or not hmac.compare_digest(hash_secret(secret), found.secret_hash):
        raise oauth_errors.InvalidClientError("Unknown client, or wrong client credentials.", status_code=401)
    return found.app


def token_response(
    rt: Runtime, user: accounts.User, session_id: uuid.UUID, app: App, scopes: list[str], *,
    refresh_token: str | None, ttl: int | None = None,
) -> dict[str, Any]:
    """RFC 6749 5.1: the access token, its lifetime and scopes, and the next refresh token if any."""
    access, _ = rt.tokens.issue_access(user.id, user.role, session_id, ttl=ttl, scopes=scopes, app_id=app.id)
    body: dict[str, Any] = {
        "access_token": access, "token_type": "Bearer", "expires_in": ttl or rt.tokens.access_ttl,
        "scope": " ".join(scopes),
    }
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    return body


async def exchange(rt: Runtime, app: App, form: Mapping[str, str], now: datetime) -> dict[str, Any]:
    """The token endpoint (RFC 6749 4.1.3, 6 and 4.4). Raises `OAuth2Error`."""
    grant = form.get("grant_type")
    if grant == "authorization_code":
        return await _code(rt, app, form, now)
    if grant == "refresh_token":
        return await _refresh(rt, app, form)
    if grant == "client_credentials":
        return await _client_credentials(rt, app, form)
    if not grant:
        raise oauth_errors.InvalidRequestError("Missing grant_type.")
    raise oauth_errors.UnsupportedGrantTypeError(grant)


async def _code(rt: Runtime, app: App, form: Mapping[str, str], now: datetime) -> dict[str, Any]:
    code, redirect_uri, verifier = form.get("code"), form.get("redirect_uri"), form.get("code_verifier")
    if redirect_uri is None and len(app.redirect_uris) == 1:
        redirect_uri = app.redirect_uris[0]  # it could be left out of the authorization request too
    if not code or not redirect_uri:
        raise oauth_errors.InvalidRequestError("Send code and redirect_uri.")
    if not verifier or not CODE_VERIFIER_PATTERN.match(verifier):
        raise oauth_errors.InvalidRequestError("Send code_verifier: 43 to 128 unreserved characters (RFC 7636).")
    refresh, refresh_hash = rt.tokens.new_refresh()
    result = await apps.exchange_code(
        rt.db, code_hash=Tokens.hash_refresh(code), app_id=app.id, redirect_uri=redirect_uri,
        verifies=lambda challenge: compare_s256_code_challenge(verifier, challenge), now=now,
        refresh_hash=refresh_hash, refresh_ttl=rt.settings.server.refresh_token_ttl,
    )
    if result.outcome is Exchange.REUSED and result.session_id is not None:
        await rt.sessions.revoke_session(rt.bus, result.session_id)
        raise oauth_errors.InvalidGrantError("This code was already used; what it granted is revoked.")
    if result.outcome is Exchange.EXPIRED:
        raise oauth_errors.InvalidGrantError("This code has expired; start the authorization again.")
    if result.outcome is Exchange.WRONG_VERIFIER:
        raise oauth_errors.InvalidGrantError("code_verifier does not match the code_challenge.")
    if result.outcome is not Exchange.ISSUED or result.user is None or result.session_id is None or result.scopes is None:
        raise oauth_errors.InvalidGrantError("Unknown code, or issued to another app or redirect_uri.")
    return token_response(rt, result.user, result.session_id, app, result.scopes, refresh_token=refresh)


async def _refresh(rt: Runtime, app: App, form: Mapping[str, str]) -> dict[str, Any]:
    old = form.get("refresh_token")
    if not old:
        raise oauth_errors.InvalidRequestError("Send refresh_token.")
    new, new_hash = rt.tokens.new_refresh()
    result = await accounts.rotate_refresh(
        rt.db, Tokens.hash_refresh(old), new_hash, rt.settings.server.refresh_token_ttl, app_id=app.id
    )
    if result.outcome is Refresh.REUSED and result.session_id is not None:
        await rt.sessions.revoke_session(rt.bus, result.session_id)
        raise oauth_errors.InvalidGrantError("This refresh token was already used; the grant is revoked.")
    if result.outcome is not Refresh.ROTATED or result.user is None or result.session_id is None or result.scopes is None:
        raise oauth_errors.InvalidGrantError("The refresh token is unknown, expired or revoked.")
    scopes = result.scopes
    if form.get("scope"):
        narrower = parse_scope(form.get("scope"))
        if not set(narrower) <= set(scopes):
            raise oauth_errors.InvalidScopeError("A refresh may narrow the granted scopes, never widen them.")
        scopes = narrower
    return token_response(rt, result.user, result.session_id, app, scopes, refresh_token=new)


async def _client_credentials(rt: Runtime, app: App, form: Mapping[str, str]) -> dict[str, Any]:
    if not app.confidential:
        raise oauth_errors.UnauthorizedClientError("A public app has no client credentials to act on.")
    scopes = parse_scope(form.get("scope"), default=list(SCOPES))
    owner = await accounts.get_user(rt.db, app.owner_id)
    session_id = await apps.owner_session(rt.db, app.id, owner.id, scopes, CLIENT_CREDENTIALS_TTL)
    return token_response(rt, owner, session_id, app, scopes, refresh_token=None, ttl=CLIENT_CREDENTIALS_TTL)


async def _session_of(rt: Runtime, app: App, token: str) -> tuple[apps.SessionInfo, dict[str, Any]] | None:
    """The session behind an app's access or refresh token, with what introspection says of the token itself."""
    try:
        claims = rt.tokens.verify_access(token)
    except TokenError:
        info = await apps.session_of_refresh(rt.db, Tokens.hash_refresh(token))
        return None if info is None or info.app_id != app.id else (info, {"token_type": "refresh_token"})
    if claims.app_id != app.id:
        return None
    info = await apps.session_info(rt.db, claims.session_id)
    return None if info is None else (info, {"token_type": "Bearer", "exp": claims.expires_at, "scope": claims.scopes})


async def revoke(rt: Runtime, app: App, form: Mapping[str, str]) -> None:
    """RFC 7009: the app gives up a grant by one of its tokens. Unknown tokens are no error."""
    token = form.get("token")
    if not token:
        raise oauth_errors.InvalidRequestError("Send token.")
    found = await _session_of(rt, app, token)
    if found is not None and await apps.revoke(rt.db, found[0].session_id, "by_app"):
        await rt.sessions.revoke_session(rt.bus, found[0].session_id)


async def introspect(rt: Runtime, app: App, form: Mapping[str, str]) -> dict[str, Any]:
    """RFC 7662: whether one of the app's own tokens is active, and what it allows."""
    token = form.get("token")
    if not token:
        raise oauth_errors.InvalidRequestError("Send token.")
    found = await _session_of(rt, app, token)
    if found is None or not found[0].live:
        return {"active": False}
    info, about = found
    scopes = about.pop("scope", None) or info.scopes or []
    return {"active": True, "client_id": app.client_id, "sub": str(info.user_id), "scope": " ".join(ordered(scopes)),
            **about}
