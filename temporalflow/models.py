"""temporalflow's tables: runs, their histories, and the task/timer rows indexing them.

The history (``HistoryEvent``) is the truth; every other table is an index the
store keeps in step in the same transaction (DESIGN §2). Only
``temporalflow.store`` writes these tables. Surfaces (admin, API) may read them.

Times the engine compares (due times, leases, deadlines) are float epoch
seconds: cheap to compare and identical on PostgreSQL and SQLite. Runs also
carry ``DateTimeField`` copies of their start/close times for humans (admin
filters, date hierarchies).

Table names are explicit (``temporalflow_run``...) because the store's raw SQL
names them.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from temporalflow.store.base import RunStatus as _RunStatus

__all__ = [
    "ActivityTask",
    "HistoryEvent",
    "RunStatus",
    "Schedule",
    "SearchAttributeValue",
    "TaskQueuePoller",
    "Timer",
    "WorkflowQuery",
    "WorkflowRun",
    "WorkflowUpdate",
    "WorkflowTaskState",
]


class RunStatus(models.IntegerChoices):
    """Temporal's WorkflowExecutionStatus values (same numbers as ``store.base.RunStatus``)."""

    RUNNING = _RunStatus.RUNNING, "Running"
    COMPLETED = _RunStatus.COMPLETED, "Completed"
    FAILED = _RunStatus.FAILED, "Failed"
    CANCELED = _RunStatus.CANCELED, "Canceled"
    TERMINATED = _RunStatus.TERMINATED, "Terminated"
    CONTINUED_AS_NEW = _RunStatus.CONTINUED_AS_NEW, "Continued as new"
    TIMED_OUT = _RunStatus.TIMED_OUT, "Timed out"


class WorkflowTaskState(models.IntegerChoices):
    """State of the (at most one) workflow task of a run, kept on the run row."""

    NONE = 0, "None"
    SCHEDULED = 1, "Scheduled"
    STARTED = 2, "Started"


class ActivityTaskState(models.IntegerChoices):
    """State of a pending activity's current attempt."""

    SCHEDULED = 1, "Scheduled"
    STARTED = 2, "Started"


class QueryState(models.TextChoices):
    """Where a query stands."""

    PENDING = "pending", "Pending"
    CLAIMED = "claimed", "Claimed"
    ANSWERED = "answered", "Answered"


class UpdateStage(models.TextChoices):
    """Where an update stands, as Temporal names its lifecycle stages."""

    ADMITTED = "admitted", "Admitted"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    COMPLETED = "completed", "Completed"


class PollerKind(models.TextChoices):
    """What a poller polls for."""

    WORKFLOW = "workflow", "Workflow"
    ACTIVITY = "activity", "Activity"


def _ns_field() -> models.CharField:
    return models.CharField(
        "namespace", max_length=255, default="default", help_text="Namespace the row belongs to."
    )


