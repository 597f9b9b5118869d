"""Workflow tasks: claim, complete, fail, fencing, dirty rescheduling, sticky, rejection, continue-as-new."""

from __future__ import annotations

import pytest
from django.test import override_settings

from temporalflow.core.commands import (
    CancelTimer,
    ContinueAsNewWorkflowExecution,
    FailWorkflowExecution,
    StartTimer,
)
from temporalflow.store import RunStatus, StaleTask
from tests.helpers import assert_eventually

from .conftest import claim_one, complete, finish, payloads, schedule, start, types

pytestmark = pytest.mark.django_db(transaction=True)


def test_claim_appends_started_and_fences(store, queue):
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    assert (lease.workflow_id, lease.scheduled_event_id, lease.started_event_id, lease.attempt) == (
        "wf-1",
        2,
        3,
        1,
    )
    assert store.claim_workflow_tasks("default", queue, "w2", 10) == []  # at most one started per run
    res = store.complete_workflow_task(lease, complete([finish()]))
    assert res.run_closed and not res.rejected and res.next_task is None
    assert types(store, lease.run_pk) == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "WorkflowExecutionCompleted",
    ]
    last = store.read_history(lease.run_pk)[-1]
    assert last.attributes["workflow_task_completed_event_id"] == 4
    assert store.describe("default", "wf-1", None).status == RunStatus.COMPLETED
    with pytest.raises(StaleTask):
        store.complete_workflow_task(lease, complete([finish()]))


def test_claim_batches_and_respects_queue(store, queue):
    for i in range(5):
        start(store, queue, f"wf-{i}")
    start(store, "other-queue", "wf-other")
    leases = store.claim_workflow_tasks("default", queue, "w1", 3)
    leases += store.claim_workflow_tasks("default", queue, "w1", 3)
    assert sorted(lease.workflow_id for lease in leases) == [f"wf-{i}" for i in range(5)]


def test_commands_create_activity_and_timer_rows(store, queue):
    from temporalflow.models import ActivityTask, Timer

    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    res = store.complete_workflow_task(
        lease, complete([schedule(1, queue), StartTimer(seq=1, start_to_fire_timeout=60)])
    )
    assert not res.run_closed and res.next_task is None and res.activity_leases == []
    assert types(store, lease.run_pk)[-3:] == [
        "WorkflowTaskCompleted",
        "ActivityTaskScheduled",
        "TimerStarted",
    ]
    act = ActivityTask.objects.get(run_id=lease.run_pk)
    assert (act.scheduled_event_id, act.state, act.attempt) == (5, 1, 1)
    timer = Timer.objects.get(run_id=lease.run_pk)
    assert (timer.timer_id, timer.started_event_id) == ("1", 6)
    # A later task cancels the timer.
    store.signal("default", "wf-1", None, "s", payloads())
    lease2 = claim_one(store, queue)
    store.complete_workflow_task(lease2, complete([CancelTimer(seq=1, started_event_id=6)]))
    assert not Timer.objects.filter(run_id=lease.run_pk).exists()
    assert types(store, lease.run_pk)[-1] == "TimerCanceled"


def test_events_during_task_schedule_next_task(store, queue):
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    store.signal("default", "wf-1", None, "s", payloads())  # arrives while the task runs
    res = store.complete_workflow_task(lease, complete([]))
    assert res.next_task is None
    assert types(store, lease.run_pk)[-3:] == [
        "WorkflowExecutionSignaled",
        "WorkflowTaskCompleted",
        "WorkflowTaskScheduled",
    ]
    lease2 = claim_one(store, queue, "w2")
    assert lease2.scheduled_event_id == 6


def test_no_new_events_means_no_next_task(store, queue):
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    store.complete_workflow_task(lease, complete([]))
    assert store.claim_workflow_tasks("default", queue, "w1", 10) == []
    store.signal("default", "wf-1", None, "s", payloads())
    assert claim_one(store, queue).scheduled_event_id == 6


def test_sticky_completion_claims_next_task_at_once(store, queue):
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    store.signal("default", "wf-1", None, "s", payloads())
    res = store.complete_workflow_task(lease, complete([], identity="w1", sticky=True))
    nxt = res.next_task
    assert nxt is not None and nxt.run_pk == lease.run_pk
    assert types(store, lease.run_pk)[-2:] == ["WorkflowTaskScheduled", "WorkflowTaskStarted"]
    assert nxt.started_event_id == nxt.scheduled_event_id + 1
    res2 = store.complete_workflow_task(nxt, complete([finish()], identity="w1", sticky=True))
    assert res2.run_closed


def test_sticky_reserves_next_task_for_owner_until_deadline(store, queue):
    start(store, queue, "wf-1")
    with override_settings(TEMPORALFLOW={"STICKY_SCHEDULE_TO_START_TIMEOUT": 0.2}):
        lease = claim_one(store, queue, "w1")
        store.complete_workflow_task(lease, complete([], identity="w1", sticky=True))
        store.signal("default", "wf-1", None, "s", payloads())
        assert store.claim_workflow_tasks("default", queue, "w2", 10) == []  # reserved for w1
        assert_eventually(lambda: store.claim_workflow_tasks("default", queue, "w2", 10), timeout=5)


