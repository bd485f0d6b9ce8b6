"""Turning two-factor sign-in (TOTP) on and off for your own account."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from storage import two_factor

from ..auth import two_factor as totp
from ..errors import BadRequest, Conflict
from ..routing import Call, Input, Output, RouteTable

routes = RouteTable("users")

Code = Annotated[str, StringConstraints(min_length=6, max_length=20, pattern=r"^[0-9A-Za-z -]+$")]


class TwoFactorState(Output):
    enabled: bool = Field(description="Whether sign-in needs a code.")


class TwoFactorStart(Output):
    secret: str = Field(description="Base32; type it into an authenticator app, or use `otpauth_uri`.")
    otpauth_uri: str = Field(description="The otpauth:// URI (what a QR code would carry).")


class CodeIn(Input):
    code: Code = Field(description="A 6-digit code from the authenticator app (or, to turn it off, a recovery code).")


class RecoveryCodes(Output):
    recovery_codes: list[str] = Field(description="Shown once: each signs in once in place of a code.")


@routes.get("/me/two-factor", response=TwoFactorState)
async def state(call: Call[None]) -> TwoFactorState:
    """Whether two-factor sign-in is on for your account."""
    factor = await two_factor.get(call.runtime.db, call.principal.user_id)
    return TwoFactorState(enabled=factor is not None and factor.enabled)


@routes.post("/me/two-factor", response=TwoFactorStart, status=201, errors=(409,))
async def start(call: Call[None]) -> TwoFactorStart:
    """Begin turning on two-factor sign-in: a new secret, active once confirmed with a code."""
    user = call.principal.user
    secret = totp.new_secret()
    if not await two_factor.start(call.runtime.db, user.id, secret):
        raise Conflict("Two-factor sign-in is already on; turn it off first.", code="two_factor_enabled")
    return TwoFactorStart(secret=secret, otpauth_uri=totp.provisioning_uri(secret, user.email))


@routes.post("/me/two-factor/confirm", body=CodeIn, response=RecoveryCodes, errors=(400, 409, 422))
async def confirm(call: Call[CodeIn]) -> RecoveryCodes:
    """Turn two-factor sign-in on with a first code; returns the recovery codes (shown this once)."""
    db, user_id = call.runtime.db, call.principal.user_id
    factor = await two_factor.get(db, user_id)
    if factor is None or factor.enabled:
        raise Conflict("Start turning on two-factor sign-in first." if factor is None else "Two-factor sign-in is already on.",
                       code="two_factor_not_started" if factor is None else "two_factor_enabled")
    step = totp.matching_step(factor.secret, call.body.code.replace(" ", ""))
    if step is None or not await two_factor.accept_step(db, user_id, step):
        raise BadRequest("That code is not right. Check the time on your phone and try the current code.", code="totp_invalid")
    codes = totp.new_recovery_codes()
    await two_factor.enable(db, user_id, codes)
    return RecoveryCodes(recovery_codes=codes)


@routes.post("/me/two-factor/disable", body=CodeIn, status=204, errors=(400, 409, 422))
async def disable(call: Call[CodeIn]) -> None:
    """Turn two-factor sign-in off, with a current code or a recovery code."""
    db, user_id = call.runtime.db, call.principal.user_id
    factor = await two_factor.get(db, user_id)
    if factor is None or not factor.enabled:
        raise Conflict("Two-factor sign-in is not on.", code="two_factor_not_started")
    if not await totp.check(db, user_id, factor.secret, call.body.code):
        raise BadRequest("That code is not right (or was already used).", code="totp_invalid")
    await two_factor.disable(db, user_id)
