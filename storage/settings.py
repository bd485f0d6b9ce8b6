"""Settings machinery shared by every component, and storage's own section.

Each component declares its settings as a frozen dataclass whose fields carry
a `Spec` (environment variable, optional flag, parser, default, help). The
server composes the sections into one `Settings` (server/config.py); the same
specs drive parsing, validation, `--help` and the README's table. A secret is
held in `Secret`, whose repr and str hide the value, so printing a settings
object never leaks a key or password.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones


class ConfigError(Exception):
    """An invalid setting; the message names it and says what is accepted."""


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret value: `reveal()` gives it; repr and str never do."""

    _value: str

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Rate:
    """A token bucket: `burst` attempts, refilled completely over `period` seconds."""

    burst: int
    period: float

    @property
    def per_second(self) -> float:
        return self.burst / self.period


@dataclass(frozen=True, slots=True)
class Spec:
    env: str
    flag: str | None
    parse: Callable[[str], Any]
    default: str | None
    help: str


def setting(env: str, parse: Callable[[str], Any], default: str | None, help: str, flag: str | None = None) -> Any:
    """Declare a dataclass field as a setting."""
    return field(metadata={"spec": Spec(env, flag, parse, default, help)})


def specs_of(section: type) -> list[tuple[str, Spec]]:
    """(attribute name, spec) of every setting of a section, in declaration order."""
    return [(f.name, f.metadata["spec"]) for f in fields(section)]


def load_section(section: type, env: Mapping[str, str], flags: Mapping[str, Any]) -> Any:
    """Parse one section from `env`, with non-None `flags` (by attribute name) taking precedence."""
    values: dict[str, Any] = {}
    for name, spec in specs_of(section):
        source = spec.env
        raw: Any = env.get(spec.env)
        if flags.get(name) is not None:
            raw, source = str(flags[name]), spec.flag or spec.env
        if raw is None or raw == "":
            raw = spec.default
        if raw is None:
            values[name] = None
            continue
        try:
            values[name] = spec.parse(raw)
        except ValueError as exc:
            shown = "(hidden)" if spec.parse in (secret_key, text_secret) else repr(raw)
            raise ConfigError(f"invalid setting {source}: {exc} (got {shown})") from None
    return section(**values)


# -- parsers ------------------------------------------------------------------------------------


def _number(convert: Callable[[str], Any], what: str, lo: float, hi: float) -> Callable[[str], Any]:
    spec = "g" if convert is float else "d"

    def parse(raw: str) -> Any:
        try:
            value = convert(raw)
        except ValueError:
            value = None
        if value is None or not lo <= value <= hi:
            raise ValueError(f"must be {what} between {lo:{spec}} and {hi:{spec}}")
        return value

    return parse


def whole(lo: int, hi: int) -> Callable[[str], int]:
    return _number(int, "a whole number", lo, hi)


def seconds(lo: float, hi: float) -> Callable[[str], float]:
    return _number(float, "a number of seconds", lo, hi)


def text(raw: str) -> str:
    return raw


def text_secret(raw: str) -> Secret:
    return Secret(raw)


def secret_key(raw: str) -> Secret:
    if len(raw) < 32:
        raise ValueError("must be at least 32 characters of random text")
    return Secret(raw)


def choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return value

    return parse


