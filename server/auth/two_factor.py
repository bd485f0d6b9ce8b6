"""Two-factor sign-in with TOTP (RFC 6238, pyotp): secrets, codes, recovery codes.

A code is accepted for the current 30-second step or one step either side
(clock drift), and each step only once (storage/two_factor.py keeps the last
step used). A recovery code, given in place of a code, works once; ten are
made when two-factor is turned on and shown that one time only. TOTP runs on
wall-clock time, not the scheduling clock (KLEAR_CLOCK_SHIFT).
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
import uuid

import pyotp

from storage import two_factor
from storage.database import Database

STEP = 30
RECOVERY_CODES = 10
_DIGITS = re.compile(r"^\d{6}$")


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, account: str) -> str:
    """The otpauth:// URI authenticator apps read (as a QR code, or pasted)."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name="Klear Karma")


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step whose code `code` is, within one step of now."""
    now = time.time() if now is None else now
    totp = pyotp.TOTP(secret)
    for offset in (0, -1, 1):
        at = now + offset * STEP
        if hmac.compare_digest(totp.at(at), code):
            return int(at // STEP)
    return None


def new_recovery_codes() -> list[str]:
    return [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]


async def check(db: Database, user_id: uuid.UUID, secret: str, code: str) -> bool:
    """True if `code` is a fresh TOTP code of `secret` or an unused recovery code of the account (spent now)."""
    code = code.replace(" ", "").strip().lower()
    if _DIGITS.match(code):
        step = matching_step(secret, code)
        return step is not None and await two_factor.accept_step(db, user_id, step)
    return await two_factor.spend_recovery_code(db, user_id, code)
