"""Child workflows and external workflow handles: the instance's side and the driver's side.

Two halves, both pure:

- :class:`ChildWorkflowsMixin` is mixed into ``WorkflowInstance``: it turns
  ``workflow.start_child_workflow`` / ``get_external_workflow_handle(...).signal/cancel``
  into commands (``StartChildWorkflowExecution``, ``SignalExternalWorkflowExecution``,
  ``RequestCancelExternalWorkflowExecution``) and applies the jobs that resolve them.
- :class:`RelationTracker` is used by ``core.machines.RunDriver``: it remembers which
  initiated event belongs to which command ``seq`` and turns the events that answer
  them (``ChildWorkflowExecutionStarted`` … ``ExternalWorkflowExecutionSignaled``) into
  jobs, building the failures temporalio raises (``ChildWorkflowError`` whose cause is the
  child's failure, ``WorkflowAlreadyStartedError``, "Unable to signal external workflow
  because it was not found").

Cancellation follows temporalio's ``ChildWorkflowCancellationType``: ABANDON resolves the
handle as cancelled and leaves the child alone; TRY_CANCEL asks the child to cancel and
resolves at once; WAIT_CANCELLATION_REQUESTED resolves once the child has recorded the
request; WAIT_CANCELLATION_COMPLETED (the default) waits for the child to close.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalflow.core import activation as jobs
from temporalflow.core import commands as cmds
from temporalflow.core import search_attributes as sa
from temporalflow.core.definitions import handler_of
from temporalflow.core.events import EventType, HistoryEvent
from temporalflow.core.payload import payloads_from_json, payloads_to_json
from temporalflow.exceptions import ApplicationError, CancelledError, WorkflowAlreadyStartedError

ET = EventType

# ChildWorkflowCancellationType values (temporalio's).
ABANDON, TRY_CANCEL, WAIT_CANCELLATION_COMPLETED, WAIT_CANCELLATION_REQUESTED = 0, 1, 2, 3

RELATION_COMMANDS = (
    cmds.StartChildWorkflowExecution,
    cmds.SignalExternalWorkflowExecution,
    cmds.RequestCancelExternalWorkflowExecution,
)
"""Commands whose initiated event the driver hands to :class:`RelationTracker`."""

RELATION_JOBS = (
    jobs.ResolveChildWorkflowStart,
    jobs.ResolveChildWorkflow,
    jobs.ResolveSignalExternalWorkflow,
    jobs.ResolveRequestCancelExternalWorkflow,
)
"""Jobs :meth:`ChildWorkflowsMixin._apply_relation_job` applies."""

_CHILD_CLOSED = {
    ET.CHILD_WORKFLOW_EXECUTION_COMPLETED,
    ET.CHILD_WORKFLOW_EXECUTION_FAILED,
    ET.CHILD_WORKFLOW_EXECUTION_CANCELED,
    ET.CHILD_WORKFLOW_EXECUTION_TERMINATED,
    ET.CHILD_WORKFLOW_EXECUTION_TIMED_OUT,
}


def _seconds(value: timedelta | float | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def child_failure(
    message: str, cause: dict[str, Any], *, namespace: str, workflow_id: str, run_id: str, workflow_type: str,
    initiated_event_id: int, started_event_id: int, retry_state: str,
) -> dict[str, Any]:
    """The Failure a parent sees for a child that did not complete (as Temporal's SDK core builds it)."""
    return {
        "message": message,
        "child_workflow_execution_failure_info": {
            "namespace": namespace,
            "workflow_execution": {"workflow_id": workflow_id, "run_id": run_id},
            "workflow_type": {"name": workflow_type},
            "initiated_event_id": initiated_event_id,
            "started_event_id": started_event_id,
            "retry_state": retry_state,
        },
        "cause": cause,
    }


def _cancelled_cause(details: Any = None) -> dict[str, Any]:
    return {"message": "Child Workflow execution cancelled", "canceled_failure_info": {"details": details}}


def external_failure(kind: str, cause: str) -> dict[str, Any]:
    """The Failure of a signal or cancel to another run that could not be delivered.

    ``kind`` is ``"signal"`` or ``"cancel"``; ``cause`` is Temporal's failed-cause name.
    The wording is Temporal's SDK core's (``ApplicationError`` typed by the event name).
    """
    reason = {
        "EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND": "it was not found",
        "NAMESPACE_NOT_FOUND": "it was not found",
        "SIGNAL_COUNT_LIMIT_EXCEEDED": "The per-workflow signal limit was exceeded",
    }.get(cause.removeprefix("SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_").removeprefix(
        "CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_"), "unknown")
    event = ("SignalExternalWorkflowExecutionFailed" if kind == "signal"
             else "RequestCancelExternalWorkflowExecutionFailed")
    return {
        "message": f"Unable to {kind} external workflow because {reason}",
        "application_failure_info": {"type": event, "non_retryable": False},
    }


# --- the driver's side -------------------------------------------------------------


@dataclass(slots=True)
class _ChildRef:
    seq: int
    namespace: str
    workflow_id: str
    workflow_type: str
    run_id: str = ""
    started_event_id: int = 0


class RelationTracker:
    """Initiated event id → command ``seq``, for children, external signals and cancels.

    Entries go when their outcome arrives, so a long-lived cached run does not grow.
    """

    __slots__ = ("_cancels", "_children", "_signals")

    def __init__(self) -> None:
        self._children: dict[int, _ChildRef] = {}
        self._signals: dict[int, int] = {}
        self._cancels: dict[int, int] = {}

    def matched(self, cmd: Any, ev: HistoryEvent) -> None:
        """History matched ``cmd`` to its initiated event ``ev``."""
        if isinstance(cmd, cmds.StartChildWorkflowExecution):
            self._children[ev.event_id] = _ChildRef(
                cmd.seq, cmd.namespace, cmd.workflow_id, cmd.workflow_type)
        elif isinstance(cmd, cmds.SignalExternalWorkflowExecution):
            self._signals[ev.event_id] = cmd.seq
        elif isinstance(cmd, cmds.RequestCancelExternalWorkflowExecution):
            self._cancels[ev.event_id] = cmd.seq

    def on_event(self, ev: HistoryEvent) -> jobs.Job | None:
        """The job an answering event means to the workflow, or None for any other event."""
        a = ev.attributes
        initiated = int(a.get("initiated_event_id") or 0)
        t = ev.event_type
        if t is ET.CHILD_WORKFLOW_EXECUTION_STARTED:
            ref = self._children.get(initiated)
            if ref is None:
                return None
            ref.run_id = (a.get("workflow_execution") or {}).get("run_id", "")
            ref.started_event_id = ev.event_id
            return jobs.ResolveChildWorkflowStart(seq=ref.seq, run_id=ref.run_id)
        if t is ET.START_CHILD_WORKFLOW_EXECUTION_FAILED:
            ref = self._children.pop(initiated, None)
            if ref is None:
                return None
            cause = str(a.get("cause") or "").removeprefix("START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_")
            return jobs.ResolveChildWorkflowStart(seq=ref.seq, failure_cause=cause or "UNSPECIFIED")
        if t in _CHILD_CLOSED:
            ref = self._children.pop(initiated, None)
            if ref is None:
                return None
            if t is ET.CHILD_WORKFLOW_EXECUTION_COMPLETED:
                return jobs.ResolveChildWorkflow(seq=ref.seq, result=a.get("result") or {"payloads": []})
            return jobs.ResolveChildWorkflow(seq=ref.seq, failure=self._close_failure(ref, t, a))
        if t in (ET.EXTERNAL_WORKFLOW_EXECUTION_SIGNALED, ET.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED):
            seq = self._signals.pop(initiated, None)
            if seq is None:
                return None
            failure = None if t is ET.EXTERNAL_WORKFLOW_EXECUTION_SIGNALED else external_failure(
                "signal", str(a.get("cause") or ""))
            return jobs.ResolveSignalExternalWorkflow(seq=seq, failure=failure)
        if t in (ET.EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
                 ET.REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED):
            seq = self._cancels.pop(initiated, None)
            if seq is None:
                return None
            failure = None if t is ET.EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED else external_failure(
                "cancel", str(a.get("cause") or ""))
            return jobs.ResolveRequestCancelExternalWorkflow(seq=seq, failure=failure)
        return None

    @staticmethod
    def _close_failure(ref: _ChildRef, t: EventType, a: dict[str, Any]) -> dict[str, Any]:
        retry_state = a.get("retry_state") or "RETRY_STATE_NON_RETRYABLE_FAILURE"
        if t is ET.CHILD_WORKFLOW_EXECUTION_FAILED:
            message, cause = "Child Workflow execution failed", a.get("failure") or {"message": "failed"}
        elif t is ET.CHILD_WORKFLOW_EXECUTION_CANCELED:
            message, cause = "Child Workflow execution cancelled", _cancelled_cause(a.get("details"))
        elif t is ET.CHILD_WORKFLOW_EXECUTION_TERMINATED:
            message = "Child Workflow execution terminated"
            cause = {"message": message, "terminated_failure_info": {}}
        else:
            message = "Child Workflow execution timed out"
            cause = {"message": message, "timeout_failure_info": {"timeout_type": "TIMEOUT_TYPE_START_TO_CLOSE"}}
            retry_state = a.get("retry_state") or "RETRY_STATE_TIMEOUT"
        run_id = (a.get("workflow_execution") or {}).get("run_id") or ref.run_id
        return child_failure(
            message, cause, namespace=ref.namespace, workflow_id=ref.workflow_id, run_id=run_id,
            workflow_type=ref.workflow_type, initiated_event_id=int(a.get("initiated_event_id") or 0),
            started_event_id=int(a.get("started_event_id") or ref.started_event_id), retry_state=retry_state,
        )


# --- the instance's side -----------------------------------------------------------


@dataclass(slots=True)
class _ChildState:
    seq: int
    command: cmds.StartChildWorkflowExecution
    start: asyncio.Future[str]
    result: asyncio.Future[Any]
    result_type: Any
    cancellation_type: int
    run_id: str = ""
    cancel_requested: bool = False


def signal_name(signal: Callable[..., Any] | str) -> str:
    """A signal given by name or by its ``@workflow.signal`` method."""
    if isinstance(signal, str):
        return signal
    handler = handler_of(signal)
    if handler is None or handler.kind != "signal" or handler.name is None:
        raise ValueError(f"{signal!r} is not a named @workflow.signal method")
    return handler.name


def _args(arg: Any, args: Sequence[Any], missing: Any) -> list[Any]:
    if arg is not missing:
        if args:
            raise ValueError("Cannot provide both arg and args")
        return [arg]
    return list(args)


_MISSING: Any = object()


class ChildWorkflowHandle(asyncio.Task):  # type: ignore[type-arg]
    """A started child workflow (``temporalio.workflow.ChildWorkflowHandle``).

    Await it for the child's result (or its ``ChildWorkflowError``); cancelling it
    cancels the child as its ``cancellation_type`` says.
    """

    def __init__(self, coro: Any, *, loop: Any, name: str, state: _ChildState) -> None:
        super().__init__(coro, loop=loop, name=name)
        self._tf_state = state
        self._tf_loop = loop

    @property
    def id(self) -> str:
        """The child's workflow id."""
        return self._tf_state.command.workflow_id

    @property
    def first_execution_run_id(self) -> str | None:
        """The run id of the child's first run (known once it started)."""
        return self._tf_state.run_id or None

    @property
    def run_id(self) -> str | None:
        """Deprecated alias of :attr:`first_execution_run_id` (older temporalio)."""
        return self.first_execution_run_id

    async def signal(self, signal: Callable[..., Any] | str, arg: Any = _MISSING, *,
                     args: Sequence[Any] = ()) -> None:
        """Signal this child workflow."""
        await self._tf_loop.signal_external_workflow(
            self.id, None, signal_name(signal), _args(arg, args, _MISSING), child_workflow_only=True)


class ExternalWorkflowHandle:
    """Another workflow, by id (``temporalio.workflow.ExternalWorkflowHandle``)."""

    def __init__(self, instance: Any, workflow_id: str, run_id: str | None) -> None:
        self._instance = instance
        self._id = workflow_id
        self._run_id = run_id

    @property
    def id(self) -> str:
        """The workflow id."""
        return self._id

    @property
    def run_id(self) -> str | None:
        """The run id, or None for the latest run of the id."""
        return self._run_id

    async def signal(self, signal: Callable[..., Any] | str, arg: Any = _MISSING, *,
                     args: Sequence[Any] = ()) -> None:
        """Send a signal; raises ``ApplicationError`` if the workflow does not exist or is closed."""
        await self._instance.signal_external_workflow(
            self._id, self._run_id, signal_name(signal), _args(arg, args, _MISSING))

    async def cancel(self) -> None:
        """Request cancellation; raises ``ApplicationError`` if the workflow does not exist or is closed."""
        await self._instance.cancel_external_workflow(self._id, self._run_id)


class ChildWorkflowsMixin:
    """The part of ``WorkflowInstance`` behind child workflows and external handles.

    Its state is created on first use: most runs never start a child, and every cached
    run's memory counts.
    """

    _tf_children: dict[int, _ChildState] | None = None
    _tf_externals: dict[int, tuple[Any, asyncio.Future[None]]] | None = None  # seq -> (command, future)
    _tf_child_cancels: dict[int, _ChildState] | None = None  # cancel seq -> child waiting on it
    _tf_relation_seq: dict[str, int] | None = None

    # Provided by WorkflowInstance.
    _commands: list[Any]
    _closed: bool
    _pc: Any
    _fc: Any

    def _relation_seq(self, kind: str) -> int:
        if self._tf_relation_seq is None:
            self._tf_relation_seq = {"child": 0, "signal": 0, "cancel": 0}
        self._tf_relation_seq[kind] += 1
        return self._tf_relation_seq[kind]

    # --- starting children --------------------------------------------------

    async def start_child_workflow(
        self,
        workflow_type: str,
        args: Sequence[Any],
        *,
        id: str | None,
        task_queue: str | None,
        result_type: Any,
        cancellation_type: int,
        parent_close_policy: int,
        execution_timeout: timedelta | None,
        run_timeout: timedelta | None,
        task_timeout: timedelta | None,
        id_reuse_policy: int,
        retry_policy: Any,
        cron_schedule: str,
        memo: dict[str, Any] | None,
        search_attributes: Any,
    ) -> ChildWorkflowHandle:
        """``workflow.start_child_workflow``: returns once the child has started."""
        self._assert_can_command()  # type: ignore[attr-defined]
        info = self.info()  # type: ignore[attr-defined]
        seq = self._relation_seq("child")
        workflow_id = id if id is not None else str(self.uuid4())  # type: ignore[attr-defined]
        if not workflow_id:
            raise ValueError("child workflow id must not be empty")
        raw_memo = None
        if memo:
            raw_memo = {k: payloads_to_json(self._pc.to_payloads([v]))["payloads"][0] for k, v in memo.items()}
        command = cmds.StartChildWorkflowExecution(
            seq=seq,
            namespace=info.namespace,
            workflow_id=workflow_id,
            workflow_type=workflow_type,
            task_queue=task_queue or info.task_queue,
            input=self._encode(list(args)),  # type: ignore[attr-defined]
            workflow_execution_timeout=_seconds(execution_timeout),
            workflow_run_timeout=_seconds(run_timeout),
            workflow_task_timeout=_seconds(task_timeout),
            parent_close_policy=int(parent_close_policy) or 1,
            workflow_id_reuse_policy=int(id_reuse_policy) or 1,
            retry_policy=retry_policy.to_json() if retry_policy is not None else None,
            cron_schedule=cron_schedule or "",
            memo=raw_memo,
            search_attributes=sa.encode_search_attributes(search_attributes) or None if search_attributes else None,
            cancellation_type=int(cancellation_type),
        )
        state = _ChildState(seq=seq, command=command, start=self.create_future(),  # type: ignore[attr-defined]
                            result=self.create_future(),  # type: ignore[attr-defined]
                            result_type=result_type, cancellation_type=int(cancellation_type))
        if self._tf_children is None:
            self._tf_children = {}
        self._tf_children[seq] = state
        self._commands.append(command)
        handle = ChildWorkflowHandle(self._await_child(state), loop=self, name=f"child:{workflow_id}",
                                     state=state)
        while True:
            try:
                await asyncio.shield(state.start)
                return handle
            except asyncio.CancelledError:
                if state.start.done():
                    raise
                self._cancel_child(state)

    async def _await_child(self, state: _ChildState) -> Any:
        cancel_pending = False
        while not state.start.done():
            try:
                await asyncio.shield(state.start)
            except asyncio.CancelledError:
                # Cancelled before this task resumed from the start (the start itself may be
                # done already): cancel the child once its start is known.
                cancel_pending = True
            except Exception:
                break
        if state.start.cancelled() or state.start.exception() is not None:
            return None  # the start failed: start_child_workflow raised it to the caller
        if cancel_pending:
            self._cancel_child(state)
        while True:
            try:
                return await asyncio.shield(state.result)
            except asyncio.CancelledError:
                if state.result.done():
                    raise
                self._cancel_child(state)

    def _cancel_child(self, state: _ChildState) -> None:
        if state.cancel_requested:
            return
        state.cancel_requested = True
        cmd = state.command
        if not state.start.done():
            if cmd in self._commands:
                # Not sent yet: never start it (temporalio: "cancelled before scheduled").
                self._commands.remove(cmd)
                if self._tf_children is not None:
                    self._tf_children.pop(state.seq, None)
                err = self._fc.from_failure(self._cancelled_failure(state, "Child Workflow execution cancelled "
                                                                            "before scheduled"), self._pc)
                state.start.set_exception(err)
                state.result.set_exception(err)
                state.result.exception()  # retrieved: the start raised it
                return
            # Initiated but the start has not been answered yet: asked again once started.
            state.cancel_requested = False
            state.start.add_done_callback(lambda f: (not f.cancelled() and f.exception() is None
                                                     and self._cancel_child(state)))
            return
        if state.cancellation_type != ABANDON:
            seq = self._relation_seq("cancel")
            # The latest run of the child's id (it may have continued as new), and only while it
            # is this run's child (``child_workflow_only``).
            self._commands.append(cmds.RequestCancelExternalWorkflowExecution(
                seq=seq, namespace=cmd.namespace, workflow_id=cmd.workflow_id, run_id="",
                child_workflow_only=True))
            if state.cancellation_type == WAIT_CANCELLATION_REQUESTED:
                if self._tf_child_cancels is None:
                    self._tf_child_cancels = {}
                self._tf_child_cancels[seq] = state
            else:
                fut = self.create_future()  # type: ignore[attr-defined]
                if self._tf_externals is None:
                    self._tf_externals = {}
                self._tf_externals[seq] = (None, fut)
                fut.add_done_callback(lambda f: f.cancelled() or f.exception())  # nobody awaits it
        if state.cancellation_type in (ABANDON, TRY_CANCEL):
            self._resolve_child_cancelled(state)

    def _cancelled_failure(self, state: _ChildState, message: str = "Child Workflow execution cancelled"
                           ) -> dict[str, Any]:
        cmd = state.command
        return child_failure(
            message, _cancelled_cause(), namespace=cmd.namespace, workflow_id=cmd.workflow_id,
            run_id=state.run_id, workflow_type=cmd.workflow_type, initiated_event_id=0, started_event_id=0,
            retry_state="RETRY_STATE_NON_RETRYABLE_FAILURE")

    def _resolve_child_cancelled(self, state: _ChildState) -> None:
        if not state.result.done():
            state.result.set_exception(self._fc.from_failure(self._cancelled_failure(state), self._pc))

    # --- external signals and cancels -----------------------------------------

    def get_external_workflow_handle(self, workflow_id: str, run_id: str | None) -> ExternalWorkflowHandle:
        """``workflow.get_external_workflow_handle``."""
        if not workflow_id:
            raise ValueError("workflow_id must not be empty")
        return ExternalWorkflowHandle(self, workflow_id, run_id)

    async def signal_external_workflow(
        self, workflow_id: str, run_id: str | None, name: str, args: list[Any], *, child_workflow_only: bool = False
    ) -> None:
        """Send signal ``name`` to another run (or a child); resolves once it is delivered."""
        self._assert_can_command()  # type: ignore[attr-defined]
        info = self.info()  # type: ignore[attr-defined]
        seq = self._relation_seq("signal")
        command = cmds.SignalExternalWorkflowExecution(
            seq=seq, namespace=info.namespace, workflow_id=workflow_id, run_id=run_id or "", signal_name=name,
            input=self._encode(args), child_workflow_only=child_workflow_only)  # type: ignore[attr-defined]
        await self._send_external(seq, command, "Signal was cancelled before being sent")

    async def cancel_external_workflow(self, workflow_id: str, run_id: str | None) -> None:
        """Ask another run to cancel; resolves once its history records the request."""
        self._assert_can_command()  # type: ignore[attr-defined]
        info = self.info()  # type: ignore[attr-defined]
        seq = self._relation_seq("cancel")
        command = cmds.RequestCancelExternalWorkflowExecution(
            seq=seq, namespace=info.namespace, workflow_id=workflow_id, run_id=run_id or "")
        await self._send_external(seq, command, "External workflow cancel was cancelled before being sent")

    async def _send_external(self, seq: int, command: Any, cancelled_message: str) -> None:
        fut: asyncio.Future[None] = self.create_future()  # type: ignore[attr-defined]
        if self._tf_externals is None:
            self._tf_externals = {}
        self._tf_externals[seq] = (command, fut)
        self._commands.append(command)
        try:
            await asyncio.shield(fut)
        except asyncio.CancelledError:
            if fut.done():
                raise
            if command in self._commands:
                # Not sent yet: take it back, as temporalio does.
                self._commands.remove(command)
                self._tf_externals.pop(seq, None)
                raise CancelledError(cancelled_message) from None
            # Already sent: a delivered signal cannot be called back; wait for its outcome.
            await fut

    # --- jobs -----------------------------------------------------------------

    def _apply_relation_job(self, job: Any) -> None:
        """Apply one of :data:`RELATION_JOBS`."""
        if isinstance(job, jobs.ResolveChildWorkflowStart):
            state = (self._tf_children or {}).get(job.seq)
            if state is None or state.start.done():
                return
            if job.failure_cause:
                self._tf_children.pop(job.seq, None)  # type: ignore[union-attr]
                cmd = state.command
                if job.failure_cause == "WORKFLOW_ALREADY_EXISTS":
                    err: BaseException = WorkflowAlreadyStartedError(cmd.workflow_id, cmd.workflow_type)
                else:
                    err = ApplicationError(f"Child workflow could not start: {job.failure_cause}",
                                           type="StartChildWorkflowExecutionFailed")
                state.start.set_exception(err)
                state.result.set_exception(err)
                state.result.exception()  # retrieved: the start raised it
            else:
                state.run_id = job.run_id
                state.start.set_result(job.run_id)
        elif isinstance(job, jobs.ResolveChildWorkflow):
            state = (self._tf_children or {}).pop(job.seq, None)
            if state is None or state.result.done():
                return  # already resolved as cancelled (ABANDON / TRY_CANCEL)
            if job.failure is not None:
                state.result.set_exception(self._fc.from_failure(job.failure, self._pc))
                return
            try:
                hint = [state.result_type] if state.result_type is not None else None
                values = self._pc.from_payloads(payloads_from_json(job.result), hint)
                state.result.set_result(values[0] if values else None)
            except Exception as err:
                state.result.set_exception(err)
        elif isinstance(job, jobs.ResolveSignalExternalWorkflow | jobs.ResolveRequestCancelExternalWorkflow):
            if isinstance(job, jobs.ResolveRequestCancelExternalWorkflow) and self._tf_child_cancels:
                state = self._tf_child_cancels.pop(job.seq, None)
                if state is not None:
                    # WAIT_CANCELLATION_REQUESTED: the child recorded the request (or could not).
                    self._resolve_child_cancelled(state)
                    return
            entry = (self._tf_externals or {}).pop(job.seq, None)
            if entry is None or entry[1].done():
                return
            fut = entry[1]
            if job.failure is not None:
                fut.set_exception(self._fc.from_failure(job.failure, self._pc))
            else:
                fut.set_result(None)
