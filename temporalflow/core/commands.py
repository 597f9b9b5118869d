"""What a workflow task decides: commands, and the one event each one becomes.

The workflow instance emits commands in order; a workflow-task completion
appends ``WorkflowTaskCompleted`` followed by one event per command (in the
same order, same transaction). On replay the same commands are matched
against those events (see ``core.machines``), which is how a change in
workflow code is detected.

``seq`` numbers are per kind (activity, timer, ...) and per run, assigned in
the order the workflow asked for them; they are deterministic, so replay
assigns the same numbers. A timer's ``timer_id`` and an activity's default
``activity_id`` are ``str(seq)``, as Temporal's Python SDK does.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from temporalflow.core.events import EventType
from temporalflow.core.payload import PayloadsJSON


@dataclass(slots=True)
class ScheduleActivityTask:
    """Schedule an activity; becomes ActivityTaskScheduled."""

    seq: int
    activity_id: str
    activity_type: str
    task_queue: str
    input: PayloadsJSON
    schedule_to_close_timeout: float | None = None
    schedule_to_start_timeout: float | None = None
    start_to_close_timeout: float | None = None
    heartbeat_timeout: float | None = None
    retry_policy: dict[str, Any] | None = None
    """``RetryPolicy.to_json()`` form, or None for the default policy."""
    cancellation_type: int = 0
    """``ActivityCancellationType`` value; not part of the event, kept by the instance."""
    header: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RequestCancelActivityTask:
    """Ask for a scheduled activity to be cancelled; becomes ActivityTaskCancelRequested."""

    seq: int
    scheduled_event_id: int = 0
    """Filled in by the instance from the matched ActivityTaskScheduled event."""


@dataclass(slots=True)
class StartTimer:
    """Start a durable timer; becomes TimerStarted."""

    seq: int
    start_to_fire_timeout: float


@dataclass(slots=True)
class CancelTimer:
    """Cancel a started timer; becomes TimerCanceled."""

    seq: int
    started_event_id: int = 0


@dataclass(slots=True)
class AcceptUpdate:
    """Accept an update (its validator passed); becomes WorkflowExecutionUpdateAccepted."""

    update_id: str
    name: str
    args: PayloadsJSON
    identity: str = ""


@dataclass(slots=True)
class RejectUpdate:
    """Reject an update (its validator raised); writes no event, answers the caller."""

    update_id: str
    failure: dict[str, Any]


@dataclass(slots=True)
class CompleteUpdate:
    """Finish an accepted update; becomes WorkflowExecutionUpdateCompleted."""

    update_id: str
    result: PayloadsJSON | None = None
    failure: dict[str, Any] | None = None


@dataclass(slots=True)
class RecordMarker:
    """Record a marker (patches, local activities); becomes MarkerRecorded."""

    marker_name: str
    details: dict[str, PayloadsJSON] = field(default_factory=dict)
    failure: dict[str, Any] | None = None


@dataclass(slots=True)
class ScheduleLocalActivity:
    """Run a local activity in this worker, inside the current workflow task.

    Writes no event of its own: the worker runs it before it completes the task and
    replaces it with a ``RecordMarker`` (``LOCAL_ACTIVITY_MARKER``) holding the outcome,
    which is what replay reads instead of running the activity again.
    """

    seq: int
    activity_id: str
    activity_type: str
    input: PayloadsJSON
    schedule_to_close_timeout: float | None = None
    schedule_to_start_timeout: float | None = None
    start_to_close_timeout: float | None = None
    retry_policy: dict[str, Any] | None = None
    local_retry_threshold: float = 60.0
    """Retries with a longer backoff wait on a durable timer instead of in the worker."""
    cancellation_type: int = 0
    attempt: int = 1
    original_schedule_time: float | None = None
    """Epoch seconds of the first attempt's schedule (kept across timer backoffs)."""
    header: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RequestCancelLocalActivity:
    """Cancel a running local activity; worker-only, writes no event."""

    seq: int


