"""The Store protocol: every database operation the worker and client need.

The worker and client reach the database only through this protocol, so they
can be tested against any implementation and the SQL stays in one place.
Methods are synchronous (Django's ORM is); async callers run them in a thread.
Every method that writes does so in ONE transaction (joining the caller's
``transaction.atomic()`` when there is one, which is how a start commits or
rolls back with the caller's writes) and keeps history, run row, task rows
and timers in step.

Errors: methods raise the ``StoreError`` subclasses below with a clear message;
never a bare database error for a condition a caller can cause.

Times are float epoch seconds. Durations are float seconds (None = unset).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from temporalflow.core.commands import Command
from temporalflow.core.events import HistoryEvent
from temporalflow.core.payload import PayloadsJSON

if TYPE_CHECKING:
    from temporalflow.store.schedule_types import ScheduleRecord


class RunStatus(enum.IntEnum):
    """Temporal's WorkflowExecutionStatus values, as stored on the run row."""

    RUNNING = 1
    COMPLETED = 2
    FAILED = 3
    CANCELED = 4
    TERMINATED = 5
    CONTINUED_AS_NEW = 6
    TIMED_OUT = 7


class StoreError(Exception):
    """Base class of the errors a Store raises for conditions callers can cause."""


class RunNotFound(StoreError):
    """No run matches the given workflow id (and run id)."""


class RunAlreadyStarted(StoreError):
    """A start was refused by the id reuse/conflict policy."""

    def __init__(self, message: str, workflow_id: str, run_id: str | None) -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.run_id = run_id


class RunClosed(StoreError):
    """The operation needs a running run, and the run is closed."""


class StaleTask(StoreError):
    """A completion/heartbeat for a task lease that is no longer current (fencing)."""


class UpdateNotFound(StoreError):
    """No update with that id exists on the run."""


@dataclass(slots=True)
class StartWorkflowRequest:
    """Everything needed to start a run (and optionally signal it in the same transaction)."""

    workflow_id: str
    workflow_type: str
    task_queue: str
    input: PayloadsJSON
    namespace: str = "default"
    execution_timeout: float | None = None
    run_timeout: float | None = None
    task_timeout: float = 10.0
    id_reuse_policy: int = 1
    """``WorkflowIDReusePolicy`` value (1 ALLOW_DUPLICATE ... 4 TERMINATE_IF_RUNNING)."""
    id_conflict_policy: int = 0
    """``WorkflowIDConflictPolicy`` value (0 unspecified = FAIL, 1 FAIL, 2 USE_EXISTING, 3 TERMINATE_EXISTING)."""
    retry_policy: dict[str, Any] | None = None
    memo: dict[str, Any] | None = None
    search_attributes: dict[str, Any] | None = None
    start_delay: float | None = None
    identity: str = ""
    request_id: str = ""
    header: dict[str, Any] = field(default_factory=dict)
    signal_name: str | None = None
    """Signal-with-start: a signal appended right after the start (or to the running run)."""
    signal_input: PayloadsJSON | None = None
    cron_schedule: str = ""


@dataclass(slots=True)
class StartWorkflowResult:
    """The run a start created (``started``) or, with USE_EXISTING / signal-with-start, found."""

    run_id: str
    started: bool
    run_pk: int | None = None
    """The run's row id (saves a lookup when the caller goes on to wait for the result)."""
    update: UpdateOutcome | None = None
    """Update-with-start: where the update admitted with the start stands."""


@dataclass(slots=True)
class RunInfo:
    """A run row, as describe() and the surfaces read it."""

    pk: int
    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    status: RunStatus
    start_time: float
    close_time: float | None
    execution_time: float
    history_length: int
    first_run_id: str
    memo: dict[str, Any]
    search_attributes: dict[str, Any]
    parent_workflow_id: str | None = None
    parent_run_id: str | None = None
    pending_children: list[PendingChildInfo] = field(default_factory=list)
    """Children started and not yet closed (``raw_description.pending_children`` in temporalio)."""
    pending_activities: list[PendingActivityInfo] = field(default_factory=list)
    """Activities scheduled and not yet closed (``raw_description.pending_activities`` in temporalio)."""


@dataclass(slots=True, frozen=True)
class ActivityTypeName:
    """``activity_type`` of a pending activity: code written for temporalio reads ``.name``."""

    name: str


class PendingActivityState(enum.IntEnum):
    """Temporal's ``PendingActivityState``."""

    SCHEDULED = 1
    STARTED = 2
    CANCEL_REQUESTED = 3


