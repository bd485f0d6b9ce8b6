"""The log is JSON lines only: what the Socket.IO libraries, warnings and uncaught exceptions print joins the stream."""

from __future__ import annotations

import json
import subprocess
import sys

from ..support.postgres import ROOT

# Everything that used to print plain text to stderr next to our JSON lines.
NOISY = r'''
import logging, threading, warnings
import socketio
from server import logs

logs.setup("info")
socketio.AsyncServer(async_mode="aiohttp", logger=False, engineio_logger=False)  # library defaults, created later
logging.getLogger("socketio.server").error("socketio says %s", "no")
logging.getLogger("engineio.server").error("engineio says no")
warnings.warn("a library warning")
worker = threading.Thread(target=lambda: 1 / 0)
worker.start()
worker.join()
raise RuntimeError("uncaught at the top")
'''


def test_library_loggers_warnings_and_uncaught_exceptions_are_json_lines():
    done = subprocess.run([sys.executable, "-c", NOISY], cwd=str(ROOT), capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    entries = [json.loads(line) for line in lines]  # raises on any line that is not JSON
    assert len(entries) == len(lines) == 5, lines
    messages = " | ".join(e["msg"] for e in entries)
    for said in ("socketio says no", "engineio says no", "a library warning"):
        assert said in messages
    assert {e.get("error_type") for e in entries} >= {"ZeroDivisionError", "RuntimeError"}
