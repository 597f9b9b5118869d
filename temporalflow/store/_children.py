"""Child workflows, external signals and cancels: the writes between runs.

What happens in which transaction:

- **Starting a child** happens in the parent's workflow-task completion: the child's run
  (WorkflowExecutionStarted with the parent's ids, its first workflow task), the link row
  (``temporalflow_child``) and, in the parent's history, StartChildWorkflowExecutionInitiated
  followed by ChildWorkflowExecutionStarted (or StartChildWorkflowExecutionFailed when the id
  is taken) and the parent's next workflow task. Nothing else is locked: the child's row is new.
- **A parent's close** (complete, fail, cancel, continue-as-new, terminate, time out) applies
  each running child's ``parent_close_policy`` in the same transaction: TERMINATE closes the
  child (and, through its own close, its children), REQUEST_CANCEL appends
  WorkflowExecutionCancelRequested to it, ABANDON leaves it. Locks go from parent to child.
- **A child's close**, **signals and cancels to other runs** go through the outbox
  (``temporalflow_outbox``), written in the sender's transaction and delivered by any worker's
  timer loop (``fire_due_timers``) in one transaction per stage: stage 1 delivers to the target
  and records the outcome, stage 2 appends the outcome to the reporting run and deletes the row.
  Each of those transactions locks one run, so no two runs ever wait on each other in opposite
  orders (a child reporting to its parent while the parent terminates it, two runs signalling
  each other), and a worker killed at any point leaves the row to the next sweep.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from temporalflow.core.commands import (
    RequestCancelExternalWorkflowExecution,
    SignalExternalWorkflowExecution,
    StartChildWorkflowExecution,
)
from temporalflow.core.events import EventType
from temporalflow.store._base_sql import _RUN_COLS, CHILD, RUN, RUNNING, _dumps, _loads, _row, _rows, _StoreBase
from temporalflow.store.base import PendingChildInfo, RunStatus

logger = logging.getLogger("temporalflow.store")

OUTBOX = "temporalflow_outbox"

_FAILED_LIKE = {int(RunStatus.FAILED), int(RunStatus.CANCELED), int(RunStatus.TERMINATED),
                int(RunStatus.TIMED_OUT)}

_CHILD_EVENT = {
    RunStatus.COMPLETED: EventType.CHILD_WORKFLOW_EXECUTION_COMPLETED,
    RunStatus.FAILED: EventType.CHILD_WORKFLOW_EXECUTION_FAILED,
    RunStatus.CANCELED: EventType.CHILD_WORKFLOW_EXECUTION_CANCELED,
    RunStatus.TERMINATED: EventType.CHILD_WORKFLOW_EXECUTION_TERMINATED,
    RunStatus.TIMED_OUT: EventType.CHILD_WORKFLOW_EXECUTION_TIMED_OUT,
}

_NOT_FOUND = {
    "signal": "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND",
    "cancel": "CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND",
}

CHILD_ALREADY_EXISTS = "START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_WORKFLOW_ALREADY_EXISTS"

RETRY_DELAY_MAX = 60.0
"""Longest wait before an outbox row that failed to deliver (a database error) is tried again."""


class _ChildrenMixin(_StoreBase):
    """Children and external signals/cancels; mixed into the store below ``_HistoryWrites``.

    Calls ``_create_run``, ``_append``, ``_append_locked`` and ``_terminate_locked``, which
    the assembled ``DjangoStore`` provides.
    """

    # --- in the parent's completion: plan (reads only), then write -------------------

    def _plan_children(
        self, cur: Any, run: dict[str, Any], starts: list[tuple[int, StartChildWorkflowExecution]]
    ) -> list[tuple[int, StartChildWorkflowExecution, str | None]]:
        """Decide, before the completion writes anything, which children start.

        Returns ``(initiated event id, command, new run id or None if the id is taken)``.
        A read without locks: the partial unique index on running workflow ids still
        refuses a concurrent start of the same id (the completion then fails and is retried).
        """
        plan: list[tuple[int, StartChildWorkflowExecution, str | None]] = []
        taken: set[str] = set()
        for eid, cmd in starts:
            ns = cmd.namespace or run["namespace"]
            cur.execute(
                f"SELECT status FROM {RUN} WHERE namespace = %s AND workflow_id = %s ORDER BY id DESC LIMIT 1",
                [ns, cmd.workflow_id],
            )
            row = cur.fetchone()
            status = None if row is None else int(row[0])
            policy = int(cmd.workflow_id_reuse_policy or 1)
            refused = (
                cmd.workflow_id in taken
                or status == RUNNING
                or (status is not None and policy == 3)
                or (status is not None and policy == 2 and status not in _FAILED_LIKE)
            )
            plan.append((eid, cmd, None if refused else str(uuid.uuid4())))
            if not refused:
                taken.add(cmd.workflow_id)
        return plan

    @staticmethod
    def _child_start_events(
        run: dict[str, Any], plan: list[tuple[int, StartChildWorkflowExecution, str | None]], completed_id: int
    ) -> list[tuple[EventType, dict[str, Any]]]:
        """ChildWorkflowExecutionStarted / StartChildWorkflowExecutionFailed for each planned child."""
        events: list[tuple[EventType, dict[str, Any]]] = []
        for eid, cmd, child_run_id in plan:
            ns = cmd.namespace or run["namespace"]
            if child_run_id is None:
                events.append((EventType.START_CHILD_WORKFLOW_EXECUTION_FAILED, {
                    "namespace": ns,
                    "workflow_id": cmd.workflow_id,
                    "workflow_type": {"name": cmd.workflow_type},
                    "cause": CHILD_ALREADY_EXISTS,
                    "control": str(cmd.seq),
                    "initiated_event_id": eid,
                    "workflow_task_completed_event_id": completed_id,
                }))
            else:
                events.append((EventType.CHILD_WORKFLOW_EXECUTION_STARTED, {
                    "namespace": ns,
                    "initiated_event_id": eid,
                    "workflow_execution": {"workflow_id": cmd.workflow_id, "run_id": child_run_id},
                    "workflow_type": {"name": cmd.workflow_type},
                    "header": cmd.header,
                }))
        return events

    def _start_children(
        self, cur: Any, run: dict[str, Any], now: float, identity: str,
        plan: list[tuple[int, StartChildWorkflowExecution, str | None]], started_ids: list[int],
    ) -> None:
        """Create the planned children's runs and link rows (after the completion's fenced UPDATE)."""
        for (eid, cmd, child_run_id), started_id in zip(plan, started_ids, strict=True):
            if child_run_id is None:
                continue
            run["has_children"] = True  # a close later in this transaction must read the links
            ns = cmd.namespace or run["namespace"]
            self._create_run(  # type: ignore[attr-defined]
                cur, now,
                run_id=child_run_id,
                namespace=ns,
                workflow_id=cmd.workflow_id,
                workflow_type=cmd.workflow_type,
                task_queue=cmd.task_queue or run["task_queue"],
                input=cmd.input,
                execution_timeout=cmd.workflow_execution_timeout,
                run_timeout=cmd.workflow_run_timeout,
                task_timeout=cmd.workflow_task_timeout or 0.0,
                memo=cmd.memo,
                search_attributes=cmd.search_attributes,
                retry_policy=cmd.retry_policy,
                cron_schedule=cmd.cron_schedule,
                identity=identity,
                header=cmd.header,
                parent_workflow_id=run["workflow_id"],
                parent_run_id=run["run_id"],
                parent_initiated_event_id=eid,
            )
            cur.execute(
                f"INSERT INTO {CHILD} (namespace, parent_id, initiated_event_id, started_event_id, workflow_id, "
                "first_run_id, workflow_type, parent_close_policy) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                [ns, run["id"], eid, started_id, cmd.workflow_id, child_run_id, cmd.workflow_type,
                 int(cmd.parent_close_policy or 1)],
            )

    def _queue_external(
        self, cur: Any, run: dict[str, Any], now: float,
        sends: list[tuple[int, SignalExternalWorkflowExecution | RequestCancelExternalWorkflowExecution]],
    ) -> None:
        """Outbox rows for this completion's signals and cancels to other runs (stage 1)."""
        if not sends:
            return
        params: list[Any] = []
        for eid, cmd in sends:
            source = {"workflow_id": run["workflow_id"], "run_id": run["run_id"]}
            if isinstance(cmd, SignalExternalWorkflowExecution):
                kind = "signal"
                body: dict[str, Any] = {"signal_name": cmd.signal_name, "input": cmd.input, "header": cmd.header,
                                        "control": str(cmd.seq), "source": source,
                                        "child_workflow_only": cmd.child_workflow_only}
            else:
                kind = "cancel"
                body = {"control": str(cmd.seq), "source": source, "reason": cmd.reason,
                        "child_workflow_only": cmd.child_workflow_only}
            params += [cmd.namespace or run["namespace"], kind, run["id"], eid, cmd.workflow_id, cmd.run_id or "",
                       1, _dumps(body), None, now, 0]
        j = self._json()
        cur.execute(
            f"INSERT INTO {OUTBOX} (namespace, kind, run_id, initiated_event_id, target_workflow_id, "
            "target_run_id, stage, body, outcome, visible_at, attempts) VALUES "
            + ",".join([f"(%s,%s,%s,%s,%s,%s,%s,{j},{j},%s,%s)"] * len(sends)),
            params,
        )
        self._publish(cur, ["timers"])

    # --- any close -------------------------------------------------------------------

    def _after_close(
        self, cur: Any, run: dict[str, Any], now: float, status: RunStatus, close_attrs: dict[str, Any],
        *, next_run: bool = False,
    ) -> None:
        """What a run's close means to its relatives, in the closing transaction.

        Its running children get their parent close policy. Its parent (if it is a child)
        learns of the close through the outbox, unless the chain goes on in a next run
        (continue-as-new, a retry: ``next_run``), as Temporal reports only the chain's end.
        """
        self._apply_parent_close_policies(cur, run, now)
        if run["parent_workflow_id"] and not next_run and status in _CHILD_EVENT:
            self._report_child_closed(cur, run, now, status, close_attrs)
        if not next_run:
            self._schedule_run_closed(cur, run, now)  # type: ignore[attr-defined]  # (store/_schedules.py)

    def _apply_parent_close_policies(self, cur: Any, run: dict[str, Any], now: float) -> None:
        # The links are read without locks and each is deleted only once its child's run is
        # locked: a child closing at the same moment holds its own run and deletes its link
        # (its report), so taking the links first would have the two transactions wait on
        # each other (link row vs child row).
        if run.get("has_children") is False:
            return
        cur.execute(
            f"SELECT id, namespace, workflow_id, first_run_id, parent_close_policy FROM {CHILD} "
            "WHERE parent_id = %s",
            [run["id"]],
        )
        links = sorted(cur.fetchall(), key=lambda r: (r[2], r[3]))
        for link_id, ns, workflow_id, first_run_id, policy in links:
            if int(policy) == 2:  # ABANDON: the child goes on alone
                cur.execute(f"DELETE FROM {CHILD} WHERE id = %s", [link_id])
                continue
            cur.execute(
                f"SELECT {_RUN_COLS}, {self._now_sql()} AS now FROM {RUN} WHERE namespace = %s AND workflow_id = %s "
                f"AND first_run_id = %s AND status = {RUNNING}{self.dialect.lock_suffix()}",
                [ns, workflow_id, first_run_id],
            )
            child = _row(cur)
            cur.execute(f"DELETE FROM {CHILD} WHERE id = %s", [link_id])
            if child is None:
                continue  # closed meanwhile: its report finds the parent closed
            if int(policy) == 3:  # REQUEST_CANCEL
                if child["cancel_requested"]:
                    continue
                cur.execute(f"UPDATE {RUN} SET cancel_requested = TRUE WHERE id = %s", [child["id"]])
                self._append_locked(cur, child, now, [(  # type: ignore[attr-defined]
                    EventType.WORKFLOW_EXECUTION_CANCEL_REQUESTED,
                    {"cause": "by parent close policy", "identity": "",
                     "external_workflow_execution": {"workflow_id": run["workflow_id"], "run_id": run["run_id"]}},
                )])
            else:  # TERMINATE (and UNSPECIFIED, Temporal's default)
                self._terminate_locked(cur, child, now, "by parent close policy", None, "")  # type: ignore[attr-defined]

    def _report_child_closed(
        self, cur: Any, run: dict[str, Any], now: float, status: RunStatus, close_attrs: dict[str, Any]
    ) -> None:
        cur.execute(
            f"DELETE FROM {CHILD} WHERE namespace = %s AND workflow_id = %s AND first_run_id = %s "
            "RETURNING parent_id, initiated_event_id, started_event_id, workflow_type",
            [run["namespace"], run["workflow_id"], run["first_run_id"]],
        )
        link = cur.fetchone()
        if link is None:
            return  # started by a client, or its parent closed already
        parent_pk, initiated, started, workflow_type = link
        attrs: dict[str, Any] = {
            "namespace": run["namespace"],
            "workflow_execution": {"workflow_id": run["workflow_id"], "run_id": run["run_id"]},
            "workflow_type": {"name": workflow_type},
            "initiated_event_id": initiated,
            "started_event_id": started,
        }
        if status is RunStatus.COMPLETED:
            attrs["result"] = close_attrs.get("result")
        elif status is RunStatus.FAILED:
            attrs["failure"] = close_attrs.get("failure")
            attrs["retry_state"] = close_attrs.get("retry_state") or "RETRY_STATE_NON_RETRYABLE_FAILURE"
        elif status is RunStatus.CANCELED:
            attrs["details"] = close_attrs.get("details")
        elif status is RunStatus.TIMED_OUT:
            attrs["retry_state"] = close_attrs.get("retry_state") or "RETRY_STATE_TIMEOUT"
        outcome = {"event_type": str(_CHILD_EVENT[status]), "attributes": attrs}
        j = self._json()
        cur.execute(
            f"INSERT INTO {OUTBOX} (namespace, kind, run_id, initiated_event_id, target_workflow_id, target_run_id, "
            f"stage, body, outcome, visible_at, attempts) VALUES (%s,%s,%s,%s,%s,%s,2,NULL,{j},%s,0)",
            [run["namespace"], "child_closed", parent_pk, initiated, run["workflow_id"], run["run_id"],
             _dumps(outcome), now],
        )
        self._publish(cur, ["timers"])

    # --- describe ----------------------------------------------------------------------

    def pending_children(self, run_pk: int) -> list[PendingChildInfo]:
        """The children of run ``run_pk`` whose close its history has not recorded yet started."""
        cur = self._cursor()
        cur.execute(
            f"SELECT workflow_id, first_run_id, workflow_type, initiated_event_id, parent_close_policy "
            f"FROM {CHILD} WHERE parent_id = %s ORDER BY initiated_event_id",
            [run_pk],
        )
        return [
            PendingChildInfo(workflow_id=r[0], run_id=r[1], workflow_type_name=r[2], initiated_id=int(r[3]),
                             parent_close_policy=int(r[4]))
            for r in cur.fetchall()
        ]

    # --- the outbox, delivered by the timer loop ----------------------------------------

    def deliver_outbox(self, limit: int = 100) -> int:
        """Deliver due outbox rows (both stages, one transaction each); returns how many finished."""
        with self._atomic():
            cur = self._cursor()
            cur.execute(
                f"SELECT id FROM {OUTBOX} WHERE visible_at <= {self._now_sql()} ORDER BY id LIMIT {int(limit)}")
            ids = [r[0] for r in cur.fetchall()]
        done = 0
        for outbox_id in ids:
            try:
                self._outbox_stage(outbox_id, 1)
                done += self._outbox_stage(outbox_id, 2)
            except Exception:
                logger.warning("Outbox message %s could not be delivered; retrying later", outbox_id,
                               exc_info=True)
                self._outbox_backoff(outbox_id)
        return done

    def _claim_outbox(self, cur: Any, outbox_id: int, stage: int) -> dict[str, Any] | None:
        lock = " FOR UPDATE SKIP LOCKED" if self.dialect.vendor == "postgresql" else ""
        cur.execute(
            f"SELECT id, namespace, kind, run_id, initiated_event_id, target_workflow_id, target_run_id, stage, "
            f"body, outcome FROM {OUTBOX} WHERE id = %s AND stage = %s{lock}",
            [outbox_id, stage],
        )
        return _row(cur)

    def _outbox_stage(self, outbox_id: int, stage: int) -> int:
        with self._atomic():
            cur = self._cursor()
            row = self._claim_outbox(cur, outbox_id, stage)
            if row is None:
                return 0  # another worker has it, or it moved on
            if stage == 1:
                outcome = self._deliver(cur, row)
                cur.execute(
                    f"UPDATE {OUTBOX} SET stage = 2, outcome = {self._json()} WHERE id = %s",
                    [_dumps(outcome), outbox_id],
                )
                return 0
            outcome = _loads(row["outcome"]) or {}
            run = self._lock_run(cur, row["run_id"])
            if run is not None and run["status"] == RUNNING:
                self._append_locked(cur, run, float(run["now"]), [  # type: ignore[attr-defined]
                    (EventType(outcome["event_type"]), outcome["attributes"])])
            cur.execute(f"DELETE FROM {OUTBOX} WHERE id = %s", [outbox_id])
            return 1

    def _deliver(self, cur: Any, row: dict[str, Any]) -> dict[str, Any]:
        """Stage 1: signal or cancel the target; returns the event the sender's history gets."""
        body = _loads(row["body"]) or {}
        kind = row["kind"]
        ns, workflow_id, run_id = row["namespace"], row["target_workflow_id"], row["target_run_id"] or None
        source = body.get("source") or {}
        target, params = self._target(ns, workflow_id, run_id)
        if body.get("child_workflow_only"):
            # Only a child of the sender may be reached this way.
            target += " AND parent_run_id = %s"
            params = [*params, source.get("run_id", "")]
        if kind == "signal":
            event = (EventType.WORKFLOW_EXECUTION_SIGNALED, {
                "signal_name": body.get("signal_name", ""), "input": body.get("input"), "identity": "",
                "header": body.get("header") or {}, "external_workflow_execution": source,
            })
            done = self._append(cur, target, params, 1, lambda first, now: [event])  # type: ignore[attr-defined]
        else:
            event = (EventType.WORKFLOW_EXECUTION_CANCEL_REQUESTED, {
                "cause": body.get("reason") or "", "identity": "",
                "external_initiated_event_id": row["initiated_event_id"], "external_workflow_execution": source,
            })
            done = self._append(  # type: ignore[attr-defined]
                cur, target, params, 1, lambda first, now: [event],
                extra_set=", cancel_requested = TRUE", extra_where=" AND cancel_requested = FALSE")
            if done is None:
                # Already asked to cancel: a second request succeeds without an event, as in Temporal.
                cur.execute(f"SELECT {_RUN_COLS} FROM {RUN} WHERE {target} AND status = {RUNNING}", params)
                found = _rows(cur)
                if found:
                    done = {"run": found[0]}
        execution = {"workflow_id": workflow_id, "run_id": run_id or ""}
        common = {"initiated_event_id": row["initiated_event_id"], "namespace": ns, "workflow_execution": execution,
                  "control": body.get("control", "")}
        if done is not None:
            execution["run_id"] = done["run"]["run_id"]
            ok = (EventType.EXTERNAL_WORKFLOW_EXECUTION_SIGNALED if kind == "signal"
                  else EventType.EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED)
            if kind != "signal":
                common.pop("control")
            return {"event_type": str(ok), "attributes": common}
        failed = (EventType.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED if kind == "signal"
                  else EventType.REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED)
        return {"event_type": str(failed), "attributes": {**common, "cause": _NOT_FOUND[kind],
                                                           "workflow_task_completed_event_id": 0}}

    def _outbox_backoff(self, outbox_id: int) -> None:
        try:
            with self._atomic():
                cur = self._cursor()
                now = self._now(cur)
                cur.execute(f"SELECT attempts FROM {OUTBOX} WHERE id = %s", [outbox_id])
                row = cur.fetchone()
                if row is None:
                    return
                delay = min(2.0 ** int(row[0]), RETRY_DELAY_MAX)
                cur.execute(f"UPDATE {OUTBOX} SET attempts = attempts + 1, visible_at = %s WHERE id = %s",
                            [now + delay, outbox_id])
        except Exception:
            logger.warning("Could not postpone outbox message %s", outbox_id, exc_info=True)