@dataclass(slots=True)
class PendingActivityInfo:
    """A pending activity as Temporal's ``PendingActivityInfo`` describes it."""

    activity_id: str
    activity_type: ActivityTypeName
    state: PendingActivityState
    attempt: int
    maximum_attempts: int
    """0: unlimited."""
    scheduled_time: float
    """When the current attempt was scheduled (epoch seconds)."""
    last_started_time: float | None
    expiration_time: float | None
    """The schedule-to-close deadline, if any."""
    heartbeat_details: PayloadsJSON | None
    last_failure: dict[str, Any] | None
    last_worker_identity: str


@dataclass(slots=True)
class PendingChildInfo:
    """A child the run started that has not closed yet (Temporal's ``PendingChildExecutionInfo``)."""

    workflow_id: str
    run_id: str
    """The child's first run."""
    workflow_type_name: str
    initiated_id: int
    parent_close_policy: int
    """``ParentClosePolicy`` value: 1 TERMINATE, 2 ABANDON, 3 REQUEST_CANCEL."""


@dataclass(slots=True)
class PendingUpdate:
    """An update request admitted by a client, waiting for the workflow to accept or reject it."""

    update_id: str
    name: str
    args: PayloadsJSON
    identity: str = ""


@dataclass(slots=True)
class WorkflowTaskLease:
    """A claimed workflow task. ``started_event_id`` fences its completion."""

    run_pk: int
    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    scheduled_event_id: int
    started_event_id: int
    attempt: int
    pending_updates: list[PendingUpdate] = field(default_factory=list)
    task_timeout: float = 10.0
    """The run's workflow task timeout (seconds): the lease ends this long after the start
    unless the worker extends it (``heartbeat_workflow_task``)."""
    history: list[HistoryEvent] | None = None
    """Events up to ``started_event_id`` read or written by the transaction that started the
    task (None: not known). They start after what the claiming worker said it already has, so a
    worker whose cached run ends just before ``history[0]`` needs no read of its own."""


@dataclass(slots=True)
class WorkflowTaskCompletion:
    """What a worker hands back for a workflow task."""

    commands: list[Command]
    identity: str = ""
    sticky: bool = True
    """Keep the run's next tasks on this worker for a short while (its cache holds the run)."""
    eager_activity_slots: int = 0
    """How many of the scheduled activities (on the run's own task queue) this worker
    can start at once; they are returned already claimed instead of queued."""


@dataclass(slots=True)
class ActivityTaskLease:
    """A claimed activity attempt. ``token`` fences heartbeats and completion."""

    token: str
    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    activity_id: str
    activity_type: str
    task_queue: str
    input: PayloadsJSON
    attempt: int
    scheduled_event_id: int
    scheduled_time: float
    current_attempt_scheduled_time: float
    started_time: float
    schedule_to_close_timeout: float | None
    start_to_close_timeout: float | None
    heartbeat_timeout: float | None
    heartbeat_details: PayloadsJSON | None
    retry_policy: dict[str, Any] | None
    header: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class CompleteWorkflowTaskResult:
    """Outcome of a workflow-task completion."""

    activity_leases: list[ActivityTaskLease] = field(default_factory=list)
    """Activities scheduled by this completion that were handed straight to this worker."""
    next_task: WorkflowTaskLease | None = None
    """New events arrived during the task: the next task, already claimed for this worker."""
    run_closed: bool = False
    history: list[HistoryEvent] = field(default_factory=list)
    """The events this completion appended (WorkflowTaskCompleted, the commands' events, ...),
    as a later read of the history would return them."""
    rejected: bool = False
    """The completion tried to close the run while signals or updates it had not seen were
    pending: nothing but WorkflowTaskFailed(UnhandledCommand) was written, and a new task
    is scheduled. The worker must drop its cached instance."""


@dataclass(slots=True)
class WorkflowTaskHandBack:
    """A worker's offer to ``fire_due_timers``: start the woken runs' tasks for it, and complete them.

    A due timer of a run sticky to ``identity`` whose workflow task is idle gets that task
    started for the worker in the firing transaction (at most ``max_tasks`` of them), and
    ``run_workflow_tasks(leases)`` is called there, as by ``claim_and_complete_workflow_tasks``:
    the worker that caches the run goes on from its timer with no trip through the queue,
    and one commit covers the firing and the completions.
    """

    identity: str
    max_tasks: int
    run_workflow_tasks: Callable[[list[WorkflowTaskLease]], list[WorkflowTaskCompletion | None]]
    started: list[WorkflowTaskLease] = field(default_factory=list)
    """The tasks started so far, filled in as they are (before the commit): after a failed
    call, the worker drops what it prepared for them."""
    claimed: list[tuple[WorkflowTaskLease, CompleteWorkflowTaskResult | None]] = field(default_factory=list)
    """Set once the transaction committed: each started task and its completion's result
    (None: not completed there, the task is the worker's to run the usual way)."""