class WorkflowRun(models.Model):
    """One run of a workflow execution, plus the state of its workflow task.

    ``next_event_id`` (history length + 1) is the run's version: every append
    bumps it with ``UPDATE ... RETURNING``, which serializes writers per run.
    """

    namespace = _ns_field()
    workflow_id = models.CharField(
        "workflow id", max_length=255, help_text="Business identifier chosen by the starter."
    )
    # Unique through Meta.constraints: a unique=True CharField would also get PostgreSQL's
    # varchar_pattern_ops index, one more index to maintain on every run update.
    run_id = models.CharField("run id", max_length=36, help_text="UUID of this run.")
    workflow_type = models.CharField("workflow type", max_length=255, help_text="Registered workflow name.")
    task_queue = models.CharField(
        "task queue", max_length=255, help_text="Queue whose workers run this workflow."
    )
    status = models.PositiveSmallIntegerField(
        "status", choices=RunStatus.choices, default=RunStatus.RUNNING, help_text="Execution status."
    )
    start_time = models.DateTimeField("start time", help_text="When the run was started.")
    execution_time = models.DateTimeField(
        "execution time", help_text="When the first workflow task became due (start time + start delay)."
    )
    close_time = models.DateTimeField("close time", null=True, blank=True, help_text="When the run closed.")
    start_ts = models.FloatField("start (epoch)", help_text="Start time as epoch seconds (engine use).")
    execution_ts = models.FloatField("execution (epoch)", help_text="Execution time as epoch seconds.")
    close_ts = models.FloatField(
        "close (epoch)", null=True, blank=True, help_text="Close time as epoch seconds."
    )
    next_event_id = models.PositiveIntegerField(
        "next event id", default=1, help_text="History length + 1; the run's version."
    )
    first_run_id = models.CharField(
        "first run id", max_length=36, help_text="Run id of the first run of the chain."
    )
    continued_from_run_id = models.CharField(
        "continued from",
        max_length=36,
        blank=True,
        default="",
        help_text="Run this one continued as new from.",
    )
    parent_workflow_id = models.CharField(
        "parent workflow id", max_length=255, null=True, blank=True, help_text="Parent of a child workflow."
    )
    parent_run_id = models.CharField(
        "parent run id", max_length=36, null=True, blank=True, help_text="Parent run of a child workflow."
    )
    memo = models.JSONField(
        "memo", default=dict, blank=True, help_text="Non-indexed payloads attached to the run."
    )
    search_attributes = models.JSONField(
        "search attributes", default=dict, blank=True, help_text="Indexed attributes for list filters."
    )
    retry_policy = models.JSONField(
        "retry policy", null=True, blank=True, help_text="Workflow retry policy (RetryPolicy JSON)."
    )
    cron_schedule = models.CharField("cron schedule", max_length=255, blank=True, default="")
    request_id = models.CharField(
        "request id",
        max_length=64,
        blank=True,
        default="",
        help_text="Start request id (idempotent retries).",
    )
    identity = models.CharField(
        "identity", max_length=255, blank=True, default="", help_text="Who started the run."
    )
    execution_timeout = models.FloatField("execution timeout", null=True, blank=True, help_text="Seconds.")
    run_timeout = models.FloatField("run timeout", null=True, blank=True, help_text="Seconds.")
    task_timeout = models.FloatField("workflow task timeout", default=10.0, help_text="Seconds.")
    execution_deadline = models.FloatField(
        "execution deadline",
        null=True,
        blank=True,
        help_text="Epoch seconds when the whole chain (across continue-as-new) times out.",
    )
    run_deadline = models.FloatField(
        "run deadline",
        null=True,
        blank=True,
        help_text="Epoch seconds when this run times out: min(run timeout, execution deadline).",
    )
    cancel_requested = models.BooleanField("cancel requested", default=False)
    queries_waiting = models.BooleanField(
        "queries waiting",
        default=False,
        help_text="Queries wait for the in-flight workflow task; its completion wakes query pollers.",
    )
    updates_waiting = models.BooleanField(
        "updates waiting",
        default=False,
        help_text="An admitted update waits for a workflow task (claims look for updates only then).",
    )

    # The workflow task lives on the run row: at most one scheduled or started per run.
    wft_state = models.PositiveSmallIntegerField(
        "workflow task state", choices=WorkflowTaskState.choices, default=WorkflowTaskState.NONE
    )
    wft_visible_at = models.FloatField(
        "workflow task visible at",
        null=True,
        blank=True,
        help_text="Epoch seconds when a scheduled task is due.",
    )
    wft_scheduled_event_id = models.PositiveIntegerField(
        "workflow task scheduled event", null=True, blank=True
    )
    wft_started_event_id = models.PositiveIntegerField(
        "workflow task started event", null=True, blank=True, help_text="Fences the task's completion."
    )
    wft_attempt = models.PositiveIntegerField("workflow task attempt", default=1)
    wft_lease_until = models.FloatField(
        "workflow task lease until",
        null=True,
        blank=True,
        help_text="A started task times out at this epoch time.",
    )
    wft_dirty = models.BooleanField(
        "new events during task", default=False, help_text="Events arrived while the task was started."
    )
    sticky_identity = models.CharField(
        "sticky worker", max_length=255, blank=True, default="", help_text="Worker caching this run."
    )
    sticky_until = models.FloatField(
        "sticky until",
        null=True,
        blank=True,
        help_text="Other workers may take the next task after this time.",
    )

    class Meta:
        db_table = "temporalflow_run"
        verbose_name = "workflow run"
        verbose_name_plural = "workflow runs"
        permissions = [
            ("signal_workflow", "Can signal workflow runs"),
            ("cancel_workflow", "Can cancel workflow runs"),
            ("terminate_workflow", "Can terminate workflow runs"),
            ("start_workflow", "Can start workflow runs"),
            ("update_workflow", "Can send updates to workflow runs"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["run_id"], name="tf_run_run_id"),
            models.UniqueConstraint(
                fields=["namespace", "workflow_id"],
                condition=Q(status=RunStatus.RUNNING),
                name="tf_run_one_running_per_id",
            ),
        ]
        indexes = [
            # Ends with id: "the latest run of a workflow id" (ORDER BY id DESC LIMIT 1) is one
            # index probe whatever the planner's statistics say.
            models.Index(fields=["namespace", "workflow_id", "id"], name="tf_run_wid_latest"),
            models.Index(
                fields=["namespace", "task_queue", "wft_visible_at"],
                condition=Q(wft_state=WorkflowTaskState.SCHEDULED),
                name="tf_run_wft_claim",
            ),
            models.Index(
                fields=["wft_visible_at"],
                condition=Q(wft_state=WorkflowTaskState.SCHEDULED),
                name="tf_run_wft_visible",
            ),
            models.Index(
                fields=["wft_lease_until"],
                condition=Q(wft_state=WorkflowTaskState.STARTED),
                name="tf_run_wft_lease",
            ),
            models.Index(
                fields=["run_deadline"],
                condition=Q(status=RunStatus.RUNNING, run_deadline__isnull=False),
                name="tf_run_deadline",
            ),
            models.Index(fields=["namespace", "status", "start_time"], name="tf_run_status"),
            models.Index(fields=["namespace", "workflow_type", "start_time"], name="tf_run_type"),
            models.Index(fields=["start_time"], name="tf_run_start"),
        ]

    def __str__(self) -> str:
        return f"{self.workflow_id} / {self.run_id}"


