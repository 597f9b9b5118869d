"""Starting runs: id reuse/conflict policies, signal-with-start, idempotency, the caller's transaction."""

from __future__ import annotations

import pytest
from django.db import transaction

from temporalflow.store import (
    RunAlreadyStarted,
    RunClosed,
    RunNotFound,
    RunStatus,
    StartWorkflowRequest,
)

from .conftest import claim_one, complete, finish, payloads, start, types

pytestmark = pytest.mark.django_db(transaction=True)

ALLOW_DUPLICATE, ALLOW_DUPLICATE_FAILED_ONLY, REJECT_DUPLICATE, TERMINATE_IF_RUNNING = 1, 2, 3, 4
USE_EXISTING, TERMINATE_EXISTING = 2, 3


def close_run(store, queue):
    lease = claim_one(store, queue)
    store.complete_workflow_task(lease, complete([finish()]))


def test_start_writes_started_and_first_task(store, queue):
    run_id = start(store, queue, "wf-1", execution_timeout=60, memo={"k": "v"})
    info = store.describe("default", "wf-1", None)
    assert info.run_id == run_id and info.first_run_id == run_id
    assert info.status == RunStatus.RUNNING
    assert info.memo == {"k": "v"}
    assert info.history_length == 2
    events = store.read_history(info.pk)
    assert [str(e.event_type) for e in events] == ["WorkflowExecutionStarted", "WorkflowTaskScheduled"]
    started = events[0].attributes
    assert started["workflow_type"] == {"name": "MyWorkflow"}
    assert started["input"] == payloads("in")
    assert started["workflow_execution_timeout"] == 60
    assert events[1].attributes["task_queue"] == {"name": queue}
    assert store.read_history(info.pk, after_event_id=1, limit=1)[0].event_id == 2


def test_describe_unknown_raises(store):
    with pytest.raises(RunNotFound):
        store.describe("default", "nope", None)


def test_running_run_conflicts_by_default(store, queue):
    run_id = start(store, queue, "wf-1")
    with pytest.raises(RunAlreadyStarted) as err:
        start(store, queue, "wf-1")
    assert err.value.run_id == run_id


def test_use_existing_returns_running_run(store, queue):
    run_id = start(store, queue, "wf-1")
    res = store.start_workflow(
        StartWorkflowRequest("wf-1", "MyWorkflow", queue, payloads(), id_conflict_policy=USE_EXISTING)
    )
    assert (res.run_id, res.started) == (run_id, False)


@pytest.mark.parametrize(
    "kw", [{"id_conflict_policy": TERMINATE_EXISTING}, {"id_reuse_policy": TERMINATE_IF_RUNNING}]
)
def test_terminate_existing_then_start(store, queue, kw):
    old = start(store, queue, "wf-1")
    new = start(store, queue, "wf-1", **kw)
    assert new != old
    old_info = store.describe("default", "wf-1", old)
    assert old_info.status == RunStatus.TERMINATED
    assert types(store, old_info.pk)[-1] == "WorkflowExecutionTerminated"
    assert store.describe("default", "wf-1", None).run_id == new


def test_reuse_policies_against_closed_runs(store, queue):
    start(store, queue, "wf-1")
    close_run(store, queue)  # completed
    with pytest.raises(RunAlreadyStarted):
        start(store, queue, "wf-1", id_reuse_policy=REJECT_DUPLICATE)
    with pytest.raises(RunAlreadyStarted):
        start(store, queue, "wf-1", id_reuse_policy=ALLOW_DUPLICATE_FAILED_ONLY)
    second = start(store, queue, "wf-1", id_reuse_policy=ALLOW_DUPLICATE)
    store.terminate("default", "wf-1", None, reason="stop")
    third = start(store, queue, "wf-1", id_reuse_policy=ALLOW_DUPLICATE_FAILED_ONLY)
    assert len({second, third}) == 2


