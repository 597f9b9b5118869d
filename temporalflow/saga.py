"""``Saga``: compensations for a multi-step workflow, run in reverse (or in parallel) on failure.

A saga is a sequence of steps that each have an undo. Register the undo right after its
step succeeded; when a later step fails, ``compensate()`` runs the undos of the steps
that succeeded, last first::

    from temporalflow import workflow
    from temporalflow.saga import Saga

    @workflow.defn
    class OrderWorkflow:
        @workflow.run
        async def run(self, order: Order) -> str:
            opts = {"start_to_close_timeout": timedelta(seconds=30)}
            async with Saga(activity_options=opts) as saga:
                await workflow.execute_activity(reserve_stock, order, **opts)
                saga.add_compensation(release_stock, order)
                await workflow.execute_activity(charge_card, order, **opts)
                saga.add_compensation(refund_card, order)
                await workflow.execute_activity(ship, order, **opts)
            return "shipped"

The ``async with`` block compensates when the block raises (an exception, or the
workflow's cancellation) and re-raises the error, so the workflow still fails (or is
cancelled) with its original cause. ``continue_as_new`` passes through untouched.

A compensation is an activity (given by function or by name: it runs with
``workflow.execute_activity``, and the keyword arguments of ``add_compensation`` are its
activity options, merged over the saga's ``activity_options``) or any other callable
(called with the given positional and keyword arguments; an awaitable result is
awaited). Everything runs as ordinary workflow code on the workflow's deterministic
loop, so a saga replays exactly: same compensations, same order, same activities.

This module uses the standard library and the authoring API only.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from temporalflow import workflow
from temporalflow.core.definitions import ActivityDefinition
from temporalflow.exceptions import ApplicationError

__all__ = ["Compensation", "CompensationError", "Saga"]


@dataclass(frozen=True)
class Compensation:
    """One registered compensation: what ``Saga.compensate`` will call, and with what."""

    fn: Callable[..., Any] | str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_activity(self) -> bool:
        """True when ``fn`` is an activity (by name or ``@activity.defn`` function)."""
        return isinstance(self.fn, str) or ActivityDefinition.from_callable(self.fn) is not None

    @property
    def name(self) -> str:
        """A readable name for messages: the activity name or the callable's qualified name."""
        if isinstance(self.fn, str):
            return self.fn
        defn = ActivityDefinition.from_callable(self.fn)
        if defn is not None and defn.name:
            return defn.name
        return getattr(self.fn, "__qualname__", None) or repr(self.fn)


class CompensationError(ApplicationError):
    """One or more compensations failed.

    An :py:class:`~temporalflow.exceptions.ApplicationError` (type
    ``"CompensationError"``), so raised from the run method it fails the workflow rather
    than its task. ``errors`` holds the exceptions in the order the compensations ran
    (or were registered, in reverse, when they ran in parallel), ``failed`` the matching
    :py:class:`Compensation` entries; the first error is also the ``__cause__``. The
    error's details are the failed compensations' names and messages, so they survive
    the trip through history.
    """

    def __init__(self, failures: Sequence[tuple[Compensation, BaseException]]) -> None:
        """Build the error from ``(compensation, exception)`` pairs (at least one)."""
        if not failures:
            raise ValueError("CompensationError needs at least one failure")
        summary = "; ".join(f"{c.name}: {_describe(e)}" for c, e in failures)
        count = len(failures)
        super().__init__(
            f"{count} compensation{'s' if count != 1 else ''} failed: {summary}",
            *[{"compensation": c.name, "error": _describe(e), "error_type": type(e).__name__} for c, e in failures],
            type="CompensationError",
        )
        self.failed: list[Compensation] = [c for c, _ in failures]
        self.errors: list[BaseException] = [e for _, e in failures]
        self.__cause__ = self.errors[0]


def _describe(err: BaseException) -> str:
    """The error's text with its cause's (an ActivityError says little without its cause)."""
    cause = err.__cause__
    return f"{err} ({cause})" if cause is not None else str(err)


