"""The functions workflow code calls: thin calls on the instance running this coroutine."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from temporalflow.common import RetryPolicy
from temporalflow.core.definitions import ActivityDefinition, activity_name
from temporalflow.core.errors import NotInWorkflowEventLoopError
from temporalflow.core.info import WorkflowInfo
from temporalflow.core.instance import WorkflowInstance


class ActivityCancellationType(enum.IntEnum):
    """How cancelling an activity's task behaves (as temporalio)."""

    TRY_CANCEL = 0
    WAIT_CANCELLATION_COMPLETED = 1
    ABANDON = 2


class ParentClosePolicy(enum.IntEnum):
    """What happens to a child when its parent closes."""

    UNSPECIFIED = 0
    TERMINATE = 1
    ABANDON = 2
    REQUEST_CANCEL = 3


def _runtime() -> WorkflowInstance:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if not isinstance(loop, WorkflowInstance):
        raise NotInWorkflowEventLoopError("Not in workflow event loop")
    return loop


def in_workflow() -> bool:
    """True when called from workflow code."""
    try:
        _runtime()
        return True
    except NotInWorkflowEventLoopError:
        return False


def info() -> WorkflowInfo:
    """Information about the current workflow run."""
    return _runtime().info()


def now() -> datetime:
    """Deterministic current time (UTC): the time the current workflow task started."""
    return _runtime().now()


def time() -> float:
    """Deterministic current time in seconds (``loop.time()``)."""
    return _runtime().time()


def time_ns() -> int:
    """Deterministic current time in nanoseconds."""
    return int(_runtime().time() * 1_000_000_000)


def random() -> Any:
    """A ``random.Random`` seeded per run, safe to use in workflow code."""
    return _runtime().random()


def uuid4() -> Any:
    """A deterministic UUID4."""
    return _runtime().uuid4()


def memo() -> Mapping[str, Any]:
    """The run's memo, decoded."""
    return _runtime().memo()


def has_last_completion_result() -> bool:
    """Whether the previous run of this cron workflow completed with a result."""
    return _runtime().has_last_completion_result()


def get_last_completion_result(type_hint: Any = None) -> Any:
    """The result of the previous run of this cron workflow (None if there is none)."""
    return _runtime().get_last_completion_result(type_hint)


def get_last_failure() -> BaseException | None:
    """The failure of the previous run of this cron workflow, if it failed."""
    return _runtime().get_last_failure()


_MISSING: Any = object()


def memo_value(key: str, default: Any = _MISSING, *, type_hint: Any = None) -> Any:
    """One memo value; KeyError when absent and no default is given."""
    values = _runtime().memo()
    if key in values:
        return values[key]
    if default is _MISSING:
        raise KeyError(f"Memo does not have a value for key {key}")
    return default


def payload_converter() -> Any:
    """The payload converter of the worker running this workflow."""
    return _runtime().payload_converter()


def upsert_search_attributes(attributes: Any) -> None:
    """Set or unset search attributes of this run (``workflow.info().typed_search_attributes`` follows).

    Args:
        attributes: A sequence of ``SearchAttributeUpdate`` (``key.value_set(v)``,
            ``key.value_unset()``), or the deprecated ``{name: [values]}`` dict.

    Raises:
        TypeError: A value does not fit its key's type. An attribute that is not registered
            (``TEMPORALFLOW["SEARCH_ATTRIBUTES"]``) fails the workflow task, as Temporal does.
    """
    from temporalflow.common import _warn_on_deprecated_search_attributes

    _warn_on_deprecated_search_attributes(attributes)
    _runtime().upsert_search_attributes(attributes)


async def sleep(duration: float | timedelta, *, summary: str | None = None) -> None:
    """Durable sleep: a timer in the history. ``asyncio.sleep`` does the same."""
    seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
    await asyncio.sleep(seconds)


async def wait_condition(
    fn: Callable[[], bool], *, timeout: timedelta | float | None = None, timeout_summary: str | None = None
) -> None:
    """Wait until ``fn()`` is true; raises ``asyncio.TimeoutError`` after ``timeout``."""
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
    await _runtime().wait_condition(fn, seconds)


def _activity_call(
    activity: Callable[..., Any] | str, arg: Any, args: Sequence[Any], result_type: type | None,
) -> tuple[str, list[Any], type | None]:
    """An activity call's type name, argument list and result type (from the function's hints)."""
    if arg is not _MISSING:
        if args:
            raise ValueError("pass either arg or args, not both")
        args = [arg]
    if result_type is None and not isinstance(activity, str):
        defn = ActivityDefinition.from_callable(activity)
        result_type = defn.ret_type if defn is not None else None
    return activity_name(activity), list(args), result_type