def test_same_request_id_is_idempotent(store, queue):
    first = start(store, queue, "wf-1", request_id="req-1")
    again = store.start_workflow(
        StartWorkflowRequest("wf-1", "MyWorkflow", queue, payloads(), request_id="req-1")
    )
    assert again.run_id == first and again.started
    info = store.describe("default", "wf-1", None)
    assert info.history_length == 2


def test_signal_with_start_starts_then_signals_running(store, queue):
    req = StartWorkflowRequest(
        "wf-1", "MyWorkflow", queue, payloads(), signal_name="go", signal_input=payloads("s")
    )
    res = store.start_workflow(req)
    assert res.started
    pk = store.describe("default", "wf-1", None).pk
    assert types(store, pk) == [
        "WorkflowExecutionStarted",
        "WorkflowExecutionSignaled",
        "WorkflowTaskScheduled",
    ]
    res2 = store.start_workflow(req)
    assert (res2.run_id, res2.started) == (res.run_id, False)
    # The task was still scheduled: the second signal joins it, no new WorkflowTaskScheduled.
    assert types(store, pk)[-1] == "WorkflowExecutionSignaled"
    assert types(store, pk).count("WorkflowTaskScheduled") == 1


def test_start_rolls_back_with_callers_transaction(store, queue):
    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        start(store, queue, "wf-rollback")
        raise Boom
    with pytest.raises(RunNotFound):
        store.describe("default", "wf-rollback", None)
    assert store.claim_workflow_tasks("default", queue, "w", 10) == []


def test_start_commits_with_callers_transaction(store, queue):
    with transaction.atomic():
        start(store, queue, "wf-commit")
    assert store.describe("default", "wf-commit", None).status == RunStatus.RUNNING


def test_conflict_inside_callers_transaction_keeps_it_usable(store, queue):
    start(store, queue, "wf-1")
    with transaction.atomic():
        with pytest.raises(RunAlreadyStarted):
            start(store, queue, "wf-1")
        start(store, queue, "wf-2")
    assert store.describe("default", "wf-2", None).status == RunStatus.RUNNING


def test_start_delay_makes_task_visible_later(store, queue):
    start(store, queue, "wf-1", start_delay=30)
    assert store.claim_workflow_tasks("default", queue, "w", 10) == []
    info = store.describe("default", "wf-1", None)
    assert info.execution_time == pytest.approx(info.start_time + 30, abs=0.01)
    assert store.next_due_time() == pytest.approx(info.start_time + 30, abs=0.01)


def test_signal_cancel_terminate(store, queue):
    start(store, queue, "wf-1")
    store.signal("default", "wf-1", None, "hello", payloads("s"), identity="me")
    store.request_cancel("default", "wf-1", None)
    store.request_cancel("default", "wf-1", None)  # once only
    info = store.describe("default", "wf-1", None)
    assert types(store, info.pk) == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowExecutionSignaled",
        "WorkflowExecutionCancelRequested",
    ]
    store.terminate("default", "wf-1", None, reason="bye")
    assert store.describe("default", "wf-1", None).status == RunStatus.TERMINATED
    assert store.claim_workflow_tasks("default", queue, "w", 10) == []
    with pytest.raises(RunClosed):
        store.signal("default", "wf-1", None, "hello", payloads())
    with pytest.raises(RunClosed):
        store.terminate("default", "wf-1", None, reason="again")
    with pytest.raises(RunClosed):
        store.request_cancel("default", "wf-1", None)
    with pytest.raises(RunNotFound):
        store.signal("default", "nope", None, "hello", payloads())
    with pytest.raises(RunNotFound):
        store.signal("default", "wf-1", "00000000-0000-0000-0000-000000000000", "hello", payloads())