def url(*schemes: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if not any(raw.startswith(f"{s}://") for s in schemes):
            raise ValueError(f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
        return raw

    return parse


def rate(raw: str) -> Rate:
    match = re.fullmatch(r"(\d+)/(\d+(?:\.\d+)?)", raw.strip())
    if match is None or int(match.group(1)) < 1 or float(match.group(2)) <= 0:
        raise ValueError("must look like ATTEMPTS/SECONDS, for example 5/300")
    return Rate(int(match.group(1)), float(match.group(2)))


def host(raw: str) -> str:
    if not raw or any(c.isspace() for c in raw):
        raise ValueError("must be a host name or IP address")
    return raw


def path(raw: str) -> Path:
    if not raw:
        raise ValueError("must be a folder path")
    return Path(raw).expanduser().resolve()


def timezone(raw: str) -> str:
    if raw not in available_timezones():
        raise ValueError("must be an IANA time zone such as Europe/London")
    return raw


def json_value(raw: str, shape: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise ValueError(shape) from None


def _prefix(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", raw):
        raise ValueError("must be 1-64 letters, digits or _.:-")
    return raw


# -- storage's own section ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StorageSettings:
    """Where data lives: PostgreSQL, Redis, the data folder and the key that seals data at rest."""

    database_url: str | None = setting(
        "DATABASE_URL", url("postgres", "postgresql"), None, "PostgreSQL URL. Unset: an embedded PostgreSQL in the data folder."
    )
    redis_url: str | None = setting(
        "REDIS_URL", url("redis", "rediss", "unix", "redis+cluster"), None,
        "Redis URL; `redis+cluster://host:port` names a Redis Cluster by one of its nodes. "
        "Unset: in-memory equivalents (single process only)."
    )
    redis_prefix: str = setting("KLEAR_REDIS_PREFIX", _prefix, "klear", "Namespace for every Redis key and channel.")
    redis_pool_max: int = setting(
        "KLEAR_REDIS_POOL_MAX", whole(1, 10000), "64",
        "Maximum Redis connections per process (per node on a cluster). On one Redis a command waits for a free "
        "connection when all are busy; a cluster client cannot wait, so there it is a hard cap.",
    )
    data_dir: Path = setting(
        "KLEAR_DATA_DIR", path, "./data", "Folder for the embedded database and generated keys.", "--data-dir"
    )
    data_key: Secret | None = setting(
        "KLEAR_DATA_KEY", secret_key, None,
        "Master key: wraps the per-person keys that encrypt health and personal data at rest. "
        "Unset: generated once into the data folder (mode 0600).",
    )
    data_key_previous: Secret | None = setting(
        "KLEAR_DATA_KEY_PREVIOUS", secret_key, None,
        "The master key before a rotation: data keys it wrapped still open, and `klear keys rotate` re-wraps them "
        "with KLEAR_DATA_KEY. Unset once the rotation ran.",
    )
    blob_store: str = setting(
        "KLEAR_BLOB_STORE", choice("file", "s3"), "file",
        "Where attachments (sealed) are kept: file (the data folder's blobs/) or s3 (the KLEAR_S3_* bucket).",
    )
    s3_endpoint: str | None = setting(
        "KLEAR_S3_ENDPOINT", url("http", "https"), None,
        "S3-compatible API endpoint for KLEAR_BLOB_STORE=s3. Unset: AWS's own for KLEAR_S3_REGION.",
    )
    s3_bucket: str | None = setting("KLEAR_S3_BUCKET", text, None, "Bucket for attachments (KLEAR_BLOB_STORE=s3).")
    s3_region: str = setting("KLEAR_S3_REGION", text, "us-east-1", "Region of the S3 bucket.")
    s3_access_key: str | None = setting(
        "KLEAR_S3_ACCESS_KEY", text, None, "S3 access key id. Unset: the environment's usual AWS credentials.")
    s3_secret_key: Secret | None = setting("KLEAR_S3_SECRET_KEY", text_secret, None, "S3 secret access key.")
    max_attachment_bytes: int = setting(
        "KLEAR_MAX_ATTACHMENT_BYTES", whole(1024, 1024 ** 3), "10485760",
        "Largest attachment (PDF or image) a client may upload, in bytes; larger ones are refused with 413.",
    )
    db_pool_min: int = setting("KLEAR_DB_POOL_MIN", whole(1, 100), "2", "Minimum PostgreSQL connections per process.")
    db_pool_max: int = setting("KLEAR_DB_POOL_MAX", whole(1, 200), "10", "Maximum PostgreSQL connections per process.")

    def __post_init__(self) -> None:
        if self.blob_store == "s3" and not self.s3_bucket:
            raise ConfigError("invalid setting KLEAR_S3_BUCKET: required when KLEAR_BLOB_STORE=s3")
        if self.db_pool_min > self.db_pool_max:
            raise ConfigError("invalid setting KLEAR_DB_POOL_MIN: must not exceed KLEAR_DB_POOL_MAX")