class Saga:
    """Compensations registered step by step and run in reverse order (or in parallel).

    Args:
        parallel_compensations: Run every compensation at once (started in reverse
            registration order) instead of one after another, last registered first.
            All of them run even when some fail; the failures are raised together.
        continue_on_compensation_failure: In sequential mode, keep compensating after
            one fails, then raise every failure together. When false (the default), the
            first failure stops compensation: it is raised (as a ``CompensationError``)
            and the compensations not yet run stay registered, so a later
            ``compensate()`` can carry on.
        activity_options: Default ``execute_activity`` options for activity
            compensations (e.g. ``{"start_to_close_timeout": timedelta(seconds=30)}``);
            the keyword arguments of ``add_compensation`` override them.
    """

    def __init__(
        self,
        *,
        parallel_compensations: bool = False,
        continue_on_compensation_failure: bool = False,
        activity_options: Mapping[str, Any] | None = None,
    ) -> None:
        """Create an empty saga."""
        self.parallel_compensations = parallel_compensations
        self.continue_on_compensation_failure = continue_on_compensation_failure
        self.activity_options: dict[str, Any] = dict(activity_options or {})
        self._compensations: list[Compensation] = []

    @property
    def compensations(self) -> list[Compensation]:
        """The registered compensations not yet run, in registration order (a copy)."""
        return list(self._compensations)

    def add_compensation(self, fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> None:
        """Register the undo of the step that just succeeded.

        Args:
            fn: An activity (``@activity.defn`` function or method, or an activity type
                name) or any callable, sync or async.
            *args: Positional arguments for ``fn`` (for an activity, its arguments).
            **kwargs: For an activity, ``execute_activity`` options (timeouts, retry
                policy, task queue, …) over the saga's ``activity_options``; for any
                other callable, its keyword arguments.

        Raises:
            TypeError: ``fn`` is neither callable nor an activity name.
        """
        if not isinstance(fn, str) and not callable(fn):
            raise TypeError(f"a compensation must be an activity or a callable, got {fn!r}")
        if isinstance(fn, str) and not fn:
            raise TypeError("a compensation activity name must not be empty")
        self._compensations.append(Compensation(fn=fn, args=tuple(args), kwargs=dict(kwargs)))

    async def compensate(self) -> None:
        """Run the registered compensations: last registered first, or all in parallel.

        Compensations that ran (successfully or not) are removed, so calling
        ``compensate()`` again does not repeat them.

        Raises:
            CompensationError: One or more compensations failed (see the constructor's
                ``continue_on_compensation_failure`` and ``parallel_compensations``).
        """
        if self.parallel_compensations:
            pending = list(reversed(self._compensations))
            self._compensations.clear()
            # gather starts the tasks in list order: the same order on every replay.
            outcomes = await asyncio.gather(*(self._run(c) for c in pending), return_exceptions=True)
            failures = [(c, e) for c, e in zip(pending, outcomes, strict=True) if isinstance(e, BaseException)]
            # A cancellation of the workflow while compensating is the workflow's, not a failure.
            for _, e in failures:
                if isinstance(e, asyncio.CancelledError):
                    raise e
            if failures:
                raise CompensationError(failures)
            return
        failures = []
        while self._compensations:
            compensation = self._compensations.pop()
            try:
                await self._run(compensation)
            except Exception as err:
                failures.append((compensation, err))
                if not self.continue_on_compensation_failure:
                    break
        if failures:
            raise CompensationError(failures)

    async def _run(self, compensation: Compensation) -> Any:
        if compensation.is_activity:
            options = {**self.activity_options, **compensation.kwargs}
            return await workflow.execute_activity(compensation.fn, args=list(compensation.args), **options)
        assert callable(compensation.fn)
        result = compensation.fn(*compensation.args, **compensation.kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def __aenter__(self) -> Saga:
        """Enter the saga's block; compensations registered inside run if it raises."""
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None,
    ) -> bool:
        """Compensate when the block raised an exception or was cancelled; never swallow it.

        A failing compensation raises its ``CompensationError`` instead (its
        ``__context__`` is the block's error).
        """
        if isinstance(exc, Exception | asyncio.CancelledError):
            await self.compensate()
        return False
