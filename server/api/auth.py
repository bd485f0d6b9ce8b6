"""Register, log in, refresh, log out, and reset a forgotten password by email."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from scheduler import account_mail
from storage import accounts, email_verification, password_resets, two_factor
from storage.accounts import Refresh, User

from ..appkeys import SCHEDULER
from ..auth import two_factor as totp
from ..auth.throttle import LoginThrottle, client_key
from ..errors import BadRequest, TooManyRequests, Unauthorized
from ..routing import Call, Input, Output, RouteTable
from ..runtime import Runtime
from .fields import DisplayName, Email, NewPassword, Password, TimeZone, Token

log = logging.getLogger(__name__)
routes = RouteTable("auth")


class RegisterIn(Input):
    email: Email
    password: NewPassword = Field(
        description="10 to 256 characters; not a commonly used password, a keyboard run or a repetition; no control characters."
    )
    display_name: DisplayName
    role: Literal["client", "practitioner"]
    time_zone: TimeZone = Field(description="IANA time zone, for example America/New_York.")


class LoginIn(Input):
    email: Email
    password: Password
    totp_code: Annotated[str, StringConstraints(min_length=6, max_length=20, pattern=r"^[0-9A-Za-z -]+$")] | None = Field(
        None, description="With two-factor sign-in on: the app's 6-digit code, or a recovery code. Without it the "
                          "answer is 401 `totp_required`.")


class RefreshIn(Input):
    refresh_token: Token


class UserOut(Output):
    id: uuid.UUID
    email: str
    display_name: str
    role: Literal["client", "practitioner", "admin"]
    time_zone: str
    created_at: datetime


class RegisterAccepted(Output):
    status: Literal["accepted"] = "accepted"
    message: str = Field(description="What to do next: sign in with the email and password just sent.")


class TokenPair(Output):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str = Field(description="Single use: each refresh returns a new one.")
    user: UserOut


async def _tokens_for(rt: Runtime, user: User, session_id: uuid.UUID, refresh_token: str) -> TokenPair:
    access, _ = rt.tokens.issue_access(user.id, user.role, session_id)
    return TokenPair(
        access_token=access, expires_in=rt.tokens.access_ttl, refresh_token=refresh_token,
        user=UserOut.model_validate(user),
    )


async def start_session(rt: Runtime, user: User) -> TokenPair:
    """Open a login session for `user` and return its first token pair."""
    refresh, refresh_hash = rt.tokens.new_refresh()
    session_id = await accounts.create_session(rt.db, user.id, refresh_hash, rt.settings.server.refresh_token_ttl)
    return await _tokens_for(rt, user, session_id, refresh)


_ACCEPTED = "Registration received. Sign in with this email address and password."


@routes.post("/auth/register", body=RegisterIn, response=RegisterAccepted, status=202, auth=False, errors=(422, 429))
async def register(call: Call[RegisterIn]) -> RegisterAccepted:
    """Create a client or practitioner account; then sign in with the same email and password.

    A new and an already registered address get the same answer, in about the
    same time (one password hash either way), so registration cannot tell
    anyone who has an account; the owner of a taken address is emailed instead.
    """
    rt, body = call.runtime, call.body
    wait = await rt.limiter.take(f"register:ip:{client_key(call.request.remote)}", rt.settings.server.register_rate_ip)
    if wait > 0:
        raise TooManyRequests("Too many registrations from this address; try again later.", retry_after=wait)
    found = await accounts.find_for_login(rt.db, body.email)
    password_hash = await rt.passwords.hash(body.password)
    owner = found[0].id if found is not None else None
    if owner is None:
        try:
            user = await accounts.create_user(
                rt.db, email=body.email, password_hash=password_hash, display_name=body.display_name,
                role=body.role, time_zone=body.time_zone,
            )
            log.info("account registered", extra={"event": "registered", "user_id": str(user.id)})
        except accounts.EmailTaken:  # registered by a concurrent request since we looked
            found = await accounts.find_for_login(rt.db, body.email)
            owner = found[0].id if found is not None else None
    if owner is not None:
        await account_mail.tell_owner(rt.db, owner, call.request.app[SCHEDULER].deps.clock.now())
        log.info("registration for a taken address", extra={"event": "register_taken", "user_id": str(owner)})
    return RegisterAccepted(message=_ACCEPTED)


@routes.post("/auth/login", body=LoginIn, response=TokenPair, auth=False, errors=(401, 422, 429))
async def login(call: Call[LoginIn]) -> TokenPair:
    """Exchange email and password for an access token and a refresh token.

    Throttled per client, per (account, client) failures, and per account
    failures for clients that have failed on it (server/auth/throttle.py).
    """
    rt, body = call.runtime, call.body
    throttle = LoginThrottle(rt.limiter, rt.settings.server, client_key(call.request.remote),
                             accounts.email_index(rt.db, body.email).hex())
    wait = await throttle.wait()
    if wait > 0:
        raise TooManyRequests("Too many login attempts; try again later.", retry_after=wait)
    found = await accounts.find_for_login(rt.db, body.email)
    matches = await rt.passwords.verify(found[1] if found else None, body.password)
    if found is None or not matches:
        await throttle.failed()
        raise Unauthorized("Wrong email or password.", code="invalid_credentials")
    user, stored = found
    factor = await two_factor.get(rt.db, user.id)
    if factor is not None and factor.enabled:
        if body.totp_code is None:
            raise Unauthorized("Enter the code from your authenticator app (or a recovery code).", code="totp_required")
        if not await totp.check(rt.db, user.id, factor.secret, body.totp_code):
            await throttle.failed()
            raise Unauthorized("That code is not right, or was already used.", code="totp_invalid")
    if rt.passwords.needs_rehash(stored):
        await accounts.set_password_hash(rt.db, user.id, await rt.passwords.hash(body.password))
    return await start_session(rt, user)


@routes.post("/auth/refresh", body=RefreshIn, response=TokenPair, auth=False, errors=(401, 422))
async def refresh(call: Call[RefreshIn]) -> TokenPair:
    """Spend a refresh token for a new token pair. Reusing a spent one ends its session."""
    rt = call.runtime
    new_token, new_hash = rt.tokens.new_refresh()
    result = await accounts.rotate_refresh(
        rt.db, rt.tokens.hash_refresh(call.body.refresh_token), new_hash, rt.settings.server.refresh_token_ttl
    )
    if result.outcome is Refresh.REUSED and result.session_id is not None:
        await rt.sessions.revoke_session(rt.bus, result.session_id)
        log.warning("refresh token reused; session revoked", extra={"event": "refresh_reuse", "session_id": str(result.session_id)})
        raise Unauthorized("This refresh token was already used; the session has been signed out.", code="token_reused")
    if result.outcome is Refresh.REVOKED:
        raise Unauthorized("This session has been signed out; sign in again.", code="token_revoked")
    if result.outcome is Refresh.EXPIRED:
        raise Unauthorized("The refresh token has expired; sign in again.", code="token_expired")
    if result.outcome is Refresh.UNKNOWN or result.user is None or result.session_id is None:
        raise Unauthorized("The refresh token is not valid.", code="token_invalid")
    return await _tokens_for(rt, result.user, result.session_id, new_token)


@routes.post("/auth/logout", body=RefreshIn, auth=False, status=204, errors=(422,))
async def logout(call: Call[RefreshIn]) -> None:
    """End the session of a refresh token: it and every access token issued from it stop working."""
    rt = call.runtime
    session_id = await accounts.session_of_refresh(rt.db, rt.tokens.hash_refresh(call.body.refresh_token))
    if session_id is not None and await accounts.revoke_session(rt.db, session_id, "logout"):
        await rt.sessions.revoke_session(rt.bus, session_id)
        log.info("signed out", extra={"event": "logout", "session_id": str(session_id)})


class ResetRequestIn(Input):
    email: Email


class ResetIn(Input):
    token: Token = Field(description="From the link in the reset email.")
    password: NewPassword = Field(description="The new password; the same rule as at registration.")


_RESET_ACCEPTED = "If this address has an account, we have emailed it a link to choose a new password."


@routes.post("/auth/password-reset", body=ResetRequestIn, response=RegisterAccepted, status=202, auth=False,
             errors=(422, 429))
async def request_password_reset(call: Call[ResetRequestIn]) -> RegisterAccepted:
    """Email a single-use link (valid for an hour) to choose a new password.

    Every address gets the same answer, so this cannot tell anyone who has an
    account; at most one email a minute per account, and requests per client
    IP share the register limit (`KLEAR_REGISTER_RATE_IP`).
    """
    rt = call.runtime
    wait = await rt.limiter.take(f"reset:ip:{client_key(call.request.remote)}", rt.settings.server.register_rate_ip)
    if wait > 0:
        raise TooManyRequests("Too many reset requests from this address; try again later.", retry_after=wait)
    found = await accounts.find_for_login(rt.db, call.body.email)
    if found is not None:
        await account_mail.send_reset(rt.db, found[0].id, _base_url(call), call.request.app[SCHEDULER].deps.clock.now())
        log.info("password reset asked", extra={"event": "password_reset_asked", "user_id": str(found[0].id)})
    return RegisterAccepted(message=_RESET_ACCEPTED)


@routes.post("/auth/password-reset/confirm", body=ResetIn, status=204, auth=False, errors=(400, 422))
async def reset_password(call: Call[ResetIn]) -> None:
    """Set a new password with the emailed token (once). Every session of the account is signed out."""
    rt = call.runtime
    spent = await password_resets.spend(rt.db, call.body.token, await rt.passwords.hash(call.body.password))
    if spent is None:
        raise BadRequest("This reset link is not valid: it was already used, has expired, or was mistyped. "
                         "Ask for a new one.", code="reset_token_invalid")
    for session_id in spent.revoked_sessions:
        await rt.sessions.revoke_session(rt.bus, session_id)
    log.info("password reset", extra={"event": "password_reset", "user_id": str(spent.user_id)})


def _base_url(call: Call[object]) -> str:
    """Where links in account emails point: KLEAR_PUBLIC_URL, or the origin the request came to."""
    return call.runtime.settings.server.public_url or str(call.request.url.origin())


class VerifyIn(Input):
    token: Token = Field(description="From the link in the verification email.")


class VerificationOut(Output):
    verified: bool


@routes.post("/auth/verify-email", body=VerifyIn, status=204, auth=False, errors=(400, 422))
async def verify_email(call: Call[VerifyIn]) -> None:
    """Confirm an account's email address with the emailed token (once)."""
    if await email_verification.spend(call.runtime.db, call.body.token) is None:
        raise BadRequest("This confirmation link is not valid: it was already used, has expired, or was mistyped.",
                         code="verify_token_invalid")


@routes.get("/me/email-verification", response=VerificationOut)
async def verification_state(call: Call[None]) -> VerificationOut:
    """Whether your email address is confirmed."""
    return VerificationOut(verified=await email_verification.is_verified(call.runtime.db, call.principal.user_id))


@routes.post("/me/email-verification", response=VerificationOut, status=202)
async def resend_verification(call: Call[None]) -> VerificationOut:
    """Email a new confirmation link (at most one a minute), unless the address is confirmed already."""
    rt, user_id = call.runtime, call.principal.user_id
    verified = await email_verification.is_verified(rt.db, user_id)
    if not verified:
        await account_mail.send_verification(rt.db, user_id, _base_url(call), call.request.app[SCHEDULER].deps.clock.now())
    return VerificationOut(verified=verified)