def start_activity(
    activity: Callable[..., Any] | str,
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    task_queue: str | None = None,
    result_type: type | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    activity_id: str | None = None,
    versioning_intent: Any = None,
    summary: str | None = None,
    priority: Any = None,
) -> asyncio.Task[Any]:
    """Schedule an activity (by function or by name) and return a task for its result."""
    name, args, result_type = _activity_call(activity, arg, args, result_type)
    return _runtime().start_activity(
        name, args,
        task_queue=task_queue,
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        start_to_close_timeout=start_to_close_timeout,
        heartbeat_timeout=heartbeat_timeout,
        retry_policy=retry_policy,
        cancellation_type=int(cancellation_type),
        activity_id=activity_id,
        result_type=result_type,
    )


async def execute_activity(activity: Callable[..., Any] | str, arg: Any = _MISSING, **kwargs: Any) -> Any:
    """``await start_activity(...)``: run an activity and return its result."""
    return await start_activity(activity, arg, **kwargs)


def start_activity_class(activity: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.Task[Any]:
    """Start an activity defined as a callable class (by its ``__call__``)."""
    return start_activity(activity, *args, **kwargs)


def start_activity_method(activity: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.Task[Any]:
    """Start an activity defined as a method (by the unbound method)."""
    return start_activity(activity, *args, **kwargs)


async def execute_activity_method(activity: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run an activity defined as a method and return its result."""
    return await start_activity(activity, *args, **kwargs)


def start_local_activity(
    activity: Callable[..., Any] | str,
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    result_type: type | None = None,
    schedule_to_close_timeout: timedelta | None = None,
    schedule_to_start_timeout: timedelta | None = None,
    start_to_close_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    local_retry_threshold: timedelta | None = None,
    cancellation_type: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    activity_id: str | None = None,
    summary: str | None = None,
) -> asyncio.Task[Any]:
    """Run an activity in this worker, inside the current workflow task; returns a task for its result.

    The activity must be registered on the same worker. Its outcome is recorded as a
    marker, so replay does not run it again. Retries whose backoff exceeds
    ``local_retry_threshold`` (default 1 minute) wait on a durable timer.
    """
    name, args, result_type = _activity_call(activity, arg, args, result_type)
    return _runtime().start_local_activity(
        name, args,
        schedule_to_close_timeout=schedule_to_close_timeout,
        schedule_to_start_timeout=schedule_to_start_timeout,
        start_to_close_timeout=start_to_close_timeout,
        retry_policy=retry_policy,
        local_retry_threshold=local_retry_threshold,
        cancellation_type=int(cancellation_type),
        activity_id=activity_id,
        result_type=result_type,
    )


async def execute_local_activity(activity: Callable[..., Any] | str, arg: Any = _MISSING, **kwargs: Any) -> Any:
    """``await start_local_activity(...)``: run a local activity and return its result."""
    return await start_local_activity(activity, arg, **kwargs)


def start_local_activity_class(activity: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.Task[Any]:
    """Start a local activity defined as a callable class (by its ``__call__``)."""
    return start_local_activity(activity, *args, **kwargs)


async def execute_local_activity_class(activity: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a local activity defined as a callable class and return its result."""
    return await start_local_activity(activity, *args, **kwargs)


def start_local_activity_method(activity: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.Task[Any]:
    """Start a local activity defined as a method (by the unbound method)."""
    return start_local_activity(activity, *args, **kwargs)


async def execute_local_activity_method(activity: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a local activity defined as a method and return its result."""
    return await start_local_activity(activity, *args, **kwargs)


def continue_as_new(
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    workflow: Callable[..., Awaitable[Any]] | str | None = None,
    task_queue: str | None = None,
    run_timeout: timedelta | None = None,
    task_timeout: timedelta | None = None,
    retry_policy: RetryPolicy | None = None,
    memo: Mapping[str, Any] | None = None,
    search_attributes: Any = None,
    versioning_intent: Any = None,
) -> Any:
    """Close this run and start a new one with the given arguments (never returns)."""
    options: dict[str, Any] = {
        "args": list(args), "workflow": workflow, "task_queue": task_queue, "run_timeout": run_timeout,
        "task_timeout": task_timeout, "retry_policy": retry_policy, "memo": memo,
        "search_attributes": search_attributes,
    }
    if arg is not _MISSING:
        options["arg"] = arg
    raise _runtime().continue_as_new_error(**options)


def patched(id: str) -> bool:
    """True when this code path is new (or history recorded it): branch safely on code changes."""
    return _runtime().patched(id, deprecated=False)


def deprecate_patch(id: str) -> None:
    """Mark a patch as deprecated: old histories without its marker still replay."""
    _runtime().patched(id, deprecated=True)


def all_handlers_finished() -> bool:
    """True when no signal or update handler is still running."""
    return _runtime().all_handlers_finished()


def get_signal_handler(name: str) -> Callable[..., Any] | None:
    """The signal handler registered for ``name``."""
    return _runtime().get_handler("signal", name)


def set_signal_handler(name: str, handler: Callable[..., Any] | None) -> None:
    """Register (or, with None, remove) a signal handler; buffered signals are delivered."""
    _runtime().set_handler("signal", name, handler)


def get_dynamic_signal_handler() -> Callable[..., Any] | None:
    """The dynamic signal handler."""
    return _runtime().get_handler("signal", None)


def set_dynamic_signal_handler(handler: Callable[..., Any] | None) -> None:
    """Register the handler for signals no named handler takes: ``fn(name, args)``."""
    _runtime().set_handler("signal", None, handler)


def get_query_handler(name: str) -> Callable[..., Any] | None:
    """The query handler registered for ``name``."""
    return _runtime().get_handler("query", name)


def set_query_handler(name: str, handler: Callable[..., Any] | None) -> None:
    """Register (or remove) a query handler."""
    _runtime().set_handler("query", name, handler)


def get_dynamic_query_handler() -> Callable[..., Any] | None:
    """The dynamic query handler."""
    return _runtime().get_handler("query", None)


def set_dynamic_query_handler(handler: Callable[..., Any] | None) -> None:
    """Register the handler for queries no named handler takes."""
    _runtime().set_handler("query", None, handler)


def get_update_handler(name: str) -> Callable[..., Any] | None:
    """The update handler registered for ``name``."""
    return _runtime().get_handler("update", name)


def set_update_handler(
    name: str, handler: Callable[..., Any] | None, *, validator: Callable[..., Any] | None = None
) -> None:
    """Register (or remove) an update handler with an optional validator."""
    _runtime().set_handler("update", name, handler, validator=validator)


def get_dynamic_update_handler() -> Callable[..., Any] | None:
    """The dynamic update handler."""
    return _runtime().get_handler("update", None)


def set_dynamic_update_handler(
    handler: Callable[..., Any] | None, *, validator: Callable[..., Any] | None = None
) -> None:
    """Register the handler for updates no named handler takes."""
    _runtime().set_handler("update", None, handler, validator=validator)


class _Unsafe:
    """``workflow.unsafe``: escape hatches, as in temporalio."""

    @staticmethod
    def is_replaying() -> bool:
        """True while the workflow is replaying history."""
        return _runtime().is_replaying()

    @staticmethod
    def in_sandbox() -> bool:
        """Temporalflow runs no sandbox."""
        return False

    @staticmethod
    @contextlib.contextmanager
    def imports_passed_through() -> Iterator[None]:
        """No-op (there is no sandbox); kept so temporalio code imports unchanged."""
        yield

    @staticmethod
    @contextlib.contextmanager
    def sandbox_unrestricted() -> Iterator[None]:
        """No-op (there is no sandbox)."""
        yield


unsafe = _Unsafe()


class _ReplaySafeLoggerAdapter(logging.LoggerAdapter):
    """``workflow.logger``: adds workflow ids, and is silent during replay."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("temporalflow.workflow"), {})

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 (logging's name)
        """Skip records while replaying, so each line is logged once."""
        try:
            if _runtime().is_replaying():
                return False
        except NotInWorkflowEventLoopError:
            pass
        return super().isEnabledFor(level)

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        """Append workflow details to the message and the record."""
        try:
            i = _runtime().info()
        except (NotInWorkflowEventLoopError, AssertionError):
            return msg, kwargs
        details = {"workflow_id": i.workflow_id, "run_id": i.run_id, "workflow_type": i.workflow_type,
                   "task_queue": i.task_queue, "namespace": i.namespace, "attempt": i.attempt}
        extra = dict(kwargs.get("extra") or {})
        extra.setdefault("temporal_workflow", details)
        extra.update({k: v for k, v in details.items() if k not in extra})
        kwargs["extra"] = extra
        return f"{msg} ({details})", kwargs


logger = _ReplaySafeLoggerAdapter()
