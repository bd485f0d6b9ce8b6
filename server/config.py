"""Settings: every component's section, composed into one `Settings`.

Each component declares its own section (storage/settings.py,
channels/settings.py, scheduler/settings.py, rtc/settings.py) and reads only
that; this module adds the server's own section and composes them. The specs
are the single source for parsing, validation, `--help` and the README's
settings table (`klear settings --markdown`). An invalid value stops start-up
with a one-line message that names the setting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from channels.settings import ChannelsSettings
from discovery.settings import DiscoverySettings
from records.settings import RecordsSettings
from rtc.settings import RtcSettings
from scheduler.settings import SchedulerSettings
from storage.settings import (
    ConfigError, Rate, Secret, Spec, StorageSettings, choice, host, load_section, rate, secret_key, setting, specs_of,
    timezone, url, whole,
)


def host_port(raw: str) -> tuple[str, int]:
    """HOST:PORT (an IPv6 host in brackets: [::1]:9100)."""
    name, sep, port = raw.strip().rpartition(":")
    name = name.removeprefix("[").removesuffix("]")
    if not sep or not name or not port.isdigit() or not 0 < int(port) <= 65535:
        raise ValueError("must be HOST:PORT, for example 127.0.0.1:9100")
    return host(name), int(port)


_token = secret_key  # the same parser (values hidden in errors); `secret_key` is also a field name below


__all__ = ["ConfigError", "Rate", "Secret", "ServerSettings", "Settings", "load", "markdown_table", "specs"]


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The server's own section: where it listens, how it signs tokens and throttles logins."""

    host: str = setting("KLEAR_HOST", host, "127.0.0.1", "Address to listen on.", "--host")
    port: int = setting("KLEAR_PORT", whole(0, 65535), "8080", "TCP port to listen on (0 picks a free one).", "--port")
    workers: int = setting("KLEAR_WORKERS", whole(1, 64), "1", "Worker processes sharing the port (SO_REUSEPORT).", "--workers")
    secret_key: Secret | None = setting(
        "KLEAR_SECRET_KEY", secret_key, None, "Signs access tokens. Unset: generated once into the data folder (mode 0600)."
    )
    log_level: str = setting(
        "KLEAR_LOG_LEVEL", choice("debug", "info", "warning", "error"), "info", "Log level.", "--log-level"
    )
    access_token_ttl: int = setting("KLEAR_ACCESS_TOKEN_TTL", whole(10, 86_400), "900", "Access token lifetime, seconds.")
    refresh_token_ttl: int = setting(
        "KLEAR_REFRESH_TOKEN_TTL", whole(60, 31_536_000), "2592000", "Refresh token lifetime, seconds."
    )
    login_rate_ip: Rate = setting("KLEAR_LOGIN_RATE_IP", rate, "30/60", "Login attempts allowed per client IP: ATTEMPTS/SECONDS.")
    login_rate_account_ip: Rate = setting(
        "KLEAR_LOGIN_RATE_ACCOUNT_IP", rate, "5/300",
        "Failed logins allowed per account from one client IP: FAILURES/SECONDS. Past it, that IP waits; others do not.",
    )
    login_rate_account: Rate = setting(
        "KLEAR_LOGIN_RATE_ACCOUNT", rate, "20/3600",
        "Failed logins per account from all IPs: FAILURES/SECONDS. Past it, only IPs with no recent failure on it may try.",
    )
    register_rate_ip: Rate = setting(
        "KLEAR_REGISTER_RATE_IP", rate, "10/3600",
        "Registrations allowed per client IP: ATTEMPTS/SECONDS. Password-reset requests have a budget of their own at the same rate."
    )
    metrics_token: Secret | None = setting(
        "KLEAR_METRICS_TOKEN", _token, None,
        "Bearer token /metrics requires. Unset: /metrics answers loopback clients only (or see KLEAR_METRICS_ADDRESS).",
    )
    metrics_address: tuple[str, int] | None = setting(
        "KLEAR_METRICS_ADDRESS", host_port, None,
        "HOST:PORT serving /metrics alone, instead of the API port. Unset: /metrics is on the API port.",
    )
    shutdown_timeout: int = setting(
        "KLEAR_SHUTDOWN_TIMEOUT", whole(0, 600), "15", "Seconds to let in-flight requests finish on SIGTERM."
    )
    default_time_zone: str = setting(
        "KLEAR_DEFAULT_TIME_ZONE", timezone, "UTC", "Time zone for accounts created by `klear create-admin`."
    )
    public_url: str | None = setting(
        "KLEAR_PUBLIC_URL", url("http", "https"), None,
        "Base URL of the API for links such as calendar feeds. Unset: the request's own.",
    )


@dataclass(frozen=True, slots=True)
class Settings:
    """Every section, as each component reads it: `settings.storage`, `settings.rtc`, ..."""

    server: ServerSettings
    storage: StorageSettings
    channels: ChannelsSettings
    scheduler: SchedulerSettings
    rtc: RtcSettings
    discovery: DiscoverySettings
    records: RecordsSettings


_SECTIONS: dict[str, type] = {
    "server": ServerSettings, "storage": StorageSettings, "channels": ChannelsSettings,
    "scheduler": SchedulerSettings, "rtc": RtcSettings, "discovery": DiscoverySettings, "records": RecordsSettings,
}
assert list(_SECTIONS) == [f.name for f in fields(Settings)]


def specs() -> list[tuple[str, Spec]]:
    """(attribute name, spec) for every setting of every section, in declaration order."""
    return [item for section in _SECTIONS.values() for item in specs_of(section)]


def load(env: Mapping[str, str] | None = None, flags: Mapping[str, Any] | None = None) -> Settings:
    """Build Settings from `env` (default: os.environ), with non-None `flags` taking precedence."""
    env = os.environ if env is None else env
    return Settings(**{name: load_section(section, env, flags or {}) for name, section in _SECTIONS.items()})


def markdown_table() -> str:
    """The README's settings table."""
    rows = ["| Variable | Flag | Default | Meaning |", "| --- | --- | --- | --- |"]
    for _, spec in specs():
        default = f"`{spec.default}`" if spec.default is not None else "unset"
        rows.append(f"| `{spec.env}` | {f'`{spec.flag}`' if spec.flag else ''} | {default} | {spec.help} |")
    return "\n".join(rows)
