"""``workflow.wait`` / ``as_completed`` and handler unfinished policies, driven through histories."""

from __future__ import annotations

import asyncio
import json
import warnings
from datetime import timedelta

import pytest

from temporalflow import activity, workflow
from temporalflow.core import activation as jobs
from temporalflow.core import commands as cmds

from .history_builder import HistoryBuilder, decode, encode, new_driver, replay, run_task


@activity.defn
async def work(name: str) -> str:
    return name


def _start(name: str) -> asyncio.Task[str]:
    return workflow.start_activity(work, name, start_to_close_timeout=timedelta(seconds=5))


@workflow.defn(name="WaitFirst")
class WaitFirst:
    @workflow.run
    async def run(self) -> dict:
        tasks = [_start("a"), _start("b"), _start("c")]
        done, pending = await workflow.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        first = [t.result() for t in done]
        rest, still = await workflow.wait(pending, timeout=60)
        return {"first": first, "rest": [t.result() for t in rest], "still": len(still),
                "ordered": [t is tasks[1] for t in pending] == [True, False]}


@workflow.defn(name="WaitTimeout")
class WaitTimeout:
    @workflow.run
    async def run(self) -> list:
        tasks = [_start("slow")]
        done, pending = await workflow.wait(tasks, timeout=30)
        return [len(done), len(pending), isinstance(done, list), isinstance(pending, list)]


@workflow.defn(name="AsCompleted")
class AsCompleted:
    @workflow.run
    async def run(self) -> list[str]:
        out = []
        for next_done in workflow.as_completed([_start("x"), _start("y"), _start("z")]):
            out.append(await next_done)
        return out


@workflow.defn(name="AsCompletedTimeout")
class AsCompletedTimeout:
    @workflow.run
    async def run(self) -> list[str]:
        out = []
        try:
            for next_done in workflow.as_completed([_start("x"), _start("y")], timeout=10):
                out.append(await next_done)
        except TimeoutError:
            out.append("timeout")
        return out


def _activity_ids(h: HistoryBuilder) -> dict[str, int]:
    return {decode(e.attributes["input"]): e.event_id for e in h.scheduled_activities()}


def test_wait_first_completed_then_the_rest_in_given_order_and_replays() -> None:
    h = HistoryBuilder("WaitFirst")
    d = new_driver(WaitFirst)
    run_task(d, h)
    ids = _activity_ids(h)
    h.complete_activity(ids["b"], "b")
    c = run_task(d, h)
    # The second wait's timeout is a durable timer.
    assert any(isinstance(x, cmds.StartTimer) for x in c.commands)
    h.complete_activity(ids["c"], "c")
    h.complete_activity(ids["a"], "a")
    c = run_task(d, h)
    assert isinstance(c.commands[-1], cmds.CompleteWorkflowExecution)
    # The pending list keeps the order the tasks were given in (a, c), not completion order.
    result = decode(h.events[-1].attributes["result"])
    assert result["first"] == ["b"] and result["rest"] == ["a", "c"] and result["still"] == 0
    assert any(isinstance(x, cmds.CancelTimer) for x in c.commands)
    assert replay(h, WaitFirst).closed


def test_wait_timeout_returns_pending_without_raising() -> None:
    h = HistoryBuilder("WaitTimeout")
    d = new_driver(WaitTimeout)
    c = run_task(d, h)
    timer = next(x for x in c.commands if isinstance(x, cmds.StartTimer))
    assert timer.start_to_fire_timeout == 30
    h.fire_timer(str(timer.seq))
    run_task(d, h)
    assert decode(h.events[-1].attributes["result"]) == [0, 1, True, True]
    assert replay(h, WaitTimeout).closed


def test_as_completed_yields_in_completion_order_and_replays() -> None:
    h = HistoryBuilder("AsCompleted")
    d = new_driver(AsCompleted)
    run_task(d, h)
    ids = _activity_ids(h)
    for name in ("z", "x", "y"):
        h.complete_activity(ids[name], name)
        run_task(d, h)
    assert decode(h.events[-1].attributes["result"]) == ["z", "x", "y"]
    assert replay(h, AsCompleted).closed


def test_as_completed_timeout_raises_timeout_error() -> None:
    h = HistoryBuilder("AsCompletedTimeout")
    d = new_driver(AsCompletedTimeout)
    c = run_task(d, h)
    ids = _activity_ids(h)
    h.complete_activity(ids["y"], "y")
    run_task(d, h)
    timer = next(x for x in c.commands if isinstance(x, cmds.StartTimer))
    h.fire_timer(str(timer.seq))
    run_task(d, h)
    assert decode(h.events[-1].attributes["result"]) == ["y", "timeout"]


@workflow.defn(name="BadWait")
class BadWait:
    @workflow.run
    async def run(self, case: str) -> str:
        try:
            if case == "empty":
                await workflow.wait([])
            elif case == "when":
                await workflow.wait([_start("a")], return_when="SOMETIMES")
            elif case == "coroutine":
                coro = asyncio.sleep(0)
                try:
                    await workflow.wait([coro])
                finally:
                    coro.close()
            elif case == "single":
                await workflow.wait(_start("a"))  # type: ignore[arg-type]
            elif case == "as_completed_single":
                next(workflow.as_completed(_start("a")))  # type: ignore[arg-type]
        except (TypeError, ValueError) as err:
            return f"{type(err).__name__}: {err}"
        return "no error"