def test_run_timeout_times_out_run(store, queue):
    start(store, queue, "wf-1", run_timeout=0.01)
    from tests.helpers import assert_eventually

    assert_eventually(lambda: store.fire_due_timers() >= 1, timeout=5)
    info = store.describe("default", "wf-1", None)
    assert info.status == RunStatus.TIMED_OUT
    assert types(store, info.pk)[-1] == "WorkflowExecutionTimedOut"


def test_record_poller(store, queue):
    from temporalflow.models import TaskQueuePoller

    store.record_poller("default", queue, "w1")
    store.record_poller("default", queue, "w1")
    store.record_poller("default", queue, "w1", kind="activity")
    assert TaskQueuePoller.objects.filter(task_queue=queue).count() == 2


def _time_columns(run_pk):
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT start_time, execution_time, start_ts, execution_ts, wft_visible_at, execution_deadline, "
            "run_deadline FROM temporalflow_run WHERE id = %s",
            [run_pk],
        )
        return cur.fetchone()


@pytest.mark.parametrize("first_start", [True, False], ids=["new-id", "reused-id"])
def test_start_times_are_consistent_on_either_path(store, queue, first_start):
    # A new id starts in one statement whose times are SQL (PostgreSQL); a reused id takes
    # the path that reads first. Both must write the same times for the same options.
    if not first_start:
        start(store, queue, "wf-t")
        store.terminate("default", "wf-t", None, "make room", None, "test")
    start(store, queue, "wf-t", execution_timeout=60, run_timeout=30, start_delay=5)
    info = store.describe("default", "wf-t", None)
    start_time, execution_time, start_ts, execution_ts, visible, exec_deadline, run_deadline = _time_columns(info.pk)
    if not isinstance(start_time, str):  # SQLite returns the text as stored
        assert start_time.timestamp() == pytest.approx(start_ts, abs=1e-6)
        assert execution_time.timestamp() == pytest.approx(start_ts + 5, abs=1e-6)
    assert execution_ts == pytest.approx(start_ts + 5) and visible == pytest.approx(start_ts + 5)
    assert exec_deadline == pytest.approx(start_ts + 60) and run_deadline == pytest.approx(start_ts + 30)
    events = store.read_history(info.pk)
    assert [e.event_time for e in events] == pytest.approx([start_ts, start_ts])
    assert events[0].attributes["first_workflow_task_backoff"] == 5
    assert events[0].attributes["original_execution_run_id"] == info.run_id


def test_new_id_starts_without_a_read_first_on_postgresql(store, queue):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("the one-statement start is PostgreSQL's")
    with CaptureQueriesContext(connection) as ctx:
        start(store, queue, "wf-new")
    sql = [q["sql"] for q in ctx.captured_queries]  # (BEGIN, the wake-up and COMMIT go on the raw connection)
    assert len(sql) == 1 and "NOT EXISTS" in sql[0], sql
    assert store.claim_workflow_tasks("default", queue, "w", 10)[0].workflow_id == "wf-new"


def test_stored_event_attributes_are_compact_json_on_every_path(store, queue):
    # The one-statement start, the claim that writes WorkflowTaskStarted itself and the
    # completion whose UPDATE rides on the events' INSERT all store the text _dumps makes.
    import json

    from django.db import connection

    start(store, queue, "wf-json", memo={"k": "v"})
    lease = claim_one(store, queue, identity='w "1" é')
    store.complete_workflow_task(lease, complete([finish()]))
    with connection.cursor() as cur:
        cur.execute("SELECT event_type, attributes FROM temporalflow_event WHERE run_id = %s ORDER BY event_id",
                    [lease.run_pk])
        rows = cur.fetchall()
    assert [t for t, _ in rows][:3] == ["WorkflowExecutionStarted", "WorkflowTaskScheduled", "WorkflowTaskStarted"]
    for _, text in rows:
        assert text == json.dumps(json.loads(text), separators=(",", ":")), text
    assert json.loads(rows[2][1]) == {"scheduled_event_id": 2, "identity": 'w "1" é', "request_id": ""}
