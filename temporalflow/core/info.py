"""``workflow.info()`` and ``activity.info()`` values, with temporalio's field names."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalflow.common import TypedSearchAttributes


@dataclass(frozen=True)
class ParentInfo:
    """The parent of a child workflow run."""

    namespace: str
    run_id: str
    workflow_id: str


@dataclass(frozen=True)
class WorkflowInfo:
    """Information about the running workflow (``temporalio.workflow.Info``)."""

    attempt: int
    continued_run_id: str | None
    cron_schedule: str | None
    execution_timeout: timedelta | None
    first_execution_run_id: str
    headers: Mapping[str, Any]
    namespace: str
    parent: ParentInfo | None
    raw_memo: Mapping[str, Any]
    retry_policy: Any
    run_id: str
    run_timeout: timedelta | None
    search_attributes: Mapping[str, Any]
    """Deprecated untyped form (name → list of values); prefer :py:attr:`typed_search_attributes`."""
    start_time: datetime
    """When this workflow task started (as temporalio: the task start time)."""
    task_queue: str
    task_timeout: timedelta
    workflow_id: str
    workflow_start_time: datetime
    workflow_type: str
    root: ParentInfo | None = None
    priority: Any = None
    typed_search_attributes: TypedSearchAttributes = TypedSearchAttributes.empty
    """The run's search attributes (updated by ``workflow.upsert_search_attributes``)."""
    _history_length: Callable[[], int] = field(default=lambda: 0, repr=False, compare=False)
    _can_suggest_continue_as_new: Callable[[], bool] = field(default=lambda: False, repr=False, compare=False)

    def get_current_history_length(self) -> int:
        """Number of events in the history as of the current workflow task."""
        return self._history_length()

    def get_current_history_size(self) -> int:
        """Approximate history size in bytes (this engine counts events, not bytes)."""
        return self._history_length() * 256

    def is_continue_as_new_suggested(self) -> bool:
        """True when the history is near its limits and the workflow should continue as new."""
        return self._can_suggest_continue_as_new()


@dataclass(frozen=True)
class ActivityInfo:
    """Information about the running activity (``temporalio.activity.Info``)."""

    activity_id: str
    activity_type: str
    attempt: int
    current_attempt_scheduled_time: datetime
    heartbeat_details: Sequence[Any]
    heartbeat_timeout: timedelta | None
    is_local: bool
    schedule_to_close_timeout: timedelta | None
    scheduled_time: datetime
    start_to_close_timeout: timedelta | None
    started_time: datetime
    task_queue: str
    task_token: bytes
    workflow_id: str
    workflow_namespace: str
    workflow_run_id: str
    workflow_type: str
    retry_policy: Any = None
    namespace: str = "default"
