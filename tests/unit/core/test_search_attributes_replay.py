"""UpsertWorkflowSearchAttributes in the core: a command per upsert, info() following it, replay matching it."""

from __future__ import annotations

import pytest

from temporalflow import workflow
from temporalflow.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalflow.core import commands as cmds
from temporalflow.core import search_attributes as sa
from temporalflow.core.errors import NondeterminismError
from temporalflow.core.events import EventType as ET

from .history_builder import HistoryBuilder, new_driver, replay, run_task

STAGE = SearchAttributeKey.for_keyword("Stage")
COUNT = SearchAttributeKey.for_int("Count")


@workflow.defn(name="Staged")
class Staged:
    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self) -> list:
        before = [(p.key.name, p.value) for p in workflow.info().typed_search_attributes]
        workflow.upsert_search_attributes([STAGE.value_set("one"), COUNT.value_set(1)])
        await workflow.wait_condition(lambda: self.go)
        workflow.upsert_search_attributes([COUNT.value_unset()])
        after = [(p.key.name, p.value) for p in workflow.info().typed_search_attributes]
        return [before, after, dict(workflow.info().search_attributes)]

    @workflow.signal
    def proceed(self) -> None:
        self.go = True


@workflow.defn(name="Staged")
class StagedWithoutFirstUpsert:
    def __init__(self) -> None:
        self.go = False

    @workflow.run
    async def run(self) -> list:
        await workflow.wait_condition(lambda: self.go)
        workflow.upsert_search_attributes([COUNT.value_unset()])
        return []

    @workflow.signal
    def proceed(self) -> None:
        self.go = True


def run_staged() -> HistoryBuilder:
    h = HistoryBuilder("Staged")
    start = h.events[0].attributes
    start["search_attributes"] = {"indexed_fields": sa.encode_search_attributes(TypedSearchAttributes(
        [SearchAttributePair(SearchAttributeKey.for_keyword("Customer"), "c-1")]))}
    driver = new_driver(Staged)
    first = run_task(driver, h)
    [upsert] = [c for c in first.commands if isinstance(c, cmds.UpsertWorkflowSearchAttributes)]
    assert set(upsert.search_attributes) == {"Stage", "Count"}
    h.signal("proceed")
    h.schedule_wft()
    second = run_task(driver, h)
    assert isinstance(second.commands[-1], cmds.CompleteWorkflowExecution)
    return h


def test_upserts_are_commands_and_info_follows_them() -> None:
    from .history_builder import decode

    h = run_staged()
    events = [e for e in h.events if e.event_type is ET.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES]
    assert len(events) == 2
    assert sa.is_null(events[1].attributes["search_attributes"]["indexed_fields"]["Count"])
    before, after, untyped = decode(h.events[-1].attributes["result"])
    assert before == [["Customer", "c-1"]]
    assert after == [["Customer", "c-1"], ["Stage", "one"]]
    assert untyped == {"Customer": ["c-1"], "Stage": ["one"]}


def test_a_history_with_upserts_replays_and_a_missing_upsert_does_not() -> None:
    h = run_staged()
    assert replay(h, Staged).closed
    with pytest.raises(NondeterminismError, match="UpsertWorkflowSearchAttributes"):
        replay(h, StagedWithoutFirstUpsert)


def test_upserts_are_refused_in_queries() -> None:
    from temporalflow.core.errors import ReadOnlyContextError

    @workflow.defn(name="Querying")
    class Querying:
        @workflow.run
        async def run(self) -> None:
            await workflow.wait_condition(lambda: False)

        @workflow.query
        def sneaky(self) -> None:
            workflow.upsert_search_attributes([STAGE.value_set("x")])

    h = HistoryBuilder("Querying")
    driver = new_driver(Querying)
    run_task(driver, h)
    result, failure = driver.instance.query("sneaky", {"payloads": []})
    assert result is None and failure is not None
    assert ReadOnlyContextError.__name__ in str(failure) or "must not change workflow state" in str(failure)