class HistoryEvent(models.Model):
    """One event of a run's history; ``attributes`` is compact JSON text (cheap to write and read)."""

    # No separate index on run: the unique (run, ...) constraint below leads with it. No
    # database-level foreign key either (here, on activities and on timers): only the store
    # writes these rows, always beside their run in one transaction, and a key check per
    # inserted row was a measurable share of a workflow's cost. Django still cascades deletes.
    run = models.ForeignKey(
        WorkflowRun, on_delete=models.CASCADE, related_name="events", verbose_name="run", db_index=False,
        db_constraint=False,
    )
    event_id = models.PositiveIntegerField("event id", help_text="Position in the history, from 1.")
    event_type = models.CharField("event type", max_length=64, help_text="Temporal event type name.")
    event_time = models.FloatField("event time", help_text="Epoch seconds when the event was written.")
    attributes = models.TextField(
        "attributes", help_text="Event attributes as compact JSON (Temporal field names)."
    )

    class Meta:
        db_table = "temporalflow_event"
        verbose_name = "history event"
        verbose_name_plural = "history events"
        ordering = ["run", "event_id"]
        constraints = [models.UniqueConstraint(fields=["run", "event_id"], name="tf_event_run_id")]

    def __str__(self) -> str:
        return f"{self.event_id} {self.event_type}"


