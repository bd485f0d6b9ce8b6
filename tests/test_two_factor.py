"""Optional two-factor sign-in (TOTP): turned on with a first code, then every sign-in needs a fresh code
(each works once) or a recovery code (each works once); turned off with a code."""

from __future__ import annotations

import time

import pyotp
import pytest

from klear_client import ApiError

from .conftest import PASSWORD, signed_up

pytestmark = pytest.mark.quick


async def refused(call, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ApiError) as err:
        await call
    assert (err.value.status, err.value.code) == (status, code), err.value


async def test_with_two_factor_on_a_sign_in_needs_a_fresh_code_or_a_recovery_code_once(app, clients) -> None:
    user = await signed_up(clients(app.url), "client")
    email = user.session.user["email"]  # type: ignore[union-attr]
    assert not await user.two_factor_enabled()
    started = await user.start_two_factor()
    assert not await user.two_factor_enabled(), "not on until confirmed"
    assert started["otpauth_uri"].startswith("otpauth://totp/Klear%20Karma:") and started["secret"] in started["otpauth_uri"]
    totp = pyotp.TOTP(started["secret"])
    await refused(user.confirm_two_factor("000000" if totp.now() != "000000" else "111111"), 400, "totp_invalid")
    now = time.time()
    codes = await user.confirm_two_factor(totp.at(now - 30))  # the previous step still counts (clock drift)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert await user.two_factor_enabled()
    await refused(user.start_two_factor(), 409, "two_factor_enabled")

    await refused(clients(app.url).login(email, PASSWORD), 401, "totp_required")
    await refused(clients(app.url).login(email, "wrong password here", totp.now()), 401, "invalid_credentials")
    code = totp.now()
    await clients(app.url).login(email, PASSWORD, code)
    await refused(clients(app.url).login(email, PASSWORD, code), 401, "totp_invalid")  # that code's step is used
    await clients(app.url).login(email, PASSWORD, codes[0])
    await refused(clients(app.url).login(email, PASSWORD, codes[0]), 401, "totp_invalid")  # recovery codes: once

    await user.disable_two_factor(codes[1])
    await clients(app.url).login(email, PASSWORD)
    await refused(user.disable_two_factor(codes[2]), 409, "two_factor_not_started")
