"""A live workflow: the deterministic loop plus the runtime the authoring API calls.

``WorkflowInstance.activate(activation) -> Completion`` is the one entry point
of a workflow task: it applies the jobs, runs workflow code until every
coroutine is blocked, and returns the commands produced — or a task failure.
It never raises. ``query()`` answers a query against the current state.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import inspect
import json
import logging
import random
import traceback
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalflow.common import RawValue
from temporalflow.core import activation as jobs
from temporalflow.core import commands as cmds
from temporalflow.core import search_attributes as sa
from temporalflow.core.children import RELATION_JOBS, ChildWorkflowsMixin
from temporalflow.core.definitions import HandlerDefinition, WorkflowDefinition
from temporalflow.core.errors import (
    ContinueAsNewError,
    ReadOnlyContextError,
    UnfinishedSignalHandlersWarning,
    UnfinishedUpdateHandlersWarning,
)
from temporalflow.core.info import ParentInfo, WorkflowInfo
from temporalflow.core.loop import DeterministicEventLoop, TimerHandle
from temporalflow.core.payload import Payload, PayloadsJSON, payloads_from_json, payloads_to_json
from temporalflow.exceptions import (
    ApplicationError,
    CancelledError,
    FailureError,
    is_cancelled_exception,
)

logger = logging.getLogger("temporalflow.workflow")

PATCH_MARKER = "core_patch"
"""Marker name of ``workflow.patched`` (as Temporal's SDKs write it)."""


def _seconds(value: timedelta | float | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _td(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


@dataclass
class _ActivityState:
    seq: int
    command: cmds.ScheduleActivityTask | cmds.ScheduleLocalActivity
    future: asyncio.Future[Any]
    result_type: Any
    cancellation_type: int
    scheduled_event_id: int = 0
    cancel_requested: bool = False
    local: bool = False
    backoff_task: asyncio.Task[None] | None = None
    """A local activity waiting on its retry timer (see :meth:`WorkflowInstance._retry_local_later`)."""


@dataclass
class _UpdateState:
    update_id: str
    name: str
    task: asyncio.Task[Any] | None = None
    unfinished_policy: int = 1


class WorkflowInstance(ChildWorkflowsMixin, DeterministicEventLoop):
    """One run's workflow object on its own deterministic loop."""

    def __init__(
        self,
        definition: WorkflowDefinition,
        *,
        namespace: str,
        workflow_id: str,
        run_id: str,
        payload_converter: Any,
        failure_converter: Any,
        failure_exception_types: Sequence[type[BaseException]] = (),
    ) -> None:
        super().__init__()
        self.definition = definition
        self._namespace = namespace
        self._workflow_id = workflow_id
        self._run_id = run_id
        self._pc = payload_converter
        self._fc = failure_converter
        self._failure_types = tuple(failure_exception_types) + definition.failure_exception_types
        self._object: Any = None
        self._info: WorkflowInfo | None = None
        # Created on first use: most workflows never draw a random number, and a Random
        # holds ~2.5 KB of state (memory per cached run matters with thousands waiting).
        self._random: random.Random | None = None
        self._commands: list[cmds.Command] = []
        self._seq: dict[str, int] = {"activity": 0, "timer": 0}
        self._timers: dict[int, TimerHandle] = {}
        self._activities: dict[int, _ActivityState] = {}
        self._updates: dict[str, _UpdateState] = {}
        self._running_signal_handlers = 0
        # Running signal handlers by execution number: (signal name, unfinished policy).
        # Created on first signal (memory per cached run matters).
        self._signal_executions: dict[int, tuple[str, int]] | None = None
        self._signal_execution_seq = 0
        # Shared with the definition until a handler is set at run time (copy on write).
        self._signal_handlers: dict[str | None, HandlerDefinition] = definition.signals
        self._query_handlers: dict[str | None, HandlerDefinition] = definition.queries
        self._update_handlers: dict[str | None, HandlerDefinition] = definition.updates
        self._buffered_signals: dict[str, list[jobs.SignalWorkflow]] = {}
        self._primary_task: asyncio.Task[Any] | None = None
        self._cancel_requested = False
        self._primary_started = False
        self._closed = False
        self._is_replaying = False
        self._history_length = 0
        self._continue_as_new_suggested = False
        self._task_failure: BaseException | None = None
        self._in_read_only = False
        self._patches_notified: set[str] = set()
        self._patches_memo: dict[str, bool] = {}
        self._memo_cache: dict[str, Any] | None = None

    # --- the activation boundary ------------------------------------------

    def activate(self, activation: jobs.Activation) -> jobs.Completion:
        """Apply ``activation`` and run the workflow until it blocks. Never raises."""
        self._time = activation.timestamp
        self._is_replaying = activation.is_replaying
        self._history_length = activation.history_length
        self._continue_as_new_suggested = activation.continue_as_new_suggested
        self._commands = []
        self._task_failure = None
        self._loop_errors = []
        try:
            init = None
            ordered: list[jobs.Job] = []
            for job in activation.jobs:
                if isinstance(job, jobs.NotifyHasPatch):
                    self._patches_notified.add(job.patch_id)
                elif isinstance(job, jobs.InitializeWorkflow):
                    init = job
            if init is not None:
                self._initialize(init)
            # Signals and updates before everything else, so a signal that came with the
            # start (signal-with-start) is handled before the run method begins.
            ordered += [j for j in activation.jobs if isinstance(j, jobs.SignalWorkflow | jobs.DoUpdate)]
            ordered += [
                j for j in activation.jobs
                if not isinstance(j, jobs.SignalWorkflow | jobs.DoUpdate | jobs.NotifyHasPatch
                                  | jobs.InitializeWorkflow)
            ]
            for job in ordered:
                self._apply(job)
            if init is not None:
                self._start_primary(init)
            self._run_ready()
            if self._task_failure is None and self._loop_errors:
                self._task_failure = self._loop_errors[0]
        except Exception as err:  # never raise out of activate
            self._task_failure = err
        if self._task_failure is None and not self._is_replaying and any(
                isinstance(c, _CLOSE_COMMANDS) for c in self._commands):
            # After the whole activation, as temporalio checks: a handler that closed the
            # run has finished by now and is not reported. Not while replaying, so a run
            # rebuilt from history does not warn a second time.
            self._warn_if_unfinished_handlers()
        if self._task_failure is not None:
            err = self._task_failure
            cause = getattr(err, "_workflow_task_failed_cause", "WorkflowWorkerUnhandledFailure")
            return jobs.Completion(failure=self._to_failure(err), cause=cause, exception=err)
        commands = self._commands
        self._commands = []
        return jobs.Completion(commands=commands)

    def query(self, name: str, args: PayloadsJSON) -> tuple[PayloadsJSON | None, dict[str, Any] | None]:
        """Run query handler ``name``; returns ``(result, None)`` or ``(None, failure)``."""
        handler = self._query_handlers.get(name) or self._query_handlers.get(None)
        if name == "__stack_trace":
            return payloads_to_json(self._pc.to_payloads([self._stack_trace()])), None
        if handler is None:
            known = sorted(n for n in self._query_handlers if n is not None)
            msg = f"Query handler for '{name}' expected but not found, known queries: [{' '.join(known)}]"
            return None, self._to_failure(ApplicationError(msg, type="QueryNotFound", non_retryable=True))
        if self._object is None:
            # The run closed (terminated, timed out) before its first workflow task ran:
            # there is no workflow object whose state a handler could read.
            msg = f"Cannot query workflow: it closed before its first workflow task ran (query '{name}')"
            return None, self._to_failure(ApplicationError(msg, type="QueryFailed", non_retryable=True))
        prev = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self)
        self._in_read_only = True
        try:
            values = self._decode_handler_args(handler, name, args)
            result = self._call_handler(handler, name, values)
            if inspect.isawaitable(result):
                raise ReadOnlyContextError(f"query handler {name!r} must not be async")
            return payloads_to_json(self._pc.to_payloads([result])), None
        except Exception as err:
            return None, self._to_failure(err)
        finally:
            self._in_read_only = False
            asyncio.events._set_running_loop(prev)

    # --- applying jobs ----------------------------------------------------

    def _initialize(self, job: jobs.InitializeWorkflow) -> None:
        attrs = job.attributes
        # A cron run's inheritance from the run before it (workflow.get_last_completion_result()).
        self._last_completion_result: PayloadsJSON | None = attrs.get("last_completion_result")
        self._last_failure: dict[str, Any] | None = attrs.get("continued_failure")
        self._start_search_attributes = attrs.get("search_attributes")
        self._sa_payloads: dict[str, Any] | None = None
        start = datetime.fromtimestamp(job.event_time, tz=UTC)
        parent = attrs.get("parent_workflow_execution")
        self._info = WorkflowInfo(
            attempt=int(attrs.get("attempt") or 1),
            continued_run_id=attrs.get("continued_execution_run_id") or None,
            cron_schedule=attrs.get("cron_schedule") or None,
            execution_timeout=_td(attrs.get("workflow_execution_timeout")),
            first_execution_run_id=attrs.get("first_execution_run_id") or self._run_id,
            headers=attrs.get("header") or {},
            namespace=self._namespace,
            parent=ParentInfo(namespace=self._namespace, run_id=parent.get("run_id", ""),
                              workflow_id=parent.get("workflow_id", "")) if parent else None,
            raw_memo=attrs.get("memo") or {},
            retry_policy=attrs.get("retry_policy"),
            run_id=self._run_id,
            run_timeout=_td(attrs.get("workflow_run_timeout")),
            search_attributes=sa.decode_untyped(_indexed_fields(attrs.get("search_attributes"))),
            typed_search_attributes=sa.decode_typed(_indexed_fields(attrs.get("search_attributes"))),
            start_time=start,
            task_queue=(attrs.get("task_queue") or {}).get("name", ""),
            task_timeout=timedelta(seconds=attrs.get("workflow_task_timeout") or 10.0),
            workflow_id=self._workflow_id,
            workflow_start_time=start,
            workflow_type=(attrs.get("workflow_type") or {}).get("name", ""),
            _history_length=lambda: self._history_length,
            _can_suggest_continue_as_new=lambda: self._continue_as_new_suggested,
        )
        prev = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self)
        try:
            if self.definition.init_takes_args:
                args = self._decode(job.arguments, self.definition.arg_types, "workflow input")
                self._object = self.definition.cls(*args)
            else:
                self._object = self.definition.cls()
        finally:
            asyncio.events._set_running_loop(prev)

    def _start_primary(self, job: jobs.InitializeWorkflow) -> None:
        self._primary_task = self.create_task(self._run_workflow(job.arguments), name="workflow-run")
        if self._cancel_requested:
            self._cancel_primary()

    def _cancel_primary(self) -> None:
        """Deliver the workflow's cancellation to its run method.

        A task cancelled before its first step never runs its body (the CancelledError is
        thrown in before the first line), so the run would neither see the cancellation nor
        close. Until the run method has started, the cancel is queued behind its first step:
        it arrives at the run's first await, as in temporalio.
        """
        task = self._primary_task
        if task is None:
            return  # _start_primary delivers it
        if self._primary_started:
            task.cancel()
        else:
            self.call_soon(task.cancel)

    async def _run_workflow(self, arguments: PayloadsJSON) -> None:
        self._primary_started = True
        defn = self.definition
        try:
            if defn.name is None:
                args: list[Any] = [self._info.workflow_type if self._info else "",
                                   [RawValue(p) for p in payloads_from_json(arguments)]]
            else:
                args = self._decode(arguments, defn.arg_types, "workflow input")
            result = await defn.run_fn(self._object, *args)
            self._close(cmds.CompleteWorkflowExecution(result=self._encode([result])))
        except ContinueAsNewError as err:
            self._close(self._continue_as_new_command(err.options))
        except (Exception, asyncio.CancelledError) as err:
            if self._cancel_requested and is_cancelled_exception(err):
                self._close(cmds.CancelWorkflowExecution())
            elif self._fails_workflow(err):
                if isinstance(err, asyncio.CancelledError):
                    err = CancelledError(str(err) or "Cancelled")
                self._close(cmds.FailWorkflowExecution(failure=self._to_failure(err)))
            else:
                self._task_failure = err

    def _fails_workflow(self, err: BaseException) -> bool:
        return isinstance(err, FailureError | asyncio.CancelledError) or isinstance(err, self._failure_types)

    def _close(self, command: cmds.Command) -> None:
        if self._closed:
            return
        self._closed = True
        self._commands.append(command)

    def _apply(self, job: jobs.Job) -> None:
        if isinstance(job, RELATION_JOBS):
            self._apply_relation_job(job)  # children and external handles (core/children.py)
            return
        match job:
            case jobs.FireTimer(seq=seq):
                handle = self._timers.pop(seq, None)
                if handle is not None and not handle._cancelled:
                    self._ready.append(handle)
            case jobs.ResolveActivity():
                self._resolve_activity(job)
            case jobs.SignalWorkflow():
                self._deliver_signal(job)
            case jobs.DoUpdate():
                self._start_update(job)
            case jobs.CancelWorkflow():
                self._cancel_requested = True
                self._cancel_primary()

    def _deliver_signal(self, job: jobs.SignalWorkflow) -> None:
        handler = self._signal_handlers.get(job.name) or self._signal_handlers.get(None)
        if handler is None:
            self._buffered_signals.setdefault(job.name, []).append(job)
            return
        try:
            values = self._decode_handler_args(handler, job.name, job.input)
        except Exception:
            # As temporalio: a signal whose arguments do not decode is dropped, loudly.
            logger.warning("Failed decoding arguments of signal %r of workflow %s; dropping it",
                           job.name, self._workflow_id, exc_info=True)
            return

        self._signal_execution_seq += 1
        execution = self._signal_execution_seq

        async def run_signal() -> None:
            self._running_signal_handlers += 1
            if self._signal_executions is None:
                self._signal_executions = {}
            self._signal_executions[execution] = (job.name, handler.unfinished_policy)
            try:
                result = self._call_handler(handler, job.name, values)
                if inspect.isawaitable(result):
                    await result
            except (Exception, asyncio.CancelledError) as err:
                if self._cancel_requested and is_cancelled_exception(err):
                    return
                if self._fails_workflow(err):
                    self._close(cmds.FailWorkflowExecution(failure=self._to_failure(err)))
                else:
                    self._task_failure = err
            finally:
                self._running_signal_handlers -= 1
                if self._signal_executions is not None:
                    self._signal_executions.pop(execution, None)

        self.create_task(run_signal(), name=f"signal:{job.name}")

    def _start_update(self, job: jobs.DoUpdate) -> None:
        # Everything runs inside a task (as temporalio does): signal handlers queued
        # before this update run first, and a handler registered by the run method
        # before it first yields is found.
        self._updates[job.update_id] = _UpdateState(update_id=job.update_id, name=job.name)
        task = self.create_task(self._run_update(job), name=f"update:{job.name}")
        self._updates[job.update_id].task = task

    async def _run_update(self, job: jobs.DoUpdate) -> None:
        accepted = False
        try:
            handler = self._update_handlers.get(job.name) or self._update_handlers.get(None)
            if handler is None:
                known = sorted(n for n in self._update_handlers if n is not None)
                raise ApplicationError(
                    f"Update handler for '{job.name}' expected but not found, known updates: [{' '.join(known)}]",
                    type="UpdateNotFound", non_retryable=True,
                )
            if (state := self._updates.get(job.update_id)) is not None:
                state.unfinished_policy = handler.unfinished_policy
            values = self._decode_handler_args(handler, job.name, job.input)
            if job.run_validator and handler.validator is not None:
                self._in_read_only = True
                try:
                    self._call_handler(handler, job.name, values, fn=handler.validator)
                finally:
                    self._in_read_only = False
            self._commands.append(cmds.AcceptUpdate(update_id=job.update_id, name=job.name,
                                                    args=job.input, identity=job.identity))
            accepted = True
            result = self._call_handler(handler, job.name, values)
            if inspect.isawaitable(result):
                result = await result
            self._commands.append(cmds.CompleteUpdate(update_id=job.update_id, result=self._encode([result])))
        except (Exception, asyncio.CancelledError) as err:
            if not accepted:
                if job.run_validator:
                    self._commands.append(cmds.RejectUpdate(update_id=job.update_id, failure=self._to_failure(err)))
                else:
                    # Replaying an update history shows accepted: its validation cannot fail now.
                    self._task_failure = err
            elif isinstance(err, FailureError | asyncio.CancelledError):
                if isinstance(err, asyncio.CancelledError):
                    err = CancelledError("Update cancelled")
                self._commands.append(cmds.CompleteUpdate(update_id=job.update_id, failure=self._to_failure(err)))
            else:
                self._task_failure = err
        finally:
            self._updates.pop(job.update_id, None)

    def _decode_handler_args(self, handler: HandlerDefinition, name: str, payloads: PayloadsJSON) -> list[Any]:
        if handler.name is None:
            return [name, [RawValue(p) for p in payloads_from_json(payloads)]]
        return self._decode(payloads, handler.arg_types, f"arguments of {handler.kind} {name!r}")

    def _call_handler(
        self, handler: HandlerDefinition, name: str, values: list[Any], fn: Callable[..., Any] | None = None
    ) -> Any:
        fn = fn or handler.fn
        if handler.is_method:
            return fn(self._object, *values)
        return fn(*values)

    # --- activities ---------------------------------------------------------

    def start_activity(
        self,
        activity_type: str,
        args: Sequence[Any],
        *,
        task_queue: str | None,
        schedule_to_close_timeout: timedelta | None,
        schedule_to_start_timeout: timedelta | None,
        start_to_close_timeout: timedelta | None,
        heartbeat_timeout: timedelta | None,
        retry_policy: Any,
        cancellation_type: int,
        activity_id: str | None,
        result_type: Any,
    ) -> asyncio.Task[Any]:
        """Schedule an activity; the returned task resolves with its result."""
        self._assert_can_command()
        if schedule_to_close_timeout is None and start_to_close_timeout is None:
            raise ValueError("Activity must have start_to_close_timeout or schedule_to_close_timeout")
        seq = self._next_seq("activity")
        command = cmds.ScheduleActivityTask(
            seq=seq,
            activity_id=activity_id or str(seq),
            activity_type=activity_type,
            task_queue=task_queue or (self._info.task_queue if self._info else ""),
            input=self._encode(list(args)),
            schedule_to_close_timeout=_seconds(schedule_to_close_timeout),
            schedule_to_start_timeout=_seconds(schedule_to_start_timeout),
            start_to_close_timeout=_seconds(start_to_close_timeout),
            heartbeat_timeout=_seconds(heartbeat_timeout),
            retry_policy=retry_policy.to_json() if retry_policy is not None else None,
            cancellation_type=cancellation_type,
        )
        state = _ActivityState(seq=seq, command=command, future=self.create_future(),
                               result_type=result_type, cancellation_type=cancellation_type)
        self._activities[seq] = state
        self._commands.append(command)
        return self.create_task(self._await_activity(state), name=f"activity:{activity_type}:{seq}")

    def start_local_activity(
        self,
        activity_type: str,
        args: Sequence[Any],
        *,
        schedule_to_close_timeout: timedelta | None,
        schedule_to_start_timeout: timedelta | None,
        start_to_close_timeout: timedelta | None,
        retry_policy: Any,
        local_retry_threshold: timedelta | None,
        cancellation_type: int,
        activity_id: str | None,
        result_type: Any,
    ) -> asyncio.Task[Any]:
        """Ask the worker to run a local activity in this task; the task resolves with its result."""
        self._assert_can_command()
        if schedule_to_close_timeout is None and start_to_close_timeout is None:
            raise ValueError("Activity must have start_to_close_timeout or schedule_to_close_timeout")
        seq = self._next_seq("activity")
        threshold = _seconds(local_retry_threshold)
        command = cmds.ScheduleLocalActivity(
            seq=seq,
            activity_id=activity_id or str(seq),
            activity_type=activity_type,
            input=self._encode(list(args)),
            schedule_to_close_timeout=_seconds(schedule_to_close_timeout),
            schedule_to_start_timeout=_seconds(schedule_to_start_timeout),
            start_to_close_timeout=_seconds(start_to_close_timeout),
            retry_policy=retry_policy.to_json() if retry_policy is not None else None,
            local_retry_threshold=60.0 if threshold is None else threshold,
            cancellation_type=cancellation_type,
        )
        state = _ActivityState(seq=seq, command=command, future=self.create_future(),
                               result_type=result_type, cancellation_type=cancellation_type, local=True)
        self._activities[seq] = state
        self._commands.append(command)
        return self.create_task(self._await_activity(state), name=f"local_activity:{activity_type}:{seq}")

    def _retry_local_later(self, state: _ActivityState, backoff: dict[str, Any]) -> None:
        """The worker gave up retrying in place: wait on a durable timer, then schedule again."""
        async def retry() -> None:
            await asyncio.sleep(float(backoff.get("backoff_duration") or 0.0))
            state.backoff_task = None
            seq = self._next_seq("activity")
            old = state.command
            assert isinstance(old, cmds.ScheduleLocalActivity)
            state.seq = seq
            state.command = cmds.ScheduleLocalActivity(
                seq=seq, activity_id=old.activity_id, activity_type=old.activity_type, input=old.input,
                schedule_to_close_timeout=old.schedule_to_close_timeout,
                schedule_to_start_timeout=old.schedule_to_start_timeout,
                start_to_close_timeout=old.start_to_close_timeout, retry_policy=old.retry_policy,
                local_retry_threshold=old.local_retry_threshold, cancellation_type=old.cancellation_type,
                attempt=int(backoff.get("attempt") or old.attempt + 1),
                original_schedule_time=backoff.get("original_schedule_time") or old.original_schedule_time,
                header=old.header,
            )
            self._activities[seq] = state
            self._commands.append(state.command)

        state.backoff_task = self.create_task(retry(), name=f"local_activity_backoff:{state.command.activity_type}")

    async def _await_activity(self, state: _ActivityState) -> Any:
        while True:
            try:
                return await asyncio.shield(state.future)
            except asyncio.CancelledError:
                if state.future.done():
                    raise
                self._cancel_activity(state)

    def _cancel_activity(self, state: _ActivityState) -> None:
        if state.cancel_requested:
            return
        state.cancel_requested = True
        if state.command in self._commands:
            # Not sent yet: never schedule it at all.
            self._commands.remove(state.command)
            self._activities.pop(state.seq, None)
            self._resolve_cancelled(state)
            return
        if state.local:
            if state.backoff_task is not None:  # between attempts: cancelling the timer is enough
                state.backoff_task.cancel()
                state.backoff_task = None
                self._resolve_cancelled(state)
                return
            # Same cancellation types as a normal activity; the worker stops the running attempt.
            if state.cancellation_type != 2:
                self._commands.append(cmds.RequestCancelLocalActivity(seq=state.seq))
            if state.cancellation_type != 1:
                self._resolve_cancelled(state)
            return
        # ActivityCancellationType: 0 TRY_CANCEL, 1 WAIT_CANCELLATION_COMPLETED, 2 ABANDON
        if state.cancellation_type != 2:
            self._commands.append(cmds.RequestCancelActivityTask(
                seq=state.seq, scheduled_event_id=state.scheduled_event_id))
        if state.cancellation_type != 1:
            self._resolve_cancelled(state)

    def _resolve_cancelled(self, state: _ActivityState) -> None:
        failure = {
            "message": "Activity cancelled",
            "activity_failure_info": {
                "scheduled_event_id": state.scheduled_event_id,
                "activity_type": {"name": state.command.activity_type},
                "activity_id": state.command.activity_id,
                "retry_state": "RETRY_STATE_CANCEL_REQUESTED",
            },
            "cause": {"message": "Activity cancelled", "canceled_failure_info": {}},
        }
        if not state.future.done():
            state.future.set_exception(self._fc.from_failure(failure, self._pc))

    def _resolve_activity(self, job: jobs.ResolveActivity) -> None:
        state = self._activities.pop(job.seq, None)
        if state is None or state.future.done():
            return  # already resolved as cancelled (TRY_CANCEL / ABANDON)
        if job.backoff is not None and state.local:
            self._retry_local_later(state, job.backoff)
            return
        if job.failure is not None:
            state.future.set_exception(self._fc.from_failure(job.failure, self._pc))
            return
        try:
            hint = [state.result_type] if state.result_type is not None else None
            values = self._pc.from_payloads(payloads_from_json(job.result), hint)
            state.future.set_result(values[0] if values else None)
        except Exception as err:
            state.future.set_exception(err)

    def on_activity_scheduled(self, seq: int, scheduled_event_id: int) -> None:
        """History matched activity ``seq`` to its ActivityTaskScheduled event."""
        state = self._activities.get(seq)
        if state is not None:
            state.scheduled_event_id = scheduled_event_id

    # --- timers -------------------------------------------------------------

    def _start_timer(self, delay: float, handle_factory: Callable[[int], TimerHandle]) -> TimerHandle:
        self._assert_can_command()
        seq = self._next_seq("timer")
        handle = handle_factory(seq)
        self._timers[seq] = handle
        self._commands.append(cmds.StartTimer(seq=seq, start_to_fire_timeout=delay))
        return handle

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        if not isinstance(handle, TimerHandle) or handle.seq not in self._timers:
            return
        del self._timers[handle.seq]
        for i, c in enumerate(self._commands):
            if isinstance(c, cmds.StartTimer) and c.seq == handle.seq:
                del self._commands[i]  # not sent yet: never start it
                return
        if not self._closed:
            self._commands.append(cmds.CancelTimer(seq=handle.seq))

    # --- the runtime the authoring API calls --------------------------------

    def info(self) -> WorkflowInfo:
        """``workflow.info()``."""
        assert self._info is not None
        return self._info

    def now(self) -> datetime:
        """``workflow.now()``: the current task's time, in UTC."""
        return datetime.fromtimestamp(self._time, tz=UTC)

    def random(self) -> random.Random:
        """``workflow.random()``: seeded per run, so replay draws the same numbers."""
        if self._random is None:
            self._random = random.Random(_seed(self._run_id))
        return self._random

    def uuid4(self) -> uuid.UUID:
        """``workflow.uuid4()``."""
        return uuid.UUID(int=self.random().getrandbits(128), version=4)

    def is_replaying(self) -> bool:
        """``workflow.unsafe.is_replaying()``."""
        return self._is_replaying

    def upsert_search_attributes(self, attributes: Any) -> None:
        """``workflow.upsert_search_attributes``: an UpsertWorkflowSearchAttributes command, and ``info()`` updated.

        The registry check (unknown name, wrong type) is the worker's, as it is Temporal
        server's: a refused upsert fails the workflow task, not this call.
        """
        self._assert_can_command()
        changes = sa.encode_updates(attributes)
        if not changes:
            return
        self._commands.append(cmds.UpsertWorkflowSearchAttributes(search_attributes=changes))
        info = self.info()
        current = sa.merged(self._search_attribute_payloads(), changes)
        self._sa_payloads = current
        self._info = dataclasses.replace(info, search_attributes=sa.decode_untyped(current),
                                         typed_search_attributes=sa.decode_typed(current))

    def _search_attribute_payloads(self) -> dict[str, Any]:
        if self._sa_payloads is None:
            self._sa_payloads = dict(_indexed_fields(self._start_search_attributes))
        return self._sa_payloads

    def has_last_completion_result(self) -> bool:
        """``workflow.has_last_completion_result()``: the previous cron run completed with a result."""
        return bool((getattr(self, "_last_completion_result", None) or {}).get("payloads"))

    def get_last_completion_result(self, type_hint: Any = None) -> Any:
        """``workflow.get_last_completion_result()``: that result, decoded (None without one)."""
        if not self.has_last_completion_result():
            return None
        return self._decode(self._last_completion_result or {}, [type_hint] if type_hint is not None else None,
                            "last completion result")[0]

    def get_last_failure(self) -> BaseException | None:
        """``workflow.get_last_failure()``: the failure of the previous cron run, if it failed."""
        failure = getattr(self, "_last_failure", None)
        return self._fc.from_failure(failure, self._pc) if failure else None

    def memo(self) -> dict[str, Any]:
        """``workflow.memo()``: decoded memo values."""
        if self._memo_cache is None:
            raw = self.info().raw_memo
            self._memo_cache = {
                k: self._pc.from_payloads([Payload.from_json(v)])[0] for k, v in raw.items()
            }
        return dict(self._memo_cache)

    async def wait_condition(self, fn: Callable[[], bool], timeout: float | None) -> None:
        """``workflow.wait_condition``: resolves when ``fn()`` is true after a loop pass."""
        fut = self._add_condition(fn)
        if timeout is None:
            await fut
        else:
            await asyncio.wait_for(fut, timeout)

    def patched(self, patch_id: str, deprecated: bool) -> bool:
        """``workflow.patched`` / ``deprecate_patch``: record or read a patch marker."""
        if patch_id in self._patches_memo:
            return self._patches_memo[patch_id]
        use_new = not self._is_replaying or patch_id in self._patches_notified
        self._patches_memo[patch_id] = use_new
        if use_new:
            self._assert_can_command()
            self._commands.append(cmds.RecordMarker(
                marker_name=PATCH_MARKER,
                details={"patch_id": self._encode([patch_id]), "deprecated": self._encode([deprecated])},
            ))
        return use_new

    def set_handler(self, kind: str, name: str | None, fn: Callable[..., Any] | None, **options: Any) -> None:
        """``workflow.set_signal_handler`` and friends (None removes the handler)."""
        attr = {"signal": "_signal_handlers", "query": "_query_handlers", "update": "_update_handlers"}[kind]
        table = dict(getattr(self, attr))  # copy on write: the definition's table is shared
        setattr(self, attr, table)
        if fn is None:
            table.pop(name, None)
            return
        table[name] = HandlerDefinition(kind=kind, name=name, fn=fn, is_method=False, **options)
        if kind == "signal":
            names = [name] if name is not None else list(self._buffered_signals)
            for n in names:
                for job in self._buffered_signals.pop(n, []):
                    self._deliver_signal(job)

    def get_handler(self, kind: str, name: str | None) -> Callable[..., Any] | None:
        """The current handler function for ``name`` (None: the dynamic one)."""
        table = {"signal": self._signal_handlers, "query": self._query_handlers,
                 "update": self._update_handlers}[kind]
        handler = table.get(name)
        if handler is None:
            return None
        if handler.is_method and self._object is not None:
            return handler.fn.__get__(self._object)
        return handler.fn

    def all_handlers_finished(self) -> bool:
        """``workflow.all_handlers_finished()``: no signal or update handler still running."""
        return self._running_signal_handlers == 0 and not self._updates

    def _warn_if_unfinished_handlers(self) -> None:
        """Warn, as temporalio does (``[TMPRL1102]``), about handlers the closing run abandons.

        Only handlers whose ``unfinished_policy`` is WARN_AND_ABANDON (1) are reported;
        ABANDON (2) abandons them silently.
        """
        updates = [u for u in self._updates.values() if u.unfinished_policy == 1]
        if updates:
            warnings.warn(UnfinishedUpdateHandlersWarning(
                f"{_UNFINISHED_UPDATES_MESSAGE} The following updates were unfinished (and warnings were not "
                "disabled for their handler): "
                + json.dumps([{"name": u.name, "id": u.update_id} for u in updates])), stacklevel=1)
        signals = [name for name, policy in (self._signal_executions or {}).values() if policy == 1]
        if signals:
            counts = Counter(signals).most_common()
            warnings.warn(UnfinishedSignalHandlersWarning(
                f"{_UNFINISHED_SIGNALS_MESSAGE} The following signals were unfinished (and warnings were not "
                "disabled for their handler): "
                + json.dumps([{"name": name, "count": count} for name, count in counts])), stacklevel=1)

    def continue_as_new_error(self, **options: Any) -> ContinueAsNewError:
        """Build the error ``workflow.continue_as_new`` raises."""
        return ContinueAsNewError(**options)

    def payload_converter(self) -> Any:
        """The payload converter workflow code may use."""
        return self._pc

    # --- helpers ------------------------------------------------------------

    def _continue_as_new_command(self, options: dict[str, Any]) -> cmds.ContinueAsNewWorkflowExecution:
        info = self.info()
        workflow = options.get("workflow")
        if workflow is None:
            wf_type = info.workflow_type
        elif isinstance(workflow, str):
            wf_type = workflow
        else:
            fn_defn = WorkflowDefinition.from_run_fn(workflow)
            wf_type = fn_defn.name or info.workflow_type
        args = list(options.get("args") or ())
        if options.get("arg", _MISSING) is not _MISSING:
            args = [options["arg"], *args]
        retry = options.get("retry_policy")
        return cmds.ContinueAsNewWorkflowExecution(
            workflow_type=wf_type,
            task_queue=options.get("task_queue") or info.task_queue,
            input=self._encode(args),
            workflow_run_timeout=_seconds(options.get("run_timeout")) or _seconds(info.run_timeout),
            workflow_task_timeout=_seconds(options.get("task_timeout")) or info.task_timeout.total_seconds(),
            # Stored like a start's memo: one payload per key (it was the raw values).
            memo=({k: self._encode([v])["payloads"][0] for k, v in options["memo"].items()}
                  if options.get("memo") is not None else None),
            search_attributes=(sa.encode_search_attributes(options["search_attributes"])
                               if options.get("search_attributes") is not None else None),
            retry_policy=retry.to_json() if retry is not None else None,
        )

    def _assert_can_command(self) -> None:
        if self._in_read_only:
            raise ReadOnlyContextError("queries and update validators must not change workflow state")

    def _next_seq(self, kind: str) -> int:
        self._seq[kind] += 1
        return self._seq[kind]

    def _encode(self, values: list[Any]) -> PayloadsJSON:
        return payloads_to_json(self._pc.to_payloads(values))

    def _decode(self, payloads: PayloadsJSON, hints: list[Any] | None, what: str) -> list[Any]:
        raw = payloads_from_json(payloads)
        if hints is not None:
            if len(raw) > len(hints):
                raise TypeError(f"{what}: expected at most {len(hints)} argument(s), got {len(raw)}")
            hints = hints[: len(raw)]
        try:
            return list(self._pc.from_payloads(raw, hints))
        except Exception as err:
            raise RuntimeError(f"Failed decoding {what}: {err}") from err

    def _to_failure(self, err: BaseException) -> dict[str, Any]:
        try:
            return self._fc.to_failure(err, self._pc)
        except Exception:
            return {"message": str(err), "stack_trace": "".join(traceback.format_exception(err)),
                    "application_failure_info": {"type": type(err).__name__}}

    def _stack_trace(self) -> str:
        out = []
        for task in asyncio.all_tasks(self):
            out.append("\n".join(str(f) for f in task.get_stack()))
        return "\n\n".join(out)


_MISSING = object()

_CLOSE_COMMANDS = (cmds.CompleteWorkflowExecution, cmds.FailWorkflowExecution, cmds.CancelWorkflowExecution,
                   cmds.ContinueAsNewWorkflowExecution)

# temporalio's wording (temporalio/worker/_workflow_instance.py), so log-based alerts port.
_UNFINISHED_UPDATES_MESSAGE = (
    "[TMPRL1102] Workflow finished while update handlers are still running. This may have interrupted work "
    "that the update handler was doing, and the client that sent the update will receive a 'workflow "
    "execution already completed' RPCError instead of the update result. You can wait for all update and "
    "signal handlers to complete by using `await workflow.wait_condition(lambda: "
    "workflow.all_handlers_finished())`. Alternatively, if both you and the clients sending the update are "
    "okay with interrupting running handlers when the workflow finishes, and causing clients to receive "
    "errors, then you can disable this warning via the update handler decorator: "
    "`@workflow.update(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)`."
)
_UNFINISHED_SIGNALS_MESSAGE = (
    "[TMPRL1102] Workflow finished while signal handlers are still running. This may have interrupted work "
    "that the signal handler was doing. You can wait for all update and signal handlers to complete by using "
    "`await workflow.wait_condition(lambda: workflow.all_handlers_finished())`. Alternatively, if both you "
    "and the clients sending the signal are okay with interrupting running handlers when the workflow "
    "finishes, then you can disable this warning via the signal handler decorator: "
    "`@workflow.signal(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)`."
)


def _indexed_fields(search_attributes: Any) -> dict[str, Any]:
    """The ``{name: payload}`` of a ``SearchAttributes`` message (``{"indexed_fields": {...}}``)."""
    if isinstance(search_attributes, dict):
        fields = search_attributes.get("indexed_fields")
        return dict(fields) if isinstance(fields, dict) else {}
    return {}


def _seed(run_id: str) -> int:
    """A per-run seed that is the same in every process (unlike ``hash()``)."""
    try:
        return uuid.UUID(run_id).int
    except ValueError:
        return int.from_bytes(hashlib.sha256(run_id.encode()).digest()[:16], "big")
