"""Validated field types shared by request models."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import AfterValidator, StringConstraints

from ..auth import password_policy

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _email(value: str) -> str:
    value = value.strip()
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError("not a valid email address")
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def _time_zone(value: str) -> str:
    if value not in _zones():
        raise ValueError("not an IANA time zone (for example Europe/London)")
    return value


def _display_name(value: str) -> str:
    value = unicodedata.normalize("NFC", value.strip())
    if not value:
        raise ValueError("must not be blank")
    if any(unicodedata.category(c).startswith("C") for c in value):
        raise ValueError("must not contain control characters")
    return value


def _password(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    if (why := password_policy.problem(value)) is not None:
        raise ValueError(why)
    return value


Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_email)]
TimeZone = Annotated[str, StringConstraints(max_length=64), AfterValidator(_time_zone)]
DisplayName = Annotated[str, StringConstraints(max_length=80), AfterValidator(_display_name)]
NewPassword = Annotated[str, StringConstraints(min_length=10, max_length=256), AfterValidator(_password)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]
