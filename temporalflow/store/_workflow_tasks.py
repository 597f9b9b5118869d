"""Workflow tasks: claim, complete (apply the commands), fail; sticky follow-up tasks.

The task lives on the run row (``wft_state`` none/scheduled/started), fenced by
``wft_started_event_id``. A completion writes everything its commands ask for
in one transaction: events, activity and timer rows, update outcomes, the
run's close or continue-as-new, and the next task when events arrived meanwhile.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

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
    RequestCancelExternalWorkflowExecution,
    ScheduleActivityTask,
    SignalExternalWorkflowExecution,
    StartChildWorkflowExecution,
    StartTimer,
    UpsertWorkflowSearchAttributes,
    command_event,
)
from temporalflow.core.events import EventType, HistoryEvent
from temporalflow.core.payload import PayloadsJSON
from temporalflow.store._activities import _ActivitiesMixin
from temporalflow.store._base_sql import (
    _RUN_COLS,
    ACT_SCHEDULED,
    ACT_STARTED,
    ACTIVITY,
    EVENT,
    PREFETCH_EVENTS,
    RUN,
    RUNNING,
    TIMER,
    UPDATE,
    WFT_NONE,
    WFT_SCHEDULED,
    WFT_STARTED,
    _dumps,
    _loads,
    _marks,
    _rows,
    _wft_scheduled,
    _wft_started,
)
from temporalflow.store._messages import _MessagesMixin
from temporalflow.store._runs import _RunsMixin
from temporalflow.store.base import (
    CompleteWorkflowTaskResult,
    RunStatus,
    StaleTask,
    StoreError,
    WorkflowTaskCompletion,
    WorkflowTaskLease,
)

_CLOSE_STATUS = {
    CompleteWorkflowExecution: RunStatus.COMPLETED,
    FailWorkflowExecution: RunStatus.FAILED,
    CancelWorkflowExecution: RunStatus.CANCELED,
    ContinueAsNewWorkflowExecution: RunStatus.CONTINUED_AS_NEW,
}


def _wft_failed(
    lease: WorkflowTaskLease, cause: str, failure: dict[str, Any], identity: str
) -> tuple[EventType, dict[str, Any]]:
    return EventType.WORKFLOW_TASK_FAILED, {
        "scheduled_event_id": lease.scheduled_event_id,
        "started_event_id": lease.started_event_id,
        "cause": cause,
        "failure": failure,
        "identity": identity,
    }


CLAIM_RECENT_EVENTS = 16
"""How many events before its WorkflowTaskStarted a PostgreSQL claim returns with each run."""


def _recent_history(recent: Any, after: int, started: tuple[Any, ...]) -> list[HistoryEvent] | None:
    """The events after ``after``: those a claim returned, plus the WorkflowTaskStarted it wrote.

    None when the claim did not return all of them (or returned none, as on SQLite).
    """
    _, event_id, ts, etype, attrs = started
    if not recent or recent[0][0] > after + 1 or after >= event_id:
        return None
    events = [
        HistoryEvent(event_id=eid, event_type=EventType(etype), event_time=etime, attributes=json.loads(text))
        for eid, etype, etime, text in recent
        if eid > after
    ]
    events.append(HistoryEvent(event_id=event_id, event_type=etype, event_time=ts, attributes=attrs))
    return events


class _WorkflowTasksMixin(_RunsMixin, _ActivitiesMixin, _MessagesMixin):
    """Claiming, completing and failing workflow tasks.

    Completions create runs (continue-as-new), activity rows and update
    outcomes, so this part builds on runs, activities and messages.
    """

    def claim_workflow_tasks(
        self, namespace: str, task_queue: str, identity: str, max_tasks: int,
        history_after: Callable[[str], int] | None = None,
    ) -> list[WorkflowTaskLease]:
        """Claim up to ``max_tasks`` visible workflow tasks: append WorkflowTaskStarted to each.

        With ``history_after``, the leases carry the events the worker does not have yet
        (see the protocol), read in this transaction: no second round trip per task.
        """
        if max_tasks <= 0:
            return []
        with self._atomic():
            return [lease for lease, _ in self._claim(self._cursor(), namespace, task_queue, identity, max_tasks,
                                                      history_after)]

    def claim_and_complete_workflow_tasks(
        self, namespace: str, task_queue: str, identity: str, max_tasks: int,
        history_after: Callable[[str], int] | None,
        run_workflow_tasks: Callable[[list[WorkflowTaskLease]], list[WorkflowTaskCompletion | None]],
    ) -> list[tuple[WorkflowTaskLease, CompleteWorkflowTaskResult | None]]:
        """Claim tasks as :meth:`claim_workflow_tasks` and complete them in the same transaction.

        ``run_workflow_tasks(leases)`` is called (in this thread, the claimed runs locked)
        and returns a completion or None for each lease; a completion the store refuses is
        refused before it writes anything, so it leaves only its own task started. One commit
        for the whole batch. Returns ``(lease, result or None)`` pairs; a None result
        leaves that started task to the worker's usual path.
        """
        if max_tasks <= 0:
            return []
        with self._atomic():
            cur = self._cursor()
            claimed = self._claim(cur, namespace, task_queue, identity, max_tasks, history_after)
            if not claimed:
                return []
            completions = run_workflow_tasks([lease for lease, _ in claimed])
            return [
                (lease, None if completion is None else self._complete_if_valid(cur, lease, completion, run))
                for (lease, run), completion in zip(claimed, completions, strict=True)
            ]

    def _claim(
        self, cur: Any, namespace: str, task_queue: str, identity: str, max_tasks: int,
        history_after: Callable[[str], int] | None,
    ) -> list[tuple[WorkflowTaskLease, dict[str, Any]]]:
        """Claim in the current transaction: ``(lease, the run row as now written)`` pairs."""
        d = self.dialect
        now = self._now_sql()
        # On PostgreSQL the claim brings each run's latest events along (a scalar subquery in
        # RETURNING), so a fresh run or a sticky one a few events ahead of the worker's cache
        # needs no second read before its activation; a run further behind is read after.
        recent = (
            f", (SELECT json_agg(json_build_array(e.event_id, e.event_type, e.event_time, e.attributes) "
            f"ORDER BY e.event_id) FROM {EVENT} e WHERE e.run_id = {RUN}.id "
            f"AND e.event_id >= {RUN}.wft_started_event_id - {int(CLAIM_RECENT_EVENTS)}) AS recent_events"
            if history_after is not None and d.vendor == "postgresql" else ""
        )
        # On PostgreSQL the claim also writes each task's WorkflowTaskStarted: one statement
        # instead of two. Its attributes are the text _dumps(_wft_started(...)) gives.
        started_insert = (
            f"INSERT INTO {EVENT} (run_id, event_id, event_type, event_time, attributes) "
            f"SELECT id, wft_started_event_id, '{EventType.WORKFLOW_TASK_STARTED!s}', now, "
            "%(started_head)s || wft_scheduled_event_id || ',' || %(started_tail)s FROM u"
            if d.vendor == "postgresql" else ""
        )
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
            returning=f"{_RUN_COLS}, {now} AS now{recent}{self._has_children_sql()}",
            then_insert=started_insert,
        )
        params = {"ns": namespace, "q": task_queue, "me": identity}
        if started_insert:
            # '{"scheduled_event_id":' + id + ',' + '"identity":...}': the id is the first key.
            head, _, tail = _dumps(_wft_started(0, identity)[1]).partition("0,")
            params.update(started_head=head, started_tail=tail)
        cur.execute(sql, params)
        rows = _rows(cur)
        if not rows:
            return []
        rows.sort(key=lambda r: r["id"])
        started: list[Any] = []
        for r in rows:
            event = _wft_started(r["wft_scheduled_event_id"], identity)
            started.append((r["id"], r["wft_started_event_id"], float(r["now"]), *event))
        if not started_insert:
            self._insert_event_rows(cur, started)
        updates = self._pending_updates(cur, [r["id"] for r in rows if r["updates_waiting"]])
        self._publish(cur, [f"run:{r['id']}" for r in rows])
        history: dict[int, list[HistoryEvent]] = {}
        if history_after is not None:
            wanted: dict[int, int] = {}
            for r, row in zip(rows, started, strict=True):
                after = history_after(r["run_id"])
                if r["wft_started_event_id"] - after > PREFETCH_EVENTS:
                    continue
                events = _recent_history(r.get("recent_events"), after, row)
                if events is None:
                    wanted[r["id"]] = after
                else:
                    history[r["id"]] = events
            history.update(self._events_after(cur, wanted))
        return [
            (
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
                    task_timeout=float(r["task_timeout"]),
                    pending_updates=updates.get(r["id"], []),
                    history=history.get(r["id"]),
                ),
                r,
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
        with self._atomic():
            return self._complete_in_transaction(self._cursor(), lease, completion)

    def _complete_in_transaction(
        self, cur: Any, lease: WorkflowTaskLease, completion: WorkflowTaskCompletion,
        run: dict[str, Any] | None = None,
    ) -> CompleteWorkflowTaskResult:
        """Apply a completion; ``run`` is the row as this transaction left it when it claimed the task."""
        cmds = list(completion.commands)
        closing = cmds[-1] if cmds and isinstance(cmds[-1], CLOSING_COMMANDS) else None
        if any(isinstance(c, CLOSING_COMMANDS) for c in cmds[:-1]):
            raise StoreError("a closing command must be the last command of a completion")
        if run is None:
            run = self._lock_for_lease(cur, lease)
        now = float(run["now"])
        if (
            closing is not None
            and run["wft_dirty"]
            and self._has_unhandled(cur, run["id"], lease.started_event_id)
        ):
            return self._reject_closing(cur, run, lease, now, completion.identity)
        return self._apply_completion(cur, run, lease, completion, cmds, closing, now)

    def _complete_if_valid(
        self, cur: Any, lease: WorkflowTaskLease, completion: WorkflowTaskCompletion,
        run: dict[str, Any] | None = None,
    ) -> CompleteWorkflowTaskResult | None:
        """Apply a completion inside the current transaction; None if the store refuses it.

        No savepoint is needed: a completion is refused (``StoreError``) only before its
        first write (see :meth:`_apply_completion`), so a refusal leaves nothing behind.
        """
        try:
            return self._complete_in_transaction(cur, lease, completion, run)
        except StoreError:
            return None

    def complete_activity_and_workflow_task(
        self,
        token: str,
        result: PayloadsJSON,
        identity: str,
        run_workflow_task: Callable[[WorkflowTaskLease], WorkflowTaskCompletion | None],
    ) -> tuple[WorkflowTaskLease | None, CompleteWorkflowTaskResult | None]:
        """Complete an activity and, in the same transaction, the workflow task it wakes.

        As ``complete_activity_task(..., claim_workflow_task=True)``; when that starts a task
        for ``identity``, ``run_workflow_task(lease)`` is called (in this thread, with the
        run row locked) and the completion it returns is applied before the one commit.
        It returns None to leave the started task to the worker's usual path, as does a
        completion the store refuses (refused before it writes: the activity's result is
        kept either way). Returns the lease (None if no task was started for ``identity``)
        and the completion's result (None if it was not applied).
        """
        applied: list[CompleteWorkflowTaskResult] = []

        def then(cur: Any, lease: WorkflowTaskLease, run: dict[str, Any]) -> None:
            completion = run_workflow_task(lease)
            if completion is not None:
                result = self._complete_if_valid(cur, lease, completion, run)
                if result is not None:
                    applied.append(result)

        lease = self._finish_activity(
            token,
            EventType.ACTIVITY_TASK_COMPLETED,
            lambda first: {"result": result, "identity": identity},
            identity,
            True,
            then=then,
        )
        return lease, (applied[0] if applied else None)

    def _reject_closing(
        self, cur: Any, run: dict[str, Any], lease: WorkflowTaskLease, now: float, identity: str
    ) -> CompleteWorkflowTaskResult:
        first = run["next_event_id"]
        events = [
            _wft_failed(
                lease,
                "UnhandledCommand",
                {"message": "Workflow completion rejected: new signals or updates arrived"},
                identity,
            ),
            _wft_scheduled(run["task_queue"], run["task_timeout"]),
        ]
        self._reschedule_wft(cur, run, first, now, 1, events, now)
        return CompleteWorkflowTaskResult(rejected=True)

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
        """Write a completion's effects. Every check that can refuse it runs before the first write."""
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
            cur.execute(
                f"SELECT scheduled_event_id, state FROM {ACTIVITY} WHERE run_id = %s AND scheduled_event_id "
                f"IN ({_marks(cancel_ids)})",
                [run_pk, *cancel_ids],
            )
            act_state = dict(cur.fetchall())
        accepted_ids: dict[str, int] = {}
        completing = [c.update_id for c in cmds if isinstance(c, CompleteUpdate)]
        if completing:
            cur.execute(
                f"SELECT update_id, accepted_event_id FROM {UPDATE} WHERE run_id = %s AND update_id IN "
                f"({_marks(completing)})",
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
        retry: tuple[float, int, dict[str, Any]] | None = None  # (delay, next attempt, started attrs)
        child_starts: list[tuple[int, StartChildWorkflowExecution]] = []  # (initiated event id, command)
        external_sends: list[tuple[int, Any]] = []  # signals and cancels to other runs (store/_children.py)

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
            elif isinstance(cmd, StartChildWorkflowExecution):
                child_starts.append((eid, cmd))
            elif isinstance(cmd, SignalExternalWorkflowExecution | RequestCancelExternalWorkflowExecution):
                external_sends.append((eid, cmd))
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
            elif isinstance(cmd, FailWorkflowExecution) and run["retry_policy"] is not None:
                assert ev is not None
                retry, ev[1]["retry_state"] = self._workflow_retry(cur, run, cmd.failure, now)
                if retry is not None:
                    new_run_id = str(uuid.uuid4())
            if ev is not None:
                events.append(ev)
        # A cron workflow (legacy cron_schedule) that completes or fails for good goes on with
        # its next run at the next cron time, started in this transaction (Temporal's way).
        cron_next = bool(new_run_id is None and run["cron_schedule"]
                         and isinstance(closing, (CompleteWorkflowExecution, FailWorkflowExecution)))
        if cron_next:
            new_run_id = str(uuid.uuid4())

        # Children start in this transaction (none if the run closes: Temporal starts no child
        # for a closed parent). Decided now, by reads; their runs are written after the fence.
        child_plan = self._plan_children(cur, run, child_starts) if child_starts and closing is None else []
        child_started_ids = [completed_id + len(events) + i for i in range(len(child_plan))]
        events += self._child_start_events(run, child_plan, completed_id)

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
        if closing is None and (run["wft_dirty"] or cancel_now or child_plan):
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
                    task_timeout=float(run["task_timeout"]),
                )
            else:
                channels.append(f"wft:{ns}:{queue}")

        if new_run_id is not None:
            assert events[-1][0] in (EventType.WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
                                     EventType.WORKFLOW_EXECUTION_FAILED, EventType.WORKFLOW_EXECUTION_COMPLETED)
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
        update_sql = f"UPDATE {RUN} SET {set_sql} WHERE id = %s AND wft_state = 2 AND wft_started_event_id = %s"
        update_params = [*params, run_pk, lease.started_event_id]
        texts: list[str] = []
        if self.dialect.vendor == "postgresql":
            # This transaction holds the row lock (its claim, or _lock_for_lease), so the UPDATE
            # matches; it goes out as the WITH clause of the events' INSERT: one statement.
            written = self._insert_events(cur, run_pk, completed_id, now, events, texts,
                                          with_sql=update_sql, with_params=update_params)
        else:
            cur.execute(update_sql, update_params)
            if self._rowcount(cur) != 1:
                raise StaleTask(
                    f"workflow task {lease.started_event_id} of run {lease.run_id} is no longer current"
                )
            written = self._insert_events(cur, run_pk, completed_id, now, events, texts)
        upserts = [c.search_attributes for c in cmds if isinstance(c, UpsertWorkflowSearchAttributes)]
        if upserts:  # the run's attributes and their index change with the events (before a continue-as-new reads them)
            self._upsert_search_attributes(cur, run, upserts)

        result = CompleteWorkflowTaskResult(next_task=next_lease, run_closed=closing is not None,
                                            history=written)
        for update_id, stage, outcome, accepted_id in update_changes:
            cur.execute(
                f"UPDATE {UPDATE} SET stage = %s, outcome = {self._json()}, "
                f"accepted_event_id = COALESCE(%s, accepted_event_id) WHERE run_id = %s AND update_id = %s",
                [stage, _dumps(outcome), accepted_id, run_pk, update_id],
            )
        waiting = bool(run["updates_waiting"])
        if update_changes and waiting:
            # Recompute: the ones this task settled are gone, others may have arrived meanwhile.
            cur.execute(
                f"UPDATE {RUN} SET updates_waiting = EXISTS (SELECT 1 FROM {UPDATE} WHERE run_id = %s "
                f"AND stage = 'admitted') WHERE id = %s RETURNING updates_waiting",
                [run_pk, run_pk],
            )
            waiting = bool(cur.fetchone()[0])
        if next_lease is not None and waiting:
            next_lease.pending_updates = self._pending_updates(cur, [run_pk]).get(run_pk, [])
        if next_lease is not None and next_event_id - lease.started_event_id <= PREFETCH_EVENTS:
            # The worker's instance has seen up to this task's start: hand it what came since
            # (the messages that made the run dirty, this completion's events, the new task).
            next_lease.history = self._events_after(cur, {run_pk: lease.started_event_id})[run_pk]

        if child_plan:
            self._start_children(cur, run, now, identity, child_plan, child_started_ids)
        self._queue_external(cur, run, now, external_sends)
        if closing is not None:
            self._publish_close(cur, run_pk, written[-1], texts[-1], ())
            channels += self._drop_run_rows(cur, run_pk)
            self._after_close(cur, run, now, _CLOSE_STATUS[type(closing)], events[-1][1],
                              next_run=new_run_id is not None)
            if isinstance(closing, ContinueAsNewWorkflowExecution):
                assert new_run_id is not None
                self._continue_as_new(cur, run, closing, new_run_id, now, identity)
            elif retry is not None:
                assert new_run_id is not None
                self._retry_run(cur, run, retry, new_run_id, now, identity)
            elif cron_next:
                assert new_run_id is not None
                self._cron_next_run(cur, run, new_run_id, now, identity, events[-1][1])  # type: ignore[attr-defined]
        else:
            if cancel_timers:
                cur.execute(
                    f"DELETE FROM {TIMER} WHERE run_id = %s AND timer_id IN ({_marks(cancel_timers)})",
                    [run_pk, *cancel_timers],
                )
            if cancel_now:
                cur.execute(
                    f"DELETE FROM {ACTIVITY} WHERE run_id = %s AND scheduled_event_id IN ({_marks(cancel_now)})",
                    [run_pk, *cancel_now],
                )
            if cancel_started:
                cur.execute(
                    f"UPDATE {ACTIVITY} SET cancel_requested = TRUE WHERE run_id = %s AND "
                    f"scheduled_event_id IN ({_marks(cancel_started)})",
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

    def _workflow_retry(
        self, cur: Any, run: dict[str, Any], failure: dict[str, Any], now: float
    ) -> tuple[tuple[float, int, dict[str, Any]] | None, str]:
        """Should this failed run be retried (its RetryPolicy)? ``((delay, attempt, attrs) | None, retry_state)``."""
        cur.execute(f"SELECT attributes FROM {EVENT} WHERE run_id = %s AND event_id = 1", [run["id"]])
        started = _loads(cur.fetchone()[0]) or {}
        attempt = int(started.get("attempt") or 1)
        info = failure.get("application_failure_info") or {}
        delay, state = retry_math.next_retry_delay(
            _loads(run["retry_policy"]), attempt, error_type=info.get("type"),
            non_retryable=bool(info.get("non_retryable")), next_retry_delay=info.get("next_retry_delay"),
        )
        deadline = run["execution_deadline"]
        if delay is not None and deadline is not None and now + delay >= float(deadline):
            return None, "RETRY_STATE_TIMEOUT"
        if delay is None:
            return None, state
        return (delay, attempt + 1, started), state

    def _retry_run(
        self, cur: Any, run: dict[str, Any], retry: tuple[float, int, dict[str, Any]], new_run_id: str,
        now: float, identity: str,
    ) -> None:
        """Start the next attempt of a failed run: same input, after the backoff (Temporal's workflow retry)."""
        delay, attempt, started = retry
        self._create_run(
            cur,
            now,
            run_id=new_run_id,
            namespace=run["namespace"],
            workflow_id=run["workflow_id"],
            workflow_type=run["workflow_type"],
            task_queue=run["task_queue"],
            input=started.get("input") or {"payloads": []},
            execution_timeout=run["execution_timeout"],
            run_timeout=run["run_timeout"],
            task_timeout=run["task_timeout"],
            execution_deadline=run["execution_deadline"],
            first_run_id=run["first_run_id"],
            continued_from=run["run_id"],
            memo=_loads(run["memo"]),
            search_attributes=_loads(run["search_attributes"]),
            retry_policy=_loads(run["retry_policy"]),
            cron_schedule=run["cron_schedule"],
            identity=identity,
            parent_workflow_id=run["parent_workflow_id"],
            parent_run_id=run["parent_run_id"],
            start_delay=delay,
            attempt=attempt,
        )

    def heartbeat_workflow_task(self, lease: WorkflowTaskLease) -> float:
        """Extend a started task's lease by its timeout; returns the timeout (seconds).

        ``StaleTask`` when the task is no longer the run's current one.
        """
        with self._atomic():
            cur = self._cursor()
            cur.execute(
                f"UPDATE {RUN} SET wft_lease_until = {self._now_sql()} + task_timeout "
                f"WHERE id = %s AND wft_state = 2 AND wft_started_event_id = %s RETURNING task_timeout",
                [lease.run_pk, lease.started_event_id],
            )
            row = cur.fetchone()
        if row is None:
            raise StaleTask(f"workflow task {lease.started_event_id} of run {lease.run_id} is no longer current")
        return float(row[0])

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
                _wft_failed(lease, cause, failure, identity),
                _wft_scheduled(run["task_queue"], run["task_timeout"], attempt + 1),
            ]
            self._reschedule_wft(cur, run, first, now + delay, attempt + 1, events, now)
