"""``ActivityEnvironment``: run an activity function outside a worker, for unit tests."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalflow import activity as activity_api
from temporalflow.core.converter import DataConverter
from temporalflow.core.info import ActivityInfo


def default_info() -> ActivityInfo:
    """The ``activity.info()`` an ActivityEnvironment gives by default (as temporalio's)."""
    now = datetime.now(tz=UTC)
    return ActivityInfo(
        activity_id="test", activity_type="unknown", attempt=1, current_attempt_scheduled_time=now,
        heartbeat_details=[], heartbeat_timeout=None, is_local=False, schedule_to_close_timeout=timedelta(seconds=1),
        scheduled_time=now, start_to_close_timeout=timedelta(seconds=1), started_time=now, task_queue="test",
        task_token=b"test", workflow_id="test", workflow_namespace="default", workflow_run_id="test-run",
        workflow_type="test",
    )


class ActivityEnvironment:
    """Runs activities with a fake context: ``info``, heartbeat capture, cancellation."""

    def __init__(self) -> None:
        self.info = default_info()
        self.on_heartbeat: Callable[..., None] = lambda *args: None
        self.payload_converter = DataConverter.default.payload_converter
        self._cancelled = threading.Event()
        self._shutdown = threading.Event()
        self._ctx: activity_api._Context | None = None
        self._task: asyncio.Task[Any] | None = None

    def cancel(self) -> None:
        """Request cancellation of the running activity."""
        self._cancelled.set()
        if self._ctx is not None:
            self._ctx.set_cancelled()
        if self._task is not None:
            self._task.cancel()

    def worker_shutdown(self) -> None:
        """Signal worker shutdown to the running activity."""
        self._shutdown.set()
        if self._ctx is not None:
            self._ctx.set_worker_shutdown()

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` in the activity context: an awaitable for ``async def``, the value otherwise."""
        ctx = activity_api._Context(info=self.info, heartbeat=lambda *d: self.on_heartbeat(*d),
                                    cancelled=self._cancelled, worker_shutdown=self._shutdown,
                                    payload_converter=self.payload_converter)
        self._ctx = ctx
        context = contextvars.copy_context()
        context.run(activity_api._current.set, ctx)
        if inspect.iscoroutinefunction(fn):
            async def run_async() -> Any:
                self._task = asyncio.get_running_loop().create_task(fn(*args, **kwargs), context=context)
                try:
                    return await self._task
                finally:
                    self._task = None

            return run_async()
        return context.run(fn, *args, **kwargs)