@dataclass(slots=True)
class HeartbeatResult:
    """Answer to a heartbeat: should the activity stop?"""

    cancel_requested: bool = False


@dataclass(slots=True)
class QueryTask:
    """A claimed query: run the named handler against the run's current state."""

    query_id: str
    run_pk: int
    namespace: str
    workflow_id: str
    run_id: str
    workflow_type: str
    query_type: str
    args: PayloadsJSON


@dataclass(slots=True)
class QueryAnswer:
    """A query's answer, once a worker gave it: ``result`` or ``failure``."""

    result: PayloadsJSON | None = None
    failure: dict[str, Any] | None = None


@dataclass(slots=True)
class UpdateOutcome:
    """Where an update stands: stage ``admitted``/``accepted``/``rejected``/``completed``."""

    update_id: str
    run_id: str
    stage: str
    result: PayloadsJSON | None = None
    failure: dict[str, Any] | None = None


class Subscription(Protocol):
    """A wake-up source for one logical channel."""

    async def wait(self, timeout: float | None) -> bool:
        """Wait until the channel was notified (True) or ``timeout`` passed (False).

        May return True spuriously (e.g. a polling fallback): callers re-check the store.
        """

    def close(self) -> None:
        """Stop receiving notifications."""


class Store(Protocol):
    """Every database operation of the engine. See the module docstring for the rules."""

    # --- client side -------------------------------------------------------

    def start_workflow(self, request: StartWorkflowRequest) -> StartWorkflowResult:
        """Create a run.

        WorkflowExecutionStarted (+ WorkflowExecutionSignaled for signal-with-start) + WorkflowTaskScheduled
        (visible after ``start_delay``).

        Applies the id reuse policy against closed runs of the same workflow id and the
        conflict policy against a running one; raises ``RunAlreadyStarted`` when refused.
        With ``signal_name`` and a running run, appends the signal to it and returns it.
        """

    def describe(self, namespace: str, workflow_id: str, run_id: str | None) -> RunInfo:
        """The run (the latest one of the workflow id when ``run_id`` is None); ``RunNotFound``."""

    def read_history(self, run_pk: int, after_event_id: int = 0, limit: int | None = None) -> list[HistoryEvent]:
        """Events with id > ``after_event_id``, in order."""

    def close_event(self, run_pk: int) -> HistoryEvent | None:
        """The run's closing event, or None while it runs (one indexed read; ``result()`` polls it)."""

    def close_event_from_notice(self, notice: str) -> HistoryEvent | None:
        """The closing event a ``closed:{pk}`` wake-up's notice carries (``store.notify``), or None if it is not one."""

    def signal(
        self,
        namespace: str,
        workflow_id: str,
        run_id: str | None,
        name: str,
        input: PayloadsJSON,
        identity: str = "",
        header: dict[str, Any] | None = None,
    ) -> None:
        """Append WorkflowExecutionSignaled and schedule a workflow task; ``RunClosed`` if closed."""

    def request_cancel(self, namespace: str, workflow_id: str, run_id: str | None, identity: str = "") -> None:
        """Append WorkflowExecutionCancelRequested (once) and schedule a workflow task."""

    def list_runs(
        self, namespace: str, query: str | None, *, page_size: int = 1000, next_page_token: bytes | None = None,
    ) -> tuple[list[RunInfo], bytes | None]:
        """One page of the runs matching a Temporal list filter, and the next page's token (None: last page).

        Raises ``ListFilterError`` (``temporalflow.core.visibility``) for an invalid query and
        ``InvalidPageToken`` for a token this query did not hand out.
        """

    def count_runs(self, namespace: str, query: str | None) -> tuple[int, list[tuple[list[Any], int]]]:
        """How many runs match; with ``GROUP BY ExecutionStatus`` also ``([status name], count)`` groups."""

    def terminate(
        self,
        namespace: str,
        workflow_id: str,
        run_id: str | None,
        reason: str,
        details: PayloadsJSON | None = None,
        identity: str = "",
    ) -> None:
        """Append WorkflowExecutionTerminated, close the run, drop its tasks and timers."""

    def create_query(self, run_pk: int, query_type: str, args: PayloadsJSON) -> str:
        """Queue a query for a worker of the run's task queue; returns its id."""

    def get_query_answer(self, query_id: str) -> QueryAnswer | None:
        """The answer, or None while no worker has answered yet."""

    def admit_update(
        self, run_pk: int, update_id: str, name: str, args: PayloadsJSON, identity: str = ""
    ) -> UpdateOutcome:
        """Record an update request (deduplicated by ``update_id``) and schedule a workflow task."""

    def get_update_outcome(self, namespace: str, workflow_id: str, run_id: str | None, update_id: str) -> UpdateOutcome:
        """Where the update stands; ``UpdateNotFound``."""

    def start_workflow_with_update(
        self, request: StartWorkflowRequest, update_id: str, name: str, args: PayloadsJSON, identity: str = ""
    ) -> tuple[StartWorkflowResult, UpdateOutcome]:
        """Update-with-start: start the run and admit the update to it, in one transaction.

        With USE_EXISTING the running run gets the update; nothing is written if either fails.
        """

    # --- worker side -------------------------------------------------------

    def claim_workflow_tasks(
        self, namespace: str, task_queue: str, identity: str, max_tasks: int,
        history_after: Callable[[str], int] | None = None,
    ) -> list[WorkflowTaskLease]:
        """Claim up to ``max_tasks`` visible workflow tasks: append WorkflowTaskStarted to each.

        With ``history_after`` (run id -> the last event id the worker already has, 0 for
        none), each lease carries the events after that id in ``history`` (read in the
        claiming transaction), unless there are too many of them.
        """

    def claim_and_complete_workflow_tasks(
        self, namespace: str, task_queue: str, identity: str, max_tasks: int,
        history_after: Callable[[str], int] | None,
        run_workflow_tasks: Callable[[list[WorkflowTaskLease]], list[WorkflowTaskCompletion | None]],
    ) -> list[tuple[WorkflowTaskLease, CompleteWorkflowTaskResult | None]]:
        """Claim tasks as :meth:`claim_workflow_tasks` and complete them in the same transaction.

        The store calls ``run_workflow_tasks(leases)`` with the claimed runs locked; each
        completion it returns (or None) is applied (or refused, writing nothing), and the batch commits
        once. A None result in the returned ``(lease, result)`` pairs leaves that started
        task to the worker's usual path (it was not completed, or the store refused it).
        """

    def complete_workflow_task(
        self, lease: WorkflowTaskLease, completion: WorkflowTaskCompletion
    ) -> CompleteWorkflowTaskResult:
        """Apply a workflow task's commands in one transaction.

        Appends WorkflowTaskCompleted + one event per command, creates activity/timer rows,
        settles updates, closes the run on a closing command, and schedules the next task
        when events arrived meanwhile. ``StaleTask`` if the lease is no longer current.
        """

    def heartbeat_workflow_task(self, lease: WorkflowTaskLease) -> float:
        """Extend a started task's lease by its timeout (local activities running); returns it.

        Raises ``StaleTask`` when the task is no longer current.
        """

    def fail_workflow_task(
        self, lease: WorkflowTaskLease, cause: str, failure: dict[str, Any], identity: str = ""
    ) -> None:
        """Append WorkflowTaskFailed and reschedule the task (with backoff on repeated failures)."""

    def claim_activity_tasks(
        self, namespace: str, task_queue: str, identity: str, max_tasks: int
    ) -> list[ActivityTaskLease]:
        """Claim up to ``max_tasks`` visible activity attempts."""

    def heartbeat_activity(self, token: str, details: PayloadsJSON | None) -> HeartbeatResult:
        """Record details and extend the heartbeat deadline; ``StaleTask`` if not current."""

    def started_activity_token(self, run_pk: int, activity_id: str) -> str | None:
        """The task token of the run's started attempt of ``activity_id`` (None: none is started)."""

    def complete_activity_task(
        self, token: str, result: PayloadsJSON, identity: str = "", claim_workflow_task: bool = False
    ) -> WorkflowTaskLease | None:
        """Append ActivityTaskStarted + ActivityTaskCompleted and schedule a workflow task.

        With ``claim_workflow_task``, a task scheduled on a run sticky to ``identity`` is
        started for it in the same transaction and returned (else None).
        """

    def complete_activity_and_workflow_task(
        self,
        token: str,
        result: PayloadsJSON,
        identity: str,
        run_workflow_task: Callable[[WorkflowTaskLease], WorkflowTaskCompletion | None],
    ) -> tuple[WorkflowTaskLease | None, CompleteWorkflowTaskResult | None]:
        """Complete an activity and, in the same transaction, the workflow task it wakes.

        Like ``complete_activity_task(..., claim_workflow_task=True)``, but when a task is
        started for ``identity`` the store calls ``run_workflow_task(lease)`` with the run
        row locked and applies the completion it returns before committing once. None from
        it (or a completion the store refuses, which writes nothing) leaves the started task
        to the worker.
        Returns ``(lease or None, the completion's result or None)``.
        """

    def fail_activity_task(self, token: str, failure: dict[str, Any], identity: str = "") -> None:
        """Retry per the retry policy, or record the final failure.

        The next attempt becomes visible after the backoff; with no retry left, appends
        ActivityTaskStarted + ActivityTaskFailed.
        """

    def cancel_activity_task(
        self, token: str, details: PayloadsJSON | None, identity: str = "", claim_workflow_task: bool = False
    ) -> WorkflowTaskLease | None:
        """Acknowledge a requested cancellation: append ActivityTaskStarted + ActivityTaskCanceled.

        ``claim_workflow_task`` as for :meth:`complete_activity_task`.
        """

    def claim_queries(self, namespace: str, task_queue: str, identity: str, max_tasks: int) -> list[QueryTask]:
        """Claim pending queries of runs on this task queue."""

    def answer_query(self, query_id: str, answer: QueryAnswer) -> None:
        """Record a query's answer for the waiting client."""

    def fire_due_timers(self, limit: int = 100, hand_back: WorkflowTaskHandBack | None = None) -> int:
        """Handle due timers and deadlines; returns how many were handled.

        Timers become TimerFired; expired activity, workflow-task and run deadlines become
        their TimedOut events (or activity retries). With ``hand_back``, the workflow tasks
        the fired timers schedule on runs sticky to that worker are started and completed
        for it in the same transaction (see :class:`WorkflowTaskHandBack`).
        """

    def next_due_time(self) -> float | None:
        """The earliest pending timer or deadline, or None."""

    def record_poller(self, namespace: str, task_queue: str, identity: str) -> None:
        """Note that a worker polls this task queue (for the task-queue views)."""

    def release_sticky(self, identity: str) -> None:
        """Drop this worker's sticky claim on runs (it is shutting down)."""

    def close_thread_connections(self) -> None:
        """Release the calling thread's database connection."""

    def mark_worker_thread(self) -> None:
        """The calling thread belongs to a worker: configure its connections for that."""

    def recover_connection(self) -> None:
        """After an error, replace the calling thread's connection if it is broken."""

    def end_frozen_worker_sessions(self, older_than: float) -> list[int] | None:
        """End other workers' database sessions frozen inside a transaction for over ``older_than`` s.

        Returns the ended sessions' ids; None when the backend cannot have such sessions.
        """

    # --- wake-ups ----------------------------------------------------------

    def subscribe(self, channel: str, since: Any = None) -> Subscription:
        """Wake-ups for a logical channel.

        ``wft:{ns}:{queue}``, ``act:{ns}:{queue}``, ``query:{ns}:{queue}``, ``timers``, ``run:{run_pk}`` (any
        change of the run), ``closed:{run_pk}`` (the run closed; what ``result()`` waits for),
        ``queryans:{query_id}``. With ``since`` (a :meth:`wakeup_mark`), the subscription starts
        notified when the channel may have been published since the mark.
        """

    def wakeup_mark(self, channel: str) -> Any:
        """A mark taken before a write, to subscribe to ``channel`` ``since`` it after the write.

        None when notifications on that channel could be missed (no LISTEN session for its
        kind yet, SQLite): the waiter must then read the store before its first wait.
        """

    # --- schedules (temporalflow.store._schedules; errors in temporalflow.store.schedule_types) ----

    def create_schedule(self, namespace: str, schedule_id: str, **fields: Any) -> None:
        """Create a schedule (spec/action JSON, policies, state; ``trigger_immediately``, ``backfills``).

        ``ScheduleAlreadyExists``, ``ScheduleSpecInvalid``.
        """

    def describe_schedule(self, namespace: str, schedule_id: str) -> ScheduleRecord:
        """The schedule with its running actions checked; ``ScheduleNotFound``."""

    def list_schedules(self, namespace: str, page_size: int = 1000, after: str = "") -> list[ScheduleRecord]:
        """Schedules ordered by id after ``after``."""

    def patch_schedule(self, namespace: str, schedule_id: str, **changes: Any) -> None:
        """Pause/unpause with a note, trigger now (``trigger_overlap``), or backfill ranges."""

    def update_schedule(self, namespace: str, schedule_id: str, conflict_token: int, **fields: Any) -> None:
        """Replace spec, action, policies and state; ``ScheduleTokenMismatch`` if it changed meanwhile."""

    def delete_schedule(self, namespace: str, schedule_id: str) -> None:
        """Delete the schedule; ``ScheduleNotFound``."""
