"""Request and response bodies of the REST API (validation and the OpenAPI schema)."""

from __future__ import annotations

import json
from typing import Any

from rest_framework import serializers

from temporalflow.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

__all__ = [
    "CancelSerializer",
    "ErrorDetailSerializer",
    "ErrorSerializer",
    "EventSerializer",
    "HistorySerializer",
    "OkSerializer",
    "QuerySerializer",
    "QueryResultSerializer",
    "ResultSerializer",
    "RetryPolicySerializer",
    "RunSerializer",
    "SignalSerializer",
    "StartSerializer",
    "StartedSerializer",
    "TaskQueueSerializer",
    "TerminateSerializer",
    "UpdateResultSerializer",
    "UpdateSerializer",
]

ID_REUSE_POLICIES = [p.name for p in WorkflowIDReusePolicy]
ID_CONFLICT_POLICIES = [p.name for p in WorkflowIDConflictPolicy if p.name != "UNSPECIFIED"]
MAX_TIMEOUT = 60.0
"""Upper bound, in seconds, of every ``timeout`` a request may ask the server to wait."""
MAX_DURATION = 100 * 365.25 * 86400
"""Upper bound, in seconds, of a duration option (100 years): a larger one cannot be a due time."""
MAX_INT32 = 2**31 - 1


class _JSONList(serializers.ListField):
    """A JSON array of arbitrary JSON values (workflow/handler arguments)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("child", serializers.JSONField())
        kwargs.setdefault("required", False)
        kwargs.setdefault("default", list)
        super().__init__(**kwargs)


class _Seconds(serializers.FloatField):
    """A duration in seconds (non-negative)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", MAX_DURATION)
        super().__init__(**kwargs)


class _Name(serializers.CharField):
    """A non-blank name (workflow type, signal, query, update)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 255)
        kwargs.setdefault("allow_blank", False)
        kwargs.setdefault("trim_whitespace", True)
        super().__init__(**kwargs)


class RetryPolicySerializer(serializers.Serializer):
    """A workflow RetryPolicy (durations in seconds)."""

    initial_interval = serializers.FloatField(required=False, min_value=0, max_value=MAX_DURATION, default=1.0)
    backoff_coefficient = serializers.FloatField(required=False, min_value=1.0, default=2.0)
    maximum_interval = _Seconds()
    maximum_attempts = serializers.IntegerField(required=False, min_value=0, max_value=MAX_INT32, default=0)
    non_retryable_error_types = serializers.ListField(child=serializers.CharField(), required=False, default=list)


class StartSignalSerializer(serializers.Serializer):
    """The signal of a signal-with-start."""

    name = _Name(help_text="Signal name.")
    args = _JSONList(help_text="Signal arguments (JSON values).")


class StartSerializer(serializers.Serializer):
    """Start a workflow run."""

    workflow_type = _Name(help_text="Workflow type name, as registered on the workers (e.g. 'OrderWorkflow').")
    workflow_id = _Name(help_text="Business identifier of the workflow.")
    task_queue = _Name(required=False, help_text="Task queue of the workers; default: DEFAULT_TASK_QUEUE.")
    args = _JSONList(help_text="Workflow arguments (JSON values, one per parameter of the run method).")
    execution_timeout = _Seconds(help_text="Seconds the whole execution (all runs) may take.")
    run_timeout = _Seconds(help_text="Seconds one run may take.")
    task_timeout = _Seconds(help_text="Seconds one workflow task may take (default 10).")
    id_reuse_policy = serializers.ChoiceField(choices=ID_REUSE_POLICIES, required=False,
                                              help_text="What to do when a closed run has this id.")
    id_conflict_policy = serializers.ChoiceField(choices=ID_CONFLICT_POLICIES, required=False,
                                                 help_text="What to do when a running run has this id.")
    retry_policy = RetryPolicySerializer(required=False, allow_null=True)
    memo = serializers.DictField(child=serializers.JSONField(), required=False,
                                 help_text="Non-indexed values attached to the run.")
    search_attributes = serializers.DictField(
        child=serializers.JSONField(), required=False,
        help_text="Custom search attributes registered in TEMPORALFLOW['SEARCH_ATTRIBUTES']: name -> value "
                  "(a list for a KeywordList, ISO 8601 text for a Datetime), or name -> {type, value} as runs "
                  "show them.")
    start_delay = _Seconds(help_text="Seconds before the first workflow task.")
    request_id = serializers.CharField(required=False, max_length=64, allow_blank=False,
                                       help_text="Idempotency key of this start request.")
    signal = StartSignalSerializer(required=False, allow_null=True,
                                   help_text="Signal-with-start: send this signal with the start.")

    def validate_memo(self, value: dict[str, Any]) -> dict[str, Any]:
        """Memo keys are non-empty text without NUL characters (PostgreSQL's JSON cannot hold NUL)."""
        for key in value:
            if not key or "\x00" in key:
                raise serializers.ValidationError("memo keys must be non-empty and contain no NUL characters")
        return value


class StartedSerializer(serializers.Serializer):
    """A started run (or, with USE_EXISTING, the running one)."""

    workflow_id = serializers.CharField()
    run_id = serializers.CharField()
    started = serializers.BooleanField(help_text="False: id_conflict_policy=USE_EXISTING returned the running run.")


class RunSerializer(serializers.Serializer):
    """A run as listed or described."""

    workflow_id = serializers.CharField()
    run_id = serializers.CharField()
    workflow_type = serializers.CharField()
    task_queue = serializers.CharField()
    status = serializers.CharField(help_text="Temporal's ExecutionStatus name, e.g. 'Running'.")
    start_time = serializers.DateTimeField()
    execution_time = serializers.DateTimeField(allow_null=True)
    close_time = serializers.DateTimeField(allow_null=True)
    history_length = serializers.IntegerField()
    parent_workflow_id = serializers.CharField(allow_null=True)
    parent_run_id = serializers.CharField(allow_null=True)
    memo = serializers.DictField(child=serializers.JSONField(), help_text="Memo values, decoded.")
    search_attributes = serializers.DictField(child=serializers.JSONField())


class EventSerializer(serializers.Serializer):
    """One history event."""

    event_id = serializers.IntegerField()
    event_type = serializers.CharField()
    event_time = serializers.DateTimeField()
    attributes = serializers.DictField(
        child=serializers.JSONField(),
        help_text="Temporal field names; payloads in Temporal's JSON form (with 'decoded' values when "
                  "?decode=true).")


class HistorySerializer(serializers.Serializer):
    """A page of a run's history."""

    workflow_id = serializers.CharField()
    run_id = serializers.CharField()
    events = EventSerializer(many=True)
    next_page_token = serializers.CharField(allow_null=True, help_text="Pass as ?next_page_token= for the next page.")


class _Target(serializers.Serializer):
    """Which run (default: the latest run of the workflow id)."""

    run_id = serializers.CharField(required=False, allow_blank=False, max_length=36)


class SignalSerializer(_Target):
    """Send a signal."""

    name = _Name(help_text="Signal name.")
    args = _JSONList(help_text="Signal arguments (JSON values).")


class QuerySerializer(_Target):
    """Run a query."""

    name = _Name(help_text="Query name.")
    args = _JSONList(help_text="Query arguments (JSON values).")
    timeout = serializers.FloatField(required=False, min_value=0.1, max_value=MAX_TIMEOUT, default=10.0,
                                     help_text=f"Seconds to wait for a worker's answer (max {MAX_TIMEOUT:g}).")


class QueryResultSerializer(serializers.Serializer):
    """A query's answer."""

    result = serializers.JSONField(allow_null=True)


class UpdateSerializer(_Target):
    """Send an update and wait for its outcome."""

    name = _Name(help_text="Update name.")
    args = _JSONList(help_text="Update arguments (JSON values).")
    update_id = serializers.CharField(required=False, max_length=255, allow_blank=False,
                                      help_text="Idempotency key of the update (default: a new UUID).")
    timeout = serializers.FloatField(required=False, min_value=0.1, max_value=MAX_TIMEOUT, default=30.0,
                                     help_text=f"Seconds to wait for the outcome (max {MAX_TIMEOUT:g}).")


class UpdateResultSerializer(serializers.Serializer):
    """A completed update."""

    update_id = serializers.CharField()
    run_id = serializers.CharField()
    result = serializers.JSONField(allow_null=True)


class CancelSerializer(_Target):
    """Request cancellation."""


class TerminateSerializer(_Target):
    """Terminate a run."""

    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)


