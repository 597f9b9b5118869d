"""Several threads (each with its own connection) claiming one queue: no task is handed out twice."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections

from temporalflow.store import DjangoStore, StaleTask

from .conftest import complete, finish, payloads, schedule, start

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 4


def run_threads(fn: Callable[[DjangoStore, int], Any]) -> list[Any]:
    results: list[Any] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def body(i: int) -> None:
        try:
            local = DjangoStore()
            barrier.wait()
            results.append(fn(local, i))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=body, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_workflow_task_claims_are_exclusive(store, queue):
    n = 40
    for i in range(n):
        start(store, queue, f"wf-{i}")

    def worker(local: DjangoStore, i: int) -> list[str]:
        got: list[str] = []
        while True:
            leases = local.claim_workflow_tasks("default", queue, f"w{i}", 3)
            if not leases:
                return got
            for lease in leases:
                local.complete_workflow_task(
                    lease, complete([schedule(1, queue), finish()], identity=f"w{i}")
                )
                got.append(lease.workflow_id)

    claimed = [wid for got in run_threads(worker) for wid in got]
    assert Counter(claimed) == Counter(f"wf-{i}" for i in range(n))


def test_activity_claims_are_exclusive(store, queue):
    n = 30
    start(store, queue, "wf-1")
    lease = store.claim_workflow_tasks("default", queue, "w", 1)[0]
    store.complete_workflow_task(lease, complete([schedule(i, queue) for i in range(1, n + 1)]))

    def worker(local: DjangoStore, i: int) -> list[str]:
        got: list[str] = []
        while True:
            acts = local.claim_activity_tasks("default", queue, f"a{i}", 2)
            if not acts:
                return got
            for act in acts:
                local.complete_activity_task(act.token, payloads("r"))
                got.append(act.activity_id)

    claimed = [aid for got in run_threads(worker) for aid in got]
    assert Counter(claimed) == Counter(str(i) for i in range(1, n + 1))
    types = [str(e.event_type) for e in store.read_history(lease.run_pk)]
    assert types.count("ActivityTaskCompleted") == n
    assert [e.event_id for e in store.read_history(lease.run_pk)] == list(range(1, len(types) + 1))


def test_concurrent_signals_and_completion_keep_history_dense(store, queue):
    start(store, queue, "wf-1")
    pk = store.describe("default", "wf-1", None).pk

    def worker(local: DjangoStore, i: int) -> int:
        done = 0
        for _ in range(10):
            if i == 0:
                for lease in local.claim_workflow_tasks("default", queue, "w", 1):
                    try:
                        local.complete_workflow_task(lease, complete([]))
                    except StaleTask:
                        pass
            else:
                local.signal("default", "wf-1", None, "s", payloads())
                done += 1
        return done

    sent = sum(run_threads(worker))
    events = store.read_history(pk)
    assert [e.event_id for e in events] == list(range(1, len(events) + 1))
    assert sum(1 for e in events if str(e.event_type) == "WorkflowExecutionSignaled") == sent


def test_concurrent_starts_of_one_id_start_one_run(store, queue):
    from temporalflow.store import RunAlreadyStarted

    def worker(local: DjangoStore, i: int) -> str:
        try:
            start(local, queue, "same-id")
            return "started"
        except RunAlreadyStarted:
            return "refused"

    outcomes = Counter(run_threads(worker))
    assert outcomes == Counter({"started": 1, "refused": THREADS - 1})
