"""History events, named and shaped as Temporal names and shapes them.

An event is ``(event_id, event_type, event_time, attributes)``. ``attributes``
is a JSON-ready dict whose keys are the snake_case field names of Temporal's
``<EventType>EventAttributes`` protobuf messages (``activity_id``,
``scheduled_event_id``, ``input`` as ``{"payloads": [...]}``, failures as
Temporal ``Failure`` dicts). Durations are float seconds; times are float
epoch seconds. Keeping the proto field names means a history can be exported
as Temporal's JSON and replayed by Temporal's replayer (see ``history.py``).

The attributes the engine writes, per event type:

- WorkflowExecutionStarted: workflow_type{name}, task_queue{name}, input,
  workflow_id, workflow_execution_timeout, workflow_run_timeout,
  workflow_task_timeout, original_execution_run_id, first_execution_run_id,
  identity, attempt, memo, search_attributes, first_workflow_task_backoff,
  retry_policy, cron_schedule, parent_workflow_execution, header
- WorkflowTaskScheduled: task_queue{name}, start_to_close_timeout, attempt
- WorkflowTaskStarted: scheduled_event_id, identity, request_id
- WorkflowTaskCompleted: scheduled_event_id, started_event_id, identity
- WorkflowTaskFailed: scheduled_event_id, started_event_id, cause, failure, identity
- WorkflowTaskTimedOut: scheduled_event_id, started_event_id, timeout_type
- ActivityTaskScheduled: activity_id, activity_type{name}, task_queue{name},
  input, schedule_to_close_timeout, schedule_to_start_timeout,
  start_to_close_timeout, heartbeat_timeout, retry_policy,
  workflow_task_completed_event_id, header
- ActivityTaskStarted: scheduled_event_id, identity, attempt, last_failure
- ActivityTaskCompleted: scheduled_event_id, started_event_id, result, identity
- ActivityTaskFailed: scheduled_event_id, started_event_id, failure, retry_state, identity
- ActivityTaskTimedOut: scheduled_event_id, started_event_id, failure, retry_state
- ActivityTaskCancelRequested: scheduled_event_id, workflow_task_completed_event_id
- ActivityTaskCanceled: scheduled_event_id, started_event_id, details, identity
- TimerStarted: timer_id, start_to_fire_timeout, workflow_task_completed_event_id
- TimerFired: timer_id, started_event_id
- TimerCanceled: timer_id, started_event_id, workflow_task_completed_event_id
- WorkflowExecutionSignaled: signal_name, input, identity, header
- WorkflowExecutionCancelRequested: cause, identity
- WorkflowExecutionUpdateAccepted: protocol_instance_id, accepted_request_message_id,
  accepted_request{meta{update_id, identity}, input{name, args}}
- WorkflowExecutionUpdateCompleted: meta{update_id}, accepted_event_id, outcome{success|failure}
- WorkflowExecutionCompleted: result, workflow_task_completed_event_id
- WorkflowExecutionFailed: failure, retry_state, workflow_task_completed_event_id
- WorkflowExecutionCanceled: details, workflow_task_completed_event_id
- WorkflowExecutionTerminated: reason, details, identity
- WorkflowExecutionTimedOut: retry_state
- WorkflowExecutionContinuedAsNew: new_execution_run_id, workflow_type{name},
  task_queue{name}, input, workflow_run_timeout, workflow_task_timeout
- MarkerRecorded: marker_name, details, workflow_task_completed_event_id, failure
- StartChildWorkflowExecutionInitiated: namespace, workflow_id, workflow_type{name},
  task_queue{name}, input, workflow_execution_timeout, workflow_run_timeout,
  workflow_task_timeout, parent_close_policy, control, workflow_id_reuse_policy,
  retry_policy, cron_schedule, memo, search_attributes, header,
  workflow_task_completed_event_id
- StartChildWorkflowExecutionFailed: namespace, workflow_id, workflow_type{name}, cause,
  control, initiated_event_id, workflow_task_completed_event_id
- ChildWorkflowExecutionStarted: namespace, initiated_event_id, workflow_execution{workflow_id,
  run_id}, workflow_type{name}, header
- ChildWorkflowExecutionCompleted / Failed / Canceled / Terminated / TimedOut: namespace,
  workflow_execution, workflow_type, initiated_event_id, started_event_id, and result /
  failure + retry_state / details / (nothing) / retry_state
- SignalExternalWorkflowExecutionInitiated: namespace, workflow_execution{workflow_id, run_id},
  signal_name, input, control, child_workflow_only, header, workflow_task_completed_event_id
- ExternalWorkflowExecutionSignaled: initiated_event_id, namespace, workflow_execution, control
- SignalExternalWorkflowExecutionFailed: cause, initiated_event_id, namespace,
  workflow_execution, control, workflow_task_completed_event_id
- RequestCancelExternalWorkflowExecutionInitiated: namespace, workflow_execution, control,
  child_workflow_only, reason, workflow_task_completed_event_id
- ExternalWorkflowExecutionCancelRequested: initiated_event_id, namespace, workflow_execution
- RequestCancelExternalWorkflowExecutionFailed: cause, initiated_event_id, namespace,
  workflow_execution, control, workflow_task_completed_event_id
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class EventType(enum.StrEnum):
    """Temporal's history event types (short names, as Temporal's UI shows them)."""

    WORKFLOW_EXECUTION_STARTED = "WorkflowExecutionStarted"
    WORKFLOW_EXECUTION_COMPLETED = "WorkflowExecutionCompleted"
    WORKFLOW_EXECUTION_FAILED = "WorkflowExecutionFailed"
    WORKFLOW_EXECUTION_TIMED_OUT = "WorkflowExecutionTimedOut"
    WORKFLOW_EXECUTION_CANCELED = "WorkflowExecutionCanceled"
    WORKFLOW_EXECUTION_TERMINATED = "WorkflowExecutionTerminated"
    WORKFLOW_EXECUTION_CONTINUED_AS_NEW = "WorkflowExecutionContinuedAsNew"
    WORKFLOW_EXECUTION_SIGNALED = "WorkflowExecutionSignaled"
    WORKFLOW_EXECUTION_CANCEL_REQUESTED = "WorkflowExecutionCancelRequested"
    WORKFLOW_EXECUTION_UPDATE_ACCEPTED = "WorkflowExecutionUpdateAccepted"
    WORKFLOW_EXECUTION_UPDATE_COMPLETED = "WorkflowExecutionUpdateCompleted"
    WORKFLOW_TASK_SCHEDULED = "WorkflowTaskScheduled"
    WORKFLOW_TASK_STARTED = "WorkflowTaskStarted"
    WORKFLOW_TASK_COMPLETED = "WorkflowTaskCompleted"
    WORKFLOW_TASK_FAILED = "WorkflowTaskFailed"
    WORKFLOW_TASK_TIMED_OUT = "WorkflowTaskTimedOut"
    ACTIVITY_TASK_SCHEDULED = "ActivityTaskScheduled"
    ACTIVITY_TASK_STARTED = "ActivityTaskStarted"
    ACTIVITY_TASK_COMPLETED = "ActivityTaskCompleted"
    ACTIVITY_TASK_FAILED = "ActivityTaskFailed"
    ACTIVITY_TASK_TIMED_OUT = "ActivityTaskTimedOut"
    ACTIVITY_TASK_CANCEL_REQUESTED = "ActivityTaskCancelRequested"
    ACTIVITY_TASK_CANCELED = "ActivityTaskCanceled"
    TIMER_STARTED = "TimerStarted"
    TIMER_FIRED = "TimerFired"
    TIMER_CANCELED = "TimerCanceled"
    MARKER_RECORDED = "MarkerRecorded"
    START_CHILD_WORKFLOW_EXECUTION_INITIATED = "StartChildWorkflowExecutionInitiated"
    START_CHILD_WORKFLOW_EXECUTION_FAILED = "StartChildWorkflowExecutionFailed"
    CHILD_WORKFLOW_EXECUTION_STARTED = "ChildWorkflowExecutionStarted"
    CHILD_WORKFLOW_EXECUTION_COMPLETED = "ChildWorkflowExecutionCompleted"
    CHILD_WORKFLOW_EXECUTION_FAILED = "ChildWorkflowExecutionFailed"
    CHILD_WORKFLOW_EXECUTION_CANCELED = "ChildWorkflowExecutionCanceled"
    CHILD_WORKFLOW_EXECUTION_TERMINATED = "ChildWorkflowExecutionTerminated"
    CHILD_WORKFLOW_EXECUTION_TIMED_OUT = "ChildWorkflowExecutionTimedOut"
    SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED = "SignalExternalWorkflowExecutionInitiated"
    EXTERNAL_WORKFLOW_EXECUTION_SIGNALED = "ExternalWorkflowExecutionSignaled"
    SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED = "SignalExternalWorkflowExecutionFailed"
    REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED = (
        "RequestCancelExternalWorkflowExecutionInitiated"
    )
    EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED = "ExternalWorkflowExecutionCancelRequested"
    REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED = "RequestCancelExternalWorkflowExecutionFailed"
    UPSERT_WORKFLOW_SEARCH_ATTRIBUTES = "UpsertWorkflowSearchAttributes"


CLOSE_EVENT_TYPES = frozenset(
    {
        EventType.WORKFLOW_EXECUTION_COMPLETED,
        EventType.WORKFLOW_EXECUTION_FAILED,
        EventType.WORKFLOW_EXECUTION_TIMED_OUT,
        EventType.WORKFLOW_EXECUTION_CANCELED,
        EventType.WORKFLOW_EXECUTION_TERMINATED,
        EventType.WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    }
)
"""Event types that close a run; a history has exactly one, as its last event."""

COMMAND_EVENT_TYPES = frozenset(
    {
        EventType.ACTIVITY_TASK_SCHEDULED,
        EventType.ACTIVITY_TASK_CANCEL_REQUESTED,
        EventType.TIMER_STARTED,
        EventType.TIMER_CANCELED,
        EventType.MARKER_RECORDED,
        EventType.WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
        EventType.WORKFLOW_EXECUTION_UPDATE_COMPLETED,
        EventType.START_CHILD_WORKFLOW_EXECUTION_INITIATED,
        EventType.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
        EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
        EventType.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    }
    | CLOSE_EVENT_TYPES
    - {EventType.WORKFLOW_EXECUTION_TERMINATED, EventType.WORKFLOW_EXECUTION_TIMED_OUT}
)
"""Event types written only as the result of a workflow command (after WorkflowTaskCompleted)."""


@dataclass(slots=True)
class HistoryEvent:
    """One event of a run's history."""

    event_id: int
    event_type: EventType
    event_time: float
    """Epoch seconds at which the event was written."""
    attributes: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (this project's export form)."""
        return {
            "event_id": self.event_id,
            "event_type": str(self.event_type),
            "event_time": self.event_time,
            "attributes": self.attributes,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> HistoryEvent:
        """Inverse of :meth:`to_json`."""
        return cls(
            event_id=int(obj["event_id"]),
            event_type=EventType(obj["event_type"]),
            event_time=float(obj["event_time"]),
            attributes=dict(obj.get("attributes") or {}),
        )
