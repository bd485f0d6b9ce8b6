"""Validated field types shared by request models: every value is checked at the boundary, once.

Why one set: a value that reaches storage, email headers or date arithmetic
unchecked turns into a 500 (an `OverflowError`, a NUL that PostgreSQL refuses,
an integer beyond bigint) or into a mail that can never be sent (CR/LF in a
subject). Each type here also declares its rule in the OpenAPI document
(`pattern`, `minimum`/`maximum`), so generated clients and schema-driven
testers see the same rule the server applies.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, StringConstraints, WithJsonSchema

from ..auth import password_policy

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")

SEQ_MAX = 2**63 - 1  # PostgreSQL bigint: every sequence number and id the API takes fits in one

# Characters no text field takes: C0 and C1 controls and DEL. Bidi overrides and isolates
# (U+202A-U+202E, U+2066-U+2069) can make a name or title display as something else, and
# U+2028/U+2029 are line breaks, so single-line fields refuse those too. The patterns use
# \uXXXX escapes, which Python, the Rust regex engine of pydantic and ECMA-262 all read alike.
_NOT_IN_LINE = r"\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_NOT_IN_TEXT = r"\u0000-\u0008\u000b-\u001f\u007f-\u009f"
_BAD_IN_LINE = re.compile(f"[{_NOT_IN_LINE}]")
_BAD_IN_TEXT = re.compile(f"[{_NOT_IN_TEXT}]")

# Supported instants: wide enough for any real session, far enough from datetime's own limits
# (years 1 and 9999) that date arithmetic on them (days either side, time zones) cannot overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
_ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:\d{2})$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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


def _single_line(value: str) -> str:
    if _BAD_IN_LINE.search(value):
        raise ValueError("must be one line without control characters or bidi overrides")
    return value


def _multi_line(value: str) -> str:
    if _BAD_IN_TEXT.search(value):
        raise ValueError("must not contain control characters (newlines and tabs are fine)")
    return value


_DOCUMENT_MAX = 65536


def _strings_of(value: Any) -> Any:
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings_of(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings_of(v)
    elif isinstance(value, str):
        yield value


def _document(value: dict[str, Any]) -> dict[str, Any]:
    """A JSON object a person wrote (a questionnaire, answers): storable text only (no NUL, no lone surrogate,
    which PostgreSQL and UTF-8 refuse), and at most 64 KiB."""
    size = 0
    for text in _strings_of(value):
        if "\x00" in text:
            raise ValueError("strings must not contain NUL")
        try:
            size += len(text.encode())
        except UnicodeEncodeError:
            raise ValueError("strings must be valid Unicode (no lone surrogates)") from None
        if size > _DOCUMENT_MAX:
            raise ValueError(f"must be at most {_DOCUMENT_MAX} bytes of text")
    return value


def _name(value: str) -> str:
    """A person's or a thing's name: anything Unicode names contain (ZWJ emoji, marks), trimmed and NFC."""
    value = unicodedata.normalize("NFC", value.strip())
    if not value:
        raise ValueError("must not be blank")
    return value


def _password(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    if (why := password_policy.problem(value)) is not None:
        raise ValueError(why)
    return value


_LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def _web_url(value: str, *, loopback_http: bool) -> str:
    """An absolute https URL without a fragment or credentials; plain http only on loopback when allowed (a
    native app's redirect, RFC 8252 7.3)."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValueError("must be an absolute URL") from None
    local = loopback_http and parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
    if parts.scheme != "https" and not local:
        raise ValueError("must be an https URL" + (" (or http on 127.0.0.1, [::1] or localhost)" if loopback_http else ""))
    if not parts.hostname or parts.fragment or "@" in parts.netloc or _BAD_IN_LINE.search(value) or " " in value:
        raise ValueError("must be an absolute URL with a host, and no fragment, credentials or spaces")
    return value


def _redirect_uri(value: str) -> str:
    return _web_url(value, loopback_http=True)


def _https_url(value: str) -> str:
    return _web_url(value, loopback_http=False)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def instant(value: Any) -> datetime:
    """An ISO 8601 instant with an offset, within the supported years, in UTC.

    Only the ISO form is taken (not a number of seconds, not a naive time), so
    `to=0.5` is refused rather than read as 1970.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and _ISO_INSTANT.match(value):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("not a valid date and time") from None
    else:
        raise ValueError("must be an ISO 8601 date and time with an offset, e.g. 2027-03-14T09:00:00Z")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("must have an offset (Z or +01:00)")
    try:
        in_utc = parsed.astimezone(UTC)
    except OverflowError:
        in_utc = None
    if in_utc is None or not EARLIEST <= in_utc < LATEST:
        raise ValueError(f"must be between {EARLIEST.year} and {LATEST.year - 1}")
    return in_utc


def day(value: Any) -> date:
    """An ISO 8601 calendar date (2027-03-14) within the supported years."""
    if isinstance(value, datetime):
        raise ValueError("must be a date without a time, e.g. 2027-03-14")
    if isinstance(value, date):
        parsed = value
    elif isinstance(value, str) and _ISO_DATE.match(value):
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            raise ValueError("not a valid date") from None
    else:
        raise ValueError("must be an ISO 8601 date, e.g. 2027-03-14")
    if not EARLIEST.year <= parsed.year < LATEST.year:
        raise ValueError(f"must be between {EARLIEST.year} and {LATEST.year - 1}")
    return parsed


# The check runs before pydantic's own parsing, which then only ever sees a datetime (or date) of ours.
# Every instant is read as ISO 8601 with an offset and written in UTC with `Z`: an
# answer that echoed the caller's offset would differ from later reads of the same
# value and pass one person's offset on to another.
Instant = Annotated[datetime, BeforeValidator(instant), PlainSerializer(_utc, return_type=datetime, when_used="json")]
# A local time (a slot's `local_start`) shows the viewer's wall clock: it keeps its
# offset and writes it as digits, `+00:00` included, never `Z`.
LocalTime = Annotated[
    datetime,
    PlainSerializer(datetime.isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Day = Annotated[date, BeforeValidator(day)]
Seq = Annotated[int, Field(ge=0, le=SEQ_MAX)]
Line = Annotated[str, AfterValidator(_single_line), Field(json_schema_extra={"pattern": f"^[^{_NOT_IN_LINE}]*$"})]
Text = Annotated[str, AfterValidator(_multi_line), Field(json_schema_extra={"pattern": f"^[^{_NOT_IN_TEXT}]*$"})]
Name = Annotated[Line, StringConstraints(max_length=80), AfterValidator(_name)]
DisplayName = Name
Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_email)]
TimeZone = Annotated[str, StringConstraints(max_length=64), AfterValidator(_time_zone)]
NewPassword = Annotated[str, StringConstraints(min_length=10, max_length=256), AfterValidator(_password)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]
# Opaque tokens we issue are URL-safe base64; anything else cannot be one of ours.
JsonDocument = Annotated[dict[str, Any], AfterValidator(_document)]
Token = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+$")]
RedirectUri = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_redirect_uri)]
HttpsUrl = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_https_url)]
