"""Queries and updates: the requests a client sends a running workflow.

A query is a row a worker of the run's task queue claims and answers; an
update is admitted here, then accepted, rejected and completed by the
workflow's commands (``_workflow_tasks``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from temporalflow.core.payload import PayloadsJSON
from temporalflow.store._base_sql import QUERY, RUN, RUNNING, UPDATE, _dumps, _loads, _marks, _rows
from temporalflow.store._history import _HistoryWrites
from temporalflow.store.base import (
    PendingUpdate,
    QueryAnswer,
    QueryTask,
    RunClosed,
    RunNotFound,
    RunStatus,
    StartWorkflowRequest,
    StartWorkflowResult,
    StoreError,
    UpdateNotFound,
    UpdateOutcome,
)

QUERY_CLAIM_LEASE = 5.0
"""Seconds after which a claimed, unanswered query may be claimed by another worker."""

_OUTCOME_SELECT = f"SELECT u.stage, u.outcome, r.run_id FROM {UPDATE} u JOIN {RUN} r ON r.id = u.run_id "


class _MessagesMixin(_HistoryWrites):
    """Queries (create, claim, answer) and updates (admit, read the outcome)."""

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
        cur.execute(
            f"SELECT id, namespace, workflow_id, run_id, workflow_type FROM {RUN} WHERE id IN ({_marks(run_pks)})",
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
            if self._rowcount(cur):
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
            cur.execute(f"UPDATE {RUN} SET updates_waiting = TRUE WHERE id = %s", [run_pk])
            outcome = self._update_row(cur, run_pk, update_id)
            assert outcome is not None
            return outcome

    def start_workflow_with_update(
        self, request: StartWorkflowRequest, update_id: str, name: str, args: PayloadsJSON, identity: str = ""
    ) -> tuple[StartWorkflowResult, UpdateOutcome]:
        """Start (or find, with USE_EXISTING) the run and admit the update, in one transaction."""
        with self._atomic():
            started = self.start_workflow(request)
            assert started.run_pk is not None
            return started, self.admit_update(started.run_pk, update_id, name, args, identity)

    def _update_row(self, cur: Any, run_pk: int, update_id: str) -> UpdateOutcome | None:
        cur.execute(
            f"{_OUTCOME_SELECT}WHERE u.run_id = %s AND u.update_id = %s",
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
            f"{_OUTCOME_SELECT}WHERE r.namespace = %s AND r.workflow_id = %s AND u.update_id = %s"
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
        cur.execute(
            f"SELECT run_id, update_id, name, args, identity FROM {UPDATE} "
            f"WHERE run_id IN ({_marks(run_pks)}) AND stage = 'admitted' ORDER BY id",
            list(run_pks),
        )
        out: dict[int, list[PendingUpdate]] = {}
        for r in cur.fetchall():
            out.setdefault(r[0], []).append(
                PendingUpdate(update_id=r[1], name=r[2], args=_loads(r[3]) or {"payloads": []}, identity=r[4])
            )
        return out
