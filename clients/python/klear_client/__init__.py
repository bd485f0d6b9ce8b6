"""Klear Karma Python client SDK: REST (accounts, conversations) and real-time (Socket.IO)."""

from .errors import ApiError
from .realtime import EventRefused, Realtime
from .rest import KlearClient, Session

__all__ = ["ApiError", "EventRefused", "KlearClient", "Realtime", "Session"]
