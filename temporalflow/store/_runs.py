"""Runs: start (with the id reuse and conflict policies), describe, history, signal, cancel, terminate.

``_create_run`` also serves continue-as-new (``_workflow_tasks``).
"""

from __future__ import annotations

import json
import uuid
from typing import Any, NamedTuple

from django.db import IntegrityError, connections

from temporalflow.conf import settings
from temporalflow.core.events import CLOSE_EVENT_TYPES, EventType, HistoryEvent
from temporalflow.core.payload import PayloadsJSON
from temporalflow.store import notify
from temporalflow.store._base_sql import (
    _RUN_COLS,
    EVENT,
    RUN,
    RUNNING,
    WFT_SCHEDULED,
    _dumps,
    _loads,
    _min,
    _row,
    _wft_scheduled,
    close_notice_event,
)
from temporalflow.store._dialects import notify_payload, pg_channel
from temporalflow.store._history import _HistoryWrites
from temporalflow.store._schedule_spec import cron_backoff
from temporalflow.store.base import (
    RunAlreadyStarted,
    RunClosed,
    RunInfo,
    RunNotFound,
    RunStatus,
    StartWorkflowRequest,
    StartWorkflowResult,
)

_FAILED_LIKE = {RunStatus.FAILED, RunStatus.CANCELED, RunStatus.TERMINATED, RunStatus.TIMED_OUT}
_JSON_COLS = frozenset({"memo", "search_attributes", "retry_policy"})
# Run columns that hold a time: in a fresh start's INSERT (see _RunsMixin._start_fresh) each is
# the statement's now plus the offset _new_run computed for it with now = 0.
_OFFSET_COLS = frozenset({"start_ts", "execution_ts", "wft_visible_at", "execution_deadline", "run_deadline"})
_DATETIME_OFFSETS = {"start_time": "start_ts", "execution_time": "execution_ts"}


class _NewRun(NamedTuple):
    """A run about to be inserted (see ``_RunsMixin._new_run``)."""

    run_id: str
    cols: dict[str, Any]
    """Column values, in INSERT order (no ``id``)."""
    events: list[tuple[EventType, dict[str, Any]]]
    search_attributes: dict[str, Any]
    """Canonical search attributes, to index once the row id is known."""
    wake: list[str]
    """Channels to publish besides ``run:{pk}``."""


def _run_options(req: StartWorkflowRequest) -> dict[str, Any]:
    """The ``_new_run`` arguments a client start takes straight from its request (both start paths)."""
    return {
        "namespace": req.namespace,
        "workflow_id": req.workflow_id,
        "workflow_type": req.workflow_type,
        "task_queue": req.task_queue,
        "input": req.input,
        "execution_timeout": req.execution_timeout,
        "run_timeout": req.run_timeout,
        "task_timeout": req.task_timeout,
        "memo": req.memo,
        "retry_policy": req.retry_policy,
        "request_id": req.request_id,
        "identity": req.identity,
        "header": req.header,
    }


def _signaled(
    name: str, input: PayloadsJSON | None, identity: str, header: dict[str, Any] | None
) -> tuple[EventType, dict[str, Any]]:
    return EventType.WORKFLOW_EXECUTION_SIGNALED, {
        "signal_name": name,
        "input": input,
        "identity": identity,
        "header": header or {},
    }


def _closed(workflow_id: str, row: dict[str, Any]) -> RunClosed:
    return RunClosed(f"workflow {workflow_id!r} run {row['run_id']} is closed ({RunStatus(row['status']).name})")