@dataclass(slots=True)
class StartChildWorkflowExecution:
    """Start a child workflow; becomes StartChildWorkflowExecutionInitiated.

    The store starts the child in the same transaction and appends
    ChildWorkflowExecutionStarted (or StartChildWorkflowExecutionFailed) after it.
    """

    seq: int
    workflow_id: str
    workflow_type: str
    task_queue: str
    input: PayloadsJSON
    namespace: str = ""
    workflow_execution_timeout: float | None = None
    workflow_run_timeout: float | None = None
    workflow_task_timeout: float | None = None
    parent_close_policy: int = 1
    """``ParentClosePolicy`` value (1 TERMINATE, 2 ABANDON, 3 REQUEST_CANCEL)."""
    workflow_id_reuse_policy: int = 1
    retry_policy: dict[str, Any] | None = None
    cron_schedule: str = ""
    memo: dict[str, Any] | None = None
    search_attributes: dict[str, Any] | None = None
    cancellation_type: int = 2
    """``ChildWorkflowCancellationType`` value; not part of the event, kept by the instance."""
    header: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SignalExternalWorkflowExecution:
    """Signal another run (or a child); becomes SignalExternalWorkflowExecutionInitiated."""

    seq: int
    workflow_id: str
    run_id: str
    signal_name: str
    input: PayloadsJSON
    namespace: str = ""
    child_workflow_only: bool = False
    header: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RequestCancelExternalWorkflowExecution:
    """Ask another run (or a child) to cancel; becomes RequestCancelExternalWorkflowExecutionInitiated."""

    seq: int
    workflow_id: str
    run_id: str
    namespace: str = ""
    child_workflow_only: bool = False
    reason: str = ""


@dataclass(slots=True)
class UpsertWorkflowSearchAttributes:
    """Set or unset search attributes of the run; becomes UpsertWorkflowSearchAttributes.

    ``search_attributes`` is ``{name: payload}``; a ``binary/null`` payload unsets its attribute.
    """

    search_attributes: dict[str, Any]


@dataclass(slots=True)
class CompleteWorkflowExecution:
    """Close the run successfully; becomes WorkflowExecutionCompleted."""

    result: PayloadsJSON


@dataclass(slots=True)
class FailWorkflowExecution:
    """Close the run as failed; becomes WorkflowExecutionFailed."""

    failure: dict[str, Any]


@dataclass(slots=True)
class CancelWorkflowExecution:
    """Close the run as cancelled; becomes WorkflowExecutionCanceled."""

    details: PayloadsJSON = field(default_factory=lambda: {"payloads": []})


@dataclass(slots=True)
class ContinueAsNewWorkflowExecution:
    """Close the run and start its successor; becomes WorkflowExecutionContinuedAsNew."""

    workflow_type: str
    task_queue: str
    input: PayloadsJSON
    workflow_run_timeout: float | None = None
    workflow_task_timeout: float | None = None
    memo: dict[str, Any] | None = None
    search_attributes: dict[str, Any] | None = None
    retry_policy: dict[str, Any] | None = None


Command = (
    ScheduleActivityTask
    | RequestCancelActivityTask
    | StartTimer
    | CancelTimer
    | AcceptUpdate
    | RejectUpdate
    | CompleteUpdate
    | RecordMarker
    | UpsertWorkflowSearchAttributes
    | ScheduleLocalActivity
    | RequestCancelLocalActivity
    | StartChildWorkflowExecution
    | SignalExternalWorkflowExecution
    | RequestCancelExternalWorkflowExecution
    | CompleteWorkflowExecution
    | FailWorkflowExecution
    | CancelWorkflowExecution
    | ContinueAsNewWorkflowExecution
)
"""Any command a workflow task can produce."""

LOCAL_ACTIVITY_MARKER = "core_local_activity"
"""``marker_name`` of a local activity's outcome, as Temporal's SDK core records it."""



