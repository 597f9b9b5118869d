"""Activities: claim, heartbeat, complete, retries, final failure, cancellation, timeouts, eager start."""

from __future__ import annotations

import pytest

from temporalflow.core.commands import RequestCancelActivityTask
from temporalflow.store import StaleTask
from tests.helpers import assert_eventually

from .conftest import claim_one, complete, payloads, schedule, start, types

pytestmark = pytest.mark.django_db(transaction=True)

NO_RETRY = {"maximum_attempts": 1}
FAST_RETRY = {"initial_interval": 0.01, "maximum_interval": 0.01, "maximum_attempts": 3}


def scheduled(store, queue, **kw):
    """Start a run whose first task schedules one activity; returns the run pk."""
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    store.complete_workflow_task(lease, complete([schedule(1, queue, **kw)]))
    return lease.run_pk


def claim_act(store, queue, identity="aw"):
    acts = store.claim_activity_tasks("default", queue, identity, 10)
    assert len(acts) == 1, acts
    return acts[0]


def app_failure(message="boom", **info):
    return {"message": message, "application_failure_info": {"type": "MyError", **info}}


def test_claim_heartbeat_complete(store, queue):
    run_pk = scheduled(store, queue, heartbeat_timeout=10)
    act = claim_act(store, queue)
    assert (act.workflow_id, act.activity_type, act.attempt, act.scheduled_event_id) == ("wf-1", "act", 1, 5)
    assert act.input == payloads("a") and act.heartbeat_timeout == 10
    assert store.claim_activity_tasks("default", queue, "aw2", 10) == []
    assert store.heartbeat_activity(act.token, payloads("progress")).cancel_requested is False
    store.complete_activity_task(act.token, payloads("result"), identity="aw")
    assert types(store, run_pk)[-3:] == [
        "ActivityTaskStarted",
        "ActivityTaskCompleted",
        "WorkflowTaskScheduled",
    ]
    started, completed = store.read_history(run_pk)[-3:-1]
    assert started.attributes["attempt"] == 1 and started.attributes["identity"] == "aw"
    assert completed.attributes["started_event_id"] == started.event_id
    assert completed.attributes["result"] == payloads("result")
    with pytest.raises(StaleTask):
        store.complete_activity_task(act.token, payloads("again"))
    with pytest.raises(StaleTask):
        store.heartbeat_activity(act.token, None)


def test_retry_keeps_history_clean_until_final_outcome(store, queue):
    run_pk = scheduled(store, queue, retry_policy=FAST_RETRY)
    act = claim_act(store, queue)
    store.heartbeat_activity(act.token, payloads("hb"))
    store.fail_activity_task(act.token, app_failure())
    assert types(store, run_pk)[-1] == "ActivityTaskScheduled"  # retry: no event
    with pytest.raises(StaleTask):  # the old attempt's token is dead
        store.complete_activity_task(act.token, payloads())
    act2 = assert_eventually(lambda: store.claim_activity_tasks("default", queue, "aw", 10), timeout=5)[0]
    assert act2.attempt == 2 and act2.heartbeat_details == payloads("hb")
    assert act2.token != act.token
    store.complete_activity_task(act2.token, payloads("ok"))
    events = store.read_history(run_pk)
    assert [str(e.event_type) for e in events][-3:-1] == ["ActivityTaskStarted", "ActivityTaskCompleted"]
    assert events[-3].attributes["attempt"] == 2
    assert events[-3].attributes["last_failure"]["message"] == "boom"


def test_final_failure_after_max_attempts(store, queue):
    run_pk = scheduled(store, queue, retry_policy=NO_RETRY)
    act = claim_act(store, queue)
    store.fail_activity_task(act.token, app_failure(), identity="aw")
    assert types(store, run_pk)[-3:] == ["ActivityTaskStarted", "ActivityTaskFailed", "WorkflowTaskScheduled"]
    failed = store.read_history(run_pk)[-2].attributes
    assert failed["retry_state"] == "RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED"
    assert failed["failure"]["message"] == "boom"


def test_non_retryable_failure_is_final(store, queue):
    run_pk = scheduled(store, queue)
    act = claim_act(store, queue)
    store.fail_activity_task(act.token, app_failure(non_retryable=True))
    failed = store.read_history(run_pk)[-2].attributes
    assert failed["retry_state"] == "RETRY_STATE_NON_RETRYABLE_FAILURE"


def test_next_retry_delay_from_failure(store, queue):
    scheduled(store, queue)
    act = claim_act(store, queue)
    store.fail_activity_task(act.token, app_failure(next_retry_delay=60.0))
    assert store.claim_activity_tasks("default", queue, "aw", 10) == []
    due = store.next_due_time()
    assert due is not None and due > act.started_time + 50


