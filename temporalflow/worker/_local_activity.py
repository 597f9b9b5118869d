"""Local activities: run by the worker inside the workflow task that scheduled them.

A local activity never reaches the activity queue. The worker runs its attempts in
place (retrying with the policy's backoff while it stays under
``local_retry_threshold``), then records the outcome as a marker in the same task's
completion; replay reads the marker instead of running the activity again. A
backoff past the threshold is handed back to the workflow, which waits on a durable
timer and schedules the next attempt (see ``WorkflowInstance._retry_local_later``),
as Temporal's SDKs do.
"""

from __future__ import annotations

import asyncio
import contextvars
import ctypes
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalflow import activity as activity_api
from temporalflow.core import activation as jobs
from temporalflow.core import commands as cmds
from temporalflow.core import retry as retry_math
from temporalflow.core.info import ActivityInfo
from temporalflow.core.payload import payloads_from_json, payloads_size, payloads_to_json
from temporalflow.exceptions import ApplicationError, CancelledError, TimeoutError, TimeoutType
from temporalflow.store import base as sb

TimeoutError_ = asyncio.TimeoutError
"""The builtin timeout; ``TimeoutError`` in this module is temporalio's exception."""


@dataclass(slots=True)
class LocalOutcome:
    """What a local activity's attempts came to: the marker to record and what the workflow sees."""

    marker: cmds.RecordMarker
    resolution: jobs.ResolveActivity


class _AttemptTimeout(Exception):
    """An attempt ran past its start-to-close (or the schedule-to-close budget)."""

    def __init__(self, timeout_type: TimeoutType) -> None:
        super().__init__(timeout_type.name)
        self.timeout_type = timeout_type