class ActivityTask(models.Model):
    """A pending activity (one row per ActivityTaskScheduled without an outcome yet).

    ``timeout_at`` is the earliest deadline that applies in the row's state
    (schedule-to-start or schedule-to-close while scheduled; the lease or
    schedule-to-close while started), so one index serves the timeout sweep.
    """

    namespace = _ns_field()
    # No separate index on run: the unique (run, ...) constraint below leads with it.
    run = models.ForeignKey(
        WorkflowRun, on_delete=models.CASCADE, related_name="activities", verbose_name="run", db_index=False,
        db_constraint=False,
    )
    # Copied from the run so a claim's RETURNING has everything a lease needs (no join).
    workflow_id = models.CharField("workflow id", max_length=255)
    workflow_run_id = models.CharField("workflow run id", max_length=36)
    workflow_type = models.CharField("workflow type", max_length=255)
    scheduled_event_id = models.PositiveIntegerField("scheduled event id")
    activity_id = models.CharField("activity id", max_length=255)
    activity_type = models.CharField("activity type", max_length=255)
    task_queue = models.CharField("task queue", max_length=255)
    input = models.JSONField("input", null=True, blank=True, help_text="Payloads JSON.")
    header = models.JSONField("header", default=dict, blank=True)
    attempt = models.PositiveIntegerField("attempt", default=1)
    state = models.PositiveSmallIntegerField(
        "state", choices=ActivityTaskState.choices, default=ActivityTaskState.SCHEDULED
    )
    visible_at = models.FloatField("visible at", help_text="Epoch seconds when the attempt may be claimed.")
    lease_token = models.CharField("lease token", max_length=32, blank=True, default="")
    started_at = models.FloatField("started at", null=True, blank=True)
    lease_until = models.FloatField(
        "lease until",
        null=True,
        blank=True,
        help_text="min(start-to-close, heartbeat) deadline of the attempt.",
    )
    timeout_at = models.FloatField(
        "next deadline",
        null=True,
        blank=True,
        help_text="Earliest deadline in the current state (timeout sweep).",
    )
    schedule_to_close_deadline = models.FloatField("schedule-to-close deadline", null=True, blank=True)
    schedule_to_start_deadline = models.FloatField("schedule-to-start deadline", null=True, blank=True)
    schedule_to_close_timeout = models.FloatField("schedule-to-close timeout", null=True, blank=True)
    schedule_to_start_timeout = models.FloatField("schedule-to-start timeout", null=True, blank=True)
    start_to_close_timeout = models.FloatField("start-to-close timeout", null=True, blank=True)
    heartbeat_timeout = models.FloatField("heartbeat timeout", null=True, blank=True)
    retry_policy = models.JSONField("retry policy", null=True, blank=True)
    heartbeat_details = models.JSONField("heartbeat details", null=True, blank=True)
    last_failure = models.JSONField("last failure", null=True, blank=True)
    cancel_requested = models.BooleanField("cancel requested", default=False)
    scheduled_time = models.FloatField("scheduled time")
    current_attempt_scheduled_time = models.FloatField("current attempt scheduled time")
    identity = models.CharField("worker identity", max_length=255, blank=True, default="")

    class Meta:
        db_table = "temporalflow_activity"
        verbose_name = "activity task"
        verbose_name_plural = "activity tasks"
        constraints = [
            models.UniqueConstraint(fields=["run", "scheduled_event_id"], name="tf_activity_run_sched"),
        ]
        indexes = [
            models.Index(
                fields=["namespace", "task_queue", "visible_at"],
                condition=Q(state=ActivityTaskState.SCHEDULED),
                name="tf_activity_claim",
            ),
            models.Index(
                fields=["visible_at"],
                condition=Q(state=ActivityTaskState.SCHEDULED),
                name="tf_activity_visible",
            ),
            models.Index(
                fields=["timeout_at"], condition=Q(timeout_at__isnull=False), name="tf_activity_timeout"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.activity_type} ({self.activity_id})"


class Timer(models.Model):
    """A started durable timer, deleted when it fires or is cancelled."""

    namespace = _ns_field()
    # No separate index on run: the unique (run, ...) constraint below leads with it.
    run = models.ForeignKey(
        WorkflowRun, on_delete=models.CASCADE, related_name="timers", verbose_name="run", db_index=False,
        db_constraint=False,
    )
    seq = models.PositiveIntegerField("sequence number")
    timer_id = models.CharField("timer id", max_length=255)
    started_event_id = models.PositiveIntegerField("started event id")
    fire_at = models.FloatField("fire at", help_text="Epoch seconds when the timer fires.")

    class Meta:
        db_table = "temporalflow_timer"
        verbose_name = "timer"
        verbose_name_plural = "timers"
        constraints = [models.UniqueConstraint(fields=["run", "timer_id"], name="tf_timer_run_tid")]
        indexes = [models.Index(fields=["fire_at"], name="tf_timer_fire_at")]

    def __str__(self) -> str:
        return f"timer {self.timer_id}"


class ParentClosePolicy(models.IntegerChoices):
    """What happens to a running child when its parent closes (Temporal's values)."""

    TERMINATE = 1, "terminate"
    ABANDON = 2, "abandon"
    REQUEST_CANCEL = 3, "request cancel"


class ChildWorkflow(models.Model):
    """A child workflow a parent run started: one row per started child, until its close is reported.

    The child's own chain of runs (continue-as-new, retries) shares ``first_run_id``;
    its last run's close is reported to the parent as a ChildWorkflowExecution* event.
    """

    namespace = _ns_field()
    # No separate index on parent: the unique (parent, ...) constraint below leads with it.
    parent = models.ForeignKey(
        WorkflowRun, on_delete=models.CASCADE, related_name="child_workflows", verbose_name="parent run",
        db_index=False, db_constraint=False,
    )
    initiated_event_id = models.PositiveIntegerField(
        "initiated event id", help_text="The parent's StartChildWorkflowExecutionInitiated event.")
    started_event_id = models.PositiveIntegerField(
        "started event id", help_text="The parent's ChildWorkflowExecutionStarted event.")
    workflow_id = models.CharField("child workflow id", max_length=255)
    first_run_id = models.CharField("child first run id", max_length=36)
    workflow_type = models.CharField("child workflow type", max_length=255)
    parent_close_policy = models.PositiveSmallIntegerField(
        "parent close policy", choices=ParentClosePolicy.choices, default=ParentClosePolicy.TERMINATE)

    class Meta:
        db_table = "temporalflow_child"
        verbose_name = "child workflow"
        verbose_name_plural = "child workflows"
        constraints = [
            models.UniqueConstraint(fields=["parent", "initiated_event_id"], name="tf_child_parent_init"),
        ]
        indexes = [models.Index(fields=["namespace", "workflow_id", "first_run_id"], name="tf_child_wid")]

    def __str__(self) -> str:
        return f"{self.workflow_type} ({self.workflow_id})"


class OutboxKind(models.TextChoices):
    """What an outbox row delivers."""

    SIGNAL = "signal", "signal another run"
    CANCEL = "cancel", "cancel another run"
    CHILD_CLOSED = "child_closed", "report a child's close to its parent"


class WorkflowOutbox(models.Model):
    """A message from one run to another, written in the sender's transaction, delivered by a worker.

    Stage 1 delivers it to the target (a signal, a cancel request) and records the
    outcome; stage 2 appends that outcome to ``run``'s history (ExternalWorkflowExecution
    Signaled, ChildWorkflowExecutionCompleted, ...) and deletes the row. Each stage is one
    transaction that locks one run, so a worker killed between them loses nothing.
    """

    namespace = _ns_field()
    kind = models.CharField("kind", max_length=16, choices=OutboxKind.choices)
    run = models.ForeignKey(
        WorkflowRun, on_delete=models.CASCADE, related_name="outbox", verbose_name="reporting run",
        db_index=False, db_constraint=False, help_text="The run whose history receives the outcome.",
    )
    initiated_event_id = models.PositiveIntegerField("initiated event id", default=0)
    target_workflow_id = models.CharField("target workflow id", max_length=255)
    target_run_id = models.CharField("target run id", max_length=36, blank=True, default="")
    stage = models.PositiveSmallIntegerField("stage", default=1)
    body = models.JSONField("body", null=True, blank=True, help_text="What to deliver (stage 1).")
    outcome = models.JSONField("outcome", null=True, blank=True, help_text="The event to append (stage 2).")
    visible_at = models.FloatField("visible at", help_text="Epoch seconds when a worker may deliver it.")
    attempts = models.PositiveIntegerField("attempts", default=0)

    class Meta:
        db_table = "temporalflow_outbox"
        verbose_name = "outbox message"
        verbose_name_plural = "outbox messages"
        indexes = [models.Index(fields=["visible_at"], name="tf_outbox_visible")]

    def __str__(self) -> str:
        return f"{self.kind} to {self.target_workflow_id}"


class SearchAttributeValue(models.Model):
    """One indexed value of a run's custom search attribute (a keyword list has a row per keyword).

    The run's ``search_attributes`` JSON holds the payloads (what describe and list show);
    these rows are their index, written in the same transaction. Exactly one value column is
    set, per the attribute's registered type; each has a partial index led by
    ``(namespace, name)``, so a filter on one attribute is one index range on PostgreSQL and
    SQLite alike. Standard attributes (WorkflowId, StartTime, ...) are columns of the run row.
    """

    namespace = _ns_field()
    # No separate index on run: the (run, name) index below leads with it; no database-level
    # foreign key, as for events (only the store writes these rows, beside their run).
    run = models.ForeignKey(
        WorkflowRun, on_delete=models.CASCADE, related_name="search_attribute_values", verbose_name="run",
        db_index=False, db_constraint=False,
    )
    name = models.CharField("attribute", max_length=255)
    value_type = models.PositiveSmallIntegerField(
        "type", help_text="Temporal's IndexedValueType (1 Text, 2 Keyword, 3 Int, 4 Double, 5 Bool, 6 Datetime, "
        "7 KeywordList)."
    )
    keyword = models.CharField("keyword", max_length=2048, null=True, blank=True)
    text = models.TextField("text", null=True, blank=True)
    int_value = models.BigIntegerField("int", null=True, blank=True)
    double_value = models.FloatField("double", null=True, blank=True)
    bool_value = models.BooleanField("bool", null=True, blank=True)
    datetime_value = models.DateTimeField("datetime", null=True, blank=True)

    class Meta:
        db_table = "temporalflow_search_attr"
        verbose_name = "search attribute value"
        verbose_name_plural = "search attribute values"
        indexes = [
            models.Index(fields=["run", "name"], name="tf_sa_run_name"),
            models.Index(fields=["namespace", "name", "keyword"], condition=Q(keyword__isnull=False),
                         name="tf_sa_keyword"),
            models.Index(fields=["namespace", "name", "int_value"], condition=Q(int_value__isnull=False),
                         name="tf_sa_int"),
            models.Index(fields=["namespace", "name", "double_value"], condition=Q(double_value__isnull=False),
                         name="tf_sa_double"),
            models.Index(fields=["namespace", "name", "bool_value"], condition=Q(bool_value__isnull=False),
                         name="tf_sa_bool"),
            models.Index(fields=["namespace", "name", "datetime_value"], condition=Q(datetime_value__isnull=False),
                         name="tf_sa_datetime"),
        ]

    def __str__(self) -> str:
        return f"{self.name} of run {self.run_id}"


class WorkflowQuery(models.Model):
    """A query waiting for (or answered by) a worker of the run's task queue."""

    id = models.CharField("query id", max_length=36, primary_key=True)
    namespace = _ns_field()
    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="queries", verbose_name="run")
    task_queue = models.CharField("task queue", max_length=255)
    query_type = models.CharField("query type", max_length=255)
    args = models.JSONField("arguments", null=True, blank=True)
    state = models.CharField("state", max_length=16, choices=QueryState.choices, default=QueryState.PENDING)
    answer = models.JSONField(
        "answer", null=True, blank=True, help_text='{"result": ...} or {"failure": ...}.'
    )
    created_at = models.FloatField("created at")
    claimed_at = models.FloatField(
        "claimed at", null=True, blank=True, help_text="A claim older than a short lease may be re-claimed."
    )

    class Meta:
        db_table = "temporalflow_query"
        verbose_name = "workflow query"
        verbose_name_plural = "workflow queries"
        indexes = [
            models.Index(
                fields=["namespace", "task_queue", "created_at"],
                condition=~Q(state=QueryState.ANSWERED),
                name="tf_query_claim",
            ),
        ]


