"""Test helpers shared by every tier: wait on conditions, never on fixed sleeps."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

_UNSET = object()


def _fail(timeout: float, last_value: Any, last_error: AssertionError | None) -> None:
    if last_error is not None:
        raise AssertionError(f"condition still failing after {timeout}s: {last_error}") from last_error
    raise AssertionError(f"condition not met after {timeout}s; last value: {last_value!r}")


def assert_eventually(fn: Callable[[], T], timeout: float = 10, interval: float = 0.02) -> T:
    """Poll ``fn()`` until it returns a truthy value (and raises no AssertionError); return that value.

    ``fn`` may either return a condition (``lambda: run.status == "completed"``) or
    make assertions itself. Any other exception propagates at once. On timeout the
    test fails with the last value (or the last AssertionError).
    """
    deadline = time.monotonic() + timeout
    last_value: Any = _UNSET
    last_error: AssertionError | None = None
    while True:
        try:
            last_value = fn()
            last_error = None
            if last_value:
                return last_value
        except AssertionError as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            _fail(timeout, last_value, last_error)
        time.sleep(interval)


async def assert_eventually_async(
    fn: Callable[[], Awaitable[T] | T], timeout: float = 10, interval: float = 0.02
) -> T:
    """Async twin of :func:`assert_eventually`; ``fn`` may be sync or async."""
    deadline = time.monotonic() + timeout
    last_value: Any = _UNSET
    last_error: AssertionError | None = None
    while True:
        try:
            result = fn()
            if inspect.isawaitable(result):
                result = await result
            last_value = result
            last_error = None
            if last_value:
                return last_value
        except AssertionError as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            _fail(timeout, last_value, last_error)
        await asyncio.sleep(interval)
