"""Parts around the workflow that temporalio code relies on: connect, timeouts, dynamic
handlers, continue-as-new, memo, start delay, test environments."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

import temporalflow.envconfig
from temporalflow import activity, workflow
from temporalflow.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalflow.common import RawValue
from temporalflow.exceptions import ApplicationError, TimeoutError
from temporalflow.testing import ActivityEnvironment

from .conftest import running_worker, wf_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@workflow.defn
class InfoWorkflow:
    @workflow.run
    async def run(self, tag: str) -> dict:
        info = workflow.info()
        workflow.logger.info("running %s", tag)
        return {"tag": tag, "type": info.workflow_type, "queue": info.task_queue, "id": info.workflow_id,
                "memo": dict(workflow.memo()), "attempt": info.attempt,
                "in_workflow": workflow.in_workflow()}


async def test_connect_with_envconfig_and_memo_and_start_delay(client: Client, transactional_db: object) -> None:
    config = temporalflow.envconfig.ClientConfig.load_client_connect_config(override_env_vars={})
    connected = await Client.connect(**config)
    assert connected.namespace == "default"
    async with running_worker(connected, [InfoWorkflow]) as w:
        handle = await connected.start_workflow(InfoWorkflow.run, "t1", id=wf_id(), task_queue=w.task_queue,
                                                memo={"customer": "ann"}, start_delay=timedelta(milliseconds=300))
        result = await handle.result()
    assert result == {"tag": "t1", "type": "InfoWorkflow", "queue": w.task_queue, "id": handle.id,
                      "memo": {"customer": "ann"}, "attempt": 1, "in_workflow": True}
    desc = await handle.describe()
    assert await desc.memo() == {"customer": "ann"}
    assert desc.status == WorkflowExecutionStatus.COMPLETED and desc.close_time >= desc.start_time
    assert desc.history_length == len((await handle.fetch_history()).events)
    history = await handle.fetch_history()
    first_task = next(e for e in history.events if e.event_type.value == "WorkflowTaskStarted")
    assert first_task.event_time - history.events[0].event_time >= 0.3  # start_delay respected


@workflow.defn
class ForeverWorkflow:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


@pytest.mark.parametrize("option", ["execution_timeout", "run_timeout"])
async def test_workflow_execution_and_run_timeouts(client: Client, option: str) -> None:
    async with running_worker(client, [ForeverWorkflow]) as w:
        handle = await client.start_workflow(ForeverWorkflow.run, id=wf_id(), task_queue=w.task_queue,
                                             **{option: timedelta(milliseconds=500)})
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
    assert isinstance(err.value.cause, TimeoutError)
    assert (await handle.describe()).status == WorkflowExecutionStatus.TIMED_OUT


@activity.defn(dynamic=True)
async def any_activity(name: str, args: Sequence[RawValue]) -> str:
    values = [activity.payload_converter().from_payload(a.payload) for a in args]
    return f"{name}{values}"


@workflow.defn(dynamic=True)
class AnyWorkflow:
    def __init__(self) -> None:
        self.signals: list[str] = []

    @workflow.run
    async def run(self, name: str, args: Sequence[RawValue]) -> list:
        workflow.set_dynamic_signal_handler(self.on_signal)
        workflow.set_dynamic_query_handler(lambda q, a: f"{q}:{len(self.signals)}")
        await workflow.wait_condition(lambda: len(self.signals) >= 2)
        act = await workflow.execute_activity("does_not_exist", 1, start_to_close_timeout=timedelta(seconds=5))
        return [name, len(args), self.signals, act]

    def on_signal(self, name: str, args: Sequence[RawValue]) -> None:
        self.signals.append(name)


async def test_dynamic_workflow_activity_signal_and_query(client: Client) -> None:
    async with running_worker(client, [AnyWorkflow], [any_activity]) as w:
        handle = await client.start_workflow("SomeType", args=["a", "b"], id=wf_id(), task_queue=w.task_queue)
        await handle.signal("first")
        assert (await handle.query("how_many")).startswith("how_many:")
        await handle.signal("second")
        assert await handle.result() == ["SomeType", 2, ["first", "second"], "does_not_exist[1]"]


@workflow.defn
class CounterWorkflow:
    @workflow.run
    async def run(self, n: int) -> int:
        if n < 5:
            workflow.continue_as_new(n + 1)
        return n


async def test_continue_as_new_chain_followed_by_result(client: Client) -> None:
    async with running_worker(client, [CounterWorkflow]) as w:
        handle = await client.start_workflow(CounterWorkflow.run, 0, id=wf_id(), task_queue=w.task_queue)
        assert await handle.result() == 5
    first = client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
    assert (await first.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    latest = await client.get_workflow_handle(handle.id).describe()
    assert latest.status == WorkflowExecutionStatus.COMPLETED and latest.run_id != handle.result_run_id


@activity.defn
async def heartbeat_twice(x: int) -> int:
    activity.heartbeat(x)
    activity.heartbeat(x + 1)
    return activity.info().attempt


async def test_activity_environment_runs_activities_with_a_fake_context() -> None:
    env = ActivityEnvironment()
    beats: list = []
    env.on_heartbeat = lambda *d: beats.append(d)
    assert await env.run(heartbeat_twice, 3) == 1
    assert beats == [(3,), (4,)]

    @activity.defn
    async def waits() -> str:
        await activity.wait_for_cancelled()
        return "saw cancel"

    task = asyncio.ensure_future(env.run(waits))
    await asyncio.sleep(0)
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


PLAIN_TEST = textwrap.dedent('''
    from datetime import timedelta
    from temporalflow import activity, workflow
    from temporalflow.testing import WorkflowEnvironment
    from temporalflow.worker import Worker

    @activity.defn
    async def double(x: int) -> int:
        return x * 2

    @workflow.defn
    class Doubler:
        @workflow.run
        async def run(self, x: int) -> int:
            await workflow.sleep(3600)
            return await workflow.execute_activity(double, x, start_to_close_timeout=timedelta(seconds=5))

    async def test_without_django_project():
        async with await WorkflowEnvironment.start_time_skipping() as env:
            async with Worker(env.client, task_queue="q", workflows=[Doubler], activities=[double]):
                assert await env.client.execute_workflow(Doubler.run, 21, id="w", task_queue="q") == 42
''')


def test_workflow_environment_in_a_plain_pytest_run_without_django(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text(PLAIN_TEST)
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[3])
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:django", "-p", "no:cacheprovider", "-o", "asyncio_mode=auto",
         "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path / "test_plain.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


blocked_once: set[str] = set()


@workflow.defn
class BlockingWorkflow:
    @workflow.run
    async def run(self) -> str:
        import time

        wid = workflow.info().workflow_id
        if wid not in blocked_once:
            blocked_once.add(wid)
            time.sleep(2.5)  # never yields: the deadlock detector fails this task
        return "unblocked"


async def test_deadlocked_workflow_task_fails_and_other_workflows_progress(client: Client) -> None:
    async with running_worker(client, [BlockingWorkflow, InfoWorkflow]) as w:
        stuck = await client.start_workflow(BlockingWorkflow.run, id=wf_id(), task_queue=w.task_queue)
        others = [await client.start_workflow(InfoWorkflow.run, f"o{i}", id=wf_id(), task_queue=w.task_queue)
                  for i in range(5)]
        assert [(await h.result())["tag"] for h in others] == [f"o{i}" for i in range(5)]
        assert await stuck.result() == "unblocked"
    failed = [e for e in (await stuck.fetch_history()).events if e.event_type.value == "WorkflowTaskFailed"]
    assert failed and "TMPRL1101" in failed[0].attributes["failure"]["message"]


@workflow.defn
class SuggestWorkflow:
    @workflow.run
    async def run(self) -> list[bool]:
        seen = [workflow.info().is_continue_as_new_suggested()]
        for _ in range(3):
            await workflow.sleep(0.01)
        seen.append(workflow.info().is_continue_as_new_suggested())
        return seen


async def test_continue_as_new_is_suggested_past_the_history_warning(client: Client) -> None:
    async with running_worker(client, [SuggestWorkflow], continue_as_new_suggested_at=10) as w:
        assert await client.execute_workflow(SuggestWorkflow.run, id=wf_id(), task_queue=w.task_queue) == [False, True]


@activity.defn
async def huge_result() -> str:
    return "x" * 3_000_000


@workflow.defn
class HugeResultWorkflow:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_activity(huge_result, start_to_close_timeout=timedelta(seconds=10))
        except Exception as err:  # ActivityError(cause=ApplicationError PayloadSizeError)
            return f"{type(err.__cause__).__name__}:{getattr(err.__cause__, 'type', '')}"
        return "stored"


async def test_payload_size_limits_give_clear_errors(client: Client) -> None:
    from temporalflow.service import RPCError, RPCStatusCode

    with pytest.raises(RPCError) as err:
        await client.start_workflow(InfoWorkflow.run, "y" * 3_000_000, id=wf_id(), task_queue="nobody")
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT and "payload size limit" in err.value.message
    async with running_worker(client, [HugeResultWorkflow], [huge_result]) as w:
        result = await client.execute_workflow(HugeResultWorkflow.run, id=wf_id(), task_queue=w.task_queue)
    assert result == "ApplicationError:PayloadSizeError"


@workflow.defn
class EndlessTimers:
    @workflow.run
    async def run(self) -> None:
        while True:
            await workflow.sleep(0.001)


async def test_run_past_the_history_limit_is_terminated_not_stuck(client: Client) -> None:
    from temporalflow.exceptions import TerminatedError

    async with running_worker(client, [EndlessTimers], history_count_limit=40) as w:
        handle = await client.start_workflow(EndlessTimers.run, id=wf_id(), task_queue=w.task_queue)
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
    assert isinstance(err.value.cause, TerminatedError)
    assert "history count exceeds limit" in str(err.value.cause)
    assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED


@workflow.defn
class HugeInputWorkflow:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(echo_len, "z" * 3_000_000, start_to_close_timeout=timedelta(seconds=5))


@activity.defn
async def echo_len(s: str) -> int:
    return len(s)


async def test_oversized_payload_built_in_workflow_code_fails_the_task_with_a_clear_error(client: Client) -> None:
    async with running_worker(client, [HugeInputWorkflow], [echo_len]) as w:
        handle = await client.start_workflow(HugeInputWorkflow.run, id=wf_id(), task_queue=w.task_queue)
        while True:
            failed = [e for e in (await handle.fetch_history()).events if e.event_type.value == "WorkflowTaskFailed"]
            if failed:
                break
            await asyncio.sleep(0.02)
    assert "payload size limit" in failed[0].attributes["failure"]["message"]
    assert failed[0].attributes["cause"] == "BadScheduleActivityAttributes"
    await handle.terminate(reason="test done")


@workflow.defn
class RetriedWorkflow:
    @workflow.run
    async def run(self, succeed_on: int) -> int:
        attempt = workflow.info().attempt
        if attempt < succeed_on:
            raise ApplicationError(f"attempt {attempt} fails")
        return attempt


async def test_workflow_retry_policy_retries_failed_runs(client: Client) -> None:
    from temporalflow.common import RetryPolicy

    policy = RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3)
    async with running_worker(client, [RetriedWorkflow]) as w:
        handle = await client.start_workflow(RetriedWorkflow.run, 3, id=wf_id(), task_queue=w.task_queue,
                                             retry_policy=policy)
        assert await handle.result() == 3
        first = client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
        assert (await first.describe()).status == WorkflowExecutionStatus.FAILED
        exhausted = await client.start_workflow(RetriedWorkflow.run, 9, id=wf_id(), task_queue=w.task_queue,
                                                retry_policy=policy)
        with pytest.raises(WorkflowFailureError) as err:
            await exhausted.result()
    assert isinstance(err.value.cause, ApplicationError) and err.value.cause.message == "attempt 3 fails"
    last = (await exhausted.fetch_history()).events[-1]
    assert last.attributes["retry_state"] == "RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED"
