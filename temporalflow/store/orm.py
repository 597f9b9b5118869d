"""``DjangoStore``: the Store protocol on the project's own database.

Every write method is ONE ``transaction.atomic(using=alias)``: history events,
the run row, task rows and timers change together, and a caller's
``atomic()`` block carries them (a start commits or rolls back with the
caller's writes).

How the hot paths stay cheap (DESIGN §6):

- Appending events reserves ids with ``UPDATE run SET next_event_id =
  next_event_id + n ... RETURNING``: the row lock serializes writers of one run,
  and the same statement schedules the run's workflow task when none is
  scheduled (or marks it dirty when one is running), so an external event
  (signal, activity result, timer) costs one UPDATE and one multi-row INSERT.
- Claims are one ``UPDATE ... WHERE id IN (SELECT ... [FOR UPDATE SKIP LOCKED]
  LIMIT n) RETURNING`` per batch (see ``_dialects``).
- Raw SQL throughout; the ORM models only define the schema.

Lock order, everywhere: the run row first, then its activity/timer/update
rows. Paths that start from a task row (activity completion, timer sweep)
lock the run first, so concurrent writers of one run never deadlock.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, connections, transaction

from temporalflow.conf import settings
from temporalflow.core import retry as retry_math
from temporalflow.core.commands import (
    CLOSING_COMMANDS,
    AcceptUpdate,
    CancelTimer,
    CancelWorkflowExecution,
    CompleteUpdate,
    CompleteWorkflowExecution,
    ContinueAsNewWorkflowExecution,
    FailWorkflowExecution,
    RejectUpdate,
    RequestCancelActivityTask,
    ScheduleActivityTask,
    StartTimer,
    command_event,
)
from temporalflow.core.events import EventType, HistoryEvent
from temporalflow.core.payload import PayloadsJSON
from temporalflow.store import notify
from temporalflow.store._dialects import Dialect, dialect_for
from temporalflow.store.base import (
    ActivityTaskLease,
    CompleteWorkflowTaskResult,
    HeartbeatResult,
    PendingUpdate,
    QueryAnswer,
    QueryTask,
    RunAlreadyStarted,
    RunClosed,
    RunInfo,
    RunNotFound,
    RunStatus,
    StaleTask,
    StartWorkflowRequest,
    StartWorkflowResult,
    StoreError,
    UpdateNotFound,
    UpdateOutcome,
    WorkflowTaskCompletion,
    WorkflowTaskLease,
)

__all__ = ["DjangoStore"]

RUN = "temporalflow_run"
EVENT = "temporalflow_event"
ACTIVITY = "temporalflow_activity"
TIMER = "temporalflow_timer"
QUERY = "temporalflow_query"
UPDATE = "temporalflow_update"
POLLER = "temporalflow_poller"

RUNNING = int(RunStatus.RUNNING)
WFT_NONE, WFT_SCHEDULED, WFT_STARTED = 0, 1, 2
ACT_SCHEDULED, ACT_STARTED = 1, 2

QUERY_CLAIM_LEASE = 5.0
"""Seconds after which a claimed, unanswered query may be claimed by another worker."""
POLLER_RECORD_INTERVAL = 10.0
"""A worker's poll of a queue is written at most this often (per store instance)."""
_EVENT_ROWS_PER_INSERT = 500

_CLOSE_STATUS = {
    CompleteWorkflowExecution: RunStatus.COMPLETED,
    FailWorkflowExecution: RunStatus.FAILED,
    CancelWorkflowExecution: RunStatus.CANCELED,
    ContinueAsNewWorkflowExecution: RunStatus.CONTINUED_AS_NEW,
}
_FAILED_LIKE = {RunStatus.FAILED, RunStatus.CANCELED, RunStatus.TERMINATED, RunStatus.TIMED_OUT}

_RUN_COLS = (
    "id, namespace, workflow_id, run_id, workflow_type, task_queue, status, next_event_id, first_run_id, "
    "parent_workflow_id, parent_run_id, memo, search_attributes, retry_policy, execution_timeout, "
    "run_timeout, "
    "task_timeout, execution_deadline, run_deadline, wft_state, wft_scheduled_event_id, "
    "wft_started_event_id, "
    "wft_attempt, wft_lease_until, wft_dirty, sticky_identity, cancel_requested, queries_waiting, "
    "request_id, start_ts, "
    "close_ts, execution_ts, cron_schedule"
)

_ACT_COLS = (
    "id, namespace, run_id, workflow_id, workflow_run_id, workflow_type, scheduled_event_id, activity_id, "
    "activity_type, task_queue, input, header, attempt, state, visible_at, lease_token, started_at, "
    "lease_until, "
    "timeout_at, schedule_to_close_deadline, schedule_to_start_deadline, schedule_to_close_timeout, "
    "schedule_to_start_timeout, start_to_close_timeout, heartbeat_timeout, retry_policy, heartbeat_details, "
    "last_failure, cancel_requested, scheduled_time, current_attempt_scheduled_time, identity"
)


# --------------------------------------------------------------------------- small helpers


def _dumps(obj: Any) -> str | None:
    """Compact JSON (None stays SQL NULL)."""
    if obj is None:
        return None
    return json.dumps(obj, separators=(",", ":"))


def _loads(value: Any) -> Any:
    """Decode a JSON column read through a raw cursor (text on both databases)."""
    if value is None or not isinstance(value, (str, bytes)):
        return value
    return json.loads(value)


def _rows(cur: Any) -> list[dict[str, Any]]:
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def _row(cur: Any) -> dict[str, Any] | None:
    rows = _rows(cur)
    return rows[0] if rows else None


def _min(*values: float | None) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _sql_min(a: str, b: str) -> str:
    """SQL ``min(a, b)`` where ``a`` is never NULL and a NULL ``b`` means "no bound" (portable)."""
    return f"(CASE WHEN ({b}) IS NOT NULL AND ({b}) < ({a}) THEN ({b}) ELSE ({a}) END)"


def _parse_token(token: str) -> tuple[int, int, str]:
    try:
        run_pk, sched, lease = token.split(":", 2)
        return int(run_pk), int(sched), lease
    except (ValueError, AttributeError):
        raise StaleTask(f"malformed activity task token {token!r}") from None


def _wft_scheduled(
    task_queue: str, task_timeout: float, attempt: int = 1
) -> tuple[EventType, dict[str, Any]]:
    return EventType.WORKFLOW_TASK_SCHEDULED, {
        "task_queue": {"name": task_queue},
        "start_to_close_timeout": task_timeout,
        "attempt": attempt,
    }


def _wft_started(scheduled_event_id: int, identity: str) -> tuple[EventType, dict[str, Any]]:
    return EventType.WORKFLOW_TASK_STARTED, {
        "scheduled_event_id": scheduled_event_id,
        "identity": identity,
        "request_id": "",
    }


