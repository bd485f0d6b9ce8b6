"""The error every SDK call raises for a non-2xx answer."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """The server's documented error body, with the HTTP status and headers."""

    def __init__(self, status: int, code: str, message: str, details: list[Any], headers: dict[str, str]) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers
