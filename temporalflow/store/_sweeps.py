"""Sweeps: due timers and expired deadlines become events; when the next one is due.

A worker's timer loop calls ``fire_due_timers`` and sleeps until
``next_due_time``; the time-skipping test environment asks ``idle_until``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from temporalflow.core import retry as retry_math
from temporalflow.core.events import EventType
from temporalflow.store._activities import _ActivitiesMixin
from temporalflow.store._base_sql import (
    _ACT_COLS,
    ACT_SCHEDULED,
    ACTIVITY,
    EVENT,
    RUN,
    RUNNING,
    TIMER,
    WFT_STARTED,
    _loads,
    _min,
    _row,
    _rows,
    _wft_scheduled,
)
from temporalflow.store._children import OUTBOX
from temporalflow.store.base import (
    CompleteWorkflowTaskResult,
    RunStatus,
    WorkflowTaskHandBack,
    WorkflowTaskLease,
)


def _delayed_wft_visible(since: str, now: str) -> str:
    """SQL: a run's workflow task that was delayed (start delay, retry backoff) became visible in (since, now].

    A task visible when it was scheduled woke its queue at that commit; a delayed one is
    visible after its WorkflowTaskScheduled event's time (the same "now" otherwise), and
    only such tasks need announcing: in a burst of timers, nearly every round would
    otherwise find freshly scheduled tasks to announce again.
    """
    return (
        f"wft_state = 1 AND wft_visible_at > {since} AND wft_visible_at <= {now} AND wft_visible_at > "
        f"(SELECT e.event_time FROM {EVENT} e WHERE e.run_id = {RUN}.id AND e.event_id = {RUN}.wft_scheduled_event_id)"
    )


def _delayed_activity_visible(since: str, now: str) -> str:
    """SQL: an activity retry (the only delayed attempts: a first one woke its queue) became visible in (since, now]."""
    return f"state = 1 AND attempt > 1 AND visible_at > {since} AND visible_at <= {now}"


def _start_for(hand_back: WorkflowTaskHandBack | None, run: dict[str, Any], taken: int) -> str | None:
    """The worker a firing may start ``run``'s workflow task for (``_append_locked``'s ``start_for``), or None.

    The worker that offered ``hand_back``, while it has room, unless updates wait on the run
    (their admission is the usual claim's job); ``_append_locked`` starts the task only if
    the run is sticky to that worker and the firing itself schedules the task.
    """
    if hand_back is None or taken >= hand_back.max_tasks or run["updates_waiting"]:
        return None
    return hand_back.identity or None


class _SweepsMixin(_ActivitiesMixin):
    """Timers, activity/workflow-task/run deadlines, delayed visibility, and the next due time."""

    _visible_watermark: float | None

    def fire_due_timers(self, limit: int = 100, hand_back: WorkflowTaskHandBack | None = None) -> int:
        """Turn due timers and expired deadlines into events (see the protocol); returns the count.

        One read first says which sweeps have anything to do, and only those run: a timer
        loop goes round for every timer (dense when many runs sleep alike), and each sweep
        is a transaction of its own. What becomes due after that read waits for the next
        round, as it would after a sweep's own read.
        """
        due = self._due_sweeps()
        handled = 0
        if due["timers"]:
            handled += self._fire_timers(limit, hand_back)
        if due["activities"]:
            handled += self._expire_activities(limit)
        if due["workflow_tasks"]:
            handled += self._expire_workflow_tasks(limit)
        if due["runs"]:
            handled += self._expire_runs(limit)
        if due["outbox"]:
            handled += self.deliver_outbox(limit)  # children's closes, signals and cancels between runs
        if due["visible"]:
            self._announce_visible(due["since"], due["now"])
        else:
            self._visible_watermark = due["now"]
        return handled

    def _due_sweeps(self) -> dict[str, Any]:
        """Which sweeps have work now (one statement, no transaction), and that now."""
        now = self._now_sql()
        since = f"COALESCE(%s, {now} - 60.0)"  # before the first round: the last minute
        cur = self._cursor()
        cur.execute(
            f"SELECT {now}, {since}, "
            f"EXISTS (SELECT 1 FROM {TIMER} WHERE fire_at <= {now}), "
            f"EXISTS (SELECT 1 FROM {ACTIVITY} WHERE timeout_at <= {now}), "
            f"EXISTS (SELECT 1 FROM {RUN} WHERE wft_state = 2 AND wft_lease_until <= {now}), "
            f"EXISTS (SELECT 1 FROM {RUN} WHERE status = {RUNNING} AND run_deadline IS NOT NULL "
            f"AND run_deadline <= {now}), "
            f"EXISTS (SELECT 1 FROM {OUTBOX} WHERE visible_at <= {now}), "
            f"EXISTS (SELECT 1 FROM {RUN} WHERE {_delayed_wft_visible(since, now)}) "
            f"OR EXISTS (SELECT 1 FROM {ACTIVITY} WHERE {_delayed_activity_visible(since, now)})",
            [self._visible_watermark] * 3,
        )
        row = cur.fetchone()
        keys = ("now", "since", "timers", "activities", "workflow_tasks", "runs", "outbox", "visible")
        out: dict[str, Any] = dict(zip(keys, row, strict=True))
        out["now"], out["since"] = float(out["now"]), float(out["since"])
        return out

    def _sweep(self, candidates_sql: str, handle: Callable[[Any, int, dict[str, Any] | None], int]) -> int:
        """Lock each run that ``candidates_sql`` selects, in id order, and let ``handle`` act on it.

        ``handle(cur, run_pk, run)`` gets the locked run row (None if it is gone)
        and returns how many items it handled; the sum is returned. One
        transaction covers the whole sweep.
        """
        count = 0
        with self._atomic():
            cur = self._cursor()
            cur.execute(candidates_sql, [])
            for run_pk in sorted({r[0] for r in cur.fetchall()}):
                count += handle(cur, run_pk, self._lock_run(cur, run_pk))
        return count

    def _fire_timers(self, limit: int, hand_back: WorkflowTaskHandBack | None = None) -> int:
        # Candidates are read without locks; each run is then locked (run first, then its
        # timers, in id order) and its due timers deleted with RETURNING, so a timer fires
        # once even when several workers sweep at the same time. The lock and delete
        # statements of all candidates go out together and are read after: one round
        # trip for the batch on PostgreSQL, however many runs are due (dense timers come
        # in batches when the sweep falls behind).
        count = 0
        started: list[tuple[WorkflowTaskLease, dict[str, Any]]] = []
        claimed: list[tuple[WorkflowTaskLease, CompleteWorkflowTaskResult | None]] = []
        with self._atomic():
            cur = self._cursor()
            cur.execute(
                f"SELECT run_id FROM {TIMER} WHERE fire_at <= {self._now_sql()} ORDER BY fire_at LIMIT {int(limit)}",
                [],
            )
            sent = []
            for run_pk in sorted({r[0] for r in cur.fetchall()}):
                lock, delete = self._cursor(), self._cursor()
                lock.execute(self._lock_run_sql(), [run_pk])
                delete.execute(
                    f"DELETE FROM {TIMER} WHERE run_id = %s AND fire_at <= {self._now_sql()} RETURNING timer_id, "
                    "started_event_id, seq",
                    [run_pk],
                )
                sent.append((lock, delete))
            for lock, delete in sent:
                run = _row(lock)
                fired = sorted(delete.fetchall(), key=lambda r: (r[2], r[0]))
                if run is None or not fired or run["status"] != RUNNING:
                    continue
                events = [(EventType.TIMER_FIRED, {"timer_id": t[0], "started_event_id": t[1]}) for t in fired]
                count += len(fired)
                start_for = _start_for(hand_back, run, len(started))
                lease = self._append_locked(cur, run, float(run["now"]), events, start_for=start_for)
                if lease is not None:
                    assert hand_back is not None
                    hand_back.started.append(lease)
                    started.append((lease, run))
            if started:
                assert hand_back is not None
                completions = hand_back.run_workflow_tasks([lease for lease, _ in started])
                claimed = [
                    (lease, None if done is None else self._complete_if_valid(cur, lease, done, run))  # type: ignore[attr-defined]
                    for (lease, run), done in zip(started, completions, strict=True)
                ]
        if hand_back is not None:
            hand_back.claimed = claimed
        return count

    def _expire_activities(self, limit: int) -> int:
        def expire(cur: Any, run_pk: int, run: dict[str, Any] | None) -> int:
            if run is None or run["status"] != RUNNING:
                # Closing drops these rows; never leave a due row behind to spin on.
                cur.execute(f"DELETE FROM {ACTIVITY} WHERE run_id = %s", [run_pk])
                return 0
            now = float(run["now"])
            cur.execute(
                f"SELECT {_ACT_COLS} FROM {ACTIVITY} WHERE run_id = %s AND timeout_at <= %s "
                f"ORDER BY scheduled_event_id{self.dialect.lock_suffix()}",
                [run_pk, now],
            )
            acts = _rows(cur)
            for act in acts:
                self._activity_timed_out(cur, run, act, now)
            return len(acts)

        return self._sweep(
            f"SELECT run_id FROM {ACTIVITY} WHERE timeout_at <= {self._now_sql()} ORDER BY timeout_at LIMIT "
            f"{int(limit)}",
            expire,
        )

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
        self._activity_final(
            cur, run, act, now, failure, EventType.ACTIVITY_TASK_TIMED_OUT, retry_math.RETRY_STATE_TIMEOUT
        )

    def _expire_workflow_tasks(self, limit: int) -> int:
        def expire(cur: Any, run_pk: int, run: dict[str, Any] | None) -> int:
            now = float(run["now"]) if run else 0.0
            if run is None or run["status"] != RUNNING or run["wft_state"] != WFT_STARTED:
                return 0
            if run["wft_lease_until"] is None or run["wft_lease_until"] > now:
                return 0
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
            return 1

        return self._sweep(
            f"SELECT id FROM {RUN} WHERE wft_state = 2 AND wft_lease_until <= {self._now_sql()} "
            f"ORDER BY wft_lease_until LIMIT {int(limit)}",
            expire,
        )

    def _expire_runs(self, limit: int) -> int:
        def expire(cur: Any, run_pk: int, run: dict[str, Any] | None) -> int:
            if run is None or run["status"] != RUNNING:
                return 0
            now = float(run["now"])
            if run["run_deadline"] is None or run["run_deadline"] > now:
                return 0
            attrs: dict[str, Any] = {"retry_state": retry_math.RETRY_STATE_TIMEOUT}
            # A cron workflow's timed-out run is followed by its next cron run, as in Temporal.
            next_run_id = str(uuid.uuid4()) if run["cron_schedule"] else None
            if next_run_id is not None:
                attrs["new_execution_run_id"] = next_run_id
            self._close_locked(
                cur,
                run,
                now,
                RunStatus.TIMED_OUT,
                (EventType.WORKFLOW_EXECUTION_TIMED_OUT, attrs),
                # Closed runs answer queries.
                channels=[f"query:{run['namespace']}:{run['task_queue']}"] if run["queries_waiting"] else [],
            )
            if next_run_id is not None:
                self._cron_next_run(cur, run, next_run_id, now, "", attrs)  # type: ignore[attr-defined]
            return 1

        return self._sweep(
            f"SELECT id FROM {RUN} WHERE status = {RUNNING} AND run_deadline IS NOT NULL "
            f"AND run_deadline <= {self._now_sql()} ORDER BY run_deadline LIMIT {int(limit)}",
            expire,
        )

    def _announce_visible(self, since: float, now: float) -> None:
        """Wake pollers of queues whose delayed tasks (start delay, retry backoff) became visible in (since, now].

        Nothing is written; the tasks were already claimable, but idle workers on
        PostgreSQL sleep until notified.
        """
        with self._atomic():
            cur = self._cursor()
            cur.execute(
                f"SELECT DISTINCT namespace, task_queue FROM {RUN} WHERE {_delayed_wft_visible('%s', '%s')}",
                [since, now],
            )
            channels = [f"wft:{ns}:{q}" for ns, q in cur.fetchall()]
            cur.execute(
                f"SELECT DISTINCT namespace, task_queue FROM {ACTIVITY} WHERE {_delayed_activity_visible('%s', '%s')}",
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
            f"(SELECT MIN(visible_at) FROM {ACTIVITY} WHERE state = 1 AND visible_at > {now_sql}), "
            f"(SELECT MIN(visible_at) FROM {OUTBOX})"
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
            f"OR state = 2 LIMIT 1) b), "
            f"(SELECT COUNT(*) FROM (SELECT 1 FROM {OUTBOX} WHERE visible_at <= {now_sql} LIMIT 1) c)"
        )
        busy_wft, busy_act, busy_outbox = cur.fetchone()
        return (not busy_wft and not busy_act and not busy_outbox), self.next_due_time()
