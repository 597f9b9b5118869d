"""``workflow.wait`` and ``workflow.as_completed``: asyncio's, with a deterministic order.

``asyncio.wait`` returns *sets* of futures and ``asyncio.as_completed`` keeps its
pending futures in a set; a set of futures iterates in the order of their ``id()``
(memory addresses), which differs from one process to the next, so a workflow that
iterates them could issue its commands in a different order on replay. These versions
keep the caller's order in lists, as temporalio's do: ``wait`` returns
``(done, pending)`` as lists in the order the futures were given, and
``as_completed`` yields in completion order (which the history fixes). Timeouts are
durable timers like every other wait in workflow code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
FT = TypeVar("FT", bound=asyncio.Future[Any])

_RETURN_WHEN = (asyncio.FIRST_COMPLETED, asyncio.FIRST_EXCEPTION, asyncio.ALL_COMPLETED)


async def wait(
    fs: Iterable[FT],
    *,
    timeout: float | None = None,
    return_when: str = asyncio.ALL_COMPLETED,
) -> tuple[list[FT], list[FT]]:
    """Wait for the futures or tasks in ``fs``; the deterministic ``asyncio.wait``.

    Args:
        fs: Futures or tasks (not coroutines: wrap them in ``asyncio.create_task``).
        timeout: Seconds to wait at most (a durable timer); on timeout the futures
            not done are returned in ``pending``, nothing is raised or cancelled.
        return_when: ``asyncio.FIRST_COMPLETED``, ``asyncio.FIRST_EXCEPTION`` or
            ``asyncio.ALL_COMPLETED`` (the default).

    Returns:
        ``(done, pending)``, two lists in the order the futures were given.

    Raises:
        TypeError: ``fs`` is a single future or coroutine, or holds a coroutine.
        ValueError: ``fs`` is empty, or ``return_when`` is not one of the three.
    """
    if asyncio.isfuture(fs) or asyncio.iscoroutine(fs):
        raise TypeError(f"expect a list of futures, not {type(fs).__name__}")
    if not fs:
        raise ValueError("Set of Tasks/Futures is empty.")
    if return_when not in _RETURN_WHEN:
        raise ValueError(f"Invalid return_when value: {return_when}")
    futures = list(fs)
    if any(asyncio.iscoroutine(f) for f in futures):
        raise TypeError("Passing coroutines is forbidden, use tasks explicitly.")
    loop = asyncio.get_running_loop()
    return await _wait(futures, timeout, return_when, loop)


async def _wait(
    futures: list[FT], timeout: float | None, return_when: str, loop: asyncio.AbstractEventLoop,
) -> tuple[list[FT], list[FT]]:
    waiter: asyncio.Future[None] = loop.create_future()
    remaining = len(futures)

    def release(*_: Any) -> None:
        if not waiter.done():
            waiter.set_result(None)

    def on_done(f: asyncio.Future[Any]) -> None:
        nonlocal remaining
        remaining -= 1
        failed = not f.cancelled() and f.exception() is not None
        if (remaining <= 0 or return_when == asyncio.FIRST_COMPLETED
                or (return_when == asyncio.FIRST_EXCEPTION and failed)):
            release()

    # A timer cancelled in the same activation never reaches history (the unsent
    # StartTimer command is dropped), so waits that end at once cost nothing durable.
    timer = loop.call_later(timeout, release) if timeout is not None else None
    for f in futures:
        f.add_done_callback(on_done)
    try:
        await waiter
    finally:
        if timer is not None:
            timer.cancel()
        for f in futures:
            f.remove_done_callback(on_done)
    done = [f for f in futures if f.done()]
    pending = [f for f in futures if not f.done()]
    return done, pending


def as_completed(fs: Iterable[Awaitable[T]], *, timeout: float | None = None) -> Iterator[Awaitable[T]]:
    """Iterate over awaitables that give the results of ``fs`` in completion order.

    The deterministic ``asyncio.as_completed``: each value the iterator yields is a
    coroutine; awaiting it returns the next result to arrive (or raises its error).
    Coroutines in ``fs`` are wrapped in tasks in the given order.

    Args:
        fs: Awaitables (futures, tasks or coroutines).
        timeout: Seconds for the whole iteration (a durable timer); awaiting after it
            passed raises ``asyncio.TimeoutError``.

    Raises:
        TypeError: ``fs`` is a single future or coroutine instead of an iterable.
    """
    if asyncio.isfuture(fs) or asyncio.iscoroutine(fs):
        raise TypeError(f"expect an iterable of futures, not {type(fs).__name__}")
    loop = asyncio.get_event_loop()
    todo: list[asyncio.Future[T]] = [asyncio.ensure_future(f, loop=loop) for f in list(fs)]
    finished: asyncio.Queue[asyncio.Future[T] | None] = asyncio.Queue()
    timer: asyncio.TimerHandle | None = None

    def on_timeout() -> None:
        # One marker per outstanding result, so every later await raises.
        for f in todo:
            f.remove_done_callback(on_done)
            finished.put_nowait(None)
        todo.clear()

    def on_done(f: asyncio.Future[T]) -> None:
        if not todo:
            return  # the timeout came first
        todo.remove(f)
        finished.put_nowait(f)
        if not todo and timer is not None:
            timer.cancel()

    async def next_result() -> T:
        f = await finished.get()
        if f is None:
            raise TimeoutError
        return f.result()

    for f in todo:
        f.add_done_callback(on_done)
    if todo and timeout is not None:
        timer = loop.call_later(timeout, on_timeout)
    for _ in range(len(todo)):
        yield next_result()
