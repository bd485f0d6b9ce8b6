"""Structured JSON logs carrying the request id, with personal data kept out.

Log calls pass facts as `extra={...}`. Only keys on an allow-list reach the
output; anything else (a stray `email`, `token`, `body`) is dropped, so a
careless call cannot leak personal data or secrets into the logs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading
import time
from contextvars import ContextVar
from types import TracebackType

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

ALLOWED_FIELDS = frozenset(
    {
        "event", "method", "route", "status", "duration_ms", "port", "host", "pid", "workers", "version",
        "startup_ms", "query", "code", "error_type", "user_id", "session_id", "conversation_id", "booking_id",
        "job_id", "job_kind", "attempt", "sid", "reason", "count", "migrations", "peer_id", "session",
        "track_kind", "channel", "component", "signal", "exit_code", "retry_in", "database", "delivery_id",
        "subscription_id",
    }
)
_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, allowed facts."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id.get()
        if rid is not None:
            entry["request_id"] = rid
        for key, value in record.__dict__.items():
            if key in _STANDARD or key not in ALLOWED_FIELDS:
                continue
            entry[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info and record.exc_info[0] is not None:
            entry["error_type"] = record.exc_info[0].__name__
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, separators=(",", ":"))


def setup(level: str) -> None:
    """Route every logger to stderr as JSON at `level`, and everything else that would print there too.

    Libraries that print plain text are brought into the JSON stream: python-socketio and
    python-engineio add a handler of their own to their default loggers (the hub gives them
    named loggers instead, and any such handler is removed here), warnings go through logging,
    and uncaught exceptions in the main thread or other threads are logged as one JSON line.
    Engine.IO's own warnings are about misbehaving clients, one per request, which the channels
    guard reports (counted and rate-limited) instead.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log would repeat raw paths (which may hold secret tokens); we write our own.
    logging.getLogger("aiohttp.access").disabled = True
    for noisy in ("asyncio", "aioice", "aiortc", "socketio", "pgserver"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # A level of their own also stops python-socketio/engineio from adding a plain-text handler later.
    for library, quiet in (("engineio", logging.ERROR), ("engineio.server", logging.ERROR),
                           ("socketio.server", logging.WARNING)):
        logger = logging.getLogger(library)
        logger.setLevel(max(quiet, root.level))
        logger.handlers.clear()
        logger.propagate = True
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = lambda args: _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback)


def _log_uncaught(kind: type[BaseException], value: BaseException | None, tb: TracebackType | None) -> None:
    logging.getLogger("klear").critical("uncaught exception", exc_info=(kind, value or kind(), tb))


class AccessLog:
    """The per-request log line, written without the logging module's per-record cost.

    Lines are JSON in the same shape as other records. They are collected during
    one event-loop iteration and written with a single `write`, which keeps a
    line per request affordable at tens of thousands of requests per second.
    Every field is either ours (route patterns, codes) or validated (request
    id, method), so the line is built without a general JSON encoder.
    """

    def __init__(self, enabled: bool, fd: int = 2) -> None:
        self.enabled = enabled
        self._fd = fd
        self._lines: list[str] = []
        self._second = -1
        self._stamp = ""
        self._routes: dict[str, str] = {}

    def write(self, request_id: str, method: str, route: str, status: int, duration_ms: float) -> None:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second, self._stamp = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        if not self._lines:
            asyncio.get_running_loop().call_soon(self.flush)
        quoted = self._routes.get(route)
        if quoted is None:
            quoted = self._routes[route] = json.dumps(route)
        self._lines.append(
            f'{{"ts":"{self._stamp}.{int((now - second) * 1000):03d}Z","level":"info","logger":"klear.access",'
            f'"msg":"request","request_id":"{request_id}","method":"{method}","route":{quoted},'
            f'"status":{status},"duration_ms":{duration_ms:.2f}}}\n'
        )

    def flush(self) -> None:
        data, self._lines = "".join(self._lines).encode(), []
        try:
            os.write(self._fd, data)
        except OSError:
            pass  # a closed or full stderr must not take requests down with it
