"""Schedules: create, describe, list, patch (pause, unpause, trigger, backfill), update, delete, and firing.

A schedule is one row of ``temporalflow_schedule``. ``next_nominal`` is its next spec time
and ``next_fire_at`` when a worker next has to look at it (that time plus jitter, or a
re-check while a buffered start waits for the running workflow to close). The worker's
timer loop (``fire_due_timers``) claims due rows and processes them; client calls that
change a schedule (trigger, backfill, pause ...) process it at once in their own transaction.

Every action starts exactly one run, however many workers sweep:

- the row is claimed with ``FOR NO KEY UPDATE SKIP LOCKED`` on PostgreSQL (SQLite's
  IMMEDIATE transactions serialize writers), and the run is started and ``next_nominal``
  advanced in that same transaction: a tick is consumed only together with its run;
- the run's workflow id is Temporal's ``<action id>-<tick time, RFC 3339 UTC>`` and its
  start carries a request id derived from the tick, so even a repeated start of one tick
  finds the run it already made instead of making a second.

Overlap policies look at the status of the runs the schedule started (the latest run of
each workflow id, so continue-as-new and retries count as still running). The runtime JSON
column keeps the bookkeeping::

    {"buffer": [{"nominal", "actual", "overlap", "manual"}], "running": [{"workflow_id", "run_id"}],
     "recent": [{"scheduled_at", "started_at", "workflow_id", "run_id"}],
     "num_actions", "missed_catchup", "skipped_overlap", "created_at", "updated_at"}
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError

from temporalflow.store._base_sql import EVENT, RUN, RUNNING, _dumps, _loads, _rows
from temporalflow.store._runs import _RunsMixin
from temporalflow.store._schedule_spec import CompiledSpec, SpecError, compile_spec, cron_backoff, iso_tick
from temporalflow.store.base import (
    RunAlreadyStarted,
    RunStatus,
    StartWorkflowRequest,
    StoreError,
    WorkflowTaskHandBack,
)
from temporalflow.store.schedule_types import (
    ScheduleAlreadyExists,
    ScheduleNotFound,
    ScheduleRecord,
    ScheduleSpecInvalid,
    ScheduleTokenMismatch,
)

SCHEDULE = "temporalflow_schedule"

SKIP, BUFFER_ONE, BUFFER_ALL, CANCEL_OTHER, TERMINATE_OTHER, ALLOW_ALL = 1, 2, 3, 4, 5, 6
"""``ScheduleOverlapPolicy`` values (0 = unspecified: the schedule's own policy)."""

RECHECK_INTERVAL = 5.0
"""While a buffered start waits for a running workflow (or ``pause_on_failure`` watches one), the
schedule is looked at this often anyway; the workflow's close normally makes it due at once."""

_MAX_TICKS_PER_PASS = 1000
_RECENT = 10
_NEXT_TIMES = 10

_COLS = (
    "id, namespace, schedule_id, workflow_type, spec, action, overlap, catchup_window, pause_on_failure, "
    "note, paused, limited_actions, remaining_actions, memo, search_attributes, runtime, next_nominal, "
    "next_fire_at, conflict_token"
)


def _payload(value: str, type_name: str) -> dict[str, Any]:
    """A search attribute value as Temporal stores it: a ``json/plain`` payload with its ``type``."""
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return {"metadata": {"encoding": b64(b"json/plain"), "type": b64(type_name.encode())},
            "data": b64(json.dumps(value).encode())}


def _compile(spec: dict[str, Any]) -> CompiledSpec:
    try:
        return compile_spec(spec)
    except SpecError as exc:
        raise ScheduleSpecInvalid(str(exc)) from None


class _SchedulesMixin(_RunsMixin):
    """The schedule table and the firing of due schedules."""

    # --- reading ------------------------------------------------------------------

    def _lock_schedule(self, cur: Any, namespace: str, schedule_id: str) -> dict[str, Any]:
        cur.execute(
            f"SELECT {_COLS}, {self._now_sql()} AS now FROM {SCHEDULE} WHERE namespace = %s AND schedule_id = %s"
            f"{self.dialect.lock_suffix()}",
            [namespace, schedule_id],
        )
        rows = _rows(cur)
        if not rows:
            raise ScheduleNotFound(f"schedule {schedule_id!r} not found in {namespace!r}")
        return self._decode(rows[0])

    @staticmethod
    def _decode(row: dict[str, Any]) -> dict[str, Any]:
        for key in ("spec", "action", "memo", "search_attributes", "runtime"):
            row[key] = _loads(row[key]) or {}
        return row

    def _latest_status(self, cur: Any, namespace: str, workflow_id: str) -> RunStatus | None:
        cur.execute(
            f"SELECT status FROM {RUN} WHERE namespace = %s AND workflow_id = %s ORDER BY id DESC LIMIT 1",
            [namespace, workflow_id],
        )
        found = cur.fetchone()
        return RunStatus(found[0]) if found else None

    def _record(self, cur: Any, row: dict[str, Any], now: float, live: bool = True) -> ScheduleRecord:
        rt = row["runtime"]
        running = list(rt.get("running") or [])
        if live:
            running = [r for r in running
                       if self._latest_status(cur, row["namespace"], r["workflow_id"]) == RunStatus.RUNNING]
        spec = _compile(row["spec"])
        times: list[float] = []
        nominal = spec.next_after(now)
        while nominal is not None and len(times) < _NEXT_TIMES:
            times.append(spec.actual_time(nominal, row["schedule_id"]))
            nominal = spec.next_after(nominal)
        return ScheduleRecord(
            schedule_id=row["schedule_id"], namespace=row["namespace"], spec=row["spec"], action=row["action"],
            overlap=int(row["overlap"]), catchup_window=float(row["catchup_window"]),
            pause_on_failure=bool(row["pause_on_failure"]), note=row["note"] or "", paused=bool(row["paused"]),
            limited_actions=bool(row["limited_actions"]), remaining_actions=int(row["remaining_actions"]),
            memo=row["memo"], search_attributes=row["search_attributes"],
            num_actions=int(rt.get("num_actions") or 0),
            num_actions_missed_catchup_window=int(rt.get("missed_catchup") or 0),
            num_actions_skipped_overlap=int(rt.get("skipped_overlap") or 0),
            running=running, recent=list(rt.get("recent") or []), next_action_times=times,
            created_at=float(rt.get("created_at") or 0.0), updated_at=rt.get("updated_at"),
            conflict_token=int(row["conflict_token"]),
        )

    def describe_schedule(self, namespace: str, schedule_id: str) -> ScheduleRecord:
        """The schedule, its running actions checked against their runs; ``ScheduleNotFound``."""
        cur = self._cursor()
        cur.execute(
            f"SELECT {_COLS}, {self._now_sql()} AS now FROM {SCHEDULE} WHERE namespace = %s AND schedule_id = %s",
            [namespace, schedule_id],
        )
        rows = _rows(cur)
        if not rows:
            raise ScheduleNotFound(f"schedule {schedule_id!r} not found in {namespace!r}")
        row = self._decode(rows[0])
        return self._record(cur, row, float(row["now"]))

    def list_schedules(self, namespace: str, page_size: int = 1000, after: str = "") -> list[ScheduleRecord]:
        """Schedules ordered by id, those after ``after`` (for paging), at most ``page_size``."""
        cur = self._cursor()
        cur.execute(
            f"SELECT {_COLS}, {self._now_sql()} AS now FROM {SCHEDULE} WHERE namespace = %s AND schedule_id > %s "
            f"ORDER BY schedule_id LIMIT {int(page_size)}",
            [namespace, after],
        )
        return [self._record(cur, self._decode(r), float(r["now"]), live=False) for r in _rows(cur)]

    # --- writing ------------------------------------------------------------------

    def create_schedule(
        self,
        namespace: str,
        schedule_id: str,
        *,
        spec: dict[str, Any],
        action: dict[str, Any],
        overlap: int = SKIP,
        catchup_window: float = 365 * 86400.0,
        pause_on_failure: bool = False,
        note: str = "",
        paused: bool = False,
        limited_actions: bool = False,
        remaining_actions: int = 0,
        memo: dict[str, Any] | None = None,
        search_attributes: dict[str, Any] | None = None,
        trigger_immediately: bool = False,
        backfills: Sequence[tuple[float, float, int]] = (),
    ) -> None:
        """Create a schedule (``ScheduleAlreadyExists``, ``ScheduleSpecInvalid``).

        ``trigger_immediately`` and ``backfills`` (``(start, end, overlap)``) act in the same
        transaction, as Temporal's initial patch does.
        """
        compiled = _compile(spec)
        try:
            with self._atomic():
                cur = self._cursor()
                now = self._now(cur)
                next_nominal = compiled.next_after(now)
                runtime = {"buffer": [], "running": [], "recent": [], "num_actions": 0, "missed_catchup": 0,
                           "skipped_overlap": 0, "created_at": now, "updated_at": None}
                j = self._json()
                cur.execute(
                    f"INSERT INTO {SCHEDULE} (namespace, schedule_id, workflow_type, spec, action, overlap, "
                    "catchup_window, pause_on_failure, note, paused, limited_actions, remaining_actions, memo, "
                    "search_attributes, runtime, next_nominal, next_fire_at, conflict_token, created_at) VALUES "
                    f"(%s, %s, %s, {j}, {j}, %s, %s, %s, %s, %s, %s, %s, {j}, {j}, {j}, %s, %s, 1, %s)",
                    [namespace, schedule_id, action["workflow_type"], _dumps(spec), _dumps(action), int(overlap),
                     float(catchup_window), bool(pause_on_failure), note or "", bool(paused),
                     bool(limited_actions), int(remaining_actions), _dumps(memo or {}),
                     _dumps(search_attributes or {}), _dumps(runtime), next_nominal, None, self._dt(now)],
                )
                row = self._lock_schedule(cur, namespace, schedule_id)
                self._process(cur, row, now, self._manual_starts(compiled, row, now, trigger_immediately,
                                                                 trigger_overlap=0, backfills=backfills))
        except IntegrityError:
            raise ScheduleAlreadyExists(f"schedule {schedule_id!r} already exists in {namespace!r}") from None

    def _manual_starts(
        self, compiled: CompiledSpec, row: dict[str, Any], now: float, trigger: bool, trigger_overlap: int,
        backfills: Sequence[tuple[float, float, int]],
    ) -> list[dict[str, Any]]:
        starts = []
        if trigger:
            starts.append({"nominal": now, "actual": now, "overlap": int(trigger_overlap or 0), "manual": True})
        for start, end, overlap in backfills:
            for nominal in compiled.times_between(float(start), float(end)):
                actual = compiled.actual_time(nominal, row["schedule_id"])
                starts.append({"nominal": nominal, "actual": actual, "overlap": int(overlap or 0), "manual": True})
        return starts

    def patch_schedule(
        self,
        namespace: str,
        schedule_id: str,
        *,
        pause: str | None = None,
        unpause: str | None = None,
        trigger: bool = False,
        trigger_overlap: int = 0,
        backfills: Sequence[tuple[float, float, int]] = (),
    ) -> None:
        """Pause or unpause (with a note), trigger an action now, or backfill time ranges."""
        with self._atomic():
            cur = self._cursor()
            row = self._lock_schedule(cur, namespace, schedule_id)
            now = float(row["now"])
            compiled = _compile(row["spec"])
            if pause is not None:
                row["paused"], row["note"] = True, pause
            if unpause is not None:
                row["paused"], row["note"] = False, unpause
                # Times that passed while paused are not caught up (as in Temporal).
                row["next_nominal"] = compiled.next_after(now)
            if pause is not None or unpause is not None:
                row["runtime"]["updated_at"] = now
                row["conflict_token"] = int(row["conflict_token"]) + 1
            self._process(cur, row, now, self._manual_starts(compiled, row, now, trigger, trigger_overlap,
                                                             backfills))

    def update_schedule(
        self,
        namespace: str,
        schedule_id: str,
        conflict_token: int,
        *,
        spec: dict[str, Any],
        action: dict[str, Any],
        overlap: int,
        catchup_window: float,
        pause_on_failure: bool,
        note: str,
        paused: bool,
        limited_actions: bool,
        remaining_actions: int,
        search_attributes: dict[str, Any] | None = None,
    ) -> None:
        """Replace the schedule's spec, action, policies and state (``ScheduleTokenMismatch`` if it changed)."""
        compiled = _compile(spec)
        with self._atomic():
            cur = self._cursor()
            row = self._lock_schedule(cur, namespace, schedule_id)
            if int(row["conflict_token"]) != int(conflict_token):
                raise ScheduleTokenMismatch(
                    f"schedule {schedule_id!r} was changed since it was described (mismatched conflict token)")
            now = float(row["now"])
            row.update(spec=spec, action=action, overlap=int(overlap), catchup_window=float(catchup_window),
                       pause_on_failure=bool(pause_on_failure), note=note or "", paused=bool(paused),
                       limited_actions=bool(limited_actions), remaining_actions=int(remaining_actions),
                       workflow_type=action["workflow_type"], next_nominal=compiled.next_after(now),
                       conflict_token=int(row["conflict_token"]) + 1)
            if search_attributes is not None:
                row["search_attributes"] = search_attributes
            row["runtime"]["updated_at"] = now
            self._process(cur, row, now, [])

    def delete_schedule(self, namespace: str, schedule_id: str) -> None:
        """Delete the schedule (runs it started go on); ``ScheduleNotFound``."""
        with self._atomic():
            cur = self._cursor()
            cur.execute(f"DELETE FROM {SCHEDULE} WHERE namespace = %s AND schedule_id = %s",
                        [namespace, schedule_id])
            if self._rowcount(cur) == 0:
                raise ScheduleNotFound(f"schedule {schedule_id!r} not found in {namespace!r}")

    # --- firing -------------------------------------------------------------------

    def fire_due_timers(self, limit: int = 100, hand_back: WorkflowTaskHandBack | None = None) -> int:
        """Timers and deadlines (see the protocol), then due schedules; returns how many were handled."""
        return super().fire_due_timers(limit, hand_back) + self._fire_schedules(limit)  # type: ignore[misc]

    def next_due_time(self) -> float | None:
        """The earliest pending timer, deadline, delayed task or schedule time (None: nothing pending)."""
        due = super().next_due_time()  # type: ignore[misc]
        cur = self._cursor()
        cur.execute(f"SELECT MIN(next_fire_at) FROM {SCHEDULE} WHERE next_fire_at IS NOT NULL")
        found = cur.fetchone()[0]
        if found is None:
            return due
        return float(found) if due is None else min(due, float(found))

    def _fire_schedules(self, limit: int) -> int:
        # A cheap unlocked look first: most sweeps find nothing and need no transaction.
        cur = self._cursor()
        cur.execute(f"SELECT 1 FROM {SCHEDULE} WHERE next_fire_at <= {self._now_sql()} LIMIT 1")
        if cur.fetchone() is None:
            return 0
        with self._atomic():
            cur = self._cursor()
            cur.execute(
                f"SELECT {_COLS}, {self._now_sql()} AS now FROM {SCHEDULE} WHERE next_fire_at <= {self._now_sql()} "
                f"ORDER BY next_fire_at LIMIT {int(limit)}{self.dialect.skip_locked_suffix()}"
            )
            rows = _rows(cur)
            for row in rows:
                self._process(cur, self._decode(row), float(row["now"]), [])
        return len(rows)

    def _process(self, cur: Any, row: dict[str, Any], now: float, manual: list[dict[str, Any]]) -> None:
        """Take the schedule's due actions and write the row back (the row is locked)."""
        rt = row["runtime"]
        ns = row["namespace"]
        compiled = _compile(row["spec"])
        buffer: list[dict[str, Any]] = list(rt.get("buffer") or [])
        running: list[dict[str, Any]] = []
        for r in rt.get("running") or []:
            status = self._latest_status(cur, ns, r["workflow_id"])
            if status == RunStatus.RUNNING:
                running.append(r)
            elif status in (RunStatus.FAILED, RunStatus.TIMED_OUT) and row["pause_on_failure"]:
                row["paused"] = True
                row["note"] = f"paused due to workflow failure: {r['workflow_id']}: {status.name}"

        # Spec times that are due (with their jitter), oldest first.
        nominal = row["next_nominal"]
        ticks = 0
        while nominal is not None and ticks < _MAX_TICKS_PER_PASS:
            actual = compiled.actual_time(float(nominal), row["schedule_id"])
            if actual > now:
                break
            ticks += 1
            if not row["paused"] and (not row["limited_actions"] or row["remaining_actions"] > 0):
                if now - actual > float(row["catchup_window"]):
                    rt["missed_catchup"] = int(rt.get("missed_catchup") or 0) + 1
                else:
                    buffer.append({"nominal": float(nominal), "actual": actual, "overlap": 0, "manual": False})
            nominal = compiled.next_after(float(nominal))
        if ticks >= _MAX_TICKS_PER_PASS and nominal is not None:
            # Far behind (workers were down): what is older than the catch-up window is missed anyway.
            nominal = compiled.next_after(max(float(nominal), now - float(row["catchup_window"])))
        row["next_nominal"] = nominal
        buffer += manual

        # Each start, in order, under its overlap policy, given what is running at that point.
        recent = list(rt.get("recent") or [])
        waiting: list[dict[str, Any]] = []
        skipped = 0

        def take(start: dict[str, Any]) -> None:
            # Limited actions count the scheduled actions taken (not triggers, backfills or skips).
            if row["limited_actions"] and not start.get("manual"):
                if row["remaining_actions"] <= 0:
                    return
                row["remaining_actions"] -= 1
            started = self._start_scheduled(cur, row, start, now)
            if started is None:  # refused by the workflow id policy (that tick's run exists)
                nonlocal skipped
                skipped += 1
                return
            running.append(started)
            rt["num_actions"] = int(rt.get("num_actions") or 0) + 1
            recent.append({"scheduled_at": start["actual"], "started_at": now, **started})

        for start in buffer:
            policy = int(start.get("overlap") or 0) or int(row["overlap"]) or SKIP
            if policy == ALLOW_ALL or not running:
                take(start)
            elif policy == SKIP:
                skipped += 1
            elif policy == BUFFER_ONE:
                if waiting:
                    skipped += 1
                else:
                    waiting.append(start)
            elif policy == BUFFER_ALL:
                waiting.append(start)
            elif policy == TERMINATE_OTHER:
                for r in running:
                    self._terminate_scheduled(cur, ns, r["workflow_id"], row["schedule_id"])
                running.clear()
                skipped += len(waiting)
                waiting = []
                take(start)
            else:  # CANCEL_OTHER: cancel what runs; this start waits for it to close
                for r in running:
                    try:
                        self.request_cancel(ns, r["workflow_id"], None, identity=f"schedule {row['schedule_id']}")
                    except StoreError:  # closed meanwhile (refused before any write): nothing to cancel
                        pass
                skipped += len(waiting)
                waiting = [start]
        rt["skipped_overlap"] = int(rt.get("skipped_overlap") or 0) + skipped
        rt["recent"] = recent[-_RECENT:]
        rt["running"] = running
        rt["buffer"] = waiting

        # When a worker must look again: the next action time, or soon while a start waits.
        fire_at = None
        if nominal is not None and not row["paused"] and (not row["limited_actions"] or row["remaining_actions"] > 0):
            fire_at = compiled.actual_time(float(nominal), row["schedule_id"])
        if waiting:
            fire_at = now + RECHECK_INTERVAL if fire_at is None else min(fire_at, now + RECHECK_INTERVAL)
        watch = now + RECHECK_INTERVAL
        if row["pause_on_failure"] and running and (fire_at is None or fire_at > watch):
            # pause_on_failure watches the running action even when no tick is near.
            fire_at = watch
        j = self._json()
        cur.execute(
            f"UPDATE {SCHEDULE} SET spec = {j}, action = {j}, workflow_type = %s, overlap = %s, catchup_window = %s, "
            f"pause_on_failure = %s, note = %s, paused = %s, limited_actions = %s, remaining_actions = %s, "
            f"search_attributes = {j}, runtime = {j}, next_nominal = %s, next_fire_at = %s, conflict_token = %s, "
            f"updated_at = %s WHERE id = %s",
            [_dumps(row["spec"]), _dumps(row["action"]), row["workflow_type"], int(row["overlap"]),
             float(row["catchup_window"]), bool(row["pause_on_failure"]), row["note"] or "", bool(row["paused"]),
             bool(row["limited_actions"]), int(row["remaining_actions"]), _dumps(row["search_attributes"]),
             _dumps(rt), row["next_nominal"], fire_at, int(row["conflict_token"]),
             self._dt(rt["updated_at"]) if rt.get("updated_at") else None, row["id"]],
        )
        self._publish(cur, ["timers"])

    def _terminate_scheduled(self, cur: Any, namespace: str, workflow_id: str, schedule_id: str) -> None:
        run = self._find_run(cur, namespace, workflow_id, None, lock=True)
        if run["status"] == RUNNING:
            self._terminate_locked(cur, run, self._now(cur), f"terminated by schedule {schedule_id!r} "
                                   "(overlap policy TERMINATE_OTHER)", None, f"schedule {schedule_id}")

    def _start_scheduled(
        self, cur: Any, row: dict[str, Any], start: dict[str, Any], now: float
    ) -> dict[str, Any] | None:
        """Start the action's workflow for one tick; ``{"workflow_id", "run_id"}`` or None if refused."""
        action = row["action"]
        workflow_id = f"{action['workflow_id']}-{iso_tick(start['nominal'])}"
        search_attributes = dict(action.get("search_attributes") or {})
        search_attributes["TemporalScheduledById"] = _payload(row["schedule_id"], "Keyword")
        search_attributes["TemporalScheduledStartTime"] = _payload(
            iso_tick(start["actual"]).replace("Z", "+00:00"), "Datetime")
        request = StartWorkflowRequest(
            workflow_id=workflow_id,
            workflow_type=action["workflow_type"],
            task_queue=action["task_queue"],
            input=action.get("input") or {"payloads": []},
            namespace=row["namespace"],
            execution_timeout=action.get("execution_timeout"),
            run_timeout=action.get("run_timeout"),
            task_timeout=action.get("task_timeout") or 10.0,
            retry_policy=action.get("retry_policy"),
            memo=action.get("memo") or None,
            search_attributes=search_attributes,
            identity=f"schedule {row['schedule_id']}",
            # One request per tick: a repeated start of the same tick returns the run it made.
            request_id=f"sched-{row['id']}-{int(round(float(start['nominal']) * 1000))}",
            header=action.get("header") or {},
        )
        try:
            result = self.start_workflow(request)
        except RunAlreadyStarted:
            return None
        return {"workflow_id": workflow_id, "run_id": result.run_id}

    def _schedule_run_closed(self, cur: Any, run: dict[str, Any], now: float) -> None:
        """A run a schedule started has closed: make the schedule due now (its buffered start, pause on failure).

        Called in the closing transaction for every run; runs without the ``TemporalScheduledById``
        search attribute cost a substring test. A schedule row a sweep holds is skipped (SKIP
        LOCKED, never a lock-order deadlock with a sweep that terminates runs): its re-check
        interval covers that case.
        """
        raw = run.get("search_attributes")
        if not raw or "TemporalScheduledById" not in (raw if isinstance(raw, str) else json.dumps(raw)):
            return
        attrs = _loads(raw) or {}
        attrs = attrs.get("indexed_fields", attrs)
        payload = attrs.get("TemporalScheduledById")
        try:
            value = json.loads(base64.b64decode(payload["data"]))
        except (TypeError, KeyError, ValueError):
            return
        schedule_id = value[0] if isinstance(value, list) and value else value
        if not isinstance(schedule_id, str):
            return
        cur.execute(
            f"UPDATE {SCHEDULE} SET next_fire_at = %s WHERE id IN (SELECT id FROM {SCHEDULE} WHERE namespace = %s "
            f"AND schedule_id = %s AND (next_fire_at IS NULL OR next_fire_at > %s){self.dialect.skip_locked_suffix()})",
            [now, run["namespace"], schedule_id, now],
        )
        self._publish(cur, ["timers"])

    # --- legacy cron_schedule -----------------------------------------------------

    def _cron_next_run(
        self, cur: Any, run: dict[str, Any], new_run_id: str, now: float, identity: str, closed: dict[str, Any]
    ) -> None:
        """Start a cron workflow's next run (same input), its first task due at the next cron time.

        Called in the transaction that closed ``run``; the closing event (attributes ``closed``)
        already names the new run (``new_execution_run_id``), as Temporal's cron does. The new
        run gets the last successful result (``workflow.get_last_completion_result()``) and the
        failure of a run that failed (``workflow.get_last_failure()``).
        """
        cur.execute(f"SELECT attributes FROM {EVENT} WHERE run_id = %s AND event_id = 1", [run["id"]])
        started = _loads(cur.fetchone()[0]) or {}
        delay = cron_backoff(run["cron_schedule"], now, after=float(run["execution_ts"]))
        extra = {
            "initiator": "CONTINUE_AS_NEW_INITIATOR_CRON_SCHEDULE",
            # A failed run keeps the result of the last one that completed.
            "last_completion_result": closed["result"] if "result" in closed
            else started.get("last_completion_result"),
            "continued_failure": closed.get("failure"),
        }
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
            header=started.get("header") or {},
            start_delay=delay,
            started_extra=extra,
        )