def test_sticky_owner_claims_its_task(store, queue):
    start(store, queue, "wf-1")
    lease = claim_one(store, queue, "w1")
    store.complete_workflow_task(lease, complete([], identity="w1", sticky=True))
    store.signal("default", "wf-1", None, "s", payloads())
    assert store.claim_workflow_tasks("default", queue, "w2", 10) == []
    assert claim_one(store, queue, "w1").run_pk == lease.run_pk


def test_closing_with_unhandled_signal_is_rejected(store, queue):
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    store.signal("default", "wf-1", None, "late", payloads())
    res = store.complete_workflow_task(lease, complete([schedule(1, queue), finish()]))
    assert res.rejected and not res.run_closed
    assert types(store, lease.run_pk)[-3:] == [
        "WorkflowExecutionSignaled",
        "WorkflowTaskFailed",
        "WorkflowTaskScheduled",
    ]
    failed = store.read_history(lease.run_pk)[-2]
    assert failed.attributes["cause"] == "UnhandledCommand"
    assert store.describe("default", "wf-1", None).status == RunStatus.RUNNING
    lease2 = claim_one(store, queue)
    assert store.complete_workflow_task(lease2, complete([finish()])).run_closed


def test_closing_after_activity_result_during_task_is_accepted(store, queue):
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    store.complete_workflow_task(lease, complete([schedule(1, queue)]))
    act = store.claim_activity_tasks("default", queue, "w1", 1)[0]
    store.signal("default", "wf-1", None, "seen", payloads())  # before the task starts: handled
    lease2 = claim_one(store, queue)
    store.complete_activity_task(act.token, payloads("r"))  # during the task
    res = store.complete_workflow_task(lease2, complete([finish()]))
    assert res.run_closed and not res.rejected


def test_fail_workflow_task_reschedules_with_attempt(store, queue, monkeypatch):
    from temporalflow.core import retry

    monkeypatch.setattr(retry, "workflow_task_retry_delay", lambda attempt: 0.0)
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    store.fail_workflow_task(lease, "WorkflowWorkerUnhandledFailure", {"message": "boom"}, identity="w1")
    assert types(store, lease.run_pk)[-2:] == ["WorkflowTaskFailed", "WorkflowTaskScheduled"]
    with pytest.raises(StaleTask):
        store.fail_workflow_task(lease, "x", {"message": "again"})
    lease2 = claim_one(store, queue)
    assert lease2.attempt == 2
    store.complete_workflow_task(lease2, complete([FailWorkflowExecution(failure={"message": "bad"})]))
    assert store.describe("default", "wf-1", None).status == RunStatus.FAILED


def test_fail_workflow_task_backoff_delays_visibility(store, queue, monkeypatch):
    from temporalflow.core import retry

    monkeypatch.setattr(retry, "workflow_task_retry_delay", lambda attempt: 30.0)
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    store.fail_workflow_task(lease, "x", {"message": "boom"})
    assert store.claim_workflow_tasks("default", queue, "w1", 10) == []
    assert store.next_due_time() is not None


def test_workflow_task_timeout_reschedules(store, queue):
    start(store, queue, "wf-1", task_timeout=0.05)
    lease = claim_one(store, queue, "w1")
    assert_eventually(lambda: store.fire_due_timers() >= 1, timeout=5)
    assert types(store, lease.run_pk)[-2:] == ["WorkflowTaskTimedOut", "WorkflowTaskScheduled"]
    with pytest.raises(StaleTask):
        store.complete_workflow_task(lease, complete([finish()]))
    lease2 = claim_one(store, queue, "w2")
    assert lease2.attempt == 2


def test_continue_as_new_starts_next_run(store, queue):
    first = start(store, queue, "wf-1", execution_timeout=600)
    lease = claim_one(store, queue)
    res = store.complete_workflow_task(
        lease,
        complete(
            [
                ContinueAsNewWorkflowExecution(
                    workflow_type="MyWorkflow", task_queue=queue, input=payloads("n")
                )
            ]
        ),
    )
    assert res.run_closed
    old = store.describe("default", "wf-1", first)
    assert old.status == RunStatus.CONTINUED_AS_NEW
    can = store.read_history(old.pk)[-1]
    assert str(can.event_type) == "WorkflowExecutionContinuedAsNew"
    new = store.describe("default", "wf-1", None)
    assert new.run_id == can.attributes["new_execution_run_id"] != first
    assert new.first_run_id == first and new.status == RunStatus.RUNNING
    started = store.read_history(new.pk)[0].attributes
    assert started["continued_execution_run_id"] == first
    assert started["original_execution_run_id"] == new.run_id
    assert started["input"] == payloads("n")
    lease2 = claim_one(store, queue)
    assert lease2.run_id == new.run_id


def test_closing_drops_pending_rows(store, queue):
    from temporalflow.models import ActivityTask, Timer

    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    store.complete_workflow_task(
        lease, complete([schedule(1, queue), StartTimer(seq=1, start_to_fire_timeout=60)])
    )
    store.signal("default", "wf-1", None, "s", payloads())
    lease2 = claim_one(store, queue)
    store.complete_workflow_task(lease2, complete([finish()]))
    assert not ActivityTask.objects.filter(run_id=lease.run_pk).exists()
    assert not Timer.objects.filter(run_id=lease.run_pk).exists()
