"""The write paths every part of ``DjangoStore`` shares on one run.

Appending events (and making sure a workflow task will see them),
rescheduling a failed, timed-out or rejected workflow task, and closing a run
(its activity and timer rows go, its pending updates and queries are settled).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import transaction

from temporalflow import metrics
from temporalflow.conf import settings
from temporalflow.core.events import EventType
from temporalflow.store._base_sql import (
    _RUN_COLS,
    ACTIVITY,
    QUERY,
    RUN,
    RUNNING,
    TIMER,
    UPDATE,
    WFT_NONE,
    WFT_SCHEDULED,
    WFT_STARTED,
    _dumps,
    _row,
    _StoreBase,
    _wft_scheduled,
    _wft_started,
)
from temporalflow.store._children import _ChildrenMixin
from temporalflow.store.base import RunStatus, WorkflowTaskLease


class _HistoryWrites(_ChildrenMixin, _StoreBase):
    """Appending to a run's history, rescheduling its workflow task, closing it."""

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
        claim_for: str | None = None,
        also_send: Callable[[], None] | None = None,
    ) -> dict[str, Any] | None:
        """Append ``n`` events to an open run from outside a workflow-task completion.

        One UPDATE reserves the ids and, in the same statement, schedules the
        run's workflow task if none is scheduled (appending WorkflowTaskScheduled
        after the ``n`` events) or marks the started one dirty. Returns the run's
        ``id``/``first_id``/``now``/``scheduled`` (the new WorkflowTaskScheduled id
        or None)/``lease``, or None when no open run matched (nothing was written).

        With ``claim_for``, a task this append schedules on a run sticky to that worker
        is started for it at once (WorkflowTaskStarted appended, ``lease`` returned):
        the worker that caches the run goes on without a trip through the queue.

        ``also_send`` runs right after the UPDATE is sent and before its answer is read:
        on PostgreSQL a statement it executes shares that round trip (and still runs after
        the UPDATE, so the run row is locked first).
        """
        # n >= 1 keeps "the last reserved id is a new WorkflowTaskScheduled" unambiguous.
        assert n >= 1, "use _append_locked to schedule a task without an event"
        now = self._now_sql()
        sticky = repr(float(settings.STICKY_SCHEDULE_TO_START_TIMEOUT))
        # "A task this append schedules is started for claim_for" (its run is sticky to it).
        mine, mine_params = ("sticky_identity = %s", [claim_for] * 4) if claim_for else ("FALSE", [])
        # SET expressions see the row's old values (standard SQL, and SQLite).
        sql = (
            f"UPDATE {RUN} SET "
            f"next_event_id = next_event_id + {int(n)} + (CASE WHEN wft_state = 0 THEN "
            f"(CASE WHEN {mine} THEN 2 ELSE 1 END) ELSE 0 END), "
            f"wft_dirty = (CASE WHEN wft_state = 2 THEN TRUE ELSE wft_dirty END), "
            f"wft_scheduled_event_id = (CASE WHEN wft_state = 0 THEN next_event_id + {int(n)} "
            f"ELSE wft_scheduled_event_id END), "
            f"wft_started_event_id = (CASE WHEN wft_state = 0 AND {mine} THEN next_event_id + {int(n)} + 1 "
            f"ELSE wft_started_event_id END), "
            f"wft_lease_until = (CASE WHEN wft_state = 0 AND {mine} THEN {now} + task_timeout "
            f"ELSE wft_lease_until END), "
            f"wft_visible_at = (CASE WHEN wft_state = 0 THEN {now} ELSE wft_visible_at END), "
            f"wft_attempt = (CASE WHEN wft_state = 0 THEN 1 ELSE wft_attempt END), "
            f"sticky_until = (CASE WHEN wft_state = 0 AND sticky_identity <> '' THEN {now} + {sticky} "
            f"ELSE sticky_until END), "
            f"wft_state = (CASE WHEN wft_state = 0 THEN (CASE WHEN {mine} THEN 2 ELSE 1 END) ELSE wft_state END)"
            f"{extra_set} "
            f"WHERE {target_sql} AND status = {RUNNING}{extra_where} "
            f"RETURNING {_RUN_COLS}, {now} AS now{self._has_children_sql()}"
        )
        cur.execute(sql, [*mine_params, *extra_params, *target_params])
        if also_send is not None:
            also_send()
        row = _row(cur)
        if row is None:
            return None
        now_f = float(row["now"])
        run_pk = row["id"]
        next_id = row["next_event_id"]
        # What this statement did to the task: started it for claim_for, scheduled it, or neither.
        started = bool(claim_for) and row["wft_state"] == WFT_STARTED and row["wft_started_event_id"] == next_id - 1
        scheduled = started or (row["wft_state"] == WFT_SCHEDULED and row["wft_scheduled_event_id"] == next_id - 1)
        first_id = next_id - n - (2 if started else 1 if scheduled else 0)
        events = build(first_id, now_f)
        assert len(events) == n, "event count must be known before the ids are reserved"
        lease = None
        if scheduled:
            events.append(_wft_scheduled(row["task_queue"], row["task_timeout"]))
        if started:
            assert claim_for is not None
            events.append(_wft_started(first_id + n, claim_for))
            lease = WorkflowTaskLease(
                run_pk=run_pk, namespace=row["namespace"], workflow_id=row["workflow_id"], run_id=row["run_id"],
                workflow_type=row["workflow_type"], task_queue=row["task_queue"], scheduled_event_id=first_id + n,
                started_event_id=next_id - 1, attempt=row["wft_attempt"], task_timeout=float(row["task_timeout"]),
                pending_updates=(
                    self._pending_updates(cur, [run_pk]).get(run_pk, []) if row["updates_waiting"] else []
                ),
            )
        written = self._insert_events(cur, run_pk, first_id, now_f, events, decoded=lease is not None)
        if lease is not None:
            # What the sticky worker lacks unless something else was appended since its last
            # task; it checks, and reads the history itself then.
            lease.history = written
        chans = [f"run:{run_pk}", *channels]
        if scheduled and lease is None:
            chans.append(f"wft:{row['namespace']}:{row['task_queue']}")
        self._publish(cur, chans)
        return {
            "id": run_pk,
            "first_id": first_id,
            "now": now_f,
            "scheduled": first_id + n if scheduled else None,
            "lease": lease,
            "run": row,
        }

    def _append_locked(
        self, cur: Any, run: dict[str, Any], now: float, events: list[tuple[EventType, dict[str, Any]]],
        start_for: str | None = None,
    ) -> WorkflowTaskLease | None:
        """Append ``events`` to a locked, open run and make sure a workflow task will see them.

        With ``start_for``, a task this append schedules on a run sticky to that worker is
        started for it at once, as ``_append``'s ``claim_for`` does: WorkflowTaskStarted is
        appended and the lease returned (carrying the events written), and ``run`` is
        updated to the row as written, which completing the task in this transaction reads.
        Otherwise None.
        """
        first = run["next_event_id"]
        run_pk = run["id"]
        channels = [f"run:{run_pk}"]
        state = run["wft_state"]
        start = bool(start_for) and state == WFT_NONE and run["sticky_identity"] == start_for
        extra = ""
        params: list[Any] = []
        sched_id = first + len(events)
        if state == WFT_NONE:
            events = [*events, _wft_scheduled(run["task_queue"], run["task_timeout"])]
            sticky_until = (
                now + float(settings.STICKY_SCHEDULE_TO_START_TIMEOUT) if run["sticky_identity"] else None
            )
            extra = (
                ", wft_state = %s, wft_scheduled_event_id = %s, wft_visible_at = %s, wft_attempt = 1, "
                "sticky_until = %s"
            )
            params = [WFT_STARTED if start else WFT_SCHEDULED, sched_id, now, sticky_until]
            if start:
                assert start_for is not None
                events.append(_wft_started(sched_id, start_for))
                lease_until = now + float(run["task_timeout"])
                extra += ", wft_started_event_id = %s, wft_lease_until = %s, wft_dirty = FALSE"
                params += [sched_id + 1, lease_until]
            else:
                channels.append(f"wft:{run['namespace']}:{run['task_queue']}")
        elif state == WFT_STARTED:
            extra = ", wft_dirty = TRUE"
        cur.execute(
            f"UPDATE {RUN} SET next_event_id = %s{extra} WHERE id = %s",
            [first + len(events), *params, run_pk],
        )
        history = self._insert_events(cur, run_pk, first, now, events, decoded=start)
        run["next_event_id"] = first + len(events)
        if state == WFT_NONE:
            run["wft_state"] = WFT_SCHEDULED
        self._publish(cur, channels)
        if not start:
            return None
        run.update(wft_state=WFT_STARTED, wft_scheduled_event_id=sched_id, wft_started_event_id=sched_id + 1,
                   wft_attempt=1, wft_lease_until=lease_until, wft_dirty=False)
        return WorkflowTaskLease(
            run_pk=run_pk, namespace=run["namespace"], workflow_id=run["workflow_id"], run_id=run["run_id"],
            workflow_type=run["workflow_type"], task_queue=run["task_queue"], scheduled_event_id=sched_id,
            started_event_id=sched_id + 1, attempt=1, task_timeout=float(run["task_timeout"]), history=history,
        )

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

        The failed or timed-out worker's cache is suspect, so stickiness is dropped
        (a rejected completion drops it too and reschedules with ``attempt`` 1).
        """
        cur.execute(
            f"UPDATE {RUN} SET next_event_id = %s, wft_state = 1, wft_scheduled_event_id = %s, "
            "wft_visible_at = %s, "
            f"wft_attempt = %s, wft_started_event_id = NULL, wft_lease_until = NULL, wft_dirty = FALSE, "
            f"sticky_identity = '', sticky_until = NULL WHERE id = %s",
            [first + len(events), first + len(events) - 1, visible_at, attempt, run["id"]],
        )
        self._insert_events(cur, run["id"], first, now, events, decoded=False)
        channels = [f"run:{run['id']}"]
        channels.append(f"wft:{run['namespace']}:{run['task_queue']}" if visible_at <= now else "timers")
        if run["queries_waiting"] and attempt > 1:
            channels.append(f"query:{run['namespace']}:{run['task_queue']}")  # attempt > 1: answerable now
        self._publish(cur, channels)

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

    def _close_locked(
        self,
        cur: Any,
        run: dict[str, Any],
        now: float,
        status: RunStatus,
        event: tuple[EventType, dict[str, Any]],
        *,
        answer_queries: dict[str, Any] | None = None,
        channels: Iterable[str] = (),
    ) -> None:
        """Close a locked, open run with one closing event (terminated, timed out) and drop its rows."""
        eid = run["next_event_id"]
        self._close_run(cur, run, now, status, eid + 1)
        texts: list[str] = []
        written = self._insert_events(cur, run["id"], eid, now, [event], texts)
        extra = self._drop_run_rows(cur, run["id"], answer_queries=answer_queries)
        self._after_close(cur, run, now, status, event[1])  # children's close policies, the parent's report
        self._publish_close(cur, run["id"], written[0], texts[0], [f"run:{run['id']}", *extra, *channels])
        if metrics.ENABLED:  # counted once the close is committed
            count = functools.partial(metrics.workflow_closed, run["namespace"], run["task_queue"],
                                      run["workflow_type"], status.name.lower())
            after = getattr(self._local, "after_commit", None)
            if after is not None:
                after.append(count)
            else:
                transaction.on_commit(count, using=self.alias)

    def _drop_run_rows(
        self, cur: Any, run_pk: int, *, answer_queries: dict[str, Any] | None = None
    ) -> list[str]:
        """Delete a closing run's activity and timer rows and settle its pending updates.

        With ``answer_queries`` (a failure dict), pending queries are answered with it.
        Returns the extra channels to notify.
        """
        settle_updates = (
            f"UPDATE {UPDATE} SET stage = 'rejected', outcome = {self._json()} "
            f"WHERE run_id = %s AND stage IN ('admitted', 'accepted')"
        )
        closed = _dumps({"failure": {"message": "workflow execution already completed"}})
        if self.dialect.vendor == "postgresql":
            # One statement instead of three (data-modifying CTEs).
            cur.execute(
                f"WITH a AS (DELETE FROM {ACTIVITY} WHERE run_id = %s), t AS (DELETE FROM {TIMER} WHERE run_id = %s) "
                f"{settle_updates}",
                [run_pk, run_pk, closed, run_pk],
            )
        else:
            cur.execute(f"DELETE FROM {ACTIVITY} WHERE run_id = %s", [run_pk])
            cur.execute(f"DELETE FROM {TIMER} WHERE run_id = %s", [run_pk])
            cur.execute(settle_updates, [closed, run_pk])
        channels: list[str] = []
        if answer_queries is not None:
            cur.execute(
                f"UPDATE {QUERY} SET state = 'answered', answer = {self._json()} "
                f"WHERE run_id = %s AND state <> 'answered' RETURNING id",
                [_dumps({"failure": answer_queries}), run_pk],
            )
            channels += [f"queryans:{r[0]}" for r in cur.fetchall()]
        return channels
