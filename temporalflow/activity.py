"""Authoring API for activities, with ``temporalio.activity``'s names and semantics.

The worker runs each activity attempt inside a context (a ``contextvars``
variable, so it follows the activity into its thread for ``def`` activities)
that these functions read.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar, overload

from temporalflow.core.definitions import build_activity_definition
from temporalflow.core.info import ActivityInfo as Info

CallableType = TypeVar("CallableType", bound=Callable[..., Any])

__all__ = [
    "Info",
    "defn",
    "heartbeat",
    "in_activity",
    "info",
    "is_cancelled",
    "is_worker_shutdown",
    "logger",
    "payload_converter",
    "raise_complete_async",
    "wait_for_cancelled",
    "wait_for_cancelled_sync",
    "wait_for_worker_shutdown",
    "wait_for_worker_shutdown_sync",
]


@overload
def defn(fn: CallableType) -> CallableType: ...
@overload
def defn(
    *, name: str | None = None, no_thread_cancel_exception: bool = False, dynamic: bool = False
) -> Callable[[CallableType], CallableType]: ...
def defn(
    fn: CallableType | None = None,
    *,
    name: str | None = None,
    no_thread_cancel_exception: bool = False,
    dynamic: bool = False,
) -> Any:
    """Make a function an activity (``@activity.defn`` / ``@activity.defn(name=...)``).

    Args:
        fn: The function, when used without parentheses.
        name: Activity type name; defaults to the function name.
        no_thread_cancel_exception: For ``def`` activities: do not raise ``CancelledError``
            inside the thread on cancellation (poll ``is_cancelled()`` instead).
        dynamic: Handle every activity type no other function is registered for.
    """
    if name is not None and dynamic:
        raise ValueError("a dynamic activity cannot have a name")

    def decorator(f: CallableType) -> CallableType:
        defn_ = build_activity_definition(f, None if dynamic else (name or f.__name__))
        defn_.no_thread_cancel_exception = no_thread_cancel_exception  # type: ignore[attr-defined]
        return f

    return decorator(fn) if fn is not None else decorator


@dataclass
class _Context:
    """What the worker provides to one running activity attempt."""

    info: Info
    heartbeat: Callable[..., None]
    cancelled: threading.Event
    worker_shutdown: threading.Event
    payload_converter: Any
    cancel_reason: str | None = None
    async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(default_factory=list)

    def set_cancelled(self, reason: str = "CANCELLED") -> None:
        """Mark cancellation and wake async waiters (called by the worker, any thread)."""
        self.cancel_reason = reason
        self.cancelled.set()
        self._wake()

    def set_worker_shutdown(self) -> None:
        """Mark worker shutdown and wake async waiters."""
        self.worker_shutdown.set()
        self._wake()

    def _wake(self) -> None:
        for loop, event in list(self.async_waiters):
            loop.call_soon_threadsafe(event.set)


_current: contextvars.ContextVar[_Context | None] = contextvars.ContextVar("temporalflow_activity", default=None)


def _context() -> _Context:
    ctx = _current.get()
    if ctx is None:
        raise RuntimeError("Not in activity context")
    return ctx


def in_activity() -> bool:
    """True when called from an activity."""
    return _current.get() is not None


def info() -> Info:
    """Information about the running activity attempt."""
    return _context().info


class _CompleteAsyncError(BaseException):
    """Raised by :func:`raise_complete_async`: the worker leaves the attempt open (temporalio's name)."""


def raise_complete_async() -> NoReturn:
    """Raise an error that says the activity will be completed asynchronously.

    The worker frees the attempt's slot without completing it; the activity's timeouts keep
    running. Complete it later with ``client.get_async_activity_handle(task_token=info().task_token)``
    (or the workflow, run and activity ids) and ``complete()``, ``fail()``, ``report_cancellation()``;
    ``heartbeat()`` on the handle keeps a heartbeat timeout from firing.
    """
    raise _CompleteAsyncError()


def heartbeat(*details: Any) -> None:
    """Report progress (throttled by the worker); ``details`` reach the next attempt."""
    _context().heartbeat(*details)


def is_cancelled() -> bool:
    """True once cancellation was requested (by the workflow, a timeout, or shutdown)."""
    return _context().cancelled.is_set()


def is_worker_shutdown() -> bool:
    """True once the worker began shutting down."""
    return _context().worker_shutdown.is_set()


async def _wait(flag: Callable[[_Context], threading.Event]) -> None:
    ctx = _context()
    if flag(ctx).is_set():
        return
    event = asyncio.Event()
    entry = (asyncio.get_running_loop(), event)
    ctx.async_waiters.append(entry)
    try:
        while not flag(ctx).is_set():
            await event.wait()
            event.clear()
    finally:
        ctx.async_waiters.remove(entry)


async def wait_for_cancelled() -> None:
    """Wait (async) until cancellation is requested."""
    await _wait(lambda c: c.cancelled)


def wait_for_cancelled_sync(timeout: float | None = None) -> None:
    """Wait (blocking, for ``def`` activities) until cancellation is requested."""
    _context().cancelled.wait(timeout)


async def wait_for_worker_shutdown() -> None:
    """Wait (async) until the worker begins shutting down."""
    await _wait(lambda c: c.worker_shutdown)


def wait_for_worker_shutdown_sync(timeout: float | None = None) -> None:
    """Wait (blocking) until the worker begins shutting down."""
    _context().worker_shutdown.wait(timeout)


def payload_converter() -> Any:
    """The payload converter of the worker running this activity."""
    return _context().payload_converter


class _ActivityLoggerAdapter(logging.LoggerAdapter):
    """``activity.logger``: adds activity ids to every record."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("temporalflow.activity"), {})

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        """Append activity details to the message and the record."""
        ctx = _current.get()
        if ctx is None:
            return msg, kwargs
        i = ctx.info
        details: Mapping[str, Any] = {
            "activity_id": i.activity_id, "activity_type": i.activity_type, "attempt": i.attempt,
            "workflow_id": i.workflow_id, "workflow_run_id": i.workflow_run_id,
            "workflow_type": i.workflow_type, "task_queue": i.task_queue,
        }
        extra = dict(kwargs.get("extra") or {})
        extra.setdefault("temporal_activity", details)
        # Flat fields too (as workflow.logger's), for structured logs: temporalflow.logging.JSONFormatter.
        for key, value in (("workflow_id", i.workflow_id), ("run_id", i.workflow_run_id),
                           ("activity_id", i.activity_id), ("activity_type", i.activity_type),
                           ("workflow_type", i.workflow_type), ("attempt", i.attempt), ("namespace", i.namespace)):
            extra.setdefault(key, value)
        kwargs["extra"] = extra
        return f"{msg} ({dict(details)})", kwargs


logger = _ActivityLoggerAdapter()
