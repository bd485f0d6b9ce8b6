"""Apps: registering them, the consent screen's authorization request, connected apps, personal access tokens.

Everything here is for the person themselves: no app token or personal access
token may register apps, consent, or mint tokens (the routes name no scope).
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from storage import apps
from storage.apps import App, PersonalToken

from ..appkeys import SCHEDULER
from ..auth import oauth
from ..auth.scopes import SCOPES, ordered
from ..auth.tokens import PAT_PREFIX, Tokens
from ..errors import ApiError, Forbidden, NotFound
from ..routing import Call, Input, Output, QueryInput, RouteTable
from .fields import HttpsUrl, Instant, Line, Name, RedirectUri

routes = RouteTable("apps")
ScopeName = Literal["bookings:read", "bookings:write", "availability:read", "availability:write", "profile:read",
                    "messages:read"]
assert set(ScopeName.__args__) == set(SCOPES)  # type: ignore[attr-defined]


class AppIn(Input):
    name: Name
    redirect_uris: list[RedirectUri] = Field(
        min_length=1, max_length=10,
        description="Where the browser returns with a code: https, or http on 127.0.0.1, [::1] or localhost.",
    )
    logo_url: HttpsUrl | None = None
    confidential: bool = Field(
        True, description="A server-side app that can keep a secret. False: a browser or mobile app (PKCE alone, "
                          "no client credentials grant).")
    platform: bool = Field(False, description="Admins only: an app offered to everyone on the platform.")


class AppOut(Output):
    id: uuid.UUID
    client_id: str
    name: str
    logo_url: str | None
    redirect_uris: list[str]
    confidential: bool
    platform: bool
    created_at: Instant


class AppCreated(AppOut):
    client_secret: str | None = Field(description="Shown this once; null for a public app.")


class AppList(Output):
    items: list[AppOut]


@routes.post("/apps", body=AppIn, response=AppCreated, status=201, roles=("practitioner", "admin"), errors=(403, 422))
async def create_app(call: Call[AppIn]) -> AppCreated:
    """Register an app (practitioners, and admins for the whole platform). Its secret is shown once."""
    body, me = call.body, call.principal.user
    if body.platform and me.role != "admin":
        raise Forbidden("Only admins register platform apps.")
    client_id, secret = oauth.new_client()
    app = await apps.create_app(
        call.runtime.db, client_id=client_id, secret_hash=oauth.hash_secret(secret) if body.confidential else None,
        owner_id=me.id, platform=body.platform, name=body.name, logo_url=body.logo_url,
        redirect_uris=list(dict.fromkeys(body.redirect_uris)),
    )
    return AppCreated(**AppOut.model_validate(app).model_dump(), client_secret=secret if body.confidential else None)


@routes.get("/apps", response=AppList)
async def list_apps(call: Call[None]) -> AppList:
    """The apps you registered."""
    return AppList(items=[AppOut.model_validate(a) for a in await apps.apps_of(call.runtime.db, call.principal.user_id)])


async def _own_app(call: Call[None]) -> App:
    app = await apps.get_app(call.runtime.db, call.uuid("app_id"))
    if app is None or (app.owner_id != call.principal.user_id and call.principal.role != "admin"):
        raise NotFound("No app of yours with that id.")
    return app


@routes.delete("/apps/{app_id}", status=204, errors=(404,))
async def delete_app(call: Call[None]) -> None:
    """Delete an app you registered: every grant to it ends at once, on REST and on its sockets."""
    rt = call.runtime
    for session_id in await apps.delete_app(rt.db, (await _own_app(call)).id):
        await rt.sessions.revoke_session(rt.bus, session_id)


OAuthParam = Annotated[Line, StringConstraints(max_length=2000)]


class AuthorizeQuery(QueryInput):
    """An OAuth 2.0 authorization request (RFC 6749 4.1.1, RFC 7636), as the app sent the browser. Every
    parameter is optional here, so that a missing one gets the error OAuth names for it."""

    response_type: OAuthParam | None = None
    client_id: OAuthParam | None = None
    redirect_uri: OAuthParam | None = None
    scope: OAuthParam | None = None
    state: OAuthParam | None = None
    code_challenge: OAuthParam | None = None
    code_challenge_method: OAuthParam | None = None


class AuthorizeIn(AuthorizeQuery):
    """The authorization request again, with the person's answer."""

    decision: Literal["allow", "deny"]


class ScopeOut(Output):
    name: str
    description: str = Field(description="What the scope lets the app do, in plain words.")


class ConsentApp(Output):
    name: str
    logo_url: str | None
    platform: bool


class ConsentOut(Output):
    app: ConsentApp
    scopes: list[ScopeOut]
    redirect_uri: str


class Redirect(Output):
    redirect_to: str = Field(description="Send the browser here: back to the app with a code, or with an error.")


async def _authorization(call: Call[None], params: dict[str, str | None]) -> oauth.AuthorizationRequest:
    """The checked request; its errors as the API's error body, with where to send the browser if anywhere."""
    try:
        return await oauth.check_authorization(call.runtime, params)
    except oauth.NoRedirect as exc:
        raise ApiError(exc.error.description or "", code=exc.error.error, status=400) from None
    except oauth.Redirected as exc:
        raise ApiError(exc.error.description or "", code=exc.error.error, status=400,
                       details=[{"redirect_to": exc.redirect_to}]) from None


