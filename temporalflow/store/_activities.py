"""Activities: scheduling their rows, claims, heartbeats, outcomes and retries.

An activity row lives from ScheduleActivityTask until its final outcome; only
that outcome reaches history (ActivityTaskStarted is written with it), as in
Temporal. The task token names the run, the scheduled event and the lease.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from temporalflow.core import retry as retry_math
from temporalflow.core.commands import ScheduleActivityTask
from temporalflow.core.events import EventType
from temporalflow.core.payload import PayloadsJSON
from temporalflow.store._base_sql import (
    _ACT_COLS,
    ACT_SCHEDULED,
    ACT_STARTED,
    ACTIVITY,
    RUNNING,
    _dumps,
    _loads,
    _min,
    _row,
    _rows,
    _sql_min,
)
from temporalflow.store._history import _HistoryWrites
from temporalflow.store.base import (
    ActivityTaskLease,
    ActivityTypeName,
    HeartbeatResult,
    PendingActivityInfo,
    PendingActivityState,
    StaleTask,
    StoreError,
    WorkflowTaskLease,
)

_GONE = "activity task is no longer current (completed, timed out, retried or its run closed)"


def _parse_token(token: str) -> tuple[int, int, str]:
    try:
        run_pk, sched, lease = token.split(":", 2)
        return int(run_pk), int(sched), lease
    except (ValueError, AttributeError):
        raise StaleTask(f"malformed activity task token {token!r}") from None


def _activity_started(scheduled_event_id: int, attempt_row: dict[str, Any]) -> tuple[EventType, dict[str, Any]]:
    """ActivityTaskStarted of the attempt in ``attempt_row`` (its identity, attempt and last failure)."""
    return EventType.ACTIVITY_TASK_STARTED, {
        "scheduled_event_id": scheduled_event_id,
        "identity": attempt_row["identity"],
        "attempt": attempt_row["attempt"],
        "last_failure": _loads(attempt_row["last_failure"]),
    }


class _ActivitiesMixin(_HistoryWrites):
    """Activity rows from scheduling to their final outcome."""

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

    def pending_activities(self, run_pk: int) -> list[PendingActivityInfo]:
        """The run's activities that have not closed, in schedule order (for ``describe()``)."""
        cur = self._cursor()
        cur.execute(f"SELECT {_ACT_COLS} FROM {ACTIVITY} WHERE run_id = %s ORDER BY scheduled_event_id", [run_pk])
        found = []
        for act in _rows(cur):
            policy = _loads(act["retry_policy"]) or {}
            state = (PendingActivityState.CANCEL_REQUESTED if act["cancel_requested"]
                     else PendingActivityState.STARTED if act["state"] == 2 else PendingActivityState.SCHEDULED)
            found.append(PendingActivityInfo(
                activity_id=act["activity_id"], activity_type=ActivityTypeName(act["activity_type"]), state=state,
                attempt=int(act["attempt"]), maximum_attempts=int(policy.get("maximum_attempts") or 0),
                scheduled_time=float(act["current_attempt_scheduled_time"] or act["scheduled_time"]),
                last_started_time=float(act["started_at"]) if act["started_at"] is not None else None,
                expiration_time=(float(act["schedule_to_close_deadline"])
                                 if act["schedule_to_close_deadline"] is not None else None),
                heartbeat_details=_loads(act["heartbeat_details"]), last_failure=_loads(act["last_failure"]),
                last_worker_identity=act["identity"] or "",
            ))
        return found

    def started_activity_token(self, run_pk: int, activity_id: str) -> str | None:
        """The task token of the run's started attempt of ``activity_id`` (async completion by ids)."""
        cur = self._cursor()
        cur.execute(f"SELECT scheduled_event_id, lease_token FROM {ACTIVITY} "
                    "WHERE run_id = %s AND activity_id = %s AND state = 2", [run_pk, activity_id])
        row = cur.fetchone()
        return None if row is None else f"{run_pk}:{int(row[0])}:{row[1]}"

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
            raise StaleTask(_GONE)
        return HeartbeatResult(cancel_requested=bool(row[0]))

    def _send_take_activity(self, cur: Any, run_pk: int, sched: int, lease: str) -> None:
        """Delete the attempt holding ``lease``; read the answer with :meth:`_taken_activity`."""
        cur.execute(
            f"DELETE FROM {ACTIVITY} WHERE run_id = %s AND scheduled_event_id = %s AND lease_token = %s AND "
            "state = 2 "
            f"RETURNING attempt, identity, last_failure",
            [run_pk, sched, lease],
        )

    @staticmethod
    def _taken_activity(cur: Any) -> dict[str, Any]:
        row = _row(cur)
        if row is None:
            raise StaleTask(_GONE)
        return row

    def _finish_activity(
        self, token: str, outcome: EventType, attrs: Callable[[int], dict[str, Any]], identity: str,
        claim_workflow_task: bool, then: Callable[[Any, WorkflowTaskLease, dict[str, Any]], None] | None = None,
    ) -> WorkflowTaskLease | None:
        """Append ActivityTaskStarted + the outcome event for the attempt holding ``token``.

        ``then(cursor, lease, run row as written)`` runs inside the transaction when a task was
        started for ``identity``.
        """
        run_pk, sched, lease = _parse_token(token)

        def build(first: int, now: float) -> list[tuple[EventType, dict[str, Any]]]:
            taken = self._taken_activity(take)
            return [
                _activity_started(sched, taken),
                (outcome, {"scheduled_event_id": sched, "started_event_id": first, **attrs(first)}),
            ]

        with self._atomic():
            cur, take = self._cursor(), self._cursor()
            # The run row is locked first (lock order: run, then its task rows), and the
            # attempt's DELETE shares the UPDATE's round trip; a stale token raises inside
            # build() and the whole block rolls back.
            appended = self._append(cur, "id = %s", [run_pk], 2, build,
                                    claim_for=identity if claim_workflow_task and identity else None,
                                    also_send=lambda: self._send_take_activity(take, run_pk, sched, lease))
            if appended is None:
                raise StaleTask("activity task is no longer current (its run is closed)")
            if appended["lease"] is not None and then is not None:
                then(cur, appended["lease"], appended["run"])
            return appended["lease"]

    def complete_activity_task(
        self, token: str, result: PayloadsJSON, identity: str = "", claim_workflow_task: bool = False
    ) -> WorkflowTaskLease | None:
        """Append ActivityTaskStarted + ActivityTaskCompleted and schedule a workflow task."""
        return self._finish_activity(
            token,
            EventType.ACTIVITY_TASK_COMPLETED,
            lambda first: {"result": result, "identity": identity},
            identity,
            claim_workflow_task,
        )

    def cancel_activity_task(
        self, token: str, details: PayloadsJSON | None, identity: str = "", claim_workflow_task: bool = False
    ) -> WorkflowTaskLease | None:
        """Acknowledge a requested cancellation: append ActivityTaskStarted + ActivityTaskCanceled."""
        return self._finish_activity(
            token,
            EventType.ACTIVITY_TASK_CANCELED,
            lambda first: {"details": details, "identity": identity},
            identity,
            claim_workflow_task,
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
                raise StaleTask(_GONE)
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
        self._activity_final(cur, run, act, now, failure, final_event, retry_state, identity)

    def _activity_final(
        self,
        cur: Any,
        run: dict[str, Any],
        act: dict[str, Any],
        now: float,
        failure: dict[str, Any],
        final_event: EventType,
        retry_state: Any,
        identity: str = "",
    ) -> None:
        """Delete the activity row and append its final outcome: [ActivityTaskStarted +] Failed/TimedOut."""
        cur.execute(f"DELETE FROM {ACTIVITY} WHERE id = %s", [act["id"]])
        sched = act["scheduled_event_id"]
        started = act["state"] == ACT_STARTED
        first = run["next_event_id"]
        events: list[tuple[EventType, dict[str, Any]]] = []
        if started:
            events.append(_activity_started(sched, act))
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
