"""Activity attempts.

Decode, run (thread pool for ``def``, the loop for ``async def``), heartbeat with throttling, deliver
cancellation, report the outcome.
"""

from __future__ import annotations

import asyncio
import contextvars
import ctypes
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalflow import activity as activity_api
from temporalflow import metrics
from temporalflow.core.definitions import ActivityDefinition
from temporalflow.core.info import ActivityInfo
from temporalflow.core.payload import payloads_from_json, payloads_size, payloads_to_json
from temporalflow.exceptions import ApplicationError, ApplicationErrorCategory, CancelledError
from temporalflow.store import base as sb

logger = logging.getLogger("temporalflow.worker")


def _log_extra(lease: sb.ActivityTaskLease) -> dict[str, Any]:
    """Structured-log fields of a worker line about one activity attempt."""
    return {"workflow_id": lease.workflow_id, "run_id": lease.run_id, "activity_id": lease.activity_id,
            "activity_type": lease.activity_type, "attempt": lease.attempt, "namespace": lease.namespace}


class ActivityRegistry:
    """Activity definitions by type name (None: the dynamic activity)."""

    def __init__(self, activities: Sequence[Callable[..., Any]]) -> None:
        self.by_name: dict[str | None, ActivityDefinition] = {}
        for fn in activities:
            defn = ActivityDefinition.must_from_callable(fn)
            if defn.name in self.by_name:
                what = "dynamic activity" if defn.name is None else f"activity named {defn.name!r}"
                raise ValueError(f"more than one {what} given to the worker")
            self.by_name[defn.name] = defn

    def get(self, name: str) -> ActivityDefinition:
        """The definition for ``name``; a clear error listing the registered types if unknown."""
        defn = self.by_name.get(name) or self.by_name.get(None)
        if defn is None:
            known = ", ".join(sorted(n for n in self.by_name if n is not None))
            raise ApplicationError(
                f"Activity function {name} is not registered on this worker, available activities: {known}",
                type="NotFoundError",
            )
        return defn

    @property
    def has_sync(self) -> bool:
        """True if any activity is a plain ``def`` (needs the thread pool)."""
        return any(not d.is_async for d in self.by_name.values())


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def _td(seconds: float | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=seconds)


class _Attempt:
    """One running attempt: its context, heartbeat state and cancellation."""

    def __init__(self, lease: sb.ActivityTaskLease, ctx: activity_api._Context) -> None:
        self.lease = lease
        self.ctx = ctx
        self.task: asyncio.Task[Any] | None = None
        self.thread_id: int | None = None
        self.details: tuple[Any, ...] | None = None
        self.heartbeat_dirty = False
        self.heartbeat_task: asyncio.Task[None] | None = None
        self.lost_lease = False
        self.shutdown_cancel = False


