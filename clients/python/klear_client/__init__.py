"""Klear Karma Python client SDK: REST over aiohttp (real-time channels are added on top)."""

from .errors import ApiError
from .rest import KlearClient, Session

__all__ = ["ApiError", "KlearClient", "Session"]
