"""temporalio's schedule classes: ``Schedule``, ``ScheduleSpec``, ``ScheduleDescription`` ...

The dataclasses have temporalio's names, fields and defaults. Turning them into the
store's JSON and driving schedules is ``temporalflow.client._schedules``.
"""

from __future__ import annotations

import dataclasses
from abc import ABC
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any

from temporalflow.client._ops import MISSING, args_list, workflow_type_and_hint
from temporalflow.common import RetryPolicy
from temporalflow.core.payload import payloads_from_json
from temporalflow.exceptions import TemporalError

__all__ = [
    "Schedule",
    "ScheduleAction",
    "ScheduleActionExecution",
    "ScheduleActionExecutionStartWorkflow",
    "ScheduleActionResult",
    "ScheduleActionStartWorkflow",
    "ScheduleAlreadyRunningError",
    "ScheduleBackfill",
    "ScheduleCalendarSpec",
    "ScheduleDescription",
    "ScheduleInfo",
    "ScheduleIntervalSpec",
    "ScheduleListAction",
    "ScheduleListActionStartWorkflow",
    "ScheduleListDescription",
    "ScheduleListInfo",
    "ScheduleListSchedule",
    "ScheduleListState",
    "ScheduleOverlapPolicy",
    "SchedulePolicy",
    "ScheduleRange",
    "ScheduleSpec",
    "ScheduleState",
    "ScheduleUpdate",
    "ScheduleUpdateInput",
]


class ScheduleAlreadyRunningError(TemporalError):
    """Error when a schedule is already running (a schedule with that id exists)."""

    def __init__(self) -> None:
        super().__init__("Schedule already running")


@dataclass(frozen=True)
class ScheduleRange:
    """Inclusive range for a schedule match value.

    Attributes:
        start: Inclusive start of the range.
        end: Inclusive end of the range; if unset or less than start, defaults to start.
        step: Step to take between each value; unset or 0 defaults as 1.
    """

    start: int
    end: int = 0
    step: int = 0

    def __post_init__(self) -> None:
        """Set field defaults (as temporalio does)."""
        if self.end < self.start:
            object.__setattr__(self, "end", self.start)
        if self.step == 0:
            object.__setattr__(self, "step", 1)


@dataclass
class ScheduleCalendarSpec:
    """Specification relative to calendar time when to run an action.

    A timestamp matches if at least one range of each field matches except for year. If year
    is missing, that means all years match. For all fields besides year, at least one range
    must be present to match anything. Day of week 0 is Sunday.
    """

    second: Sequence[ScheduleRange] = (ScheduleRange(0),)
    minute: Sequence[ScheduleRange] = (ScheduleRange(0),)
    hour: Sequence[ScheduleRange] = (ScheduleRange(0),)
    day_of_month: Sequence[ScheduleRange] = (ScheduleRange(1, 31),)
    month: Sequence[ScheduleRange] = (ScheduleRange(1, 12),)
    year: Sequence[ScheduleRange] = ()
    day_of_week: Sequence[ScheduleRange] = (ScheduleRange(0, 6),)
    comment: str | None = None


@dataclass
class ScheduleIntervalSpec:
    """Specification for scheduling on an interval: times ``epoch + (n * every) + offset``."""

    every: timedelta
    offset: timedelta | None = None


@dataclass
class ScheduleSpec:
    """Specification of the times scheduled actions may occur.

    The times are the union of ``calendars``, ``intervals`` and ``cron_expressions``,
    excluding anything in ``skip``, between ``start_at`` and ``end_at``. ``jitter`` delays each
    action by up to that much (never past the next action); ``time_zone_name`` is the IANA
    zone calendars and cron expressions are read in (UTC by default).
    """

    calendars: Sequence[ScheduleCalendarSpec] = dataclasses.field(default_factory=list)
    intervals: Sequence[ScheduleIntervalSpec] = dataclasses.field(default_factory=list)
    cron_expressions: Sequence[str] = dataclasses.field(default_factory=list)
    skip: Sequence[ScheduleCalendarSpec] = dataclasses.field(default_factory=list)
    start_at: datetime | None = None
    end_at: datetime | None = None
    jitter: timedelta | None = None
    time_zone_name: str | None = None


