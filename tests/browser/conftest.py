"""The video tests' fixtures, reused: synthetic media, and servers that must not log an error."""

from __future__ import annotations

from ..video.conftest import media, start_server

__all__ = ["media", "start_server"]