def local_activity_marker(
    cmd: ScheduleLocalActivity,
    *,
    complete_time: float,
    result: PayloadsJSON | None = None,
    failure: dict[str, Any] | None = None,
    backoff: dict[str, Any] | None = None,
    attempt: int | None = None,
) -> RecordMarker:
    """The marker a local activity's outcome is recorded as (Temporal core's layout).

    ``details["data"]`` is one ``json/plain`` payload with the activity's identity, written
    by the engine itself rather than the project's data converter, so replay can always read
    it; ``details["result"]`` is the result as the data converter encoded it.
    """
    data = {
        "seq": cmd.seq,
        "attempt": attempt if attempt is not None else cmd.attempt,
        "activity_id": cmd.activity_id,
        "activity_type": cmd.activity_type,
        "complete_time": complete_time,
        "backoff": backoff,
        "original_schedule_time": cmd.original_schedule_time,
    }
    details: dict[str, PayloadsJSON] = {"data": json_payloads(data)}
    if result is not None:
        details["result"] = result
    return RecordMarker(marker_name=LOCAL_ACTIVITY_MARKER, details=details, failure=failure)


def json_payloads(value: Any) -> PayloadsJSON:
    """``value`` as one ``json/plain`` payload, independent of any data converter."""
    data = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
    return {"payloads": [{"metadata": {"encoding": base64.b64encode(b"json/plain").decode("ascii")},
                          "data": base64.b64encode(data).decode("ascii")}]}


CLOSING_COMMANDS = (
    CompleteWorkflowExecution,
    FailWorkflowExecution,
    CancelWorkflowExecution,
    ContinueAsNewWorkflowExecution,
)
"""Commands that close the run; at most one per completion, and it comes last."""


_PARENT_CLOSE_POLICY = {
    1: "PARENT_CLOSE_POLICY_TERMINATE",
    2: "PARENT_CLOSE_POLICY_ABANDON",
    3: "PARENT_CLOSE_POLICY_REQUEST_CANCEL",
}
"""``ParentClosePolicy`` values as Temporal's JSON history spells them (0, unspecified, is TERMINATE)."""

_ID_REUSE_POLICY = {
    1: "WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE",
    2: "WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY",
    3: "WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE",
    4: "WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING",
}