class OkSerializer(serializers.Serializer):
    """An accepted operation."""

    workflow_id = serializers.CharField()
    run_id = serializers.CharField(allow_null=True, help_text="The run asked for (null: the latest run).")


class FailureSerializer(serializers.Serializer):
    """How a run (or handler) failed."""

    type = serializers.CharField(allow_null=True, help_text="Exception class, e.g. ApplicationError.")
    message = serializers.CharField()
    failure = serializers.DictField(allow_null=True, help_text="Temporal Failure (snake_case fields), if known.")


class ResultSerializer(serializers.Serializer):
    """A workflow result (or why there is none yet)."""

    workflow_id = serializers.CharField()
    run_id = serializers.CharField(allow_null=True)
    done = serializers.BooleanField(help_text="False: the run is still open after the timeout (HTTP 202).")
    status = serializers.CharField(help_text="ExecutionStatus name.")
    result = serializers.JSONField(allow_null=True, required=False)
    failure = FailureSerializer(allow_null=True, required=False)


class PollerSerializer(serializers.Serializer):
    """A worker seen polling a task queue."""

    identity = serializers.CharField()
    kind = serializers.CharField(help_text="'workflow' or 'activity'.")
    last_seen = serializers.DateTimeField()


class TaskQueueSerializer(serializers.Serializer):
    """A task queue: backlog and recent pollers."""

    name = serializers.CharField()
    workflow_backlog = serializers.IntegerField(help_text="Workflow tasks scheduled and not yet started.")
    activity_backlog = serializers.IntegerField(help_text="Activity tasks scheduled and not yet started.")
    running_workflows = serializers.IntegerField()
    pollers = PollerSerializer(many=True)


class ErrorDetailSerializer(serializers.Serializer):
    """The ``error`` object of an error answer."""

    code = serializers.CharField(help_text="Machine-readable code, e.g. not_found, validation_error.")
    message = serializers.CharField()
    details = serializers.DictField(child=serializers.JSONField())


class ErrorSerializer(serializers.Serializer):
    """Every error answer."""

    error = ErrorDetailSerializer()


def is_json(value: Any) -> bool:
    """True when ``value`` serializes as JSON."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
