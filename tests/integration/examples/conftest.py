"""Example-application tests reuse the engine tests' environments (real database, both dialects)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from temporalflow.client import WorkflowHandle
from temporalflow.service import RPCError, RPCStatusCode
from tests.integration.engine.conftest import client, env, time_env  # noqa: F401 (fixtures)


async def signal_unless_closed(handle: WorkflowHandle, signal: Any, arg: Any) -> None:
    """Send a signal that may race the run's close: a closed run refusing it is fine too."""
    try:
        await handle.signal(signal, arg)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout: float = 20.0) -> Any:
    """Poll ``check()`` until it returns a truthy value (or fail after ``timeout`` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value {value!r})")
        await asyncio.sleep(0.02)
