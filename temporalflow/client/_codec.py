"""Running a payload codec (``async``) from the clients' synchronous code.

A codec's ``encode``/``decode`` are coroutines, as in temporalio, so a codec may
do I/O (a key service, a codec server). The clients' conversions run on threads
without an event loop (``Client`` hands its database work to a thread;
``SyncClient`` runs on the caller's thread), so:

- under the async ``Client`` the codec runs on the *caller's* event loop — the
  loop is free, it is awaiting the thread — exactly where temporalio runs it, so
  a codec that keeps loop-bound resources (an HTTP session) works;
- under ``SyncClient`` (a Django view, the admin, the REST API) it runs on a
  private event loop for the call (``asyncio.run``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

CALLER_LOOP: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar(
    "temporalflow_client_caller_loop", default=None)
"""The event loop of the async ``Client`` call being served (set before its thread hop)."""


def run_codec(coro: Coroutine[Any, Any, T]) -> T:
    """Run a codec coroutine to its result from synchronous code; see the module docstring.

    Raises:
        RuntimeError: If called on a thread whose event loop is running (``SyncClient``
            used inside ``async`` code: use ``Client`` there).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        coro.close()
        raise RuntimeError("a payload codec cannot run synchronously on a thread whose event loop is running; "
                           "use temporalflow.client.Client (async) instead of SyncClient in async code")
    loop = CALLER_LOOP.get()
    if loop is not None and loop.is_running() and not loop.is_closed():
        return _on_loop(coro, loop)
    return asyncio.run(coro)


def _on_loop(coro: Coroutine[Any, Any, T], loop: asyncio.AbstractEventLoop) -> T:
    """Run ``coro`` on ``loop`` (another thread's) in a copy of this thread's context; wait for it.

    The context matters: the codec sees the caller's context variables, and asgiref's
    marker that this thread is its single sync thread, so a codec that itself calls
    ``sync_to_async(thread_sensitive=True)`` (the ORM) gets asgiref's "would deadlock"
    error instead of waiting forever for the thread that is waiting for it.
    """
    context = contextvars.copy_context()
    done: concurrent.futures.Future[T] = concurrent.futures.Future()

    def start() -> None:
        try:
            task = loop.create_task(coro, context=context)
        except BaseException as err:  # noqa: BLE001 - handed to the waiting thread
            coro.close()
            done.set_exception(err)
            return

        def finished(t: asyncio.Task[T]) -> None:
            if t.cancelled():
                done.cancel()
            elif t.exception() is not None:
                done.set_exception(t.exception())  # type: ignore[arg-type]
            else:
                done.set_result(t.result())

        task.add_done_callback(finished)

    loop.call_soon_threadsafe(start)
    return done.result()