def test_start_to_close_timeout_retries_then_times_out(store, queue):
    run_pk = scheduled(
        store, queue, start_to_close_timeout=0.05, retry_policy={**FAST_RETRY, "maximum_attempts": 2}
    )
    claim_act(store, queue)
    assert_eventually(lambda: store.fire_due_timers() >= 1, timeout=5)
    assert types(store, run_pk)[-1] == "ActivityTaskScheduled"  # retried
    act2 = assert_eventually(lambda: store.claim_activity_tasks("default", queue, "aw", 10), timeout=5)[0]
    assert act2.attempt == 2
    assert_eventually(lambda: store.fire_due_timers() >= 1, timeout=5)
    assert types(store, run_pk)[-3:] == [
        "ActivityTaskStarted",
        "ActivityTaskTimedOut",
        "WorkflowTaskScheduled",
    ]
    timed_out = store.read_history(run_pk)[-2].attributes
    assert timed_out["failure"]["timeout_failure_info"]["timeout_type"] == "TIMEOUT_TYPE_START_TO_CLOSE"
    assert timed_out["failure"]["message"] == "activity StartToClose timeout"
    assert timed_out["retry_state"] == "RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED"


def test_heartbeat_timeout(store, queue):
    run_pk = scheduled(store, queue, heartbeat_timeout=0.05, retry_policy=NO_RETRY)
    act = claim_act(store, queue)
    store.heartbeat_activity(act.token, payloads("last"))
    assert_eventually(lambda: store.fire_due_timers() >= 1, timeout=5)
    timed_out = store.read_history(run_pk)[-2].attributes
    info = timed_out["failure"]["timeout_failure_info"]
    assert info["timeout_type"] == "TIMEOUT_TYPE_HEARTBEAT"
    assert info["last_heartbeat_details"] == payloads("last")


def test_schedule_to_close_timeout_is_final(store, queue):
    run_pk = scheduled(store, queue, schedule_to_close_timeout=0.05, start_to_close_timeout=None)
    claim_act(store, queue)
    assert_eventually(lambda: store.fire_due_timers() >= 1, timeout=5)
    timed_out = store.read_history(run_pk)[-2].attributes
    assert timed_out["failure"]["timeout_failure_info"]["timeout_type"] == "TIMEOUT_TYPE_SCHEDULE_TO_CLOSE"
    assert timed_out["retry_state"] == "RETRY_STATE_TIMEOUT"


def test_schedule_to_start_timeout(store, queue):
    run_pk = scheduled(store, queue, schedule_to_start_timeout=0.05)
    assert_eventually(lambda: store.fire_due_timers() >= 1, timeout=5)
    assert types(store, run_pk)[-2:] == ["ActivityTaskTimedOut", "WorkflowTaskScheduled"]
    timed_out = store.read_history(run_pk)[-2].attributes
    assert timed_out["failure"]["timeout_failure_info"]["timeout_type"] == "TIMEOUT_TYPE_SCHEDULE_TO_START"
    assert timed_out["started_event_id"] == 0


def test_cancel_unstarted_activity_resolves_at_once(store, queue):
    from temporalflow.models import ActivityTask

    run_pk = scheduled(store, queue)
    store.signal("default", "wf-1", None, "cancel-it", payloads())
    lease = claim_one(store, queue)
    store.complete_workflow_task(lease, complete([RequestCancelActivityTask(seq=1, scheduled_event_id=5)]))
    assert types(store, run_pk)[-4:] == [
        "WorkflowTaskCompleted",
        "ActivityTaskCancelRequested",
        "ActivityTaskCanceled",
        "WorkflowTaskScheduled",
    ]
    assert not ActivityTask.objects.filter(run_id=run_pk).exists()


def test_cancel_started_activity_via_heartbeat(store, queue):
    run_pk = scheduled(store, queue)
    act = claim_act(store, queue)
    store.signal("default", "wf-1", None, "cancel-it", payloads())
    lease = claim_one(store, queue)
    store.complete_workflow_task(lease, complete([RequestCancelActivityTask(seq=1, scheduled_event_id=5)]))
    assert types(store, run_pk)[-1] == "ActivityTaskCancelRequested"
    assert store.heartbeat_activity(act.token, None).cancel_requested is True
    store.cancel_activity_task(act.token, payloads("bye"), identity="aw")
    assert types(store, run_pk)[-3:] == [
        "ActivityTaskStarted",
        "ActivityTaskCanceled",
        "WorkflowTaskScheduled",
    ]


def test_eager_activity_returned_started(store, queue):
    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    res = store.complete_workflow_task(
        lease, complete([schedule(1, queue), schedule(2, queue), schedule(3, "elsewhere")], eager=1)
    )
    assert [a.activity_id for a in res.activity_leases] == ["1"]
    assert [a.activity_id for a in store.claim_activity_tasks("default", queue, "aw", 10)] == ["2"]
    store.complete_activity_task(res.activity_leases[0].token, payloads("eager"))
    assert "ActivityTaskCompleted" in types(store, lease.run_pk)


def test_terminated_run_makes_activity_stale(store, queue):
    scheduled(store, queue)
    act = claim_act(store, queue)
    store.terminate("default", "wf-1", None, reason="stop")
    with pytest.raises(StaleTask):
        store.heartbeat_activity(act.token, None)
    with pytest.raises(StaleTask):
        store.complete_activity_task(act.token, payloads())
    with pytest.raises(StaleTask):
        store.fail_activity_task(act.token, app_failure())


def test_missing_timeouts_rejected(store, queue):
    from temporalflow.store import StoreError

    start(store, queue, "wf-1")
    lease = claim_one(store, queue)
    with pytest.raises(StoreError):
        store.complete_workflow_task(lease, complete([schedule(1, queue, start_to_close_timeout=None)]))