class LocalActivityRunner:
    """Runs the attempts of local activities for one worker."""

    def __init__(
        self,
        *,
        registry: Any,
        data_converter: Any,
        executor: Executor | None,
        payload_size_limit: int,
        worker_shutdown: threading.Event,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.converter = data_converter
        self.executor = executor
        self.payload_size_limit = payload_size_limit
        self.worker_shutdown = worker_shutdown
        self.clock = clock

    async def run(self, lease: sb.WorkflowTaskLease, cmd: cmds.ScheduleLocalActivity) -> LocalOutcome:
        """Run attempts of ``cmd`` until one succeeds, retries end, or a backoff is long.

        Cancelling the calling task (the workflow cancelled the activity) stops the running
        attempt; the outcome is then a cancellation.
        """
        first_scheduled = cmd.original_schedule_time or self.clock()
        attempt = cmd.attempt
        while True:
            attempt_started = self.clock()
            try:
                result = await self._attempt(lease, cmd, attempt, first_scheduled, attempt_started)
            except (asyncio.CancelledError, CancelledError):
                return self.cancelled(cmd, attempt)
            except Exception as err:  # noqa: BLE001 - every failure is an outcome
                failure = self._failure_of(err)
            else:
                return LocalOutcome(
                    marker=cmds.local_activity_marker(cmd, complete_time=self.clock(), result=result,
                                                      attempt=attempt),
                    resolution=jobs.ResolveActivity(seq=cmd.seq, result=result),
                )
            info = failure.get("application_failure_info") or {}
            timeout = failure.get("timeout_failure_info") or {}
            if timeout.get("timeout_type") == "TIMEOUT_TYPE_SCHEDULE_TO_CLOSE":
                delay, retry_state = None, retry_math.RETRY_STATE_TIMEOUT
            else:
                delay, retry_state = retry_math.next_retry_delay(
                    cmd.retry_policy, attempt,
                    error_type=info.get("type") or None,
                    non_retryable=bool(info.get("non_retryable")),
                    next_retry_delay=info.get("next_retry_delay"),
                    elapsed=self.clock() - first_scheduled,
                    schedule_to_close_timeout=cmd.schedule_to_close_timeout,
                )
            if delay is None:
                return self._final_failure(cmd, attempt, failure, retry_state)
            if delay > cmd.local_retry_threshold:
                backoff = {"attempt": attempt + 1, "backoff_duration": delay,
                           "original_schedule_time": first_scheduled}
                return LocalOutcome(
                    marker=cmds.local_activity_marker(cmd, complete_time=self.clock(), failure=failure,
                                                      backoff=backoff, attempt=attempt),
                    resolution=jobs.ResolveActivity(seq=cmd.seq, backoff=backoff),
                )
            try:
                await asyncio.sleep(delay)
            except asyncio.CancelledError:
                return self.cancelled(cmd, attempt)
            attempt += 1

    def cancelled(self, cmd: cmds.ScheduleLocalActivity, attempt: int) -> LocalOutcome:
        """The outcome of a local activity the workflow cancelled."""
        failure = {
            "message": "Activity cancelled",
            "activity_failure_info": {
                "activity_type": {"name": cmd.activity_type}, "activity_id": cmd.activity_id,
                "retry_state": "RETRY_STATE_CANCEL_REQUESTED",
            },
            "cause": {"message": "Activity cancelled", "canceled_failure_info": {}},
        }
        return LocalOutcome(
            marker=cmds.local_activity_marker(cmd, complete_time=self.clock(), failure=failure, attempt=attempt),
            resolution=jobs.ResolveActivity(seq=cmd.seq, failure=failure, cancelled=True),
        )

    # --- one attempt ---------------------------------------------------------------

    async def _attempt(
        self, lease: sb.WorkflowTaskLease, cmd: cmds.ScheduleLocalActivity, attempt: int,
        first_scheduled: float, started: float,
    ) -> Any:
        pc = self.converter.payload_converter
        defn = self.registry.get(cmd.activity_type)
        raw = payloads_from_json(cmd.input)
        if defn.name is None:
            from temporalflow.common import RawValue

            args: list[Any] = [cmd.activity_type, [RawValue(p) for p in raw]]
        else:
            hints = defn.arg_types[: len(raw)] if defn.arg_types is not None else None
            try:
                args = list(pc.from_payloads(raw, hints))
            except Exception as err:
                raise ApplicationError(f"Failed decoding arguments of activity {cmd.activity_type}: {err}",
                                       type="DecodeError", non_retryable=True) from err
        limit, timeout_type = self._attempt_limit(cmd, first_scheduled, started)
        info = ActivityInfo(
            activity_id=cmd.activity_id, activity_type=cmd.activity_type, attempt=attempt,
            current_attempt_scheduled_time=_dt(started), heartbeat_details=[], heartbeat_timeout=None,
            is_local=True, schedule_to_close_timeout=_td(cmd.schedule_to_close_timeout),
            scheduled_time=_dt(first_scheduled), start_to_close_timeout=_td(cmd.start_to_close_timeout),
            started_time=_dt(started), task_queue=lease.task_queue, task_token=b"",
            workflow_id=lease.workflow_id, workflow_namespace=lease.namespace, workflow_run_id=lease.run_id,
            workflow_type=lease.workflow_type, retry_policy=cmd.retry_policy, namespace=lease.namespace,
        )
        # Local activities do not heartbeat to the server (Temporal ignores it too).
        ctx = activity_api._Context(info=info, heartbeat=lambda *details: None, cancelled=threading.Event(),
                                    worker_shutdown=self.worker_shutdown, payload_converter=pc)
        context = contextvars.copy_context()
        context.run(activity_api._current.set, ctx)
        if defn.is_async:
            task = asyncio.get_running_loop().create_task(defn.fn(*args), context=context)  # type: ignore[call-arg]
            try:
                result = await asyncio.wait_for(asyncio.shield(task), limit)
            except TimeoutError_:
                ctx.set_cancelled("TIMED_OUT")
                task.cancel()
                raise _AttemptTimeout(timeout_type) from None
            except asyncio.CancelledError:
                ctx.set_cancelled("CANCELLED")
                task.cancel()
                raise
        else:
            if self.executor is None:
                raise ApplicationError("sync activities need an activity_executor", type="ConfigurationError")
            thread_id: list[int] = []

            def in_thread() -> Any:
                thread_id.append(threading.get_ident())
                try:
                    return context.run(defn.fn, *args)
                finally:
                    thread_id.clear()

            fut = asyncio.get_running_loop().run_in_executor(self.executor, in_thread)
            try:
                result = await asyncio.wait_for(asyncio.shield(fut), limit)
            except (TimeoutError_, asyncio.CancelledError) as err:
                ctx.set_cancelled("TIMED_OUT" if isinstance(err, TimeoutError_) else "CANCELLED")
                if thread_id and not getattr(defn, "no_thread_cancel_exception", False):
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id[0]),
                                                               ctypes.py_object(CancelledError))
                if isinstance(err, TimeoutError_):
                    raise _AttemptTimeout(timeout_type) from None
                raise
        payloads = payloads_to_json(pc.to_payloads([result]))
        size = payloads_size(payloads)
        if size > self.payload_size_limit:
            raise ApplicationError(
                f"result of activity {cmd.activity_type} is {size} bytes, over the payload size limit of "
                f"{self.payload_size_limit} bytes", type="PayloadSizeError", non_retryable=True)
        return payloads

    def _attempt_limit(
        self, cmd: cmds.ScheduleLocalActivity, first_scheduled: float, started: float,
    ) -> tuple[float | None, TimeoutType]:
        """Seconds this attempt may run, and which timeout ends it."""
        limit, kind = cmd.start_to_close_timeout, TimeoutType.START_TO_CLOSE
        if cmd.schedule_to_close_timeout:
            left = max(0.0, first_scheduled + cmd.schedule_to_close_timeout - started)
            if limit is None or left <= limit:
                limit, kind = left, TimeoutType.SCHEDULE_TO_CLOSE
        return limit, kind

    def _failure_of(self, err: BaseException) -> dict[str, Any]:
        if isinstance(err, _AttemptTimeout):
            err = TimeoutError("activity timeout", type=err.timeout_type, last_heartbeat_details=[])
        return self.converter.failure_converter.to_failure(err, self.converter.payload_converter)

    def _final_failure(
        self, cmd: cmds.ScheduleLocalActivity, attempt: int, cause: dict[str, Any], retry_state: str,
    ) -> LocalOutcome:
        timed_out = "timeout_failure_info" in cause
        failure = {
            "message": "Activity task timed out" if timed_out else "Activity task failed",
            "activity_failure_info": {
                "activity_type": {"name": cmd.activity_type}, "activity_id": cmd.activity_id,
                "retry_state": retry_state, "scheduled_event_id": 0, "started_event_id": 0,
            },
            "cause": cause,
        }
        return LocalOutcome(
            marker=cmds.local_activity_marker(cmd, complete_time=self.clock(), failure=failure, attempt=attempt),
            resolution=jobs.ResolveActivity(seq=cmd.seq, failure=failure),
        )


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def _td(seconds: float | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=seconds)
