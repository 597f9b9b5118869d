"""Process-level tests: real ``manage.py runworker`` subprocesses, SIGKILL and SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from temporalflow.client import SyncClient
from temporalflow.core.events import CLOSE_EVENT_TYPES, EventType
from tests.helpers import assert_eventually

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    return f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Workers:
    """Spawns and stops ``runworker`` processes on the test database."""

    def __init__(self, tmp: Path, task_queue: str) -> None:
        self.tmp = tmp
        self.task_queue = task_queue
        self.ledger = tmp / "ledger.tsv"
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, *extra: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "TEMPORALFLOW_LEDGER": str(self.ledger),
            "TEMPORALFLOW_EXTRA_MODULES": "tests.e2e.workloads",
            "PYTHONUNBUFFERED": "1",
        }
        log = open(self.tmp / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "runworker", "-q", self.task_queue, *extra],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def lines(self, kind: str | None = None) -> list[list[str]]:
        if not self.ledger.exists():
            return []
        rows = [line.split("\t") for line in self.ledger.read_text().splitlines()]
        return [r for r in rows if kind is None or r[0] == kind]

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.tmp.glob("worker-*.log")))

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            p.wait(timeout=30)


@pytest.fixture
def workers(tmp_path: Path) -> Any:
    w = Workers(tmp_path, f"e2e-{uuid.uuid4().hex[:8]}")
    yield w
    w.stop_all()


def check_history_invariants(client: SyncClient, workflow_id: str) -> None:
    """Contiguous ids, every started workflow task closed once, one close event, last."""
    events = client.get_workflow_handle(workflow_id).fetch_history().events
    assert [e.event_id for e in events] == list(range(1, len(events) + 1))
    outcomes = Counter(
        e.attributes.get("started_event_id")
        for e in events
        if e.event_type
        in (EventType.WORKFLOW_TASK_COMPLETED, EventType.WORKFLOW_TASK_FAILED, EventType.WORKFLOW_TASK_TIMED_OUT)
    )
    for e in events:
        if e.event_type is EventType.WORKFLOW_TASK_STARTED:
            assert outcomes[e.event_id] == 1, (
                f"workflow task {e.event_id} of {workflow_id} closed {outcomes[e.event_id]} times"
            )
    closes = [e for e in events if e.event_type in CLOSE_EVENT_TYPES]
    assert len(closes) == 1 and closes[0] is events[-1]


def test_sigkill_mid_activity_then_new_worker_completes(workers: Workers) -> None:
    client = SyncClient.connect()
    victim = workers.spawn()
    handle = client.start_workflow(
        "SlowActivityWorkflow", 2.0, id=f"kill-act-{uuid.uuid4().hex[:6]}", task_queue=workers.task_queue
    )
    assert_eventually(lambda: workers.lines("slow-start"), timeout=30)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    workers.spawn()
    assert handle.result(timeout=60) == "slow-done"
    starts = workers.lines("slow-start")
    ends = workers.lines("slow-end")
    assert len(starts) == 2 and [r[2] for r in starts] == ["1", "2"]  # attempt 1 killed, attempt 2 finished
    assert len(ends) == 1 and ends[0][2] == "2"
    check_history_invariants(client, handle.id)


def test_sigkill_mid_workflow_task_then_new_worker_completes(workers: Workers) -> None:
    client = SyncClient.connect()
    victim = workers.spawn()
    handle = client.start_workflow(
        "SlowTaskWorkflow", id=f"kill-wft-{uuid.uuid4().hex[:6]}", task_queue=workers.task_queue, task_timeout=2
    )
    assert_eventually(lambda: workers.lines("wft-start"), timeout=30)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    workers.spawn()
    assert handle.result(timeout=60) == "after-done"
    events = handle.fetch_history().events
    # The killed worker ran the task (its ledger line) but left no completion: it was doing
    # the task inside its claiming transaction, which died with it (so the new worker claims
    # it at once), or, had the start been committed on its own, the task timed out.
    assert len(workers.lines("wft-start")) >= 2
    started = [e for e in events if e.event_type is EventType.WORKFLOW_TASK_STARTED]
    timed_out = [e for e in events if e.event_type is EventType.WORKFLOW_TASK_TIMED_OUT]
    assert len(started) == 2 + len(timed_out)  # the first task (+ any timed-out try), the one after the activity
    assert len(workers.lines("activity")) == 1
    check_history_invariants(client, handle.id)


def test_sigkill_while_a_child_runs_then_new_worker_finishes_the_family(workers: Workers) -> None:
    client = SyncClient.connect()
    victim = workers.spawn()
    parent_id = f"kill-child-{uuid.uuid4().hex[:6]}"
    handle = client.start_workflow("ParentOfSlowChildWorkflow", 2.0, id=parent_id, task_queue=workers.task_queue)
    # Two workflow tasks and a child start before the activity: allow for a loaded machine.
    assert_eventually(lambda: workers.lines("slow-start"), timeout=60)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    workers.spawn()
    assert handle.result(timeout=90) == "sibling got slow-done"
    for workflow_id in (parent_id, f"{parent_id}-child", f"{parent_id}-sibling"):
        check_history_invariants(client, workflow_id)
    types = [e.event_type for e in handle.fetch_history().events]
    assert types.count(EventType.CHILD_WORKFLOW_EXECUTION_COMPLETED) == 2
    assert types.count(EventType.EXTERNAL_WORKFLOW_EXECUTION_SIGNALED) == 1
    sibling = client.get_workflow_handle(f"{parent_id}-sibling").fetch_history().events
    assert [e.event_type for e in sibling].count(EventType.WORKFLOW_EXECUTION_SIGNALED) == 1
    with connection.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM temporalflow_outbox")
        assert cur.fetchone()[0] == 0


def test_three_workers_three_hundred_workflows_each_completes_once(workers: Workers) -> None:
    client = SyncClient.connect()
    for _ in range(3):
        workers.spawn()
    ids = [f"many-{i}-{uuid.uuid4().hex[:6]}" for i in range(300)]
    handles = [client.start_workflow("RecordWorkflow", 2, id=i, task_queue=workers.task_queue) for i in ids]
    for h in handles:
        assert h.result(timeout=120) == ["s0-done", "s1-done"]
    per_step = Counter((r[1], r[2]) for r in workers.lines("activity"))
    assert len(per_step) == 600 and set(per_step.values()) == {1}, "every activity ran exactly once"
    pids = {r[4] for r in workers.lines("activity")}
    assert len(pids) >= 2, "work was spread over several worker processes"
    for i in ids:
        check_history_invariants(client, i)


def test_sigterm_lets_in_flight_activity_finish_and_exits_zero(workers: Workers) -> None:
    client = SyncClient.connect()
    proc = workers.spawn("--graceful-shutdown-timeout", "10")
    handle = client.start_workflow(
        "SlowActivityWorkflow", 1.0, id=f"term-{uuid.uuid4().hex[:6]}", task_queue=workers.task_queue
    )
    assert_eventually(lambda: workers.lines("slow-start"), timeout=30)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, workers.logs()
    assert len(workers.lines("slow-end")) == 1  # finished within the grace period, not re-run
    workers.spawn()
    assert handle.result(timeout=60) == "slow-done"
    assert len(workers.lines("slow-start")) == 1


def test_zombie_worker_completion_is_rejected_after_another_worker_took_over(workers: Workers) -> None:
    if connection.vendor == "sqlite":
        pytest.skip("a frozen process holding SQLite's write lock blocks every writer; SQLite is for development")
    client = SyncClient.connect()
    zombie = workers.spawn()
    handle = client.start_workflow("SlowActivityWorkflow", 1.5, id=f"zombie-{uuid.uuid4().hex[:6]}",
                                   task_queue=workers.task_queue)
    assert_eventually(lambda: workers.lines("slow-start"), timeout=30)
    zombie.send_signal(signal.SIGSTOP)  # frozen mid-activity: its heartbeats stop, its lease expires
    try:
        workers.spawn()
        # The takeover normally follows the 1 s heartbeat timeout. If the zombie froze between
        # sending a statement and the pipeline's Sync, it holds row locks until the new worker
        # ends its session (WORKER_IDLE_IN_TRANSACTION_TIMEOUT, 10 s, and up to half that again).
        assert handle.result(timeout=120) == "slow-done"
        before = [(e.event_id, e.event_type) for e in handle.fetch_history().events]
    finally:
        zombie.send_signal(signal.SIGCONT)
    # The zombie wakes up and ends its attempt; whatever it tries must not be accepted. It
    # finds its lease gone (StaleTask), or its session was cut off by the database while it
    # was frozen inside a transaction (idle_in_transaction_session_timeout).
    endings = ("after losing its lease", "lost its lease", "Could not report")
    assert_eventually(lambda: any(e in workers.logs() for e in endings), timeout=30)
    after = [(e.event_id, e.event_type) for e in handle.fetch_history().events]
    assert after == before
    check_history_invariants(client, handle.id)