def command_event(cmd: Command, completed_event_id: int) -> tuple[EventType, dict[str, Any]] | None:
    """Return the event ``(type, attributes)`` that ``cmd`` appends, or None if it writes none.

    ``completed_event_id`` is the id of the WorkflowTaskCompleted event written
    just before the command events of the same completion.
    """
    wtc = {"workflow_task_completed_event_id": completed_event_id}
    match cmd:
        case ScheduleActivityTask():
            return EventType.ACTIVITY_TASK_SCHEDULED, {
                "activity_id": cmd.activity_id,
                "activity_type": {"name": cmd.activity_type},
                "task_queue": {"name": cmd.task_queue},
                "input": cmd.input,
                "schedule_to_close_timeout": cmd.schedule_to_close_timeout,
                "schedule_to_start_timeout": cmd.schedule_to_start_timeout,
                "start_to_close_timeout": cmd.start_to_close_timeout,
                "heartbeat_timeout": cmd.heartbeat_timeout,
                "retry_policy": cmd.retry_policy,
                "header": cmd.header,
                **wtc,
            }
        case RequestCancelActivityTask():
            return EventType.ACTIVITY_TASK_CANCEL_REQUESTED, {
                "scheduled_event_id": cmd.scheduled_event_id,
                **wtc,
            }
        case StartTimer():
            return EventType.TIMER_STARTED, {
                "timer_id": str(cmd.seq),
                "start_to_fire_timeout": cmd.start_to_fire_timeout,
                **wtc,
            }
        case CancelTimer():
            return EventType.TIMER_CANCELED, {
                "timer_id": str(cmd.seq),
                "started_event_id": cmd.started_event_id,
                **wtc,
            }
        case AcceptUpdate():
            return EventType.WORKFLOW_EXECUTION_UPDATE_ACCEPTED, {
                "protocol_instance_id": cmd.update_id,
                "accepted_request_message_id": f"{cmd.update_id}/request",
                "accepted_request": {
                    "meta": {"update_id": cmd.update_id, "identity": cmd.identity},
                    "input": {"name": cmd.name, "args": cmd.args},
                },
            }
        case RejectUpdate() | ScheduleLocalActivity() | RequestCancelLocalActivity():
            return None
        case CompleteUpdate():
            outcome = {"failure": cmd.failure} if cmd.failure is not None else {"success": cmd.result}
            return EventType.WORKFLOW_EXECUTION_UPDATE_COMPLETED, {
                "meta": {"update_id": cmd.update_id},
                "outcome": outcome,
            }
        case RecordMarker():
            return EventType.MARKER_RECORDED, {
                "marker_name": cmd.marker_name,
                "details": cmd.details,
                "failure": cmd.failure,
                **wtc,
            }
        case StartChildWorkflowExecution():
            return EventType.START_CHILD_WORKFLOW_EXECUTION_INITIATED, {
                "namespace": cmd.namespace,
                "workflow_id": cmd.workflow_id,
                "workflow_type": {"name": cmd.workflow_type},
                "task_queue": {"name": cmd.task_queue},
                "input": cmd.input,
                "workflow_execution_timeout": cmd.workflow_execution_timeout,
                "workflow_run_timeout": cmd.workflow_run_timeout,
                "workflow_task_timeout": cmd.workflow_task_timeout,
                "parent_close_policy": _PARENT_CLOSE_POLICY.get(cmd.parent_close_policy,
                                                                "PARENT_CLOSE_POLICY_TERMINATE"),
                "control": str(cmd.seq),
                "workflow_id_reuse_policy": _ID_REUSE_POLICY.get(cmd.workflow_id_reuse_policy,
                                                                 "WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE"),
                "retry_policy": cmd.retry_policy,
                "cron_schedule": cmd.cron_schedule,
                "memo": cmd.memo or {},
                "search_attributes": cmd.search_attributes or {},
                "header": cmd.header,
                **wtc,
            }
        case SignalExternalWorkflowExecution():
            return EventType.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED, {
                "namespace": cmd.namespace,
                "workflow_execution": {"workflow_id": cmd.workflow_id, "run_id": cmd.run_id},
                "signal_name": cmd.signal_name,
                "input": cmd.input,
                "control": str(cmd.seq),
                "child_workflow_only": cmd.child_workflow_only,
                "header": cmd.header,
                **wtc,
            }
        case RequestCancelExternalWorkflowExecution():
            return EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED, {
                "namespace": cmd.namespace,
                "workflow_execution": {"workflow_id": cmd.workflow_id, "run_id": cmd.run_id},
                "control": str(cmd.seq),
                "child_workflow_only": cmd.child_workflow_only,
                "reason": cmd.reason,
                **wtc,
            }
        case UpsertWorkflowSearchAttributes():
            return EventType.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, {
                "search_attributes": {"indexed_fields": cmd.search_attributes},
                **wtc,
            }
        case CompleteWorkflowExecution():
            return EventType.WORKFLOW_EXECUTION_COMPLETED, {"result": cmd.result, **wtc}
        case FailWorkflowExecution():
            return EventType.WORKFLOW_EXECUTION_FAILED, {
                "failure": cmd.failure,
                "retry_state": "RETRY_STATE_RETRY_POLICY_NOT_SET",
                **wtc,
            }
        case CancelWorkflowExecution():
            return EventType.WORKFLOW_EXECUTION_CANCELED, {"details": cmd.details, **wtc}
        case ContinueAsNewWorkflowExecution():
            return EventType.WORKFLOW_EXECUTION_CONTINUED_AS_NEW, {
                "new_execution_run_id": "",
                "workflow_type": {"name": cmd.workflow_type},
                "task_queue": {"name": cmd.task_queue},
                "input": cmd.input,
                "workflow_run_timeout": cmd.workflow_run_timeout,
                "workflow_task_timeout": cmd.workflow_task_timeout,
                **wtc,
            }
    raise TypeError(f"unknown command {cmd!r}")
