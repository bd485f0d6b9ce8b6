"""Klear Karma Python client SDK: REST (accounts, conversations) and real-time (Socket.IO)."""

from .apps import AppTokens, OAuthApp, OAuthError, pkce_pair
from .errors import ApiError
from .realtime import EventRefused, Realtime
from .rest import KlearClient, Session
from .webhooks import InvalidSignature, verify as verify_webhook

__all__ = ["ApiError", "AppTokens", "OAuthApp", "OAuthError", "pkce_pair", "EventRefused", "KlearClient", "InvalidSignature", "Realtime", "Session", "verify_webhook"]