class WorkflowUpdate(models.Model):
    """An update request and its outcome."""

    namespace = _ns_field()
    # No separate index on run: the unique (run, ...) constraint below leads with it.
    run = models.ForeignKey(
        WorkflowRun, on_delete=models.CASCADE, related_name="updates", verbose_name="run", db_index=False
    )
    update_id = models.CharField("update id", max_length=255)
    name = models.CharField("update name", max_length=255)
    args = models.JSONField("arguments", null=True, blank=True)
    identity = models.CharField("identity", max_length=255, blank=True, default="")
    stage = models.CharField(
        "stage", max_length=16, choices=UpdateStage.choices, default=UpdateStage.ADMITTED
    )
    outcome = models.JSONField(
        "outcome", null=True, blank=True, help_text='{"success": ...} or {"failure": ...}.'
    )
    admitted_event_id = models.PositiveIntegerField(
        "admitted at event", help_text="The run's next event id when admitted (orders it against tasks)."
    )
    accepted_event_id = models.PositiveIntegerField("accepted event id", null=True, blank=True)
    created_at = models.FloatField("created at")

    class Meta:
        db_table = "temporalflow_update"
        verbose_name = "workflow update"
        verbose_name_plural = "workflow updates"
        constraints = [models.UniqueConstraint(fields=["run", "update_id"], name="tf_update_run_uid")]
        indexes = [models.Index(fields=["run", "stage"], name="tf_update_stage")]