class _RunsMixin(_HistoryWrites):
    """Starting, reading, signalling, cancelling and terminating runs."""

    def _create_run(self, cur: Any, now: float, *, run_pk: int | None = None, **kwargs: Any) -> tuple[int, str]:
        """Insert a RUNNING run with WorkflowExecutionStarted [+ Signaled] + WorkflowTaskScheduled.

        ``started_extra``: more WorkflowExecutionStarted attributes (a cron run's ``initiator``,
        ``last_completion_result``, ``continued_failure``).

        ``run_pk``: the row id, taken beforehand from the table's sequence (PostgreSQL), so
        the INSERTs need not wait for a RETURNING. The other arguments: see :meth:`_new_run`.
        """
        new = self._new_run(now, **kwargs)
        cols = new.cols if run_pk is None else {"id": run_pk, **new.cols}
        j = self._json()
        placeholders = ",".join(j if c in _JSON_COLS else "%s" for c in cols)
        if run_pk is not None:
            cur.execute(f"INSERT INTO {RUN} ({','.join(cols)}) VALUES ({placeholders})", list(cols.values()))
        else:
            cur.execute(
                f"INSERT INTO {RUN} ({','.join(cols)}) VALUES ({placeholders}) RETURNING id", list(cols.values())
            )
            run_pk = cur.fetchone()[0]
        self._insert_events(cur, run_pk, 1, now, new.events, decoded=False)
        if new.search_attributes:
            self._index_search_attributes(cur, new.cols["namespace"], run_pk, new.search_attributes)
        self._publish(cur, [f"run:{run_pk}", *new.wake])
        return run_pk, new.run_id

    def _new_run(
        self,
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
        parent_initiated_event_id: int | None = None,
        signal: tuple[str, PayloadsJSON | None] | None = None,
        attempt: int = 1,
        run_id: str | None = None,
        started_extra: dict[str, Any] | None = None,
    ) -> _NewRun:
        """A new run's row, first events and wake-ups, as of ``now`` (nothing written)."""
        run_id = run_id or str(uuid.uuid4())
        first_run_id = first_run_id or run_id
        task_timeout = float(task_timeout or settings.WORKFLOW_TASK_TIMEOUT)
        search_attributes = self._canonical_search_attributes(namespace, search_attributes)
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
            "search_attributes": {"indexed_fields": search_attributes} if search_attributes else None,
            "first_workflow_task_backoff": delay or None,
            "retry_policy": retry_policy,
            "cron_schedule": cron_schedule,
            "parent_workflow_execution": (
                {"workflow_id": parent_workflow_id, "run_id": parent_run_id} if parent_workflow_id else None
            ),
            "parent_workflow_namespace": namespace if parent_workflow_id else None,
            "parent_initiated_event_id": parent_initiated_event_id,
            "header": header or {},
            **(started_extra or {}),
        }
        events: list[tuple[EventType, dict[str, Any]]] = [
            (EventType.WORKFLOW_EXECUTION_STARTED, started_attrs)
        ]
        if signal is not None:
            events.append(_signaled(signal[0], signal[1], identity, header))
        events.append(_wft_scheduled(task_queue, task_timeout))
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
            "updates_waiting": False,
            "wft_state": WFT_SCHEDULED,
            "wft_visible_at": visible_at,
            "wft_scheduled_event_id": len(events),
            "wft_attempt": 1,
            "wft_dirty": False,
            "sticky_identity": "",
        }
        wake = [f"wft:{namespace}:{task_queue}" if delay <= 0 else "timers"]
        if run_deadline is not None:
            wake.append("timers")
        return _NewRun(run_id, cols, events, search_attributes, wake)

    def _terminate_locked(
        self, cur: Any, run: dict[str, Any], now: float, reason: str, details: Any, identity: str
    ) -> None:
        self._close_locked(
            cur,
            run,
            now,
            RunStatus.TERMINATED,
            (
                EventType.WORKFLOW_EXECUTION_TERMINATED,
                {"reason": reason, "details": details, "identity": identity},
            ),
            answer_queries={"message": f"workflow terminated: {reason}"},
        )

    def start_workflow(self, request: StartWorkflowRequest) -> StartWorkflowResult:
        """Create a run, applying the id reuse and conflict policies (see the protocol)."""
        req = request
        if self._can_start_fresh(req):
            fresh = self._start_fresh(req)
            if fresh is not None:
                return fresh
        try:
            with self._atomic():
                cur = self._cursor()
                latest, now, new_pk = self._before_start(cur, req.namespace, req.workflow_id)
                if latest is not None:
                    if req.request_id and latest["request_id"] == req.request_id:
                        # A retried start (same request id): the original call succeeded.
                        return StartWorkflowResult(run_id=latest["run_id"], started=True, run_pk=latest["id"])
                    if latest["status"] == RUNNING:
                        if req.signal_name is not None:
                            self._signal_locked(
                                cur, latest["id"], req.signal_name, req.signal_input, req.identity, req.header
                            )
                            return StartWorkflowResult(run_id=latest["run_id"], started=False, run_pk=latest["id"])
                        if req.id_conflict_policy == 2:  # USE_EXISTING
                            return StartWorkflowResult(run_id=latest["run_id"], started=False, run_pk=latest["id"])
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
                run_pk, run_id = self._create_run(
                    cur,
                    now,
                    **_run_options(req),
                    search_attributes=req.search_attributes,
                    cron_schedule=req.cron_schedule,
                    # A cron workflow's first task waits for the first cron time.
                    start_delay=cron_backoff(req.cron_schedule, now) if req.cron_schedule else req.start_delay,
                    signal=(req.signal_name, req.signal_input) if req.signal_name is not None else None,
                    run_pk=new_pk,
                )
                return StartWorkflowResult(run_id=run_id, started=True, run_pk=run_pk)
        except IntegrityError as exc:
            # A concurrent start of the same workflow id won the one-running-run index
            # (PostgreSQL names the index; SQLite names its columns).
            text = str(exc)
            if "tf_run_one_running_per_id" not in text and "temporalflow_run.workflow_id" not in text:
                raise
            raise RunAlreadyStarted(
                f"workflow {req.workflow_id!r} is already running (concurrent start)", req.workflow_id, None
            ) from None

    def _can_start_fresh(self, req: StartWorkflowRequest) -> bool:
        """Is ``req`` a plain start that :meth:`_start_fresh` can try (PostgreSQL, our own transaction)?"""
        return (
            self.dialect.vendor == "postgresql"
            and self.clock is None
            and req.signal_name is None
            and not req.search_attributes
            and not req.cron_schedule
            and getattr(self._local, "after_commit", None) is None
            and not connections[self.alias].in_atomic_block
            and connections[self.alias].get_autocommit()
        )

    def _start_fresh(self, req: StartWorkflowRequest) -> StartWorkflowResult | None:
        """Start a workflow id that has no run yet with one statement, its own transaction.

        The statement inserts the run and its first events unless the id has a run (then
        nothing is written, and None sends the caller to the usual path, whose policies
        decide), and sends the wake-ups only if it inserted. The times are the statement's
        now, in SQL, so nothing needs reading first; autocommit makes it one round trip with
        no BEGIN or COMMIT to send. A concurrent start of the same new id that commits first
        makes this one fail on the one-running-run index: None too, and the usual path then
        sees that run. ``run:{pk}`` is not published: nobody can wait for a run whose row id
        this call has not returned yet.
        """
        # Every time column is an offset from the statement's now (_OFFSET_COLS).
        new = self._new_run(0.0, **_run_options(req), start_delay=req.start_delay)
        exprs: list[str] = []
        params: list[Any] = []
        for col, value in new.cols.items():
            if col in _DATETIME_OFFSETS:
                exprs.append("to_timestamp(n.t + %s)")
                params.append(new.cols[_DATETIME_OFFSETS[col]])
            elif col in _OFFSET_COLS:
                exprs.append("n.t + %s")
                params.append(value)
            else:
                exprs.append("%s::jsonb" if col in _JSON_COLS else "%s")
                params.append(value)
        params += [req.namespace, req.workflow_id]
        rows = []
        for i, (etype, attrs) in enumerate(new.events):
            rows.append("(%s, %s, %s)")
            params += [i + 1, str(etype), _dumps(attrs)]
        sql = (
            f"WITH n AS (SELECT {self._now_sql()} AS t), "
            f"r AS (INSERT INTO {RUN} ({','.join(new.cols)}) SELECT {','.join(exprs)} FROM n "
            f"WHERE NOT EXISTS (SELECT 1 FROM {RUN} WHERE namespace = %s AND workflow_id = %s) RETURNING id), "
            f"e AS (INSERT INTO {EVENT} (run_id, event_id, event_type, event_time, attributes) "
            f"SELECT r.id, v.event_id, v.event_type, n.t, v.attributes FROM r, n, "
            f"(VALUES {','.join(rows)}) AS v(event_id, event_type, attributes)) "
            "SELECT r.id, pg_notify(x.k, x.c) FROM r, unnest(%s::text[], %s::text[]) AS x(k, c)"
        )
        wake = sorted(set(new.wake))
        params += [[pg_channel(c) for c in wake], [notify_payload(c, None) for c in wake]]
        try:
            cur = self._cursor()
            cur.execute(sql, params)  # autocommit (see _can_start_fresh): committed when it returns
            row = cur.fetchone()
        except IntegrityError as exc:
            if "tf_run_one_running_per_id" not in str(exc):
                raise
            return None
        if row is None:
            return None
        notify.hub.publish(wake)  # this process's subscribers; PostgreSQL told the others at the commit
        return StartWorkflowResult(run_id=new.run_id, started=True, run_pk=int(row[0]))

    def _before_start(
        self, cur: Any, namespace: str, workflow_id: str
    ) -> tuple[dict[str, Any] | None, float, int | None]:
        """The workflow id's latest run (locked), now, and on PostgreSQL the new run's row id.

        On PostgreSQL the reads share one round trip (both are sent before either is read).
        """
        if self.dialect.vendor != "postgresql" or self.clock is not None:
            try:
                latest = self._find_run(cur, namespace, workflow_id, None, lock=True)
            except RunNotFound:
                latest = None
            return latest, self._now(cur), None
        latest_cur, id_cur = self._cursor(), self._cursor()
        latest_cur.execute(
            f"SELECT {_RUN_COLS} FROM {RUN} WHERE namespace = %s AND workflow_id = %s ORDER BY id DESC LIMIT 1"
            f"{self.dialect.lock_suffix()}",
            [namespace, workflow_id],
        )
        id_cur.execute(f"SELECT nextval(pg_get_serial_sequence('{RUN}', 'id')), {self._now_sql()}")
        new_pk, now = id_cur.fetchone()  # this read waits for both statements
        return _row(latest_cur), float(now), int(new_pk)

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
            pending_children=self.pending_children(row["id"]),
            pending_activities=self.pending_activities(row["id"]),
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

    def close_event(self, run_pk: int) -> HistoryEvent | None:
        """The run's closing event (its last event, once closed), or None while it runs."""
        cur = self._cursor()
        cur.execute(
            f"SELECT event_id, event_type, event_time, attributes FROM {EVENT} "
            f"WHERE run_id = %s ORDER BY event_id DESC LIMIT 1",
            [run_pk],
        )
        row = cur.fetchone()
        if row is None or EventType(row[1]) not in CLOSE_EVENT_TYPES:
            return None
        return HistoryEvent(event_id=row[0], event_type=EventType(row[1]), event_time=row[2],
                            attributes=json.loads(row[3]))

    def close_event_from_notice(self, notice: str) -> HistoryEvent | None:
        """The closing event a ``closed:{pk}`` wake-up carried, or None (then :meth:`close_event` reads it)."""
        return close_notice_event(notice)

    def _signal_locked(
        self,
        cur: Any,
        run_pk: int,
        name: str,
        input: PayloadsJSON | None,
        identity: str,
        header: dict[str, Any] | None,
    ) -> None:
        event = _signaled(name, input, identity, header)
        done = self._append(cur, "id = %s", [run_pk], 1, lambda first, now: [event])
        if done is None:
            raise RunClosed(f"run {run_pk} is closed")

    def _raise_not_open(self, cur: Any, namespace: str, workflow_id: str, run_id: str | None) -> None:
        row = self._find_run(cur, namespace, workflow_id, run_id)  # raises RunNotFound
        raise _closed(workflow_id, row)

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
        event = _signaled(name, input, identity, header)
        with self._atomic():
            cur = self._cursor()
            target, params = self._target(namespace, workflow_id, run_id)
            done = self._append(cur, target, params, 1, lambda first, now: [event])
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
                    raise _closed(workflow_id, row)
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
                raise _closed(workflow_id, run)
            self._terminate_locked(cur, run, self._now(cur), reason, details, identity)
