"""describe() exposes pending activities as temporalio code reads them (``raw_description.pending_activities``)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from temporalflow import activity, workflow
from temporalflow.client import Client
from temporalflow.common import RetryPolicy
from temporalflow.exceptions import ApplicationError
from tests.helpers import assert_eventually_async

from .conftest import new_task_queue, running_worker, wf_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@activity.defn
async def fails_then_waits(key: str) -> str:
    raise ApplicationError(f"attempt {activity.info().attempt} of {key} failed")


@workflow.defn
class Pending:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(
            fails_then_waits, key, activity_id="charge", start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=60), maximum_attempts=5))


async def test_a_retrying_activity_is_pending_with_its_attempt_and_last_failure(client: Client) -> None:
    key = wf_id()
    async with running_worker(client, [Pending], [fails_then_waits]) as w:
        handle = await client.start_workflow(Pending.run, key, id=key, task_queue=w.task_queue)

        async def waiting_for_retry():
            pending = (await handle.describe()).raw_description.pending_activities
            return pending if pending and pending[0].attempt == 2 else None

        [info] = await assert_eventually_async(waiting_for_retry)
        assert info.activity_id == "charge"
        assert info.activity_type.name == "fails_then_waits"
        assert info.state.name == "SCHEDULED"
        assert info.maximum_attempts == 5
        assert info.last_failure["message"] == f"attempt 1 of {key} failed"
        await handle.terminate(reason="test over")
    assert (await handle.describe()).raw_description.pending_activities == []


@workflow.defn
class NeverRan:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @workflow.query
    def seen_so_far(self) -> list[str]:
        return self.seen

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


async def test_querying_a_run_terminated_before_its_first_task_is_a_clear_error(client: Client) -> None:
    from temporalflow.client import WorkflowQueryFailedError

    key, queue = wf_id(), new_task_queue()
    handle = await client.start_workflow(NeverRan.run, id=key, task_queue=queue)  # no worker polls it yet
    await handle.terminate(reason="never needed")
    async with running_worker(client, [NeverRan], task_queue=queue):
        with pytest.raises(WorkflowQueryFailedError, match="closed before its first workflow task ran"):
            await handle.query(NeverRan.seen_so_far)