@pytest.mark.parametrize(("case", "message"), [
    ("empty", "ValueError: Set of Tasks/Futures is empty."),
    ("when", "ValueError: Invalid return_when value: SOMETIMES"),
    ("coroutine", "TypeError: Passing coroutines is forbidden, use tasks explicitly."),
    ("single", "TypeError: expect a list of futures, not Task"),
    ("as_completed_single", "TypeError: expect an iterable of futures, not Task"),
])
def test_wait_rejects_bad_input_with_asyncio_messages(case: str, message: str) -> None:
    h = HistoryBuilder("BadWait", case)
    run_task(new_driver(BadWait), h)
    assert decode(h.events[-1].attributes["result"]) == message


# --- handler unfinished policies -------------------------------------------------


@workflow.defn(name="Handlers")
class Handlers:
    def __init__(self) -> None:
        self.done = False
        self.release = False

    @workflow.run
    async def run(self, wait_for_handlers: bool) -> str:
        await workflow.wait_condition(lambda: self.done)
        if wait_for_handlers:
            self.release = True
            await workflow.wait_condition(workflow.all_handlers_finished)
        return "ok"

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.signal
    async def slow_signal(self) -> None:
        await workflow.wait_condition(lambda: self.release)

    @workflow.signal(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)
    async def quiet_signal(self) -> None:
        await workflow.wait_condition(lambda: self.release)

    @workflow.update
    async def slow_update(self) -> str:
        await workflow.wait_condition(lambda: self.release)
        return "updated"

    @workflow.update(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)
    async def quiet_update(self) -> str:
        await workflow.wait_condition(lambda: self.release)
        return "updated"


# temporalio's text, as its _workflow_instance.py builds it (a triple-quoted block, newlines → spaces).
_UPDATE_TEXT = """
[TMPRL1102] Workflow finished while update handlers are still running. This may have interrupted work that the
update handler was doing, and the client that sent the update will receive a 'workflow execution
already completed' RPCError instead of the update result. You can wait for all update and signal
handlers to complete by using `await workflow.wait_condition(lambda:
workflow.all_handlers_finished())`. Alternatively, if both you and the clients sending the update
are okay with interrupting running handlers when the workflow finishes, and causing clients to
receive errors, then you can disable this warning via the update handler decorator:
`@workflow.update(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)`.
""".replace("\n", " ").strip()
_SIGNAL_TEXT = """
[TMPRL1102] Workflow finished while signal handlers are still running. This may have interrupted work that the
signal handler was doing. You can wait for all update and signal handlers to complete by using
`await workflow.wait_condition(lambda: workflow.all_handlers_finished())`. Alternatively, if both
you and the clients sending the signal are okay with interrupting running handlers when the workflow
finishes, then you can disable this warning via the signal handler decorator:
`@workflow.signal(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)`.
""".replace("\n", " ").strip()


def _run_handlers(wait_for_handlers: bool) -> tuple[HistoryBuilder, list[warnings.WarningMessage]]:
    h = HistoryBuilder("Handlers", wait_for_handlers)
    d = new_driver(Handlers)
    run_task(d, h)
    h.signal("slow_signal")
    h.signal("slow_signal")
    h.signal("quiet_signal")
    run_task(d, h, [jobs.DoUpdate("u-1", "slow_update", encode(), True),
                    jobs.DoUpdate("u-2", "quiet_update", encode(), True)])
    h.signal("finish")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_task(d, h)
    return h, caught


def test_unfinished_handlers_warn_with_temporalios_message() -> None:
    h, caught = _run_handlers(wait_for_handlers=False)
    assert h.closed() is not None
    by_type = {type(w.message): str(w.message) for w in caught}
    assert set(by_type) == {workflow.UnfinishedUpdateHandlersWarning, workflow.UnfinishedSignalHandlersWarning}
    update_msg = by_type[workflow.UnfinishedUpdateHandlersWarning]
    prefix = (f"{_UPDATE_TEXT} The following updates were unfinished (and warnings were not disabled for "
              "their handler): ")
    assert update_msg.startswith(prefix)
    # ABANDON handlers are not listed.
    assert json.loads(update_msg[len(prefix):]) == [{"name": "slow_update", "id": "u-1"}]
    signal_msg = by_type[workflow.UnfinishedSignalHandlersWarning]
    prefix = (f"{_SIGNAL_TEXT} The following signals were unfinished (and warnings were not disabled for "
              "their handler): ")
    assert signal_msg.startswith(prefix)
    assert json.loads(signal_msg[len(prefix):]) == [{"name": "slow_signal", "count": 2}]
    # A replay of the closed run does not warn again.
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        assert replay(h, Handlers).closed
    assert not [w for w in again if issubclass(w.category, RuntimeWarning)]


def test_waiting_for_all_handlers_finished_means_no_warning() -> None:
    h, caught = _run_handlers(wait_for_handlers=True)
    assert h.closed() is not None
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]


def test_handler_unfinished_policy_is_temporalios_enum_and_checked() -> None:
    assert [p.name for p in workflow.HandlerUnfinishedPolicy] == ["WARN_AND_ABANDON", "ABANDON"]
    assert workflow.HandlerUnfinishedPolicy.WARN_AND_ABANDON.value == 1
    with pytest.raises(TypeError, match="HandlerUnfinishedPolicy"):
        workflow.signal(unfinished_policy=2)  # type: ignore[arg-type]