class ActivityRunner:
    """Runs activity attempts for one worker."""

    def __init__(
        self,
        *,
        store: sb.Store,
        identity: str,
        registry: ActivityRegistry,
        data_converter: Any,
        db: Callable[..., Awaitable[Any]],
        executor: Executor | None,
        heartbeat_throttle_max: float = 30.0,
        default_heartbeat_throttle: float = 30.0,
        payload_size_limit: int = 2 * 1024 * 1024,
        reserve_workflow_slot: Callable[[], bool] = lambda: False,
        on_workflow_task: Callable[
            [str, sb.WorkflowTaskLease | None, sb.CompleteWorkflowTaskResult | None], None
        ] = lambda run_id, lease, result: None,
        run_workflow_task: Callable[[sb.WorkflowTaskLease], sb.WorkflowTaskCompletion | None] | None = None,
    ) -> None:
        self.store = store
        self.identity = identity
        self.registry = registry
        self.converter = data_converter
        self.db = db
        self.executor = executor
        self.payload_size_limit = payload_size_limit
        self.throttle_max = heartbeat_throttle_max
        self.default_throttle = default_heartbeat_throttle
        # When this worker also runs the workflow (it holds the run sticky), a completion
        # may hand back the run's next workflow task, already started for us.
        self.reserve_workflow_slot = reserve_workflow_slot
        self.on_workflow_task = on_workflow_task
        self.run_workflow_task = run_workflow_task
        self.running: dict[str, _Attempt] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._worker_shutdown = threading.Event()
        self._loop_thread = threading.get_ident()

    def _throttle(self, lease: sb.ActivityTaskLease) -> float:
        if lease.heartbeat_timeout:
            return min(lease.heartbeat_timeout * 0.8, self.throttle_max)
        return min(self.default_throttle, self.throttle_max)

    async def run(self, lease: sb.ActivityTaskLease) -> None:
        """Run one attempt to its outcome and report it."""
        loop = asyncio.get_running_loop()
        pc = self.converter.payload_converter
        try:
            # Through the codec too, as temporalio decodes the previous attempt's heartbeat details.
            details = (await self.converter.decode(payloads_from_json(lease.heartbeat_details))
                       if lease.heartbeat_details else [])
        except Exception:
            logger.warning("Could not decode the heartbeat details of activity %s (%s); info() has none",
                           lease.activity_id, lease.activity_type, exc_info=True, extra=_log_extra(lease))
            details = []
        info = ActivityInfo(
            activity_id=lease.activity_id, activity_type=lease.activity_type, attempt=lease.attempt,
            current_attempt_scheduled_time=_dt(lease.current_attempt_scheduled_time),
            heartbeat_details=details, heartbeat_timeout=_td(lease.heartbeat_timeout), is_local=False,
            schedule_to_close_timeout=_td(lease.schedule_to_close_timeout), scheduled_time=_dt(lease.scheduled_time),
            start_to_close_timeout=_td(lease.start_to_close_timeout), started_time=_dt(lease.started_time),
            task_queue=lease.task_queue, task_token=lease.token.encode(), workflow_id=lease.workflow_id,
            workflow_namespace=lease.namespace, workflow_run_id=lease.run_id, workflow_type=lease.workflow_type,
            retry_policy=lease.retry_policy, namespace=lease.namespace,
        )
        attempt: _Attempt

        def heartbeat(*values: Any) -> None:
            attempt.details = values
            if threading.get_ident() == self._loop_thread:
                self._schedule_heartbeat(attempt)
            else:
                loop.call_soon_threadsafe(self._schedule_heartbeat, attempt)

        ctx = activity_api._Context(info=info, heartbeat=heartbeat, cancelled=threading.Event(),
                                    worker_shutdown=self._worker_shutdown, payload_converter=pc)
        attempt = _Attempt(lease, ctx)
        self.running[lease.token] = attempt
        self._idle.clear()
        try:
            await self._execute(attempt)
        finally:
            self.running.pop(lease.token, None)
            if not self.running:
                self._idle.set()
            if attempt.heartbeat_task is not None and not attempt.heartbeat_task.done():
                attempt.heartbeat_task.cancel()

    async def _execute(self, attempt: _Attempt) -> None:
        lease = attempt.lease
        converter = self.converter
        metrics.activity_started(lease)
        t0 = time.perf_counter()
        try:
            defn = self.registry.get(lease.activity_type)
            raw = payloads_from_json(lease.input)
            if converter.payload_codec is not None:
                try:
                    raw = await converter.payload_codec.decode(raw)
                except Exception as err:
                    raise ApplicationError(
                        f"Failed decoding arguments of activity {lease.activity_type} with the payload codec: "
                        f"{type(err).__name__}: {err}", type="DecodeError") from err
            if defn.name is None:
                from temporalflow.common import RawValue

                args: list[Any] = [lease.activity_type, [RawValue(p) for p in raw]]
            else:
                hints = defn.arg_types[: len(raw)] if defn.arg_types is not None else None
                try:
                    args = list(converter.payload_converter.from_payloads(raw, hints))
                except Exception as err:
                    raise ApplicationError(f"Failed decoding arguments of activity {lease.activity_type}: {err}",
                                           type="DecodeError") from err
            context = contextvars.copy_context()
            context.run(activity_api._current.set, attempt.ctx)
            if defn.is_async:
                attempt.task = asyncio.get_running_loop().create_task(
                    defn.fn(*args), context=context)  # type: ignore[call-arg]
                result = await attempt.task
            else:
                if self.executor is None:
                    raise ApplicationError("sync activities need an activity_executor", type="ConfigurationError")

                def in_thread() -> Any:
                    attempt.thread_id = threading.get_ident()
                    try:
                        return context.run(defn.fn, *args)
                    finally:
                        attempt.thread_id = None

                fut = asyncio.get_running_loop().run_in_executor(self.executor, in_thread)
                result = await asyncio.shield(fut)
            metrics.activity_executed(lease, time.perf_counter() - t0)
            payloads = payloads_to_json(await converter.encode([result]))
            size = payloads_size(payloads)
            if size > self.payload_size_limit:
                raise ApplicationError(
                    f"result of activity {lease.activity_type} is {size} bytes, over the payload size limit of "
                    f"{self.payload_size_limit} bytes", type="PayloadSizeError", non_retryable=True)
        except activity_api._CompleteAsyncError:
            # activity.raise_complete_async(): the attempt stays started (its timeouts keep running) and is
            # completed through an AsyncActivityHandle; the slot is freed. A pending heartbeat still goes out.
            metrics.activity_executed(lease, time.perf_counter() - t0)
            logger.debug("Activity %s (%s) will be completed asynchronously", lease.activity_id,
                         lease.activity_type, extra=_log_extra(lease))
            await self._flush_heartbeat(attempt)
            return
        except BaseException as err:  # noqa: BLE001 - every outcome is reported
            if not isinstance(err, asyncio.CancelledError | CancelledError):
                metrics.activity_executed(lease, time.perf_counter() - t0)
                # As temporalio: a BENIGN ApplicationError is an expected outcome, logged at
                # DEBUG and not counted as a failure in metrics.
                benign = isinstance(err, ApplicationError) and err.category == ApplicationErrorCategory.BENIGN
                if not benign:
                    metrics.activity_failed(lease)
                # temporalio's wording, so log-based alerts keep working after the move.
                logger.log(logging.DEBUG if benign else logging.WARNING,
                           "Completing activity as failed (activity %s (%s) of workflow %s, attempt %d)",
                           lease.activity_id, lease.activity_type, lease.workflow_id, lease.attempt,
                           exc_info=err, extra=_log_extra(lease))
            await self._report_error(attempt, err)
            if isinstance(err, asyncio.CancelledError) and not attempt.ctx.cancelled.is_set():
                raise
            return
        reserved = self.reserve_workflow_slot()
        next_task, task_result = None, None
        try:
            if reserved and self.run_workflow_task is not None:
                # The worker holds the run: its next workflow task completes in this same transaction.
                next_task, task_result = await self.db(
                    self.store.complete_activity_and_workflow_task, lease.token, payloads, self.identity,
                    self.run_workflow_task)
            else:
                next_task = await self.db(self.store.complete_activity_task, lease.token, payloads,
                                          self.identity, reserved)
        except sb.StaleTask:
            logger.info("Activity %s (%s) completed after losing its lease; result dropped",
                        lease.activity_id, lease.activity_type, extra=_log_extra(lease))
        except Exception:
            # The outcome is lost; the attempt's lease expires and it runs again (at-least-once).
            logger.warning("Could not report the result of activity %s (%s); it will run again after its timeout",
                           lease.activity_id, lease.activity_type, exc_info=True, extra=_log_extra(lease))
        finally:
            if reserved:
                self.on_workflow_task(lease.run_id, next_task, task_result)

    async def _report_error(self, attempt: _Attempt, err: BaseException) -> None:
        lease = attempt.lease
        if attempt.lost_lease:
            logger.info("Activity %s (%s) lost its lease; its outcome is dropped", lease.activity_id,
                        lease.activity_type, extra=_log_extra(lease))
            return
        cancelled = isinstance(err, asyncio.CancelledError | CancelledError)
        try:
            if cancelled and attempt.ctx.cancelled.is_set() and not attempt.shutdown_cancel:
                details = None
                if attempt.details:
                    details = payloads_to_json(await self.converter.encode(list(attempt.details)))
                await self.db(self.store.cancel_activity_task, lease.token, details, self.identity)
                return
            if cancelled and attempt.shutdown_cancel:
                err = ApplicationError("Worker is shutting down", type="WorkerShutdown")
            elif isinstance(err, asyncio.CancelledError):
                err = CancelledError("Activity cancelled")
            await self._flush_heartbeat(attempt)
            try:
                failure = await self.converter.encode_failure(err)
            except Exception as codec_err:  # noqa: BLE001 - report a failure that says why, not nothing
                logger.warning("Could not encode the failure of activity %s (%s)", lease.activity_id,
                               lease.activity_type, exc_info=True, extra=_log_extra(lease))
                failure = {"message": f"Failed encoding the activity's failure: {type(codec_err).__name__}: "
                                      f"{codec_err}", "source": "temporalflow", "stack_trace": "",
                           "application_failure_info": {"type": "PayloadCodecError", "non_retryable": False}}
            await self.db(self.store.fail_activity_task, lease.token, failure, self.identity)
        except sb.StaleTask:
            logger.info("Activity %s (%s) failed after losing its lease", lease.activity_id, lease.activity_type,
                        extra=_log_extra(lease))
        except Exception:
            logger.warning("Could not report the failure of activity %s (%s); it will run again after its timeout",
                           lease.activity_id, lease.activity_type, exc_info=True, extra=_log_extra(lease))

    # --- heartbeats ---------------------------------------------------------

    def _schedule_heartbeat(self, attempt: _Attempt) -> None:
        if attempt.heartbeat_task is None or attempt.heartbeat_task.done():
            attempt.heartbeat_task = asyncio.get_running_loop().create_task(self._heartbeat_loop(attempt))
        else:
            attempt.heartbeat_dirty = True

    async def _heartbeat_loop(self, attempt: _Attempt) -> None:
        throttle = self._throttle(attempt.lease)
        while True:
            attempt.heartbeat_dirty = False
            await self._send_heartbeat(attempt)
            await asyncio.sleep(throttle)
            if not attempt.heartbeat_dirty:
                return

    async def _flush_heartbeat(self, attempt: _Attempt) -> None:
        if attempt.heartbeat_dirty:
            attempt.heartbeat_dirty = False
            await self._send_heartbeat(attempt)

    async def _send_heartbeat(self, attempt: _Attempt) -> None:
        details = None
        if attempt.details is not None:
            try:
                details = payloads_to_json(await self.converter.encode(list(attempt.details)))
            except Exception:
                logger.warning("Could not encode the heartbeat details of activity %s; heartbeat sent without them",
                               attempt.lease.activity_id, exc_info=True, extra=_log_extra(attempt.lease))
        try:
            result = await self.db(self.store.heartbeat_activity, attempt.lease.token, details)
        except sb.StaleTask:
            attempt.lost_lease = True
            self.cancel(attempt, "lost lease")
            return
        except Exception:
            logger.warning("Heartbeat of activity %s failed", attempt.lease.activity_id, exc_info=True,
                           extra=_log_extra(attempt.lease))
            return
        if result.cancel_requested:
            self.cancel(attempt, "CANCELLED")

    # --- cancellation -----------------------------------------------------------

    def cancel(self, attempt: _Attempt, reason: str) -> None:
        """Deliver cancellation: set the flag, cancel the task, or raise in the thread."""
        if attempt.ctx.cancelled.is_set():
            return
        attempt.ctx.set_cancelled(reason)
        if attempt.task is not None:
            attempt.task.cancel()
        elif attempt.thread_id is not None:
            defn = self.registry.by_name.get(attempt.lease.activity_type)
            if defn is not None and not getattr(defn, "no_thread_cancel_exception", False):
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(attempt.thread_id),
                                                           ctypes.py_object(CancelledError))

    def begin_shutdown(self) -> None:
        """Tell running activities the worker is stopping (``activity.is_worker_shutdown()``)."""
        self._worker_shutdown.set()
        for attempt in list(self.running.values()):
            attempt.ctx.set_worker_shutdown()

    def cancel_all_for_shutdown(self) -> None:
        """Cancel every running attempt; each reports a retryable WorkerShutdown failure."""
        for attempt in list(self.running.values()):
            attempt.shutdown_cancel = True
            self.cancel(attempt, "WORKER_SHUTDOWN")

    async def wait_all(self, timeout: float | None) -> bool:
        """Wait until no attempt runs (True) or ``timeout`` passes (False)."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True