class TaskQueuePoller(models.Model):
    """A worker recently seen polling a task queue."""

    namespace = _ns_field()
    task_queue = models.CharField("task queue", max_length=255)
    identity = models.CharField("identity", max_length=255)
    kind = models.CharField("kind", max_length=16, choices=PollerKind.choices, default=PollerKind.WORKFLOW)
    last_seen = models.FloatField("last seen", help_text="Epoch seconds of the latest poll.")

    class Meta:
        db_table = "temporalflow_poller"
        verbose_name = "task queue poller"
        verbose_name_plural = "task queue pollers"
        constraints = [
            models.UniqueConstraint(
                fields=["namespace", "task_queue", "identity", "kind"], name="tf_poller_unique"
            ),
        ]


class Schedule(models.Model):
    """A schedule: when to start a workflow (spec), what to start (action), and its bookkeeping.

    ``next_fire_at`` is the epoch time the schedule next needs a worker's attention (its next
    action time with jitter, or a re-check of a buffered start); the worker's timer loop claims
    due rows. ``runtime`` holds the buffered starts, running and recent actions, and counters.
    """

    namespace = _ns_field()
    schedule_id = models.CharField("schedule id", max_length=255, help_text="Identifier chosen by the creator.")
    workflow_type = models.CharField(
        "workflow type", max_length=255, help_text="Workflow the action starts (for lists)."
    )
    spec = models.JSONField("spec", help_text="When actions happen (ScheduleSpec JSON).")
    action = models.JSONField("action", help_text="The workflow start each action makes (JSON).")
    overlap = models.PositiveSmallIntegerField("overlap policy", default=1, help_text="ScheduleOverlapPolicy value.")
    catchup_window = models.FloatField("catch-up window", default=365 * 86400.0, help_text="Seconds.")
    pause_on_failure = models.BooleanField("pause on failure", default=False)
    note = models.TextField("note", blank=True, default="")
    paused = models.BooleanField("paused", default=False)
    limited_actions = models.BooleanField("limited actions", default=False)
    remaining_actions = models.IntegerField("remaining actions", default=0)
    memo = models.JSONField("memo", default=dict, blank=True, help_text="Payloads attached to the schedule.")
    search_attributes = models.JSONField("search attributes", default=dict, blank=True)
    runtime = models.JSONField(
        "runtime state", default=dict, blank=True,
        help_text="Buffered starts, running and recent actions, counters.",
    )
    next_nominal = models.FloatField(
        "next nominal time", null=True, blank=True, help_text="Epoch seconds of the next spec time (no jitter)."
    )
    next_fire_at = models.FloatField(
        "next fire at", null=True, blank=True, help_text="Epoch seconds when a worker next handles it."
    )
    conflict_token = models.PositiveIntegerField("conflict token", default=1)
    created_at = models.DateTimeField("created at")
    updated_at = models.DateTimeField("updated at", null=True, blank=True)

    class Meta:
        db_table = "temporalflow_schedule"
        verbose_name = "schedule"
        verbose_name_plural = "schedules"
        constraints = [
            models.UniqueConstraint(fields=["namespace", "schedule_id"], name="tf_schedule_id"),
        ]
        indexes = [
            models.Index(
                fields=["next_fire_at"], condition=Q(next_fire_at__isnull=False), name="tf_schedule_due"
            ),
        ]

    def __str__(self) -> str:
        return self.schedule_id
