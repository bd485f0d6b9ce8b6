"""Settings: one table of every setting, read from environment variables and flags.

The table is the single source for parsing, validation, `--help` and the
README's settings table (`klear settings --markdown`). An invalid value stops
start-up with a one-line message that names the setting.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones


class ConfigError(Exception):
    """An invalid setting; the message names it and says what is accepted."""


@dataclass(frozen=True, slots=True)
class Rate:
    """A token bucket: `burst` attempts, refilled completely over `period` seconds."""

    burst: int
    period: float

    @property
    def per_second(self) -> float:
        return self.burst / self.period


def _int(lo: int, hi: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"must be a whole number between {lo} and {hi}") from None
        if not lo <= value <= hi:
            raise ValueError(f"must be a whole number between {lo} and {hi}")
        return value

    return parse


def _seconds(lo: float, hi: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"must be a number of seconds between {lo:g} and {hi:g}") from None
        if not lo <= value <= hi:
            raise ValueError(f"must be a number of seconds between {lo:g} and {hi:g}")
        return value

    return parse


def _text(raw: str) -> str:
    return raw


def _sender(raw: str) -> str:
    if "@" not in raw or any(c in raw for c in "\r\n"):
        raise ValueError("must be an email address, optionally with a name: Klear Karma <no-reply@example.org>")
    return raw


def _choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return value

    return parse


def _url(*schemes: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if not any(raw.startswith(f"{s}://") for s in schemes):
            raise ValueError(f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
        return raw

    return parse


def _secret(raw: str) -> str:
    if len(raw) < 32:
        raise ValueError("must be at least 32 characters of random text")
    return raw


def _rate(raw: str) -> Rate:
    match = re.fullmatch(r"(\d+)/(\d+(?:\.\d+)?)", raw.strip())
    if match is None or int(match.group(1)) < 1 or float(match.group(2)) <= 0:
        raise ValueError("must look like ATTEMPTS/SECONDS, for example 5/300")
    return Rate(int(match.group(1)), float(match.group(2)))


def _host(raw: str) -> str:
    if not raw or any(c.isspace() for c in raw):
        raise ValueError("must be a host name or IP address")
    return raw


def _prefix(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", raw):
        raise ValueError("must be 1-64 letters, digits or _.:-")
    return raw


def _path(raw: str) -> Path:
    if not raw:
        raise ValueError("must be a folder path")
    return Path(raw).expanduser().resolve()


def _timezone(raw: str) -> str:
    if raw not in available_timezones():
        raise ValueError("must be an IANA time zone such as Europe/London")
    return raw


@dataclass(frozen=True, slots=True)
class IceServer:
    """One STUN or TURN server, in the shape of the browser's `RTCIceServer`."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None


def _ice_servers(raw: str) -> tuple[IceServer, ...]:
    """A JSON array like `[{"urls": "turn:turn.example.org:3478", "username": "u", "credential": "p"}]`."""
    shape = 'must be a JSON array of {"urls", "username"?, "credential"?} with stun:, turn: or turns: URLs'
    try:
        items = json.loads(raw)
    except ValueError:
        raise ValueError(shape) from None
    if not isinstance(items, list):
        raise ValueError(shape)
    servers: list[IceServer] = []
    for item in items:
        if not isinstance(item, dict) or not set(item) <= {"urls", "username", "credential"}:
            raise ValueError(shape)
        urls = item.get("urls")
        urls = [urls] if isinstance(urls, str) else urls
        if not isinstance(urls, list) or not urls or not all(
            isinstance(u, str) and u.split(":", 1)[0] in ("stun", "turn", "turns") for u in urls
        ):
            raise ValueError(shape)
        username, credential = item.get("username"), item.get("credential")
        if not all(v is None or isinstance(v, str) for v in (username, credential)):
            raise ValueError(shape)
        servers.append(IceServer(tuple(urls), username, credential))
    return tuple(servers)


@dataclass(frozen=True, slots=True)
class Spec:
    env: str
    flag: str | None
    parse: Callable[[str], Any]
    default: str | None
    help: str


