"""The one way tests wait for something to become true: retry an assertion until it passes."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Call `check` (sync, or async returning an awaitable) until it stops raising AssertionError.

    Returns what `check` returned on the call that passed. After `timeout` seconds the last
    AssertionError is raised again, so a failure shows the assertion that never came true.
    Any other exception propagates at once.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            return result
        except AssertionError:
            if loop.time() >= deadline:
                raise
        await asyncio.sleep(interval)


def holds(condition: bool, message: object = "condition not met") -> None:
    """`assert` as an expression, for one-line checks: `eventually(lambda: holds(len(got) == 3, got))`."""
    assert condition, message
