"""The embedded PostgreSQL (pgserver) used when no DATABASE_URL is configured.

pgserver keeps a PostgreSQL 16 cluster in a folder and starts it on a Unix
socket inside that folder, so `klear serve` works on a bare laptop and its data
survives restarts. Its start-up is blocking, so callers run it in a thread.
It ships only plpgsql and pgvector: migrations must not need other extensions.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any



class EmbeddedPostgres:
    """A handle on the embedded cluster; `stop()` releases this process's claim on it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._server: Any = None

    def start(self) -> str:
        """Start (or join) the cluster and return its connection URI. Blocking."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver

        self.folder.parent.mkdir(parents=True, exist_ok=True)
        logging.getLogger("pgserver").setLevel(logging.WARNING)
        self._server = pgserver.get_server(self.folder, cleanup_mode="stop")
        uri: str = self._server.get_uri()
        return uri

    def stop(self) -> None:
        """Stop the cluster if no other process still uses it. Blocking."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None