@routes.get("/oauth/authorize", query=AuthorizeQuery, response=ConsentOut, errors=(400, 422))
async def authorization_request(call: Call[None]) -> ConsentOut:
    """What the consent screen shows: which app asks, and for what, in plain words.

    An unknown app or an unregistered redirect URI is 400 with no `redirect_to`
    (never send the browser there); any other OAuth error carries the
    `redirect_to` that tells the app (RFC 6749 4.1.2.1).
    """
    request = await _authorization(call, call.query.model_dump())
    return ConsentOut(
        app=ConsentApp(name=request.app.name, logo_url=request.app.logo_url, platform=request.app.platform),
        scopes=[ScopeOut(name=s, description=SCOPES[s]) for s in request.scopes], redirect_uri=request.redirect_uri,
    )


@routes.post("/oauth/authorize", body=AuthorizeIn, response=Redirect, errors=(400, 422))
async def authorize(call: Call[AuthorizeIn]) -> Redirect:
    """The person's answer on the consent screen: a code for the app, or access_denied."""
    params = call.body.model_dump(exclude={"decision"})
    request = await _authorization(call, params)  # type: ignore[arg-type]
    if call.body.decision == "deny":
        return Redirect(redirect_to=request.redirect([("error", "access_denied")]))
    now = call.request.app[SCHEDULER].deps.clock.now()
    return Redirect(redirect_to=await oauth.grant_code(call.runtime, request, call.principal.user_id, now))


class ConnectedApp(Output):
    app_id: uuid.UUID
    name: str
    logo_url: str | None
    scopes: list[ScopeOut]
    since: Instant
    last_used_at: Instant


class ConnectedApps(Output):
    items: list[ConnectedApp]


@routes.get("/me/apps", response=ConnectedApps)
async def connected_apps(call: Call[None]) -> ConnectedApps:
    """The apps you authorised, with what each may do."""
    found = await apps.connections(call.runtime.db, call.principal.user_id)
    return ConnectedApps(items=[
        ConnectedApp(app_id=c.app.id, name=c.app.name, logo_url=c.app.logo_url, since=c.since,
                     last_used_at=c.last_used_at,
                     scopes=[ScopeOut(name=s, description=SCOPES[s]) for s in ordered(c.scopes)])
        for c in found
    ])


@routes.delete("/me/apps/{app_id}", status=204, errors=(404,))
async def disconnect_app(call: Call[None]) -> None:
    """Withdraw an app's access: its tokens stop working at once, on REST and on its sockets."""
    rt = call.runtime
    revoked = await apps.disconnect(rt.db, call.principal.user_id, call.uuid("app_id"))
    if not revoked:
        raise NotFound("No app you authorised with that id.")
    for session_id in revoked:
        await rt.sessions.revoke_session(rt.bus, session_id)


class TokenIn(Input):
    name: Name
    scopes: list[ScopeName] = Field(min_length=1, max_length=len(SCOPES))
    expires_in_days: int | None = Field(None, ge=1, le=3650, description="Omit for a token that never expires.")


class TokenOut(Output):
    id: uuid.UUID
    name: str
    scopes: list[str]
    created_at: Instant
    last_used_at: Instant | None
    expires_at: Instant | None


class TokenCreated(TokenOut):
    token: str = Field(description="Shown this once; only its hash is kept. Send it as Authorization: Bearer <token>.")


class TokenList(Output):
    items: list[TokenOut]


def _token_out(t: PersonalToken) -> TokenOut:
    return TokenOut.model_validate(t)


@routes.post("/me/tokens", body=TokenIn, response=TokenCreated, status=201, errors=(422,))
async def create_token(call: Call[TokenIn]) -> TokenCreated:
    """A personal access token for your scripts, limited to the scopes you pick. Shown once."""
    body = call.body
    token = PAT_PREFIX + secrets.token_urlsafe(32)
    expires: datetime | None = None
    if body.expires_in_days is not None:
        expires = datetime.now(UTC) + timedelta(days=body.expires_in_days)  # PostgreSQL's clock checks it
    made = await apps.create_pat(
        call.runtime.db, call.principal.user_id, name=body.name, scopes=[s for s in SCOPES if s in body.scopes],
        token_hash=Tokens.hash_refresh(token), expires_at=expires,
    )
    return TokenCreated(**_token_out(made).model_dump(), token=token)


@routes.get("/me/tokens", response=TokenList)
async def list_tokens(call: Call[None]) -> TokenList:
    """Your personal access tokens (never the tokens themselves), with when each was last used."""
    return TokenList(items=[_token_out(t) for t in await apps.pats_of(call.runtime.db, call.principal.user_id)])


@routes.delete("/me/tokens/{token_id}", status=204, errors=(404,))
async def revoke_token(call: Call[None]) -> None:
    """Revoke a personal access token; it stops working at once."""
    rt, token_id = call.runtime, call.uuid("token_id")
    if not await apps.revoke_pat(rt.db, call.principal.user_id, token_id):
        raise NotFound("No token of yours with that id.")
    await rt.sessions.revoke_session(rt.bus, token_id)