class DjangoStore:
    """The Store protocol over Django's database connection ``alias``.

    Args:
        alias: ``DATABASES`` alias; defaults to ``TEMPORALFLOW["DATABASE_ALIAS"]``.
        namespace: Default namespace for callers that give none (requests and
            claims carry their own).
        clock: Epoch-seconds clock to use instead of the database's (the
            time-skipping test environment passes one that jumps ahead).
    """

    def __init__(
        self, alias: str | None = None, namespace: str | None = None, clock: Callable[[], float] | None = None
    ) -> None:
        self.alias = alias or settings.DATABASE_ALIAS
        self.namespace = namespace or settings.NAMESPACE
        self.clock = clock
        self._dialect: Dialect | None = None
        self._pollers_seen: dict[tuple[str, str, str, str], float] = {}
        self._visible_watermark: float | None = None

    # ------------------------------------------------------------------ plumbing

    @property
    def dialect(self) -> Dialect:
        """The SQL dialect of the alias's database."""
        if self._dialect is None:
            self._dialect = dialect_for(connections[self.alias].vendor)
        return self._dialect

    def _atomic(self) -> transaction.Atomic:
        return transaction.atomic(using=self.alias)

    def _cursor(self) -> Any:
        return connections[self.alias].cursor()

    def _json(self) -> str:
        # Typed placeholder for JSON columns, so PostgreSQL never has to guess.
        return "%s::jsonb" if self.dialect.vendor == "postgresql" else "%s"

    def now(self) -> float:
        """The store's idea of now (epoch seconds), for callers computing sleeps."""
        return float(self.clock()) if self.clock is not None else time.time()

    def _now_sql(self) -> str:
        # An injected clock is rendered as a literal, like SQLite's Python clock.
        if self.clock is not None:
            return repr(float(self.clock()))
        return self.dialect.now_sql()

    def _now(self, cur: Any) -> float:
        if self.clock is not None:
            return float(self.clock())
        if self.dialect.vendor == "postgresql":
            cur.execute(f"SELECT {self._now_sql()}")
            return float(cur.fetchone()[0])
        return time.time()

    def _publish(self, cur: Any, channels: Iterable[str]) -> None:
        notify.publish(self.alias, self.dialect, cur, channels)

    def _dt(self, ts: float) -> Any:
        return connections[self.alias].ops.adapt_datetimefield_value(datetime.fromtimestamp(ts, tz=UTC))

    def _insert_events(
        self,
        cur: Any,
        run_pk: int,
        first_id: int,
        now: float,
        events: Sequence[tuple[EventType, dict[str, Any]]],
    ) -> None:
        """Insert ``events`` with ids ``first_id, first_id + 1, ...`` (multi-row INSERTs)."""
        for start in range(0, len(events), _EVENT_ROWS_PER_INSERT):
            chunk = events[start : start + _EVENT_ROWS_PER_INSERT]
            params: list[Any] = []
            for i, (etype, attrs) in enumerate(chunk):
                params += [run_pk, first_id + start + i, str(etype), now, _dumps(attrs)]
            values = ",".join(["(%s,%s,%s,%s,%s)"] * len(chunk))
            cur.execute(
                f"INSERT INTO {EVENT} (run_id, event_id, event_type, event_time, attributes) VALUES {values}",
                params,
            )

    def _lock_run(self, cur: Any, run_pk: int) -> dict[str, Any] | None:
        """Read (and on PostgreSQL lock) a run row; ``now`` comes with it."""
        cur.execute(
            f"SELECT {_RUN_COLS}, {self._now_sql()} AS now FROM {RUN} WHERE id = "
            f"%s{self.dialect.lock_suffix()}",
            [run_pk],
        )
        return _row(cur)

    def _find_run(
        self, cur: Any, namespace: str, workflow_id: str, run_id: str | None, lock: bool = False
    ) -> dict[str, Any]:
        sql = f"SELECT {_RUN_COLS} FROM {RUN} WHERE namespace = %s AND workflow_id = %s"
        params: list[Any] = [namespace, workflow_id]
        if run_id:
            sql += " AND run_id = %s"
            params.append(run_id)
        sql += " ORDER BY id DESC LIMIT 1"
        if lock:
            sql += self.dialect.lock_suffix()
        cur.execute(sql, params)
        row = _row(cur)
        if row is None:
            raise RunNotFound(
                f"workflow {workflow_id!r}"
                + (f" run {run_id!r}" if run_id else "")
                + f" not found in {namespace!r}"
            )
        return row

    @staticmethod
    def _target(namespace: str, workflow_id: str, run_id: str | None) -> tuple[str, list[Any]]:
        """SQL selecting the id of a run by workflow id (and run id, else the latest)."""
        if run_id:
            return (
                f"id = (SELECT id FROM {RUN} WHERE namespace = %s AND workflow_id = %s AND run_id = %s)",
                [namespace, workflow_id, run_id],
            )
        return (
            f"id = (SELECT id FROM {RUN} WHERE namespace = %s AND workflow_id = %s ORDER BY id DESC LIMIT 1)",
            [namespace, workflow_id],
        )

    def _append(
        self,
        cur: Any,
        target_sql: str,
        target_params: list[Any],
        n: int,
        build: Callable[[int, float], list[tuple[EventType, dict[str, Any]]]],
        *,
        extra_set: str = "",
        extra_params: Sequence[Any] = (),
        extra_where: str = "",
        channels: Iterable[str] = (),
    ) -> dict[str, Any] | None:
        """Append ``n`` events to an open run from outside a workflow-task completion.

        One UPDATE reserves the ids and, in the same statement, schedules the
        run's workflow task if none is scheduled (appending WorkflowTaskScheduled
        after the ``n`` events) or marks the started one dirty. Returns the run's
        ``id``/``first_id``/``now``/``scheduled`` (the new WorkflowTaskScheduled id
        or None), or None when no open run matched (nothing was written).
        """
        # n >= 1 keeps "the last reserved id is a new WorkflowTaskScheduled" unambiguous.
        assert n >= 1, "use _append_locked to schedule a task without an event"
        now = self._now_sql()
        sticky = repr(float(settings.STICKY_SCHEDULE_TO_START_TIMEOUT))
        # SET expressions see the row's old values (standard SQL, and SQLite).
        sql = (
            f"UPDATE {RUN} SET "
            f"next_event_id = next_event_id + {int(n)} + (CASE WHEN wft_state = 0 THEN 1 ELSE 0 END), "
            f"wft_dirty = (CASE WHEN wft_state = 2 THEN TRUE ELSE wft_dirty END), "
            f"wft_scheduled_event_id = (CASE WHEN wft_state = 0 THEN next_event_id + {int(n)} "
            f"ELSE wft_scheduled_event_id END), "
            f"wft_visible_at = (CASE WHEN wft_state = 0 THEN {now} ELSE wft_visible_at END), "
            f"wft_attempt = (CASE WHEN wft_state = 0 THEN 1 ELSE wft_attempt END), "
            f"sticky_until = (CASE WHEN wft_state = 0 AND sticky_identity <> '' THEN {now} + {sticky} "
            f"ELSE sticky_until END), "
            f"wft_state = (CASE WHEN wft_state = 0 THEN 1 ELSE wft_state END)"
            f"{extra_set} "
            f"WHERE {target_sql} AND status = {RUNNING}{extra_where} "
            f"RETURNING id, next_event_id, wft_state, wft_scheduled_event_id, namespace, task_queue, "
            f"task_timeout, {now} AS now"
        )
        cur.execute(sql, [*extra_params, *target_params])
        row = _row(cur)
        if row is None:
            return None
        now_f = float(row["now"])
        run_pk = row["id"]
        next_id = row["next_event_id"]
        scheduled = row["wft_state"] == WFT_SCHEDULED and row["wft_scheduled_event_id"] == next_id - 1
        first_id = next_id - n - (1 if scheduled else 0)
        events = build(first_id, now_f)
        assert len(events) == n, "event count must be known before the ids are reserved"
        if scheduled:
            events.append(_wft_scheduled(row["task_queue"], row["task_timeout"]))
        self._insert_events(cur, run_pk, first_id, now_f, events)
        chans = [f"run:{run_pk}", *channels]
        if scheduled:
            chans.append(f"wft:{row['namespace']}:{row['task_queue']}")
        self._publish(cur, chans)
        return {
            "id": run_pk,
            "first_id": first_id,
            "now": now_f,
            "scheduled": first_id + n if scheduled else None,
        }

    def _drop_run_rows(
        self, cur: Any, run_pk: int, *, answer_queries: dict[str, Any] | None = None
    ) -> list[str]:
        """Delete a closing run's activity and timer rows and settle its pending updates.

        With ``answer_queries`` (a failure dict), pending queries are answered with it.
        Returns the extra channels to notify.
        """
        cur.execute(f"DELETE FROM {ACTIVITY} WHERE run_id = %s", [run_pk])
        cur.execute(f"DELETE FROM {TIMER} WHERE run_id = %s", [run_pk])
        cur.execute(
            f"UPDATE {UPDATE} SET stage = 'rejected', outcome = {self._json()} "
            f"WHERE run_id = %s AND stage IN ('admitted', 'accepted')",
            [_dumps({"failure": {"message": "workflow execution already completed"}}), run_pk],
        )
        channels: list[str] = []
        if answer_queries is not None:
            cur.execute(
                f"UPDATE {QUERY} SET state = 'answered', answer = {self._json()} "
                f"WHERE run_id = %s AND state <> 'answered' RETURNING id",
                [_dumps({"failure": answer_queries}), run_pk],
            )
            channels += [f"queryans:{r[0]}" for r in cur.fetchall()]
        return channels

    # ------------------------------------------------------------------ runs

    def _create_run(
        self,
        cur: Any,
        now: float,
        *,
        namespace: str,
        workflow_id: str,
        workflow_type: str,
        task_queue: str,
        input: PayloadsJSON,
        execution_timeout: float | None,
        run_timeout: float | None,
        task_timeout: float,
        execution_deadline: float | None = None,
        first_run_id: str | None = None,
        continued_from: str = "",
        memo: dict[str, Any] | None = None,
        search_attributes: dict[str, Any] | None = None,
        retry_policy: dict[str, Any] | None = None,
        cron_schedule: str = "",
        request_id: str = "",
        identity: str = "",
        header: dict[str, Any] | None = None,
        start_delay: float | None = None,
        parent_workflow_id: str | None = None,
        parent_run_id: str | None = None,
        signal: tuple[str, PayloadsJSON | None] | None = None,
        attempt: int = 1,
        run_id: str | None = None,
    ) -> tuple[int, str]:
        """Insert a RUNNING run with WorkflowExecutionStarted [+ Signaled] + WorkflowTaskScheduled."""
        run_id = run_id or str(uuid.uuid4())
        first_run_id = first_run_id or run_id
        task_timeout = float(task_timeout or settings.WORKFLOW_TASK_TIMEOUT)
        if execution_deadline is None and execution_timeout:
            execution_deadline = now + execution_timeout
        run_deadline = _min(now + run_timeout if run_timeout else None, execution_deadline)
        delay = float(start_delay or 0.0)
        visible_at = now + delay
        started_attrs: dict[str, Any] = {
            "workflow_type": {"name": workflow_type},
            "task_queue": {"name": task_queue},
            "input": input,
            "workflow_id": workflow_id,
            "workflow_execution_timeout": execution_timeout,
            "workflow_run_timeout": run_timeout,
            "workflow_task_timeout": task_timeout,
            "continued_execution_run_id": continued_from,
            "original_execution_run_id": run_id,
            "first_execution_run_id": first_run_id,
            "identity": identity,
            "attempt": attempt,
            "memo": memo or {},
            "search_attributes": search_attributes or {},
            "first_workflow_task_backoff": delay or None,
            "retry_policy": retry_policy,
            "cron_schedule": cron_schedule,
            "parent_workflow_execution": (
                {"workflow_id": parent_workflow_id, "run_id": parent_run_id} if parent_workflow_id else None
            ),
            "header": header or {},
        }
        events: list[tuple[EventType, dict[str, Any]]] = [
            (EventType.WORKFLOW_EXECUTION_STARTED, started_attrs)
        ]
        if signal is not None:
            events.append(
                (
                    EventType.WORKFLOW_EXECUTION_SIGNALED,
                    {
                        "signal_name": signal[0],
                        "input": signal[1],
                        "identity": identity,
                        "header": header or {},
                    },
                )
            )
        events.append(_wft_scheduled(task_queue, task_timeout))
        j = self._json()
        cols = {
            "namespace": namespace,
            "workflow_id": workflow_id,
            "run_id": run_id,
            "workflow_type": workflow_type,
            "task_queue": task_queue,
            "status": RUNNING,
            "start_time": self._dt(now),
            "execution_time": self._dt(visible_at),
            "start_ts": now,
            "execution_ts": visible_at,
            "next_event_id": len(events) + 1,
            "first_run_id": first_run_id,
            "continued_from_run_id": continued_from,
            "parent_workflow_id": parent_workflow_id,
            "parent_run_id": parent_run_id,
            "memo": _dumps(memo or {}),
            "search_attributes": _dumps(search_attributes or {}),
            "retry_policy": _dumps(retry_policy),
            "cron_schedule": cron_schedule or "",
            "request_id": request_id or "",
            "identity": identity or "",
            "execution_timeout": execution_timeout,
            "run_timeout": run_timeout,
            "task_timeout": task_timeout,
            "execution_deadline": execution_deadline,
            "run_deadline": run_deadline,
            "cancel_requested": False,
            "queries_waiting": False,
            "wft_state": WFT_SCHEDULED,
            "wft_visible_at": visible_at,
            "wft_scheduled_event_id": len(events),
            "wft_attempt": 1,
            "wft_dirty": False,
            "sticky_identity": "",
        }
        json_cols = {"memo", "search_attributes", "retry_policy"}
        placeholders = ",".join(j if c in json_cols else "%s" for c in cols)
        cur.execute(
            f"INSERT INTO {RUN} ({','.join(cols)}) VALUES ({placeholders}) RETURNING id", list(cols.values())
        )
        run_pk = cur.fetchone()[0]
        self._insert_events(cur, run_pk, 1, now, events)
        channels = [f"run:{run_pk}"]
        channels.append(f"wft:{namespace}:{task_queue}" if delay <= 0 else "timers")
        if run_deadline is not None:
            channels.append("timers")
        self._publish(cur, channels)
        return run_pk, run_id

    def _close_run(
        self, cur: Any, run: dict[str, Any], now: float, status: RunStatus, next_event_id: int
    ) -> None:
        cur.execute(
            f"UPDATE {RUN} SET status = %s, close_time = %s, close_ts = %s, next_event_id = %s, wft_state = "
            "0, "
            f"wft_visible_at = NULL, wft_lease_until = NULL, wft_dirty = FALSE, sticky_identity = '', "
            f"sticky_until = NULL WHERE id = %s",
            [int(status), self._dt(now), now, next_event_id, run["id"]],
        )

    def _terminate_locked(
        self, cur: Any, run: dict[str, Any], now: float, reason: str, details: Any, identity: str
    ) -> None:
        eid = run["next_event_id"]
        self._close_run(cur, run, now, RunStatus.TERMINATED, eid + 1)
        self._insert_events(
            cur,
            run["id"],
            eid,
            now,
            [
                (
                    EventType.WORKFLOW_EXECUTION_TERMINATED,
                    {"reason": reason, "details": details, "identity": identity},
                )
            ],
        )
        extra = self._drop_run_rows(
            cur, run["id"], answer_queries={"message": f"workflow terminated: {reason}"}
        )
        self._publish(cur, [f"run:{run['id']}", *extra])

    def start_workflow(self, request: StartWorkflowRequest) -> StartWorkflowResult:
        """Create a run, applying the id reuse and conflict policies (see the protocol)."""
        req = request
        try:
            with self._atomic():
                cur = self._cursor()
                latest = self._latest_for_start(cur, req.namespace, req.workflow_id)
                now = self._now(cur)
                if latest is not None:
                    if req.request_id and latest["request_id"] == req.request_id:
                        # A retried start (same request id): the original call succeeded.
                        return StartWorkflowResult(run_id=latest["run_id"], started=True)
                    if latest["status"] == RUNNING:
                        if req.signal_name is not None:
                            self._signal_locked(
                                cur, latest["id"], req.signal_name, req.signal_input, req.identity, req.header
                            )
                            return StartWorkflowResult(run_id=latest["run_id"], started=False)
                        if req.id_conflict_policy == 2:  # USE_EXISTING
                            return StartWorkflowResult(run_id=latest["run_id"], started=False)
                        if req.id_conflict_policy == 3 or req.id_reuse_policy == 4:  # TERMINATE_*
                            self._terminate_locked(
                                cur,
                                latest,
                                now,
                                "terminated by a new start (id conflict policy)",
                                None,
                                req.identity,
                            )
                        else:
                            raise RunAlreadyStarted(
                                f"workflow {req.workflow_id!r} is already running (run {latest['run_id']})",
                                req.workflow_id,
                                latest["run_id"],
                            )
                    elif req.id_reuse_policy == 3 or (
                        req.id_reuse_policy == 2 and RunStatus(latest["status"]) not in _FAILED_LIKE
                    ):
                        raise RunAlreadyStarted(
                            f"workflow id {req.workflow_id!r} was already used (run {latest['run_id']}, "
                            f"{RunStatus(latest['status']).name}) and the id reuse policy forbids reusing it",
                            req.workflow_id,
                            latest["run_id"],
                        )
                _, run_id = self._create_run(
                    cur,
                    now,
                    namespace=req.namespace,
                    workflow_id=req.workflow_id,
                    workflow_type=req.workflow_type,
                    task_queue=req.task_queue,
                    input=req.input,
                    execution_timeout=req.execution_timeout,
                    run_timeout=req.run_timeout,
                    task_timeout=req.task_timeout,
                    memo=req.memo,
                    search_attributes=req.search_attributes,
                    retry_policy=req.retry_policy,
                    cron_schedule=req.cron_schedule,
                    request_id=req.request_id,
                    identity=req.identity,
                    header=req.header,
                    start_delay=req.start_delay,
                    signal=(req.signal_name, req.signal_input) if req.signal_name is not None else None,
                )
                return StartWorkflowResult(run_id=run_id, started=True)
        except IntegrityError as exc:
            # A concurrent start of the same workflow id won the one-running-run index
            # (PostgreSQL names the index; SQLite names its columns).
            text = str(exc)
            if "tf_run_one_running_per_id" not in text and "temporalflow_run.workflow_id" not in text:
                raise
            raise RunAlreadyStarted(
                f"workflow {req.workflow_id!r} is already running (concurrent start)", req.workflow_id, None
            ) from None

    def _latest_for_start(self, cur: Any, namespace: str, workflow_id: str) -> dict[str, Any] | None:
        try:
            return self._find_run(cur, namespace, workflow_id, None, lock=True)
        except RunNotFound:
            return None

    def describe(self, namespace: str, workflow_id: str, run_id: str | None) -> RunInfo:
        """The run (the latest of the workflow id when ``run_id`` is None); ``RunNotFound``."""
        cur = self._cursor()
        row = self._find_run(cur, namespace, workflow_id, run_id)
        return RunInfo(
            pk=row["id"],
            namespace=row["namespace"],
            workflow_id=row["workflow_id"],
            run_id=row["run_id"],
            workflow_type=row["workflow_type"],
            task_queue=row["task_queue"],
            status=RunStatus(row["status"]),
            start_time=row["start_ts"],
            close_time=row["close_ts"],
            execution_time=row["execution_ts"],
            history_length=row["next_event_id"] - 1,
            first_run_id=row["first_run_id"],
            memo=_loads(row["memo"]) or {},
            search_attributes=_loads(row["search_attributes"]) or {},
            parent_workflow_id=row["parent_workflow_id"],
            parent_run_id=row["parent_run_id"],
        )

    def read_history(
        self, run_pk: int, after_event_id: int = 0, limit: int | None = None
    ) -> list[HistoryEvent]:
        """Events with id > ``after_event_id``, in order."""
        sql = (
            f"SELECT event_id, event_type, event_time, attributes FROM {EVENT} "
            f"WHERE run_id = %s AND event_id > %s ORDER BY event_id"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        cur = self._cursor()
        cur.execute(sql, [run_pk, after_event_id])
        return [
            HistoryEvent(
                event_id=r[0], event_type=EventType(r[1]), event_time=r[2], attributes=json.loads(r[3])
            )
            for r in cur.fetchall()
        ]

    def _signal_locked(
        self,
        cur: Any,
        run_pk: int,
        name: str,
        input: PayloadsJSON | None,
        identity: str,
        header: dict[str, Any] | None,
    ) -> None:
        attrs = {"signal_name": name, "input": input, "identity": identity, "header": header or {}}
        done = self._append(
            cur, "id = %s", [run_pk], 1, lambda first, now: [(EventType.WORKFLOW_EXECUTION_SIGNALED, attrs)]
        )
        if done is None:
            raise RunClosed(f"run {run_pk} is closed")

    def _raise_not_open(self, cur: Any, namespace: str, workflow_id: str, run_id: str | None) -> None:
        row = self._find_run(cur, namespace, workflow_id, run_id)  # raises RunNotFound
        raise RunClosed(
            f"workflow {workflow_id!r} run {row['run_id']} is closed ({RunStatus(row['status']).name})"
        )

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
        attrs = {"signal_name": name, "input": input, "identity": identity, "header": header or {}}
        with self._atomic():
            cur = self._cursor()
            target, params = self._target(namespace, workflow_id, run_id)
            done = self._append(
                cur, target, params, 1, lambda first, now: [(EventType.WORKFLOW_EXECUTION_SIGNALED, attrs)]
            )
            if done is None:
                self._raise_not_open(cur, namespace, workflow_id, run_id)

    def request_cancel(
        self, namespace: str, workflow_id: str, run_id: str | None, identity: str = ""
    ) -> None:
        """Append WorkflowExecutionCancelRequested (once) and schedule a workflow task."""
        attrs = {"cause": "", "identity": identity}
        with self._atomic():
            cur = self._cursor()
            target, params = self._target(namespace, workflow_id, run_id)
            done = self._append(
                cur,
                target,
                params,
                1,
                lambda first, now: [(EventType.WORKFLOW_EXECUTION_CANCEL_REQUESTED, attrs)],
                extra_set=", cancel_requested = TRUE",
                extra_where=" AND cancel_requested = FALSE",
            )
            if done is None:
                row = self._find_run(cur, namespace, workflow_id, run_id)
                if row["status"] != RUNNING:
                    raise RunClosed(
                        f"workflow {workflow_id!r} run {row['run_id']} is closed "
                        f"({RunStatus(row['status']).name})"
                    )
                # Already requested: a second request is a no-op, as in Temporal.

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
        with self._atomic():
            cur = self._cursor()
            run = self._find_run(cur, namespace, workflow_id, run_id, lock=True)
            if run["status"] != RUNNING:
                raise RunClosed(
                    f"workflow {workflow_id!r} run {run['run_id']} is closed "
                    f"({RunStatus(run['status']).name})"
                )
            self._terminate_locked(cur, run, self._now(cur), reason, details, identity)

    # ------------------------------------------------------------------ queries and updates

    def create_query(self, run_pk: int, query_type: str, args: PayloadsJSON) -> str:
        """Queue a query for a worker of the run's task queue; returns its id."""
        query_id = str(uuid.uuid4())
        with self._atomic():
            cur = self._cursor()
            # Flag the run so the completion of its in-flight workflow task wakes query
            # pollers: a query is answered only once the events before it were processed.
            cur.execute(
                f"UPDATE {RUN} SET queries_waiting = TRUE WHERE id = %s RETURNING namespace, task_queue",
                [run_pk],
            )
            row = cur.fetchone()
            if row is None:
                raise RunNotFound(f"run {run_pk} not found")
            cur.execute(
                f"INSERT INTO {QUERY} (id, namespace, run_id, task_queue, query_type, args, state, "
                "created_at) "
                f"VALUES (%s, %s, %s, %s, %s, {self._json()}, 'pending', {self._now_sql()})",
                [query_id, row[0], run_pk, row[1], query_type, _dumps(args)],
            )
            self._publish(cur, [f"query:{row[0]}:{row[1]}"])
        return query_id

    def get_query_answer(self, query_id: str) -> QueryAnswer | None:
        """The answer, or None while no worker has answered yet."""
        cur = self._cursor()
        cur.execute(f"SELECT state, answer FROM {QUERY} WHERE id = %s", [query_id])
        row = cur.fetchone()
        if row is None:
            raise StoreError(f"unknown query {query_id!r}")
        if row[0] != "answered":
            return None
        answer = _loads(row[1]) or {}
        return QueryAnswer(result=answer.get("result"), failure=answer.get("failure"))

    def claim_queries(
        self, namespace: str, task_queue: str, identity: str, max_tasks: int
    ) -> list[QueryTask]:
        """Claim pending queries (and ones whose claimer went silent) of this task queue."""
        d = self.dialect
        now = self._now_sql()
        with self._atomic():
            cur = self._cursor()
            sql = d.claim(
                QUERY,
                where=(
                    f"namespace = %(ns)s AND task_queue = %(q)s AND (state = 'pending' OR "
                    f"(state = 'claimed' AND claimed_at <= {now} - {QUERY_CLAIM_LEASE})) "
                    # As Temporal buffers queries behind an in-flight workflow task: only runs
                    # with no task pending, closed runs, or runs whose task keeps failing.
                    f"AND EXISTS (SELECT 1 FROM {RUN} r WHERE r.id = {QUERY}.run_id "
                    f"AND (r.wft_state = 0 OR r.status <> {RUNNING} OR r.wft_attempt > 1))"
                ),
                order_by="created_at",
                limit=max_tasks,
                update_set=f"state = 'claimed', claimed_at = {now}",
                returning="id, run_id, query_type, args",
            )
            cur.execute(sql, {"ns": namespace, "q": task_queue})
            claimed = _rows(cur)
            if not claimed:
                return []
            runs = self._run_names(cur, {r["run_id"] for r in claimed})
        out = []
        for r in claimed:
            run = runs[r["run_id"]]
            out.append(
                QueryTask(
                    query_id=r["id"],
                    run_pk=r["run_id"],
                    namespace=run[0],
                    workflow_id=run[1],
                    run_id=run[2],
                    workflow_type=run[3],
                    query_type=r["query_type"],
                    args=_loads(r["args"]) or {"payloads": []},
                )
            )
        return out

    def _run_names(self, cur: Any, run_pks: set[int]) -> dict[int, tuple[str, str, str, str]]:
        marks = ",".join(["%s"] * len(run_pks))
        cur.execute(
            f"SELECT id, namespace, workflow_id, run_id, workflow_type FROM {RUN} WHERE id IN ({marks})",
            list(run_pks),
        )
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in cur.fetchall()}

    def answer_query(self, query_id: str, answer: QueryAnswer) -> None:
        """Record a query's answer (the first answer wins) and wake the waiting client."""
        payload = {"failure": answer.failure} if answer.failure is not None else {"result": answer.result}
        with self._atomic():
            cur = self._cursor()
            cur.execute(
                f"UPDATE {QUERY} SET state = 'answered', answer = {self._json()} WHERE id = %s AND state <> "
                "'answered'",
                [_dumps(payload), query_id],
            )
            if cur.rowcount:
                self._publish(cur, [f"queryans:{query_id}"])

    def admit_update(
        self, run_pk: int, update_id: str, name: str, args: PayloadsJSON, identity: str = ""
    ) -> UpdateOutcome:
        """Record an update request (deduplicated by ``update_id``) and schedule a workflow task."""
        with self._atomic():
            cur = self._cursor()
            existing = self._update_row(cur, run_pk, update_id)
            if existing is not None:
                return existing
            run = self._lock_run(cur, run_pk)
            if run is None:
                raise RunNotFound(f"run {run_pk} not found")
            if run["status"] != RUNNING:
                raise RunClosed(f"run {run_pk} is closed ({RunStatus(run['status']).name})")
            now = float(run["now"])
            # No event of its own: just make sure a workflow task will deliver it.
            self._append_locked(cur, run, now, [])
            # The run's next event id at admission orders the update against
            # workflow tasks: one started before it has not seen it.
            cur.execute(
                f"INSERT INTO {UPDATE} (namespace, run_id, update_id, name, args, identity, stage, "
                f"admitted_event_id, created_at) "
                f"SELECT namespace, id, %s, %s, {self._json()}, %s, 'admitted', next_event_id, %s FROM {RUN} "
                f"WHERE id = %s ON CONFLICT (run_id, update_id) DO NOTHING",
                [update_id, name, _dumps(args), identity, now, run_pk],
            )
            outcome = self._update_row(cur, run_pk, update_id)
            assert outcome is not None
            return outcome

    def _update_row(self, cur: Any, run_pk: int, update_id: str) -> UpdateOutcome | None:
        cur.execute(
            f"SELECT u.stage, u.outcome, r.run_id FROM {UPDATE} u JOIN {RUN} r ON r.id = u.run_id "
            f"WHERE u.run_id = %s AND u.update_id = %s",
            [run_pk, update_id],
        )
        row = cur.fetchone()
        if row is None:
            return None
        return self._outcome(update_id, row[2], row[0], row[1])

    @staticmethod
    def _outcome(update_id: str, run_id: str, stage: str, outcome_json: Any) -> UpdateOutcome:
        outcome = _loads(outcome_json) or {}
        return UpdateOutcome(
            update_id=update_id,
            run_id=run_id,
            stage=stage,
            result=outcome.get("success"),
            failure=outcome.get("failure"),
        )

    def get_update_outcome(
        self, namespace: str, workflow_id: str, run_id: str | None, update_id: str
    ) -> UpdateOutcome:
        """Where the update stands; ``UpdateNotFound``."""
        sql = (
            f"SELECT u.stage, u.outcome, r.run_id FROM {UPDATE} u JOIN {RUN} r ON r.id = u.run_id "
            f"WHERE r.namespace = %s AND r.workflow_id = %s AND u.update_id = %s"
        )
        params: list[Any] = [namespace, workflow_id, update_id]
        if run_id:
            sql += " AND r.run_id = %s"
            params.append(run_id)
        sql += " ORDER BY r.id DESC LIMIT 1"
        cur = self._cursor()
        cur.execute(sql, params)
        row = cur.fetchone()
        if row is None:
            raise UpdateNotFound(f"update {update_id!r} not found on workflow {workflow_id!r}")
        return self._outcome(update_id, row[2], row[0], row[1])

    def _pending_updates(self, cur: Any, run_pks: Sequence[int]) -> dict[int, list[PendingUpdate]]:
        if not run_pks:
            return {}
        marks = ",".join(["%s"] * len(run_pks))
        cur.execute(
            f"SELECT run_id, update_id, name, args, identity FROM {UPDATE} "
            f"WHERE run_id IN ({marks}) AND stage = 'admitted' ORDER BY id",
            list(run_pks),
        )
        out: dict[int, list[PendingUpdate]] = {}
        for r in cur.fetchall():
            out.setdefault(r[0], []).append(
                PendingUpdate(update_id=r[1], name=r[2], args=_loads(r[3]) or {"payloads": []}, identity=r[4])
            )
        return out

    # ------------------------------------------------------------------ workflow tasks

    def claim_workflow_tasks(
        self, namespace: str, task_queue: str, identity: str, max_tasks: int
    ) -> list[WorkflowTaskLease]:
        """Claim up to ``max_tasks`` visible workflow tasks: append WorkflowTaskStarted to each."""
        if max_tasks <= 0:
            return []
        d = self.dialect
        now = self._now_sql()
        with self._atomic():
            cur = self._cursor()
            sql = d.claim(
                RUN,
                where=(
                    "namespace = %(ns)s AND task_queue = %(q)s AND wft_state = 1 AND wft_visible_at <= "
                    f"{now} "
                    f"AND (sticky_identity = '' OR sticky_identity = %(me)s OR sticky_until <= {now})"
                ),
                order_by="wft_visible_at",
                limit=max_tasks,
                update_set=(
                    "wft_state = 2, wft_started_event_id = next_event_id, next_event_id = next_event_id + "
                    "1, "
                    f"wft_lease_until = {now} + task_timeout, wft_dirty = FALSE"
                ),
                returning=(
                    f"id, namespace, workflow_id, run_id, workflow_type, task_queue, wft_scheduled_event_id, "
                    f"wft_started_event_id, wft_attempt, {now} AS now"
                ),
            )
            cur.execute(sql, {"ns": namespace, "q": task_queue, "me": identity})
            rows = _rows(cur)
            if not rows:
                return []
            rows.sort(key=lambda r: r["id"])
            params: list[Any] = []
            for r in rows:
                _, attrs = _wft_started(r["wft_scheduled_event_id"], identity)
                params += [
                    r["id"],
                    r["wft_started_event_id"],
                    str(EventType.WORKFLOW_TASK_STARTED),
                    float(r["now"]),
                    _dumps(attrs),
                ]
            cur.execute(
                f"INSERT INTO {EVENT} (run_id, event_id, event_type, event_time, attributes) VALUES "
                + ",".join(["(%s,%s,%s,%s,%s)"] * len(rows)),
                params,
            )
            updates = self._pending_updates(cur, [r["id"] for r in rows])
            self._publish(cur, [f"run:{r['id']}" for r in rows])
        return [
            WorkflowTaskLease(
                run_pk=r["id"],
                namespace=r["namespace"],
                workflow_id=r["workflow_id"],
                run_id=r["run_id"],
                workflow_type=r["workflow_type"],
                task_queue=r["task_queue"],
                scheduled_event_id=r["wft_scheduled_event_id"],
                started_event_id=r["wft_started_event_id"],
                attempt=r["wft_attempt"],
                pending_updates=updates.get(r["id"], []),
            )
            for r in rows
        ]

    def _lock_for_lease(self, cur: Any, lease: WorkflowTaskLease) -> dict[str, Any]:
        run = self._lock_run(cur, lease.run_pk)
        if (
            run is None
            or run["status"] != RUNNING
            or run["wft_state"] != WFT_STARTED
            or run["wft_started_event_id"] != lease.started_event_id
        ):
            raise StaleTask(
                f"workflow task {lease.started_event_id} of {lease.workflow_id!r} run {lease.run_id} is no "
                "longer current"
            )
        return run

    def _has_unhandled(self, cur: Any, run_pk: int, started_event_id: int) -> bool:
        """Did a signal or an update arrive after the task started (so the workflow has not seen it)?"""
        cur.execute(
            f"SELECT 1 FROM {EVENT} WHERE run_id = %s AND event_id > %s AND event_type = %s LIMIT 1",
            [run_pk, started_event_id, str(EventType.WORKFLOW_EXECUTION_SIGNALED)],
        )
        if cur.fetchone():
            return True
        cur.execute(
            f"SELECT 1 FROM {UPDATE} WHERE run_id = %s AND stage = 'admitted' AND admitted_event_id > %s "
            "LIMIT 1",
            [run_pk, started_event_id],
        )
        return cur.fetchone() is not None

    def complete_workflow_task(
        self, lease: WorkflowTaskLease, completion: WorkflowTaskCompletion
    ) -> CompleteWorkflowTaskResult:
        """Apply a workflow task's commands in one transaction (see the protocol and module docs)."""
        cmds = list(completion.commands)
        closing = cmds[-1] if cmds and isinstance(cmds[-1], CLOSING_COMMANDS) else None
        if any(isinstance(c, CLOSING_COMMANDS) for c in cmds[:-1]):
            raise StoreError("a closing command must be the last command of a completion")
        identity = completion.identity
        with self._atomic():
            cur = self._cursor()
            run = self._lock_for_lease(cur, lease)
            now = float(run["now"])
            if (
                closing is not None
                and run["wft_dirty"]
                and self._has_unhandled(cur, run["id"], lease.started_event_id)
            ):
                return self._reject_closing(cur, run, lease, now, identity)
            return self._apply_completion(cur, run, lease, completion, cmds, closing, now)

    def _reject_closing(
        self, cur: Any, run: dict[str, Any], lease: WorkflowTaskLease, now: float, identity: str
    ) -> CompleteWorkflowTaskResult:
        first = run["next_event_id"]
        events = [
            (
                EventType.WORKFLOW_TASK_FAILED,
                {
                    "scheduled_event_id": lease.scheduled_event_id,
                    "started_event_id": lease.started_event_id,
                    "cause": "UnhandledCommand",
                    "failure": {"message": "Workflow completion rejected: new signals or updates arrived"},
                    "identity": identity,
                },
            ),
            _wft_scheduled(run["task_queue"], run["task_timeout"]),
        ]
        cur.execute(
            f"UPDATE {RUN} SET next_event_id = %s, wft_state = 1, wft_scheduled_event_id = %s, "
            "wft_visible_at = %s, "
            f"wft_started_event_id = NULL, wft_lease_until = NULL, wft_dirty = FALSE, wft_attempt = 1, "
            f"sticky_identity = '', sticky_until = NULL WHERE id = %s",
            [first + 2, first + 1, now, run["id"]],
        )
        self._insert_events(cur, run["id"], first, now, events)
        self._publish(cur, [f"run:{run['id']}", f"wft:{run['namespace']}:{run['task_queue']}"])
        return CompleteWorkflowTaskResult(rejected=True)

    def _activity_values(
        self, run: dict[str, Any], cmd: ScheduleActivityTask, now: float
    ) -> dict[str, float | None]:
        """Effective timeouts and deadlines of a newly scheduled activity (Temporal's defaults)."""
        s2c = cmd.schedule_to_close_timeout or run["execution_timeout"] or None
        stc = cmd.start_to_close_timeout or s2c
        if not stc:
            raise StoreError(
                f"activity {cmd.activity_type!r} needs schedule_to_close_timeout or start_to_close_timeout"
            )
        if s2c:
            stc = min(stc, s2c)
        s2s = cmd.schedule_to_start_timeout or None
        if s2s and s2c:
            s2s = min(s2s, s2c)
        hb = cmd.heartbeat_timeout or None
        if hb:
            hb = min(hb, stc)
        return {
            "schedule_to_close_timeout": s2c,
            "start_to_close_timeout": stc,
            "schedule_to_start_timeout": s2s,
            "heartbeat_timeout": hb,
            "schedule_to_close_deadline": now + s2c if s2c else None,
            "schedule_to_start_deadline": now + s2s if s2s else None,
        }

    def _apply_completion(
        self,
        cur: Any,
        run: dict[str, Any],
        lease: WorkflowTaskLease,
        completion: WorkflowTaskCompletion,
        cmds: list[Any],
        closing: Any,
        now: float,
    ) -> CompleteWorkflowTaskResult:
        run_pk = run["id"]
        identity = completion.identity
        ns, queue = run["namespace"], run["task_queue"]
        completed_id = run["next_event_id"]
        events: list[tuple[EventType, dict[str, Any]]] = [
            (
                EventType.WORKFLOW_TASK_COMPLETED,
                {
                    "scheduled_event_id": lease.scheduled_event_id,
                    "started_event_id": lease.started_event_id,
                    "identity": identity,
                },
            )
        ]
        channels: list[str] = [f"run:{run_pk}"]

        # State of activities this completion asks to cancel, and of accepted updates it completes.
        cancel_ids = [c.scheduled_event_id for c in cmds if isinstance(c, RequestCancelActivityTask)]
        act_state: dict[int, int] = {}
        if cancel_ids:
            marks = ",".join(["%s"] * len(cancel_ids))
            cur.execute(
                f"SELECT scheduled_event_id, state FROM {ACTIVITY} WHERE run_id = %s AND scheduled_event_id "
                f"IN ({marks})",
                [run_pk, *cancel_ids],
            )
            act_state = dict(cur.fetchall())
        accepted_ids: dict[str, int] = {}
        completing = [c.update_id for c in cmds if isinstance(c, CompleteUpdate)]
        if completing:
            marks = ",".join(["%s"] * len(completing))
            cur.execute(
                f"SELECT update_id, accepted_event_id FROM {UPDATE} WHERE run_id = %s AND update_id IN "
                f"({marks})",
                [run_pk, *completing],
            )
            accepted_ids = {r[0]: r[1] for r in cur.fetchall() if r[1] is not None}

        new_activities: list[tuple[int, ScheduleActivityTask, dict[str, float | None]]] = []
        new_timers: list[tuple[int, StartTimer]] = []
        cancel_timers: list[str] = []
        cancel_now: list[int] = []  # unstarted activities: deleted + ActivityTaskCanceled
        cancel_started: list[int] = []  # started activities: the heartbeat tells them
        update_changes: list[
            tuple[str, str, Any, int | None]
        ] = []  # (update_id, stage, outcome, accepted_id)
        new_run_id: str | None = None

        for cmd in cmds:
            ev = command_event(cmd, completed_id)
            eid = completed_id + len(events)
            if isinstance(cmd, ScheduleActivityTask):
                values = self._activity_values(run, cmd, now)
                assert ev is not None
                for k in (
                    "schedule_to_close_timeout",
                    "start_to_close_timeout",
                    "schedule_to_start_timeout",
                    "heartbeat_timeout",
                ):
                    ev[1][k] = values[k]
                new_activities.append((eid, cmd, values))
            elif isinstance(cmd, RequestCancelActivityTask):
                state = act_state.get(cmd.scheduled_event_id)
                if state == ACT_SCHEDULED:
                    cancel_now.append(cmd.scheduled_event_id)
                elif state == ACT_STARTED:
                    cancel_started.append(cmd.scheduled_event_id)
            elif isinstance(cmd, StartTimer):
                new_timers.append((eid, cmd))
            elif isinstance(cmd, CancelTimer):
                cancel_timers.append(str(cmd.seq))
            elif isinstance(cmd, AcceptUpdate):
                accepted_ids[cmd.update_id] = eid
                update_changes.append((cmd.update_id, "accepted", None, eid))
            elif isinstance(cmd, RejectUpdate):
                update_changes.append((cmd.update_id, "rejected", {"failure": cmd.failure}, None))
            elif isinstance(cmd, CompleteUpdate):
                assert ev is not None
                ev[1]["accepted_event_id"] = accepted_ids.get(cmd.update_id)
                update_changes.append((cmd.update_id, "completed", ev[1]["outcome"], None))
            elif isinstance(cmd, ContinueAsNewWorkflowExecution):
                new_run_id = str(uuid.uuid4())
            if ev is not None:
                events.append(ev)

        if closing is None:
            # Unstarted activities cancelled now: their outcome is a new event for the workflow.
            for sched in cancel_now:
                events.append(
                    (
                        EventType.ACTIVITY_TASK_CANCELED,
                        {
                            "scheduled_event_id": sched,
                            "started_event_id": 0,
                            "details": None,
                            "identity": identity,
                        },
                    )
                )

        # The next workflow task: needed when events arrived during this one.
        next_lease: WorkflowTaskLease | None = None
        wft = {"state": WFT_NONE, "scheduled": None, "started": None, "visible": None, "lease": None}
        sticky = bool(completion.sticky and identity) and closing is None
        sticky_until = now + float(settings.STICKY_SCHEDULE_TO_START_TIMEOUT) if sticky else None
        if closing is None and (run["wft_dirty"] or cancel_now):
            sched_id = completed_id + len(events)
            events.append(_wft_scheduled(queue, run["task_timeout"]))
            wft.update(state=WFT_SCHEDULED, scheduled=sched_id, visible=now)
            if sticky:
                started_id = completed_id + len(events)
                events.append(_wft_started(sched_id, identity))
                wft.update(state=WFT_STARTED, started=started_id, lease=now + run["task_timeout"])
                next_lease = WorkflowTaskLease(
                    run_pk=run_pk,
                    namespace=ns,
                    workflow_id=run["workflow_id"],
                    run_id=run["run_id"],
                    workflow_type=run["workflow_type"],
                    task_queue=queue,
                    scheduled_event_id=sched_id,
                    started_event_id=started_id,
                    attempt=1,
                )
            else:
                channels.append(f"wft:{ns}:{queue}")

        if new_run_id is not None:
            assert events[-1][0] == EventType.WORKFLOW_EXECUTION_CONTINUED_AS_NEW
            events[-1][1]["new_execution_run_id"] = new_run_id

        # Run row: fenced again by the lease, so a racing writer cannot slip in (SQLite has no row locks).
        next_event_id = completed_id + len(events)
        set_sql = (
            "next_event_id = %s, wft_state = %s, wft_scheduled_event_id = %s, wft_started_event_id = %s, "
            "wft_visible_at = %s, wft_lease_until = %s, wft_attempt = 1, wft_dirty = FALSE, "
            "sticky_identity = %s, sticky_until = %s"
        )
        params: list[Any] = [
            next_event_id,
            wft["state"],
            wft["scheduled"],
            wft["started"],
            wft["visible"],
            wft["lease"],
            identity if sticky else "",
            sticky_until,
        ]
        if run["queries_waiting"] and (wft["state"] == WFT_NONE or closing is not None):
            set_sql += ", queries_waiting = FALSE"
            channels.append(f"query:{ns}:{queue}")
        if closing is not None:
            set_sql += ", status = %s, close_time = %s, close_ts = %s"
            params += [int(_CLOSE_STATUS[type(closing)]), self._dt(now), now]
        cur.execute(
            f"UPDATE {RUN} SET {set_sql} WHERE id = %s AND wft_state = 2 AND wft_started_event_id = %s",
            [*params, run_pk, lease.started_event_id],
        )
        if cur.rowcount != 1:
            raise StaleTask(
                f"workflow task {lease.started_event_id} of run {lease.run_id} is no longer current"
            )
        self._insert_events(cur, run_pk, completed_id, now, events)

        result = CompleteWorkflowTaskResult(next_task=next_lease, run_closed=closing is not None)
        for update_id, stage, outcome, accepted_id in update_changes:
            cur.execute(
                f"UPDATE {UPDATE} SET stage = %s, outcome = {self._json()}, "
                f"accepted_event_id = COALESCE(%s, accepted_event_id) WHERE run_id = %s AND update_id = %s",
                [stage, _dumps(outcome), accepted_id, run_pk, update_id],
            )
        if next_lease is not None:
            next_lease.pending_updates = self._pending_updates(cur, [run_pk]).get(run_pk, [])

        if closing is not None:
            channels += self._drop_run_rows(cur, run_pk)
            if isinstance(closing, ContinueAsNewWorkflowExecution):
                assert new_run_id is not None
                self._continue_as_new(cur, run, closing, new_run_id, now, identity)
        else:
            if cancel_timers:
                marks = ",".join(["%s"] * len(cancel_timers))
                cur.execute(
                    f"DELETE FROM {TIMER} WHERE run_id = %s AND timer_id IN ({marks})",
                    [run_pk, *cancel_timers],
                )
            if cancel_now:
                marks = ",".join(["%s"] * len(cancel_now))
                cur.execute(
                    f"DELETE FROM {ACTIVITY} WHERE run_id = %s AND scheduled_event_id IN ({marks})",
                    [run_pk, *cancel_now],
                )
            if cancel_started:
                marks = ",".join(["%s"] * len(cancel_started))
                cur.execute(
                    f"UPDATE {ACTIVITY} SET cancel_requested = TRUE WHERE run_id = %s AND "
                    f"scheduled_event_id IN ({marks})",
                    [run_pk, *cancel_started],
                )
            if new_timers:
                params = []
                for eid, t in new_timers:
                    params += [
                        ns,
                        run_pk,
                        t.seq,
                        str(t.seq),
                        eid,
                        now + max(float(t.start_to_fire_timeout), 0.0),
                    ]
                cur.execute(
                    f"INSERT INTO {TIMER} (namespace, run_id, seq, timer_id, started_event_id, fire_at) "
                    "VALUES " + ",".join(["(%s,%s,%s,%s,%s,%s)"] * len(new_timers)),
                    params,
                )
                channels.append("timers")
            if new_activities:
                slots = max(int(completion.eager_activity_slots), 0)
                result.activity_leases, act_channels = self._insert_activities(
                    cur, run, new_activities, now, slots, identity
                )
                channels += act_channels
        self._publish(cur, channels)
        return result

    def _insert_activities(
        self,
        cur: Any,
        run: dict[str, Any],
        items: list[tuple[int, ScheduleActivityTask, dict[str, float | None]]],
        now: float,
        eager_slots: int,
        identity: str,
    ) -> tuple[list[ActivityTaskLease], list[str]]:
        """Insert activity rows; up to ``eager_slots`` on the run's own queue start at once."""
        j = self._json()
        leases: list[ActivityTaskLease] = []
        channels: set[str] = set()
        token = uuid.uuid4().hex
        cols = (
            "namespace, run_id, workflow_id, workflow_run_id, workflow_type, scheduled_event_id, "
            "activity_id, "
            "activity_type, task_queue, input, header, attempt, state, visible_at, lease_token, started_at, "
            "lease_until, timeout_at, schedule_to_close_deadline, schedule_to_start_deadline, "
            "schedule_to_close_timeout, schedule_to_start_timeout, start_to_close_timeout, "
            "heartbeat_timeout, "
            "retry_policy, heartbeat_details, last_failure, cancel_requested, scheduled_time, "
            "current_attempt_scheduled_time, identity"
        )
        p9, p13 = ",".join(["%s"] * 9), ",".join(["%s"] * 13)
        row_sql = f"({p9},{j},{j},{p13},{j},NULL,NULL,FALSE,%s,%s,%s)"
        params: list[Any] = []
        for eid, cmd, v in items:
            eager = eager_slots > 0 and cmd.task_queue == run["task_queue"]
            if eager:
                eager_slots -= 1
                lease_until = now + _min(v["start_to_close_timeout"], v["heartbeat_timeout"])  # type: ignore[operator]
                timeout_at = _min(lease_until, v["schedule_to_close_deadline"])
                state, started_at, lease_token, who = ACT_STARTED, now, token, identity
                leases.append(
                    ActivityTaskLease(
                        token=f"{run['id']}:{eid}:{token}",
                        namespace=run["namespace"],
                        workflow_id=run["workflow_id"],
                        run_id=run["run_id"],
                        workflow_type=run["workflow_type"],
                        activity_id=cmd.activity_id,
                        activity_type=cmd.activity_type,
                        task_queue=cmd.task_queue,
                        input=cmd.input,
                        attempt=1,
                        scheduled_event_id=eid,
                        scheduled_time=now,
                        current_attempt_scheduled_time=now,
                        started_time=now,
                        schedule_to_close_timeout=v["schedule_to_close_timeout"],
                        start_to_close_timeout=v["start_to_close_timeout"],
                        heartbeat_timeout=v["heartbeat_timeout"],
                        heartbeat_details=None,
                        retry_policy=cmd.retry_policy,
                        header=cmd.header or {},
                    )
                )
            else:
                lease_until = None
                timeout_at = _min(v["schedule_to_start_deadline"], v["schedule_to_close_deadline"])
                state, started_at, lease_token, who = ACT_SCHEDULED, None, "", ""
                channels.add(f"act:{run['namespace']}:{cmd.task_queue}")
                if timeout_at is not None:
                    channels.add("timers")
            params += [
                run["namespace"],
                run["id"],
                run["workflow_id"],
                run["run_id"],
                run["workflow_type"],
                eid,
                cmd.activity_id,
                cmd.activity_type,
                cmd.task_queue,
                _dumps(cmd.input),
                _dumps(cmd.header or {}),
                1,
                state,
                now,
                lease_token,
                started_at,
                lease_until,
                timeout_at,
                v["schedule_to_close_deadline"],
                v["schedule_to_start_deadline"],
                v["schedule_to_close_timeout"],
                v["schedule_to_start_timeout"],
                v["start_to_close_timeout"],
                v["heartbeat_timeout"],
                _dumps(cmd.retry_policy),
                now,
                now,
                who,
            ]
        cur.execute(f"INSERT INTO {ACTIVITY} ({cols}) VALUES " + ",".join([row_sql] * len(items)), params)
        return leases, sorted(channels)

    def _continue_as_new(
        self,
        cur: Any,
        run: dict[str, Any],
        cmd: ContinueAsNewWorkflowExecution,
        new_run_id: str,
        now: float,
        identity: str,
    ) -> None:
        run_timeout = cmd.workflow_run_timeout or run["run_timeout"]
        self._create_run(
            cur,
            now,
            run_id=new_run_id,
            namespace=run["namespace"],
            workflow_id=run["workflow_id"],
            workflow_type=cmd.workflow_type or run["workflow_type"],
            task_queue=cmd.task_queue or run["task_queue"],
            input=cmd.input,
            execution_timeout=run["execution_timeout"],
            run_timeout=run_timeout,
            task_timeout=cmd.workflow_task_timeout or run["task_timeout"],
            execution_deadline=run["execution_deadline"],
            first_run_id=run["first_run_id"],
            continued_from=run["run_id"],
            memo=cmd.memo if cmd.memo is not None else _loads(run["memo"]),
            search_attributes=(
                cmd.search_attributes
                if cmd.search_attributes is not None
                else _loads(run["search_attributes"])
            ),
            retry_policy=cmd.retry_policy if cmd.retry_policy is not None else _loads(run["retry_policy"]),
            cron_schedule=run["cron_schedule"],
            identity=identity,
            parent_workflow_id=run["parent_workflow_id"],
            parent_run_id=run["parent_run_id"],
        )

    def fail_workflow_task(
        self, lease: WorkflowTaskLease, cause: str, failure: dict[str, Any], identity: str = ""
    ) -> None:
        """Append WorkflowTaskFailed and reschedule the task after ``workflow_task_retry_delay``."""
        with self._atomic():
            cur = self._cursor()
            run = self._lock_for_lease(cur, lease)
            now = float(run["now"])
            attempt = int(run["wft_attempt"])
            delay = float(retry_math.workflow_task_retry_delay(attempt))
            first = run["next_event_id"]
            events = [
                (
                    EventType.WORKFLOW_TASK_FAILED,
                    {
                        "scheduled_event_id": lease.scheduled_event_id,
                        "started_event_id": lease.started_event_id,
                        "cause": cause,
                        "failure": failure,
                        "identity": identity,
                    },
                ),
                _wft_scheduled(run["task_queue"], run["task_timeout"], attempt + 1),
            ]
            self._reschedule_wft(cur, run, first, now + delay, attempt + 1, events, now)

    def _reschedule_wft(
        self,
        cur: Any,
        run: dict[str, Any],
        first: int,
        visible_at: float,
        attempt: int,
        events: list[tuple[EventType, dict[str, Any]]],
        now: float,
    ) -> None:
        """Write ``events`` (ending with WorkflowTaskScheduled) and schedule the task.

        The failed or timed-out worker's cache is suspect, so stickiness is dropped.
        """
        cur.execute(
            f"UPDATE {RUN} SET next_event_id = %s, wft_state = 1, wft_scheduled_event_id = %s, "
            "wft_visible_at = %s, "
            f"wft_attempt = %s, wft_started_event_id = NULL, wft_lease_until = NULL, wft_dirty = FALSE, "
            f"sticky_identity = '', sticky_until = NULL WHERE id = %s",
            [first + len(events), first + len(events) - 1, visible_at, attempt, run["id"]],
        )
        self._insert_events(cur, run["id"], first, now, events)
        channels = [f"run:{run['id']}"]
        channels.append(f"wft:{run['namespace']}:{run['task_queue']}" if visible_at <= now else "timers")
        if run["queries_waiting"]:
            channels.append(f"query:{run['namespace']}:{run['task_queue']}")  # attempt > 1: answerable now
        self._publish(cur, channels)

    # ------------------------------------------------------------------ activities

    def claim_activity_tasks(
        self, namespace: str, task_queue: str, identity: str, max_tasks: int
    ) -> list[ActivityTaskLease]:
        """Claim up to ``max_tasks`` visible activity attempts (their lease starts now)."""
        if max_tasks <= 0:
            return []
        d = self.dialect
        now = self._now_sql()
        token = uuid.uuid4().hex  # one per batch: the token also names the run and scheduled event
        hb_or_stc = _sql_min("start_to_close_timeout", "heartbeat_timeout")
        lease_until = f"({now} + {hb_or_stc})"
        with self._atomic():
            cur = self._cursor()
            sql = d.claim(
                ACTIVITY,
                where=(
                    f"namespace = %(ns)s AND task_queue = %(q)s AND state = 1 AND visible_at <= {now} "
                    f"AND (schedule_to_start_deadline IS NULL OR schedule_to_start_deadline > {now})"
                ),
                order_by="visible_at",
                limit=max_tasks,
                update_set=(
                    f"state = 2, lease_token = %(tok)s, started_at = {now}, identity = %(me)s, "
                    f"lease_until = {lease_until}, timeout_at = "
                    f"{_sql_min(lease_until, 'schedule_to_close_deadline')}"
                ),
                returning=f"{_ACT_COLS}, {now} AS now",
            )
            cur.execute(sql, {"ns": namespace, "q": task_queue, "tok": token, "me": identity})
            rows = _rows(cur)
        return [self._activity_lease(r) for r in rows]

    @staticmethod
    def _activity_lease(r: dict[str, Any]) -> ActivityTaskLease:
        return ActivityTaskLease(
            token=f"{r['run_id']}:{r['scheduled_event_id']}:{r['lease_token']}",
            namespace=r["namespace"],
            workflow_id=r["workflow_id"],
            run_id=r["workflow_run_id"],
            workflow_type=r["workflow_type"],
            activity_id=r["activity_id"],
            activity_type=r["activity_type"],
            task_queue=r["task_queue"],
            input=_loads(r["input"]) or {"payloads": []},
            attempt=r["attempt"],
            scheduled_event_id=r["scheduled_event_id"],
            scheduled_time=r["scheduled_time"],
            current_attempt_scheduled_time=r["current_attempt_scheduled_time"],
            started_time=r["started_at"],
            schedule_to_close_timeout=r["schedule_to_close_timeout"],
            start_to_close_timeout=r["start_to_close_timeout"],
            heartbeat_timeout=r["heartbeat_timeout"],
            heartbeat_details=_loads(r["heartbeat_details"]),
            retry_policy=_loads(r["retry_policy"]),
            header=_loads(r["header"]) or {},
        )

    def heartbeat_activity(self, token: str, details: PayloadsJSON | None) -> HeartbeatResult:
        """Record details and extend the heartbeat deadline; ``StaleTask`` if not current."""
        run_pk, sched, lease = _parse_token(token)
        now = self._now_sql()
        stc_deadline = "(started_at + start_to_close_timeout)"
        hb_deadline = _sql_min(stc_deadline, f"{now} + heartbeat_timeout")
        new_lease = f"(CASE WHEN heartbeat_timeout IS NOT NULL THEN {hb_deadline} ELSE lease_until END)"
        with self._atomic():
            cur = self._cursor()
            cur.execute(
                f"UPDATE {ACTIVITY} SET heartbeat_details = COALESCE({self._json()}, heartbeat_details), "
                f"lease_until = {new_lease}, timeout_at = "
                f"{_sql_min(new_lease, 'schedule_to_close_deadline')} "
                f"WHERE run_id = %s AND scheduled_event_id = %s AND lease_token = %s AND state = 2 "
                f"RETURNING cancel_requested",
                [_dumps(details), run_pk, sched, lease],
            )
            row = cur.fetchone()
        if row is None:
            raise StaleTask(
                "activity task is no longer current (completed, timed out, retried or its run closed)"
            )
        return HeartbeatResult(cancel_requested=bool(row[0]))

    def _take_activity(self, cur: Any, run_pk: int, sched: int, lease: str) -> dict[str, Any]:
        cur.execute(
            f"DELETE FROM {ACTIVITY} WHERE run_id = %s AND scheduled_event_id = %s AND lease_token = %s AND "
            "state = 2 "
            f"RETURNING attempt, identity, last_failure",
            [run_pk, sched, lease],
        )
        row = _row(cur)
        if row is None:
            raise StaleTask(
                "activity task is no longer current (completed, timed out, retried or its run closed)"
            )
        return row

    def _finish_activity(
        self, token: str, outcome: EventType, attrs: Callable[[int], dict[str, Any]], identity: str
    ) -> None:
        """Append ActivityTaskStarted + the outcome event for the attempt holding ``token``."""
        run_pk, sched, lease = _parse_token(token)
        taken: dict[str, Any] = {}

        def build(first: int, now: float) -> list[tuple[EventType, dict[str, Any]]]:
            taken.update(self._take_activity(cur, run_pk, sched, lease))
            return [
                (
                    EventType.ACTIVITY_TASK_STARTED,
                    {
                        "scheduled_event_id": sched,
                        "identity": taken["identity"],
                        "attempt": taken["attempt"],
                        "last_failure": _loads(taken["last_failure"]),
                    },
                ),
                (outcome, {"scheduled_event_id": sched, "started_event_id": first, **attrs(first)}),
            ]

        with self._atomic():
            cur = self._cursor()
            # The run row is locked first (lock order: run, then its task rows); a
            # stale token raises inside build() and the whole block rolls back.
            if self._append(cur, "id = %s", [run_pk], 2, build) is None:
                raise StaleTask("activity task is no longer current (its run is closed)")

    def complete_activity_task(self, token: str, result: PayloadsJSON, identity: str = "") -> None:
        """Append ActivityTaskStarted + ActivityTaskCompleted and schedule a workflow task."""
        self._finish_activity(
            token,
            EventType.ACTIVITY_TASK_COMPLETED,
            lambda first: {"result": result, "identity": identity},
            identity,
        )

    def cancel_activity_task(self, token: str, details: PayloadsJSON | None, identity: str = "") -> None:
        """Acknowledge a requested cancellation: append ActivityTaskStarted + ActivityTaskCanceled."""
        self._finish_activity(
            token,
            EventType.ACTIVITY_TASK_CANCELED,
            lambda first: {"details": details, "identity": identity},
            identity,
        )

    def fail_activity_task(self, token: str, failure: dict[str, Any], identity: str = "") -> None:
        """Retry per the retry policy, or append ActivityTaskStarted + ActivityTaskFailed."""
        run_pk, sched, lease = _parse_token(token)
        with self._atomic():
            cur = self._cursor()
            run = self._lock_run(cur, run_pk)
            if run is None or run["status"] != RUNNING:
                raise StaleTask("activity task is no longer current (its run is closed)")
            cur.execute(
                f"SELECT {_ACT_COLS} FROM {ACTIVITY} WHERE run_id = %s AND scheduled_event_id = %s "
                f"AND lease_token = %s AND state = 2{self.dialect.lock_suffix()}",
                [run_pk, sched, lease],
            )
            act = _row(cur)
            if act is None:
                raise StaleTask(
                    "activity task is no longer current (completed, timed out, retried or its run closed)"
                )
            info = failure.get("application_failure_info") or {}
            self._attempt_failed(
                cur,
                run,
                act,
                float(run["now"]),
                failure,
                error_type=info.get("type") or None,
                non_retryable=bool(info.get("non_retryable")),
                next_delay=info.get("next_retry_delay"),
                final_event=EventType.ACTIVITY_TASK_FAILED,
                identity=identity,
            )

    def _attempt_failed(
        self,
        cur: Any,
        run: dict[str, Any],
        act: dict[str, Any],
        now: float,
        failure: dict[str, Any],
        *,
        error_type: str | None,
        non_retryable: bool,
        next_delay: Any,
        final_event: EventType,
        identity: str = "",
    ) -> None:
        """An attempt failed or timed out: retry it, or write its final outcome.

        A retry writes no history event (as Temporal: only the final outcome is
        recorded); the final outcome is ActivityTaskStarted + Failed/TimedOut.
        """
        if next_delay is not None and not isinstance(next_delay, (int, float)):
            next_delay = None
        delay, retry_state = retry_math.next_retry_delay(
            _loads(act["retry_policy"]),
            int(act["attempt"]),
            error_type=error_type,
            non_retryable=non_retryable,
            next_retry_delay=next_delay,
            elapsed=now - float(act["scheduled_time"]),
            schedule_to_close_timeout=act["schedule_to_close_timeout"],
        )
        s2c_deadline = act["schedule_to_close_deadline"]
        if delay is not None and s2c_deadline is not None and now + delay >= s2c_deadline:
            delay, retry_state = None, retry_math.RETRY_STATE_TIMEOUT
        if delay is not None:
            visible_at = now + max(float(delay), 0.0)
            s2s = act["schedule_to_start_timeout"]
            s2s_deadline = visible_at + s2s if s2s else None
            cur.execute(
                f"UPDATE {ACTIVITY} SET state = 1, attempt = attempt + 1, visible_at = %s, "
                f"current_attempt_scheduled_time = %s, last_failure = {self._json()}, lease_token = '', "
                f"started_at = NULL, lease_until = NULL, identity = '', schedule_to_start_deadline = %s, "
                f"timeout_at = %s WHERE id = %s",
                [
                    visible_at,
                    visible_at,
                    _dumps(failure),
                    s2s_deadline,
                    _min(s2s_deadline, s2c_deadline),
                    act["id"],
                ],
            )
            channels = ["timers"] if visible_at > now else [f"act:{act['namespace']}:{act['task_queue']}"]
            if s2s_deadline is not None or s2c_deadline is not None:
                channels.append("timers")
            self._publish(cur, channels)
            return
        cur.execute(f"DELETE FROM {ACTIVITY} WHERE id = %s", [act["id"]])
        sched = act["scheduled_event_id"]
        started = act["state"] == ACT_STARTED
        first = run["next_event_id"]
        events: list[tuple[EventType, dict[str, Any]]] = []
        if started:
            events.append(
                (
                    EventType.ACTIVITY_TASK_STARTED,
                    {
                        "scheduled_event_id": sched,
                        "identity": act["identity"],
                        "attempt": act["attempt"],
                        "last_failure": _loads(act["last_failure"]),
                    },
                )
            )
        outcome: dict[str, Any] = {
            "scheduled_event_id": sched,
            "started_event_id": first if started else 0,
            "failure": failure,
            "retry_state": retry_state,
        }
        if final_event == EventType.ACTIVITY_TASK_FAILED:
            outcome["identity"] = identity
        events.append((final_event, outcome))
        self._append_locked(cur, run, now, events)

    def _append_locked(
        self, cur: Any, run: dict[str, Any], now: float, events: list[tuple[EventType, dict[str, Any]]]
    ) -> None:
        """Append ``events`` to a locked, open run and make sure a workflow task will see them."""
        first = run["next_event_id"]
        run_pk = run["id"]
        channels = [f"run:{run_pk}"]
        state = run["wft_state"]
        extra = ""
        params: list[Any] = []
        if state == WFT_NONE:
            sched_id = first + len(events)
            events = [*events, _wft_scheduled(run["task_queue"], run["task_timeout"])]
            sticky_until = (
                now + float(settings.STICKY_SCHEDULE_TO_START_TIMEOUT) if run["sticky_identity"] else None
            )
            extra = (
                ", wft_state = 1, wft_scheduled_event_id = %s, wft_visible_at = %s, wft_attempt = 1, "
                "sticky_until = %s"
            )
            params = [sched_id, now, sticky_until]
            channels.append(f"wft:{run['namespace']}:{run['task_queue']}")
        elif state == WFT_STARTED:
            extra = ", wft_dirty = TRUE"
        cur.execute(
            f"UPDATE {RUN} SET next_event_id = %s{extra} WHERE id = %s",
            [first + len(events), *params, run_pk],
        )
        self._insert_events(cur, run_pk, first, now, events)
        run["next_event_id"] = first + len(events)
        if state == WFT_NONE:
            run["wft_state"] = WFT_SCHEDULED
        self._publish(cur, channels)

    # ------------------------------------------------------------------ timers and deadlines

    def fire_due_timers(self, limit: int = 100) -> int:
        """Turn due timers and expired deadlines into events (see the protocol); returns the count."""
        handled = 0
        handled += self._fire_timers(limit)
        handled += self._expire_activities(limit)
        handled += self._expire_workflow_tasks(limit)
        handled += self._expire_runs(limit)
        self._announce_visible()
        return handled

    def _due_runs(self, cur: Any, sql: str, params: Sequence[Any]) -> list[int]:
        cur.execute(sql, params)
        return sorted({r[0] for r in cur.fetchall()})

    def _fire_timers(self, limit: int) -> int:
        now_sql = self._now_sql()
        count = 0
        with self._atomic():
            cur = self._cursor()
            # Candidates are read without locks; each run is then locked (run first,
            # then its timers) and its due timers deleted with RETURNING, so a timer
            # fires once even when several workers sweep at the same time.
            run_pks = self._due_runs(
                cur,
                f"SELECT run_id FROM {TIMER} WHERE fire_at <= {now_sql} ORDER BY fire_at LIMIT {int(limit)}",
                [],
            )
            for run_pk in run_pks:
                run = self._lock_run(cur, run_pk)
                if run is None:
                    continue
                now = float(run["now"])
                cur.execute(
                    f"DELETE FROM {TIMER} WHERE run_id = %s AND fire_at <= %s RETURNING timer_id, "
                    "started_event_id, seq",
                    [run_pk, now],
                )
                fired = sorted(cur.fetchall(), key=lambda r: (r[2], r[0]))
                if not fired or run["status"] != RUNNING:
                    continue
                self._append_locked(
                    cur,
                    run,
                    now,
                    [(EventType.TIMER_FIRED, {"timer_id": t[0], "started_event_id": t[1]}) for t in fired],
                )
                count += len(fired)
        return count

    def _expire_activities(self, limit: int) -> int:
        now_sql = self._now_sql()
        count = 0
        with self._atomic():
            cur = self._cursor()
            run_pks = self._due_runs(
                cur,
                f"SELECT run_id FROM {ACTIVITY} WHERE timeout_at <= {now_sql} ORDER BY timeout_at LIMIT "
                f"{int(limit)}",
                [],
            )
            for run_pk in run_pks:
                run = self._lock_run(cur, run_pk)
                if run is None or run["status"] != RUNNING:
                    # Closing drops these rows; never leave a due row behind to spin on.
                    cur.execute(f"DELETE FROM {ACTIVITY} WHERE run_id = %s", [run_pk])
                    continue
                now = float(run["now"])
                cur.execute(
                    f"SELECT {_ACT_COLS} FROM {ACTIVITY} WHERE run_id = %s AND timeout_at <= %s "
                    f"ORDER BY scheduled_event_id{self.dialect.lock_suffix()}",
                    [run_pk, now],
                )
                for act in _rows(cur):
                    self._activity_timed_out(cur, run, act, now)
                    count += 1
        return count

    def _activity_timed_out(self, cur: Any, run: dict[str, Any], act: dict[str, Any], now: float) -> None:
        details = _loads(act["heartbeat_details"])
        s2c = act["schedule_to_close_deadline"]
        if s2c is not None and s2c <= now:
            kind, retryable = "SCHEDULE_TO_CLOSE", False
        elif act["state"] == ACT_SCHEDULED:
            kind, retryable = "SCHEDULE_TO_START", False
        else:
            stc_deadline = float(act["started_at"]) + float(act["start_to_close_timeout"])
            kind = "START_TO_CLOSE" if act["lease_until"] >= stc_deadline - 1e-6 else "HEARTBEAT"
            retryable = True
        label = {
            "SCHEDULE_TO_CLOSE": "ScheduleToClose",
            "SCHEDULE_TO_START": "ScheduleToStart",
            "START_TO_CLOSE": "StartToClose",
            "HEARTBEAT": "Heartbeat",
        }[kind]
        failure = {
            "message": f"activity {label} timeout",
            "timeout_failure_info": {
                "timeout_type": f"TIMEOUT_TYPE_{kind}",
                "last_heartbeat_details": details,
            },
        }
        if retryable:
            self._attempt_failed(
                cur,
                run,
                act,
                now,
                failure,
                error_type=None,
                non_retryable=False,
                next_delay=None,
                final_event=EventType.ACTIVITY_TASK_TIMED_OUT,
            )
            return
        cur.execute(f"DELETE FROM {ACTIVITY} WHERE id = %s", [act["id"]])
        started = act["state"] == ACT_STARTED
        first = run["next_event_id"]
        events: list[tuple[EventType, dict[str, Any]]] = []
        if started:
            events.append(
                (
                    EventType.ACTIVITY_TASK_STARTED,
                    {
                        "scheduled_event_id": act["scheduled_event_id"],
                        "identity": act["identity"],
                        "attempt": act["attempt"],
                        "last_failure": _loads(act["last_failure"]),
                    },
                )
            )
        events.append(
            (
                EventType.ACTIVITY_TASK_TIMED_OUT,
                {
                    "scheduled_event_id": act["scheduled_event_id"],
                    "started_event_id": first if started else 0,
                    "failure": failure,
                    "retry_state": retry_math.RETRY_STATE_TIMEOUT,
                },
            )
        )
        self._append_locked(cur, run, now, events)

    def _expire_workflow_tasks(self, limit: int) -> int:
        now_sql = self._now_sql()
        count = 0
        with self._atomic():
            cur = self._cursor()
            run_pks = self._due_runs(
                cur,
                f"SELECT id FROM {RUN} WHERE wft_state = 2 AND wft_lease_until <= {now_sql} "
                f"ORDER BY wft_lease_until LIMIT {int(limit)}",
                [],
            )
            for run_pk in run_pks:
                run = self._lock_run(cur, run_pk)
                now = float(run["now"]) if run else 0.0
                if run is None or run["status"] != RUNNING or run["wft_state"] != WFT_STARTED:
                    continue
                if run["wft_lease_until"] is None or run["wft_lease_until"] > now:
                    continue
                attempt = int(run["wft_attempt"]) + 1
                events = [
                    (
                        EventType.WORKFLOW_TASK_TIMED_OUT,
                        {
                            "scheduled_event_id": run["wft_scheduled_event_id"],
                            "started_event_id": run["wft_started_event_id"],
                            "timeout_type": "TIMEOUT_TYPE_START_TO_CLOSE",
                        },
                    ),
                    _wft_scheduled(run["task_queue"], run["task_timeout"], attempt),
                ]
                self._reschedule_wft(cur, run, run["next_event_id"], now, attempt, events, now)
                count += 1
        return count

    def _expire_runs(self, limit: int) -> int:
        now_sql = self._now_sql()
        count = 0
        with self._atomic():
            cur = self._cursor()
            run_pks = self._due_runs(
                cur,
                f"SELECT id FROM {RUN} WHERE status = {RUNNING} AND run_deadline IS NOT NULL "
                f"AND run_deadline <= {now_sql} ORDER BY run_deadline LIMIT {int(limit)}",
                [],
            )
            for run_pk in run_pks:
                run = self._lock_run(cur, run_pk)
                if run is None or run["status"] != RUNNING:
                    continue
                now = float(run["now"])
                if run["run_deadline"] is None or run["run_deadline"] > now:
                    continue
                eid = run["next_event_id"]
                self._close_run(cur, run, now, RunStatus.TIMED_OUT, eid + 1)
                self._insert_events(
                    cur,
                    run_pk,
                    eid,
                    now,
                    [
                        (
                            EventType.WORKFLOW_EXECUTION_TIMED_OUT,
                            {"retry_state": retry_math.RETRY_STATE_TIMEOUT},
                        )
                    ],
                )
                extra = self._drop_run_rows(cur, run_pk)
                if run["queries_waiting"]:
                    extra.append(
                        f"query:{run['namespace']}:{run['task_queue']}"
                    )  # closed runs answer queries
                self._publish(cur, [f"run:{run_pk}", *extra])
                count += 1
        return count

    def _announce_visible(self) -> None:
        """Wake pollers of queues whose delayed tasks (start delay, retry backoff) became visible.

        Nothing is written; the tasks were already claimable, but idle workers on
        PostgreSQL sleep until notified.
        """
        with self._atomic():
            cur = self._cursor()
            now = self._now(cur)
            since = self._visible_watermark if self._visible_watermark is not None else now - 60.0
            cur.execute(
                f"SELECT DISTINCT namespace, task_queue FROM {RUN} WHERE wft_state = 1 "
                f"AND wft_visible_at > %s AND wft_visible_at <= %s",
                [since, now],
            )
            channels = [f"wft:{ns}:{q}" for ns, q in cur.fetchall()]
            cur.execute(
                f"SELECT DISTINCT namespace, task_queue FROM {ACTIVITY} WHERE state = 1 "
                f"AND visible_at > %s AND visible_at <= %s",
                [since, now],
            )
            channels += [f"act:{ns}:{q}" for ns, q in cur.fetchall()]
            self._publish(cur, channels)
            self._visible_watermark = now

    def next_due_time(self) -> float | None:
        """The earliest pending timer, deadline, or delayed task visibility; None if nothing is pending.

        Leases (workflow-task and activity start-to-close/heartbeat) count too,
        but claiming does not notify ``timers``: a timer loop should cap its sleep
        (about a second) so lease expiry is noticed promptly.
        """
        now_sql = self._now_sql()
        cur = self._cursor()
        cur.execute(
            f"SELECT (SELECT MIN(fire_at) FROM {TIMER}), "
            f"(SELECT MIN(timeout_at) FROM {ACTIVITY} WHERE timeout_at IS NOT NULL), "
            f"(SELECT MIN(wft_lease_until) FROM {RUN} WHERE wft_state = 2), "
            f"(SELECT MIN(run_deadline) FROM {RUN} WHERE status = {RUNNING} AND run_deadline IS NOT NULL), "
            f"(SELECT MIN(wft_visible_at) FROM {RUN} WHERE wft_state = 1 AND wft_visible_at > {now_sql}), "
            f"(SELECT MIN(visible_at) FROM {ACTIVITY} WHERE state = 1 AND visible_at > {now_sql})"
        )
        return _min(*(float(v) if v is not None else None for v in cur.fetchone()))

    def idle_until(self) -> tuple[bool, float | None]:
        """``(idle, next_due)`` for time-skipping tests.

        Idle means no workflow task or activity is runnable or running right now:
        every run waits on a timer or a deadline.
        """
        now_sql = self._now_sql()
        cur = self._cursor()
        cur.execute(
            f"SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM {RUN} WHERE (wft_state = 1 AND wft_visible_at <= "
            f"{now_sql}) "
            f"OR wft_state = 2 LIMIT 1) a), "
            f"(SELECT COUNT(*) FROM (SELECT 1 FROM {ACTIVITY} WHERE (state = 1 AND visible_at <= {now_sql}) "
            f"OR state = 2 LIMIT 1) b)"
        )
        busy_wft, busy_act = cur.fetchone()
        return (not busy_wft and not busy_act), self.next_due_time()

    # ------------------------------------------------------------------ pollers and wake-ups

    def record_poller(self, namespace: str, task_queue: str, identity: str, kind: str = "workflow") -> None:
        """Note that a worker polls this task queue (written at most every few seconds)."""
        key = (namespace, task_queue, identity, kind)
        mono = time.monotonic()
        if mono - self._pollers_seen.get(key, -math.inf) < POLLER_RECORD_INTERVAL:
            return
        self._pollers_seen[key] = mono
        with self._atomic():
            cur = self._cursor()
            cur.execute(
                f"INSERT INTO {POLLER} (namespace, task_queue, identity, kind, last_seen) "
                f"VALUES (%s, %s, %s, %s, {self._now_sql()}) "
                "ON CONFLICT (namespace, task_queue, identity, kind) DO UPDATE SET last_seen = "
                "excluded.last_seen",
                [namespace, task_queue, identity, kind],
            )

    def release_sticky(self, identity: str) -> None:
        """Let any worker take runs this (stopping) worker held sticky, without waiting."""
        with self._atomic():
            self._cursor().execute(
                f"UPDATE {RUN} SET sticky_identity = '', sticky_until = NULL WHERE sticky_identity = %s",
                [identity],
            )

    def close_thread_connections(self) -> None:
        """Close this thread's connection (worker threads call it before they exit)."""
        connections[self.alias].close()

    def subscribe(self, channel: str) -> notify.LocalSubscription:
        """Wake-ups for a logical channel (see ``store.base.Store.subscribe``)."""
        return notify.subscribe(channel, alias=self.alias)
