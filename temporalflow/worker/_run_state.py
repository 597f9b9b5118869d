"""What a worker keeps per run between tasks: the sticky cache of run drivers, and each run's lock.

Both are used from the worker's loop and from database threads (inline activations run
in the thread of the transaction that claimed their task), so both are thread-safe.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from typing import Any

from temporalflow.core.machines import RunDriver


class RunCache:
    """LRU of live run drivers (``max_cached_workflows``)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: collections.OrderedDict[str, RunDriver] = collections.OrderedDict()
        self._mutex = threading.Lock()  # the loop and database threads (inline activations) both use it
        self.hits = 0
        self.misses = 0

    def get(self, run_id: str) -> RunDriver | None:
        """The cached driver, marking it most recently used."""
        with self._mutex:
            driver = self._items.get(run_id)
            if driver is None:
                self.misses += 1
                return None
            self.hits += 1
            self._items.move_to_end(run_id)
            return driver

    def put(self, run_id: str, driver: RunDriver) -> None:
        """Keep ``driver``, evicting the least recently used beyond ``size``."""
        if self.size <= 0:
            return
        with self._mutex:
            self._items[run_id] = driver
            self._items.move_to_end(run_id)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def known_event_id(self, run_id: str) -> int:
        """The last event id the cached run has seen (0 if not cached); safe from any thread."""
        driver = self._items.get(run_id)  # a plain read: no LRU move from a database thread
        return driver.last_event_id if driver is not None else 0

    def evict(self, run_id: str) -> None:
        """Forget a run (its next task replays from history)."""
        with self._mutex:
            self._items.pop(run_id, None)

    def __len__(self) -> int:
        return len(self._items)


class RunLock:
    """One run's lock: awaited on the worker's loop, or tried (never waited for) from a database thread.

    An inline activation runs in the database thread of the transaction that claimed its
    task, so it must be able to take the run without the loop; everything that waits for
    the lock, and every release, happens on the loop.
    """

    __slots__ = ("_held", "_mutex", "_waiters")

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: collections.deque[asyncio.Future[None]] | None = None  # made on the first wait

    def locked(self) -> bool:
        """True while someone holds it (or it is being handed to a waiter)."""
        return self._held

    def try_acquire(self) -> bool:
        """Take it if free (any thread); never waits."""
        with self._mutex:
            if self._held:
                return False
            self._held = True
            return True

    async def acquire(self) -> None:
        """Take it, waiting on the loop if it is held."""
        with self._mutex:
            if not self._held:
                self._held = True
                return
            fut = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = collections.deque()
            self._waiters.append(fut)
        try:
            await fut
        except BaseException:
            with self._mutex:
                handed = fut not in self._waiters
                if not handed:
                    self._waiters.remove(fut)
            if handed:  # it was handed to us as we were cancelled: pass it on
                self.release()
            raise

    def release(self) -> None:
        """Give it up (on the loop): the first waiter, if any, holds it next."""
        with self._mutex:
            while self._waiters:
                fut = self._waiters.popleft()
                if not fut.done():
                    fut.set_result(None)
                    return
            self._held = False

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: Any) -> None:
        self.release()
