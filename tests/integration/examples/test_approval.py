"""The approval example (examples/approval) with time skipping: every path through the levels."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from examples.approval.activities import ApprovalActivities
from examples.approval.shared import ApprovalOutcome, ApprovalRequest, Decision, RecordingNotifier
from examples.approval.workflows import MultiLevelApproval
from temporalflow.client import WorkflowFailureError, WorkflowHandle
from temporalflow.testing import WorkflowEnvironment
from tests.integration.engine.conftest import running_worker, wf_id

from .conftest import eventually, signal_unless_closed

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

DAY = 24 * 3600.0
LEVELS = [["lead"], ["head", "deputy"], ["director"]]


def a_request() -> ApprovalRequest:
    return ApprovalRequest(request_id=wf_id(), requester="sam", summary="new laptops for the team",
                           levels=[list(level) for level in LEVELS], escalation_timeout_seconds=DAY)


async def at_level(handle: WorkflowHandle, level: int) -> None:
    """Wait until the request waits at ``level`` with that level's escalation timer running.

    The timer starts after the level's notification activity; moving the clock before that
    would skip the activity's own timeouts instead.
    """
    async def check() -> bool:
        pending = await handle.query(MultiLevelApproval.pending)
        if not (pending.level == level and pending.status == "pending" and pending.deadline is not None):
            return False
        timers = [e async for e in handle.fetch_history_events() if e.event_type.name == "TIMER_STARTED"]
        return len(timers) == level

    await eventually(check)


async def test_approved_at_level_one(time_env: WorkflowEnvironment) -> None:
    notifier, request = RecordingNotifier(), a_request()
    with time_env.auto_time_skipping_disabled():
        async with running_worker(time_env.client, [MultiLevelApproval],
                                  ApprovalActivities(notifier=notifier).all()) as w:
            handle = await time_env.client.start_workflow(MultiLevelApproval.run, request, id=request.request_id,
                                                          task_queue=w.task_queue)
            await at_level(handle, 1)
            pending = await handle.query(MultiLevelApproval.pending)
            assert pending.waiting_for == ["lead", "head", "deputy", "director"]
            deadline = datetime.fromisoformat(pending.deadline)
            assert abs((deadline - time_env.get_current_time()).total_seconds() - DAY) < 60
            await handle.signal(MultiLevelApproval.approve, Decision("lead", "fine"))
            outcome = await handle.result()
            assert (await handle.query(MultiLevelApproval.pending)).waiting_for == []
    assert outcome == ApprovalOutcome(request_id=request.request_id, status="approved", level=1, decided_by="lead",
                                      comment="fine", escalations=0)
    assert notifier.subjects_for("lead") == ["Approval needed: new laptops for the team"]
    assert notifier.subjects_for("head") == []
    assert notifier.subjects_for("sam") == ["Request approved: new laptops for the team"]


async def test_escalates_to_level_two_after_the_timeout_and_is_approved_there(
        time_env: WorkflowEnvironment) -> None:
    notifier, request = RecordingNotifier(), a_request()
    with time_env.auto_time_skipping_disabled():
        async with running_worker(time_env.client, [MultiLevelApproval],
                                  ApprovalActivities(notifier=notifier).all()) as w:
            handle = await time_env.client.start_workflow(MultiLevelApproval.run, request, id=request.request_id,
                                                          task_queue=w.task_queue)
            await at_level(handle, 1)
            await time_env.sleep(timedelta(seconds=DAY + 1))
            await at_level(handle, 2)
            assert (await handle.query(MultiLevelApproval.pending)).waiting_for == ["head", "deputy", "director"]
            # The lead is too late now: ignored, recorded.
            await handle.signal(MultiLevelApproval.approve, Decision("lead"))
            await handle.signal(MultiLevelApproval.approve, Decision("deputy", "ok for me"))
            outcome = await handle.result()
    assert (outcome.status, outcome.level, outcome.decided_by, outcome.escalations, outcome.ignored) == \
        ("approved", 2, "deputy", 1, ["lead"])
    assert notifier.subjects_for("deputy") == ["Approval needed (escalated to level 2): new laptops for the team"]


async def test_rejected_at_level_three(time_env: WorkflowEnvironment) -> None:
    notifier, request = RecordingNotifier(), a_request()
    with time_env.auto_time_skipping_disabled():
        async with running_worker(time_env.client, [MultiLevelApproval],
                                  ApprovalActivities(notifier=notifier).all()) as w:
            handle = await time_env.client.start_workflow(MultiLevelApproval.run, request, id=request.request_id,
                                                          task_queue=w.task_queue)
            for level in (1, 2):
                await at_level(handle, level)
                await time_env.sleep(timedelta(seconds=DAY + 1))
            await at_level(handle, 3)
            assert (await handle.query(MultiLevelApproval.pending)).waiting_for == ["director"]
            await handle.signal(MultiLevelApproval.reject, Decision("director", "no budget left"))
            # The first decision stands (or the run has already closed).
            await signal_unless_closed(handle, MultiLevelApproval.approve, Decision("director"))
            outcome = await handle.result()
    assert (outcome.status, outcome.level, outcome.decided_by, outcome.comment, outcome.escalations) == \
        ("rejected", 3, "director", "no budget left", 2)
    assert notifier.subjects_for("sam") == ["Request rejected: new laptops for the team"]


async def test_expires_when_no_level_decides(time_env: WorkflowEnvironment) -> None:
    notifier, request = RecordingNotifier(), a_request()
    async with running_worker(time_env.client, [MultiLevelApproval],
                              ApprovalActivities(notifier=notifier).all()) as w:
        # Automatic time skipping: three days pass in moments.
        outcome = await time_env.client.execute_workflow(MultiLevelApproval.run, request, id=request.request_id,
                                                         task_queue=w.task_queue)
        handle = time_env.client.get_workflow_handle(request.request_id)
        assert (await handle.query(MultiLevelApproval.pending)).status == "expired"
    assert (outcome.status, outcome.level, outcome.decided_by, outcome.escalations) == ("expired", 3, None, 2)
    fired = [e async for e in handle.fetch_history_events() if e.event_type.name == "TIMER_FIRED"]
    assert len(fired) == 3
    assert [s for _, s, _ in notifier.sent] == [
        "Approval needed: new laptops for the team",
        "Approval needed (escalated to level 2): new laptops for the team",
        "Approval needed (escalated to level 3): new laptops for the team",
        "Request expired: new laptops for the team",
    ]


async def test_a_higher_level_may_decide_early_and_bad_requests_fail(time_env: WorkflowEnvironment) -> None:
    notifier, request = RecordingNotifier(), a_request()
    with time_env.auto_time_skipping_disabled():
        async with running_worker(time_env.client, [MultiLevelApproval],
                                  ApprovalActivities(notifier=notifier).all()) as w:
            handle = await time_env.client.start_workflow(MultiLevelApproval.run, request, id=request.request_id,
                                                          task_queue=w.task_queue)
            await at_level(handle, 1)
            await handle.signal(MultiLevelApproval.approve, Decision("mallory"))  # not an approver at all
            await handle.signal(MultiLevelApproval.approve, Decision("director", "go ahead"))
            outcome = await handle.result()
            bad = a_request()
            bad.levels = [["lead"], []]
            with pytest.raises(WorkflowFailureError) as err:
                await time_env.client.execute_workflow(MultiLevelApproval.run, bad, id=bad.request_id,
                                                       task_queue=w.task_queue)
    assert (outcome.status, outcome.level, outcome.decided_by, outcome.ignored) == \
        ("approved", 1, "director", ["mallory"])
    assert err.value.cause.type == "InvalidRequest"
    assert err.value.cause.message == f"invalid approval request {bad.request_id}: level 2 has no approvers"
