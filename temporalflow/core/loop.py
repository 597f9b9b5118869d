"""The deterministic asyncio event loop that workflow code runs on.

No real time, no threads, no I/O: ``time()`` is the workflow task's recorded
time, ``call_later`` becomes a durable timer command, and ready callbacks run
in FIFO order. ``WorkflowInstance`` (core/instance.py) subclasses this and adds
the workflow runtime on top. Only the parts of ``AbstractEventLoop`` that
asyncio's futures, tasks, ``sleep``, ``wait_for``, ``gather``, ``wait`` and
``shield`` need are implemented; anything else raises, loudly, because it
would break determinism.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Coroutine
from typing import Any

logger = logging.getLogger("temporalflow.workflow")


class TimerHandle(asyncio.TimerHandle):
    """A durable timer's handle: ``seq`` names the StartTimer command."""

    def __init__(
        self, seq: int, when: float, callback: Callable[..., Any], args: tuple[Any, ...],
        loop: DeterministicEventLoop, context: contextvars.Context | None,
    ) -> None:
        super().__init__(when, callback, args, loop, context=context)
        self.seq = seq
        # asyncio only reports a cancellation to the loop for scheduled handles.
        self._scheduled = True


class DeterministicEventLoop(asyncio.AbstractEventLoop):
    """An event loop driven one activation at a time by its owner."""

    def __init__(self) -> None:
        # A list, not a deque: an idle deque holds a 64-slot block (~760 bytes), and
        # thousands of cached runs sit idle. Batches are swapped out whole (FIFO kept).
        self._ready: list[asyncio.Handle] = []
        self._time: float = 0.0
        self._conditions: list[tuple[Callable[[], bool], asyncio.Future[bool]]] = []
        self._loop_errors: list[BaseException] = []
        self._debug = False

    # --- hooks for the owner ----------------------------------------------

    def _start_timer(self, delay: float, handle_factory: Callable[[int], TimerHandle]) -> TimerHandle:
        raise NotImplementedError

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        raise NotImplementedError

    def _run_ready(self) -> None:
        """Run callbacks until nothing is ready and no wait condition became true."""
        prev = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self)
        try:
            while True:
                while self._ready:
                    batch, self._ready = self._ready, []
                    for handle in batch:
                        if not handle._cancelled:
                            handle._run()
                if not self._check_conditions():
                    break
        finally:
            asyncio.events._set_running_loop(prev)

    def _check_conditions(self) -> bool:
        resolved = False
        remaining = []
        for fn, fut in self._conditions:
            if fut.done():
                continue
            if fn():
                fut.set_result(True)
                resolved = True
            else:
                remaining.append((fn, fut))
        self._conditions = remaining
        return resolved

    def _add_condition(self, fn: Callable[[], bool]) -> asyncio.Future[bool]:
        fut: asyncio.Future[bool] = self.create_future()
        self._conditions.append((fn, fut))
        return fut

    # --- the AbstractEventLoop surface asyncio uses -----------------------

    def time(self) -> float:
        """The workflow's deterministic time (epoch seconds of the current task)."""
        return self._time

    def call_soon(
        self, callback: Callable[..., Any], *args: Any, context: contextvars.Context | None = None
    ) -> asyncio.Handle:
        """Queue ``callback`` to run in this activation, in FIFO order."""
        handle = asyncio.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def call_later(
        self, delay: float, callback: Callable[..., Any], *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        """Start a durable timer (a StartTimer command) that runs ``callback`` when it fires."""
        if delay <= 0:
            # Zero-length waits (e.g. wait_for(..., timeout=0)) need no durable timer.
            handle = asyncio.TimerHandle(self._time, callback, args, self, context)
            self._ready.append(handle)
            return handle

        def factory(seq: int) -> TimerHandle:
            return TimerHandle(seq, self._time + delay, callback, args, self, context)

        return self._start_timer(delay, factory)

    def call_at(
        self, when: float, callback: Callable[..., Any], *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        """``call_later(when - time())``."""
        return self.call_later(when - self._time, callback, *args, context=context)

    def create_future(self) -> asyncio.Future[Any]:
        """A future bound to this loop."""
        return asyncio.Future(loop=self)

    def create_task(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None,
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[Any]:
        """A task bound to this loop; it first runs in the current activation."""
        return asyncio.Task(coro, loop=self, name=name, context=context)

    def get_debug(self) -> bool:
        """Asyncio debug mode is off: it reads real time."""
        return self._debug

    def set_debug(self, enabled: bool) -> None:
        """Ignored: debug mode would read real time."""

    def is_running(self) -> bool:
        """True only while an activation runs."""
        return asyncio.events._get_running_loop() is self

    def is_closed(self) -> bool:
        """A workflow loop is never closed while its owner keeps it."""
        return False

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        """Record errors raised by callbacks so the activation can fail the task."""
        exc = context.get("exception")
        message = context.get("message", "")
        if "never retrieved" in message or "destroyed but it is pending" in message:
            # Garbage-collection notices: their timing is not deterministic.
            logger.debug("workflow loop: %s", message)
            return
        self._loop_errors.append(exc if isinstance(exc, BaseException) else RuntimeError(message))

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        """See :meth:`call_exception_handler`."""
        self.call_exception_handler(context)

    def get_task_factory(self) -> None:
        """No custom task factory."""
        return None

    def _unsupported(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            "this asyncio operation is not deterministic and is not allowed in workflow code "
            "(do I/O, threads and real time in activities)"
        )

    run_in_executor = _unsupported
    getaddrinfo = _unsupported
    create_connection = _unsupported
    create_server = _unsupported
    subprocess_exec = _unsupported
    subprocess_shell = _unsupported
    add_reader = _unsupported
    add_writer = _unsupported
    sock_recv = _unsupported
    sock_sendall = _unsupported
    sock_connect = _unsupported
    run_forever = _unsupported
    run_until_complete = _unsupported
    call_soon_threadsafe = _unsupported