def _spec(env: str, parse: Callable[[str], Any], default: str | None, help: str, flag: str | None = None) -> Any:
    return field(metadata={"spec": Spec(env, flag, parse, default, help)})


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of the server, parsed and validated."""

    host: str = _spec("KLEAR_HOST", _host, "127.0.0.1", "Address to listen on.", "--host")
    port: int = _spec("KLEAR_PORT", _int(0, 65535), "8080", "TCP port to listen on (0 picks a free one).", "--port")
    workers: int = _spec("KLEAR_WORKERS", _int(1, 64), "1", "Worker processes sharing the port (SO_REUSEPORT).", "--workers")
    database_url: str | None = _spec(
        "DATABASE_URL", _url("postgres", "postgresql"), None, "PostgreSQL URL. Unset: an embedded PostgreSQL in the data folder."
    )
    redis_url: str | None = _spec(
        "REDIS_URL", _url("redis", "rediss", "unix"), None, "Redis URL. Unset: in-memory equivalents (single process only)."
    )
    redis_prefix: str = _spec("KLEAR_REDIS_PREFIX", _prefix, "klear", "Namespace for every Redis key and channel.")
    data_dir: Path = _spec(
        "KLEAR_DATA_DIR", _path, "./data", "Folder for the embedded database and generated keys.", "--data-dir"
    )
    secret_key: str | None = _spec(
        "KLEAR_SECRET_KEY", _secret, None, "Signs access tokens. Unset: generated once into the data folder (mode 0600)."
    )
    data_key: str | None = _spec(
        "KLEAR_DATA_KEY",
        _secret,
        None,
        "Encrypts health and personal data at rest. Unset: generated once into the data folder (mode 0600).",
    )
    log_level: str = _spec(
        "KLEAR_LOG_LEVEL", _choice("debug", "info", "warning", "error"), "info", "Log level.", "--log-level"
    )
    access_token_ttl: int = _spec("KLEAR_ACCESS_TOKEN_TTL", _int(10, 86_400), "900", "Access token lifetime, seconds.")
    refresh_token_ttl: int = _spec(
        "KLEAR_REFRESH_TOKEN_TTL", _int(60, 31_536_000), "2592000", "Refresh token lifetime, seconds."
    )
    db_pool_min: int = _spec("KLEAR_DB_POOL_MIN", _int(1, 100), "2", "Minimum PostgreSQL connections per process.")
    db_pool_max: int = _spec("KLEAR_DB_POOL_MAX", _int(1, 200), "10", "Maximum PostgreSQL connections per process.")
    login_rate_account: Rate = _spec(
        "KLEAR_LOGIN_RATE_ACCOUNT", _rate, "5/300", "Login attempts allowed per account: ATTEMPTS/SECONDS."
    )
    login_rate_ip: Rate = _spec("KLEAR_LOGIN_RATE_IP", _rate, "30/60", "Login attempts allowed per client IP: ATTEMPTS/SECONDS.")
    shutdown_timeout: int = _spec(
        "KLEAR_SHUTDOWN_TIMEOUT", _int(0, 600), "15", "Seconds to let in-flight requests finish on SIGTERM."
    )
    chat_rate: Rate = _spec("KLEAR_CHAT_RATE", _rate, "30/10", "Chat messages a user may send: MESSAGES/SECONDS.")
    presence_ttl: int = _spec(
        "KLEAR_PRESENCE_TTL", _int(3, 300), "25", "Seconds a socket counts as present without a heartbeat."
    )
    socket_max_pending: int = _spec(
        "KLEAR_SOCKET_MAX_PENDING", _int(65_536, 268_435_456), "2097152",
        "Bytes a socket may leave unread before it is disconnected as a slow consumer.",
    )
    default_time_zone: str = _spec(
        "KLEAR_DEFAULT_TIME_ZONE", _timezone, "UTC", "Time zone for accounts created by `klear create-admin`."
    )
    smtp_host: str | None = _spec("KLEAR_SMTP_HOST", _host, None, "SMTP relay for email notifications. Unset: no email is sent.")
    smtp_port: int = _spec("KLEAR_SMTP_PORT", _int(1, 65535), "587", "SMTP relay port.")
    smtp_security: str = _spec(
        "KLEAR_SMTP_SECURITY", _choice("starttls", "tls", "none"), "starttls", "SMTP transport security: starttls, tls or none."
    )
    smtp_username: str | None = _spec("KLEAR_SMTP_USERNAME", _text, None, "SMTP login. Unset: no authentication.")
    smtp_password: str | None = _spec("KLEAR_SMTP_PASSWORD", _text, None, "SMTP password.")
    mail_from: str = _spec(
        "KLEAR_MAIL_FROM", _sender, "Klear Karma <no-reply@localhost>", "Sender of notification emails."
    )
    job_poll_interval: float = _spec(
        "KLEAR_JOB_POLL_INTERVAL", _seconds(0.01, 60), "1", "Seconds between looks for due jobs (reminders, expiry, email)."
    )
    job_lease: int = _spec(
        "KLEAR_JOB_LEASE", _int(1, 3600), "30", "Seconds a claimed job stays with its process without a heartbeat."
    )
    job_concurrency: int = _spec(
        "KLEAR_JOB_CONCURRENCY", _int(0, 64), "4", "Jobs one process runs at a time; 0 runs none here (API only)."
    )
    job_retry_base: float = _spec(
        "KLEAR_JOB_RETRY_BASE", _seconds(0.01, 3600), "10", "Seconds before the first retry of a failed job; doubles each time."
    )
    clock_shift: float = _spec(
        "KLEAR_CLOCK_SHIFT", _seconds(-1e9, 1e9), "0",
        "Seconds added to the scheduling clock. For tests and rehearsals only; leave 0 in production.",
    )
    public_url: str | None = _spec(
        "KLEAR_PUBLIC_URL", _url("http", "https"), None, "Base URL of the API for links such as calendar feeds. Unset: the request's own."
    )
    ice_servers: tuple[IceServer, ...] = _spec(
        "KLEAR_ICE_SERVERS", _ice_servers, "[]",
        "STUN/TURN servers for video, as a JSON array of RTCIceServer objects; given to clients too. "
        "Empty: host candidates only, no third party contacted.",
    )
    rtc_max_participants: int = _spec(
        "KLEAR_RTC_MAX_PARTICIPANTS", _int(2, 100), "10", "Most participants in one video session (group classes)."
    )
    rtc_ice_timeout: float = _spec(
        "KLEAR_RTC_ICE_TIMEOUT", _seconds(1, 300), "20",
        "Seconds a video participant's connection may take to come up before it is removed (a failed one goes at once).",
    )


def specs() -> list[tuple[str, Spec]]:
    """(attribute name, spec) for every setting, in declaration order."""
    return [(f.name, f.metadata["spec"]) for f in fields(Settings)]


def load(env: Mapping[str, str] | None = None, flags: Mapping[str, Any] | None = None) -> Settings:
    """Build Settings from `env` (default: os.environ), with non-None `flags` taking precedence."""
    env = os.environ if env is None else env
    flags = flags or {}
    values: dict[str, Any] = {}
    for name, spec in specs():
        source = spec.env
        raw: Any = env.get(spec.env)
        if flags.get(name) is not None:
            raw, source = str(flags[name]), f"{spec.flag or spec.env}"
        if raw is None or raw == "":
            raw = spec.default
        if raw is None:
            values[name] = None
            continue
        try:
            values[name] = spec.parse(raw)
        except ValueError as exc:
            shown = "(hidden)" if spec.parse is _secret else repr(raw)
            raise ConfigError(f"invalid setting {source}: {exc} (got {shown})") from None
    settings = Settings(**values)
    if settings.db_pool_min > settings.db_pool_max:
        raise ConfigError("invalid setting KLEAR_DB_POOL_MIN: must not exceed KLEAR_DB_POOL_MAX")
    return settings


def markdown_table() -> str:
    """The README's settings table."""
    rows = ["| Variable | Flag | Default | Meaning |", "| --- | --- | --- | --- |"]
    for _, spec in specs():
        default = f"`{spec.default}`" if spec.default is not None else "unset"
        rows.append(f"| `{spec.env}` | {f'`{spec.flag}`' if spec.flag else ''} | {default} | {spec.help} |")
    return "\n".join(rows)
