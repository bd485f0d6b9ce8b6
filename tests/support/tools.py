"""External tools some tests need (node, npm, chromium): skipped without them, except under CI."""

from __future__ import annotations

import os

import pytest


def require(missing: list[str], purpose: str) -> None:
    """Skip the test if anything is `missing`; with CI=true nothing may be skipped, so fail instead."""
    if not missing:
        return
    message = f"{purpose} needs {', '.join(missing)}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