class ScheduleAction(ABC):  # noqa: B024 - temporalio's base class has no abstract method either here
    """Base class for an action a schedule can take (see :class:`ScheduleActionStartWorkflow`)."""


class ScheduleActionStartWorkflow(ScheduleAction):
    """Schedule action to start a workflow.

    Arguments as :meth:`Client.start_workflow`'s. Each action's workflow id is ``id`` followed
    by ``-`` and the action's time (RFC 3339, UTC), as Temporal names scheduled workflows.
    A description returns ``args`` (and ``memo`` values) as stored ``Payload`` objects, which
    an update passes through unchanged.
    """

    def __init__(
        self,
        workflow: str | Callable[..., Awaitable[Any]],
        arg: Any = MISSING,
        *,
        args: Sequence[Any] = (),
        id: str | None = None,
        task_queue: str | None = None,
        execution_timeout: timedelta | None = None,
        run_timeout: timedelta | None = None,
        task_timeout: timedelta | None = None,
        retry_policy: RetryPolicy | None = None,
        memo: Mapping[str, Any] | None = None,
        typed_search_attributes: Any = None,
        untyped_search_attributes: Mapping[str, Any] | None = None,
        static_summary: str | None = None,
        static_details: str | None = None,
        headers: Mapping[str, Any] | None = None,
        priority: Any = None,
        **_ignored: Any,
    ) -> None:
        if not id:
            raise ValueError("ID required")
        if not task_queue:
            raise ValueError("Task queue required")
        if callable(workflow):
            name, _ = workflow_type_and_hint(workflow)
            workflow = name
        elif not isinstance(workflow, str):
            raise TypeError("Workflow must be a string or callable")
        self.workflow: str = workflow
        self.args: Sequence[Any] = args_list(arg, args)
        self.id: str = id
        self.task_queue: str = task_queue
        self.execution_timeout = execution_timeout
        self.run_timeout = run_timeout
        self.task_timeout = task_timeout
        self.retry_policy = retry_policy
        self.memo = memo
        self.typed_search_attributes = typed_search_attributes
        self.untyped_search_attributes = dict(untyped_search_attributes or {})
        self.static_summary = static_summary
        self.static_details = static_details
        self.headers = headers
        self.priority = priority

    def __repr__(self) -> str:
        return (f"ScheduleActionStartWorkflow(workflow={self.workflow!r}, id={self.id!r}, "
                f"task_queue={self.task_queue!r})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScheduleActionStartWorkflow) and vars(self) == vars(other)


class ScheduleOverlapPolicy(IntEnum):
    """What happens when a workflow would be started by a schedule but one is already running."""

    SKIP = 1
    """Don't start anything; the next scheduled time after the running one completes is considered."""
    BUFFER_ONE = 2
    """Start again as soon as the current one completes, but buffer only one start."""
    BUFFER_ALL = 3
    """Buffer any number of starts to happen sequentially after the running workflow completes."""
    CANCEL_OTHER = 4
    """Cancel the running workflow, and start the new one after the old one completes cancellation."""
    TERMINATE_OTHER = 5
    """Terminate the running workflow and start the new one immediately."""
    ALLOW_ALL = 6
    """Start any number of concurrent workflows."""


@dataclass
class ScheduleBackfill:
    """Time period and policy for actions taken as if the time passed right now.

    Attributes:
        start_at: Start of the range to evaluate the schedule in (exclusive).
        end_at: End of the range (inclusive).
        overlap: Overlap policy for these actions (default: the schedule's).
    """

    start_at: datetime
    end_at: datetime
    overlap: ScheduleOverlapPolicy | None = None


@dataclass
class SchedulePolicy:
    """Policies of a schedule: overlap, catch-up window, pause on failure."""

    overlap: ScheduleOverlapPolicy = dataclasses.field(default_factory=lambda: ScheduleOverlapPolicy.SKIP)
    catchup_window: timedelta = timedelta(days=365)
    pause_on_failure: bool = False


@dataclass
class ScheduleState:
    """State of a schedule: note, paused, limited actions and how many remain."""

    note: str | None = None
    paused: bool = False
    limited_actions: bool = False
    remaining_actions: int = 0


@dataclass
class Schedule:
    """A schedule for periodically running an action."""

    action: ScheduleAction
    spec: ScheduleSpec
    policy: SchedulePolicy = dataclasses.field(default_factory=SchedulePolicy)
    state: ScheduleState = dataclasses.field(default_factory=ScheduleState)


class ScheduleActionExecution(ABC):  # noqa: B024 - a marker base, as in temporalio
    """Base class for an action execution."""


@dataclass
class ScheduleActionExecutionStartWorkflow(ScheduleActionExecution):
    """Execution of a scheduled workflow start."""

    workflow_id: str
    first_execution_run_id: str


@dataclass
class ScheduleActionResult:
    """When an action took place: ``scheduled_at`` (with jitter), ``started_at``, and the ``action``."""

    scheduled_at: datetime
    started_at: datetime
    action: ScheduleActionExecution


@dataclass
class ScheduleInfo:
    """Information about a schedule (counts, running, recent and next actions)."""

    num_actions: int
    num_actions_missed_catchup_window: int
    num_actions_skipped_overlap: int
    running_actions: Sequence[ScheduleActionExecution]
    recent_actions: Sequence[ScheduleActionResult]
    next_action_times: Sequence[datetime]
    created_at: datetime
    last_updated_at: datetime | None


@dataclass
class ScheduleDescription:
    """Description of a schedule."""

    id: str
    schedule: Schedule
    info: ScheduleInfo
    typed_search_attributes: Any
    search_attributes: Mapping[str, Any]
    data_converter: Any
    raw_description: Any

    async def memo(self) -> Mapping[str, Any]:
        """The schedule's memo values, converted without type hints."""
        return self._memo()

    async def memo_value(self, key: str, default: Any = MISSING, *, type_hint: type | None = None) -> Any:
        """The memo value for ``key`` (``KeyError`` if absent and no default)."""
        return self._memo_value(key, default, type_hint)

    def _memo(self) -> dict[str, Any]:
        raw = self.raw_description.memo or {}
        return {k: self._decode(v, None) for k, v in raw.items()}

    def _memo_value(self, key: str, default: Any, type_hint: type | None) -> Any:
        raw = self.raw_description.memo or {}
        if key not in raw:
            if default is MISSING:
                raise KeyError(f"Memo does not have a value for key {key}")
            return default
        return self._decode(raw[key], type_hint)

    def _decode(self, payload: dict[str, Any], hint: Any) -> Any:
        values = self.data_converter.payload_converter.from_payloads(
            payloads_from_json({"payloads": [payload]}), [hint] if hint is not None else None)
        return values[0]


@dataclass
class ScheduleUpdateInput:
    """Parameter for an update callback for :meth:`ScheduleHandle.update`."""

    description: ScheduleDescription


@dataclass
class ScheduleUpdate:
    """Result of an update callback for :meth:`ScheduleHandle.update`."""

    schedule: Schedule
    search_attributes: Any = None


class ScheduleListAction(ABC):  # noqa: B024 - a marker base, as in temporalio
    """Base class for an action a listed schedule can take."""


@dataclass
class ScheduleListActionStartWorkflow(ScheduleListAction):
    """Action to start a workflow on a listed schedule."""

    workflow: str


@dataclass
class ScheduleListState:
    """State of a listed schedule."""

    note: str | None
    paused: bool


@dataclass
class ScheduleListSchedule:
    """Details for a listed schedule."""

    action: ScheduleListAction
    spec: ScheduleSpec
    state: ScheduleListState


@dataclass
class ScheduleListInfo:
    """Information about a listed schedule (recent actions oldest first, next action times)."""

    recent_actions: Sequence[ScheduleActionResult]
    next_action_times: Sequence[datetime]


@dataclass
class ScheduleListDescription:
    """Description of a listed schedule."""

    id: str
    schedule: ScheduleListSchedule | None
    info: ScheduleListInfo | None
    typed_search_attributes: Any
    search_attributes: Mapping[str, Any]
    data_converter: Any
    raw_entry: Any

    async def memo(self) -> Mapping[str, Any]:
        """The schedule's memo values, converted without type hints."""
        converter = self.data_converter.payload_converter
        return {k: converter.from_payloads(payloads_from_json({"payloads": [v]}))[0]
                for k, v in (self.raw_entry.memo or {}).items()}


# --------------------------------------------------------------------------- conversion
