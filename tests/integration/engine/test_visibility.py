"""Visibility through the public API: search attributes (start, upsert, unset, replay), list and count
with Temporal's list filters over standard and custom attributes, paging, and hostile queries."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from temporalflow import workflow
from temporalflow.client import (
    Client,
    SyncClient,
    WorkflowExecution,
    WorkflowExecutionAsyncIterator,
    WorkflowExecutionStatus,
)
from temporalflow.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)
from temporalflow.core.events import EventType
from temporalflow.service import RPCError, RPCStatusCode
from temporalflow.worker import Replayer

from .conftest import new_task_queue, running_worker, wf_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

CUSTOMER = SearchAttributeKey.for_keyword("CustomerId")
NOTES = SearchAttributeKey.for_text("Notes")
AMOUNT = SearchAttributeKey.for_int("Amount")
SCORE = SearchAttributeKey.for_float("Score")
VIP = SearchAttributeKey.for_bool("Vip")
DUE = SearchAttributeKey.for_datetime("DueAt")
TAGS = SearchAttributeKey.for_keyword_list("Tags")
STAGE = SearchAttributeKey.for_keyword("Stage")

REGISTERED = {"CustomerId": "Keyword", "Notes": "Text", "Amount": "Int", "Score": "Double", "Vip": "Bool",
              "DueAt": "Datetime", "Tags": "KeywordList", "Stage": "Keyword"}
DUE_AT = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


@pytest.fixture(autouse=True)
def registered(settings: Any) -> None:
    """The custom attributes these tests use, registered for every namespace."""
    settings.TEMPORALFLOW = {**settings.TEMPORALFLOW, "SEARCH_ATTRIBUTES": REGISTERED}


def every_type(customer: str = "c-1", amount: int = 42) -> TypedSearchAttributes:
    return TypedSearchAttributes([
        SearchAttributePair(CUSTOMER, customer),
        SearchAttributePair(NOTES, "Rush delivery to the Back Office"),
        SearchAttributePair(AMOUNT, amount),
        SearchAttributePair(SCORE, 0.75),
        SearchAttributePair(VIP, True),
        SearchAttributePair(DUE, DUE_AT),
        SearchAttributePair(TAGS, ["red", "blue"]),
    ])


@workflow.defn
class Waiter:
    """Waits for ``finish``; ``stage`` upserts, ``clear`` unsets; the query reads info()'s attributes."""

    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.done)
        return workflow.info().typed_search_attributes.get(STAGE, "none")

    @workflow.signal
    def stage(self, value: str) -> None:
        workflow.upsert_search_attributes([STAGE.value_set(value), AMOUNT.value_set(len(value))])

    @workflow.signal
    def clear(self) -> None:
        workflow.upsert_search_attributes([TAGS.value_unset(), NOTES.value_unset()])

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.query
    def attributes(self) -> dict[str, Any]:
        typed = workflow.info().typed_search_attributes
        return {pair.key.name: pair.value for pair in typed}

    @workflow.query
    def untyped(self) -> dict[str, Any]:
        return dict(workflow.info().search_attributes)


@workflow.defn
class Upserter:
    """Upserts in its run method (set, then unset), then completes."""

    @workflow.run
    async def run(self) -> list[str]:
        workflow.upsert_search_attributes([STAGE.value_set("started"), VIP.value_set(False)])
        await workflow.sleep(0.01)
        workflow.upsert_search_attributes([STAGE.value_set("done"), VIP.value_unset()])
        return sorted(pair.key.name for pair in workflow.info().typed_search_attributes)


@workflow.defn
class BadUpserter:
    """Upserts an attribute that is not registered (the task fails, the run waits for a fix)."""

    @workflow.run
    async def run(self) -> None:
        workflow.upsert_search_attributes([SearchAttributeKey.for_keyword("NotRegistered").value_set("x")])


@workflow.defn
class WrongTypeUpserter:
    """Upserts a registered attribute with a value of another type (the untyped dict form)."""

    @workflow.run
    async def run(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            workflow.upsert_search_attributes({"Amount": ["not a number"]})


@workflow.defn
class Chain:
    """Upserts, then continues as new once: the attributes carry over."""

    @workflow.run
    async def run(self, first: bool) -> str:
        if first:
            workflow.upsert_search_attributes([STAGE.value_set("carried")])
            workflow.continue_as_new(False)
        return workflow.info().typed_search_attributes[STAGE]


async def ids(client: Client, query: str, **kwargs: Any) -> list[str]:
    return [wf.id async for wf in client.list_workflows(query, **kwargs)]


async def wait_for(fn: Any, timeout: float = 20.0) -> Any:
    """Poll ``fn`` (async) until it returns a truthy value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await fn()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


# --- set at start, describe, list ----------------------------------------------------------------


async def test_typed_values_of_every_type_round_trip_through_describe_list_and_the_workflow(client: Client) -> None:
    tq = new_task_queue()
    async with running_worker(client, [Waiter], task_queue=tq):
        handle = await client.start_workflow(Waiter.run, id=wf_id(), task_queue=tq, search_attributes=every_type())
        desc = await handle.describe()
        typed = desc.typed_search_attributes
        assert typed[CUSTOMER] == "c-1" and typed[NOTES] == "Rush delivery to the Back Office"
        assert typed[AMOUNT] == 42 and isinstance(typed[AMOUNT], int)
        assert typed[SCORE] == 0.75 and typed[VIP] is True
        assert typed[DUE] == DUE_AT and typed[DUE].tzinfo is not None
        assert list(typed[TAGS]) == ["red", "blue"]
        assert desc.search_attributes["Tags"] == ["red", "blue"]  # the deprecated untyped form
        assert desc.search_attributes["Amount"] == [42]

        [listed] = [wf async for wf in client.list_workflows(f"TaskQueue = '{tq}'")]
        assert isinstance(listed, WorkflowExecution)
        assert listed.typed_search_attributes == typed
        assert listed.id == handle.id and listed.status == WorkflowExecutionStatus.RUNNING

        seen = await handle.query(Waiter.attributes)
        assert seen["CustomerId"] == "c-1" and seen["Amount"] == 42 and seen["Tags"] == ["red", "blue"]
        assert seen["DueAt"] == DUE_AT.isoformat()  # a query result is JSON: the datetime as ISO text
        await handle.signal(Waiter.finish)
        assert await handle.result() == "none"


async def test_unregistered_or_mistyped_attributes_at_start_are_invalid_argument(client: Client) -> None:
    tq = new_task_queue()
    cases = [
        (TypedSearchAttributes([SearchAttributePair(SearchAttributeKey.for_keyword("Nope"), "x")]),
         "search attribute Nope is not defined"),
        # Registered as Int: a key of another type is refused by the registry.
        (TypedSearchAttributes([SearchAttributePair(SearchAttributeKey.for_keyword("Amount"), "x")]),
         "invalid value for search attribute Amount of type Int"),
        (TypedSearchAttributes([SearchAttributePair(SearchAttributeKey.for_keyword("WorkflowId"), "x")]),
         "WorkflowId attribute can't be set in SearchAttributes"),
        (TypedSearchAttributes([SearchAttributePair(CUSTOMER, "x" * 3000)]), "exceeds size limit"),
    ]
    for attributes, message in cases:
        workflow_id = wf_id()
        with pytest.raises(RPCError) as info:
            await client.start_workflow(Waiter.run, id=workflow_id, task_queue=tq, search_attributes=attributes)
        assert info.value.status == RPCStatusCode.INVALID_ARGUMENT
        assert message in str(info.value)
        with pytest.raises(RPCError):  # nothing was written
            await client.get_workflow_handle(workflow_id).describe()
    with pytest.raises(TypeError):  # a value that does not fit its own key: refused before any request
        await client.start_workflow(Waiter.run, id=wf_id(), task_queue=tq, search_attributes=TypedSearchAttributes(
            [SearchAttributePair(AMOUNT, "42")]))


async def test_the_deprecated_dict_form_is_accepted_and_typed_by_the_registry(client: Client) -> None:
    tq = new_task_queue()
    with pytest.warns(DeprecationWarning):
        handle = await client.start_workflow(Waiter.run, id=wf_id(), task_queue=tq, search_attributes={
            "CustomerId": ["c-9"], "Amount": [7], "Tags": ["a", "b"], "DueAt": [DUE_AT]})
    typed = (await handle.describe()).typed_search_attributes
    assert typed[CUSTOMER] == "c-9" and typed[AMOUNT] == 7 and list(typed[TAGS]) == ["a", "b"]
    assert typed[DUE] == DUE_AT
    assert await ids(client, f"TaskQueue = '{tq}' AND Amount = 7 AND Tags = 'b'") == [handle.id]


# --- upsert in workflow code --------------------------------------------------------------------


async def test_upsert_and_unset_in_workflow_code_reach_describe_list_info_and_history(client: Client) -> None:
    tq = new_task_queue()
    async with running_worker(client, [Waiter], task_queue=tq):
        handle = await client.start_workflow(Waiter.run, id=wf_id(), task_queue=tq, search_attributes=every_type())
        await handle.signal(Waiter.stage, "packing")

        async def staged() -> bool:
            return (await handle.describe()).typed_search_attributes.get(STAGE) == "packing"

        await wait_for(staged)
        assert await ids(client, f"TaskQueue = '{tq}' AND Stage = 'packing' AND Amount = 7") == [handle.id]
        assert await ids(client, f"TaskQueue = '{tq}' AND Amount = 42") == []  # the old value left the index
        assert (await handle.query(Waiter.attributes))["Stage"] == "packing"

        await handle.signal(Waiter.clear)

        async def cleared() -> bool:
            return TAGS not in (await handle.describe()).typed_search_attributes

        await wait_for(cleared)
        typed = (await handle.describe()).typed_search_attributes
        assert NOTES not in typed and typed[CUSTOMER] == "c-1"
        assert await ids(client, f"TaskQueue = '{tq}' AND Tags IS NULL AND Notes IS NULL") == [handle.id]
        assert await ids(client, f"TaskQueue = '{tq}' AND Tags = 'red'") == []
        assert "Tags" not in await handle.query(Waiter.untyped)

        await handle.signal(Waiter.finish)
        assert await handle.result() == "packing"
        events = (await handle.fetch_history()).events
        upserts = [e for e in events if e.event_type is EventType.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES]
        assert len(upserts) == 2
        assert set(upserts[0].attributes["search_attributes"]["indexed_fields"]) == {"Stage", "Amount"}
        assert upserts[0].attributes["workflow_task_completed_event_id"] == upserts[0].event_id - 1
        # Closed runs stay listed with their last attributes.
        assert await ids(client, f"TaskQueue = '{tq}' AND Stage = 'packing' AND ExecutionStatus = 'Completed'") \
            == [handle.id]


async def test_a_history_with_upserts_replays_and_a_removed_upsert_is_nondeterminism(client: Client) -> None:
    tq = new_task_queue()
    async with running_worker(client, [Upserter], task_queue=tq):
        handle = await client.start_workflow(Upserter.run, id=wf_id(), task_queue=tq)
        assert await handle.result() == ["Stage"]
    history = await handle.fetch_history()
    assert sum(e.event_type is EventType.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES for e in history.events) == 2
    typed = (await handle.describe()).typed_search_attributes
    assert typed[STAGE] == "done" and VIP not in typed

    result = await Replayer(workflows=[Upserter]).replay_workflow(history)
    assert result.replay_failure is None

    @workflow.defn(name="Upserter")
    class UpserterWithoutUpserts:
        @workflow.run
        async def run(self) -> list[str]:
            await workflow.sleep(0.01)
            return []

    changed = await Replayer(workflows=[UpserterWithoutUpserts]).replay_workflow(
        history, raise_on_replay_failure=False)
    assert changed.replay_failure is not None
    assert "Nondeterminism" in str(changed.replay_failure)
    assert "UpsertWorkflowSearchAttributes" in str(changed.replay_failure)


async def test_an_unregistered_or_mistyped_upsert_fails_the_workflow_task(client: Client) -> None:
    tq = new_task_queue()
    async with running_worker(client, [BadUpserter, WrongTypeUpserter], task_queue=tq):
        for wf, message in ((BadUpserter, "search attribute NotRegistered is not defined"),
                            (WrongTypeUpserter, "invalid value for search attribute Amount of type Int")):
            handle = await client.start_workflow(wf.run, id=wf_id(), task_queue=tq)

            async def failed_task(handle: Any = handle) -> Any:
                events = (await handle.fetch_history()).events
                return next((e for e in events if e.event_type is EventType.WORKFLOW_TASK_FAILED), None)

            event = await wait_for(failed_task)
            assert event.attributes["cause"] == "BadSearchAttributes"
            assert message in event.attributes["failure"]["message"]
            desc = await handle.describe()
            assert desc.status == WorkflowExecutionStatus.RUNNING  # the task is retried, the run is not failed
            assert not any(e.event_type is EventType.UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
                           for e in (await handle.fetch_history()).events)
            await handle.terminate(reason="test over")


async def test_continue_as_new_carries_upserted_attributes_over(client: Client) -> None:
    tq = new_task_queue()
    async with running_worker(client, [Chain], task_queue=tq):
        handle = await client.start_workflow(Chain.run, True, id=wf_id(), task_queue=tq,
                                             search_attributes=TypedSearchAttributes([SearchAttributePair(
                                                 CUSTOMER, "c-7")]))
        assert await handle.result() == "carried"
    runs = [wf async for wf in client.list_workflows(f"WorkflowId = '{handle.id}'")]
    assert [r.status for r in runs] == [WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.CONTINUED_AS_NEW]
    assert all(r.typed_search_attributes[STAGE] == "carried" for r in runs)
    assert all(r.typed_search_attributes[CUSTOMER] == "c-7" for r in runs)


# --- list and count filters ------------------------------------------------------------------------


async def _started(client: Client, tq: str, n: int = 4) -> list[str]:
    """``n`` runs (no worker needed) with different custom attributes; returns their ids, oldest first."""
    out = []
    for i in range(n):
        attributes = TypedSearchAttributes([
            SearchAttributePair(CUSTOMER, f"cust-{i}"),
            SearchAttributePair(AMOUNT, i * 10),
            SearchAttributePair(SCORE, i / 2),
            SearchAttributePair(VIP, i % 2 == 0),
            SearchAttributePair(DUE, DUE_AT + timedelta(days=i)),
            SearchAttributePair(TAGS, [f"t{i}", "all"]),
            SearchAttributePair(NOTES, f"Order number {i} for the Smith family"),
        ] if i < n - 1 else [SearchAttributePair(CUSTOMER, "other")])  # the last one has almost nothing set
        handle = await client.start_workflow("Listed", id=f"{tq}-{i}", task_queue=tq, search_attributes=attributes)
        out.append(handle.id)
    return out


async def test_list_and_count_filters_over_standard_and_custom_attributes(client: Client) -> None:
    tq = new_task_queue()
    w = await _started(client, tq)
    base = f"TaskQueue = '{tq}'"

    async def match(cond: str) -> list[str]:
        return sorted(await ids(client, f"{base} AND ({cond})"))

    assert await ids(client, base) == list(reversed(w))  # newest first
    assert await match("CustomerId = 'cust-1'") == [w[1]]
    assert await match("CustomerId != 'cust-1'") == [w[0], w[2], w[3]]
    assert await match("CustomerId IN ('cust-0', 'cust-2', 'nobody')") == [w[0], w[2]]
    assert await match("CustomerId NOT IN ('cust-0', 'cust-2')") == [w[1], w[3]]
    assert await match("CustomerId STARTS_WITH 'cust-'") == [w[0], w[1], w[2]]
    assert await match("Amount >= 10") == [w[1], w[2]]
    assert await match("Amount BETWEEN 5 AND 15") == [w[1]]
    assert await match("Amount NOT BETWEEN 5 AND 15") == [w[0], w[2]]  # runs without Amount match neither
    assert await match("Amount IS NULL") == [w[3]]
    assert await match("Amount IS NOT NULL") == [w[0], w[1], w[2]]
    assert await match("Score > 0.4 AND Score < 1") == [w[1]]
    assert await match("Score = 1") == [w[2]]
    assert await match("Vip = true") == [w[0], w[2]]
    assert await match("Vip = FALSE") == [w[1]]
    assert await match(f"DueAt > '{(DUE_AT + timedelta(hours=1)).isoformat()}'") == [w[1], w[2]]
    assert await match(f"DueAt = '{DUE_AT.isoformat()}'") == [w[0]]
    assert await match("Tags = 'all'") == [w[0], w[1], w[2]]  # a keyword list matches any of its keywords
    assert await match("Tags IN ('t1', 't2')") == [w[1], w[2]]
    assert await match("Tags != 't1'") == [w[0], w[2]]
    assert await match("Notes = 'smith'") == [w[0], w[1], w[2]]  # text: contains, case-insensitively
    assert await match("Notes = 'number 2'") == [w[2]]
    assert await match("(CustomerId = 'cust-0' OR CustomerId = 'other') AND Vip IS NULL") == [w[3]]
    assert await match("WorkflowId = '" + w[1] + "' OR Amount = 20") == [w[1], w[2]]
    assert await match("ExecutionStatus = 'Running' AND WorkflowType = 'Listed' AND HistoryLength = 2") == sorted(w)
    assert await match("StartTime > '2000-01-01T00:00:00Z' AND CloseTime IS NULL") == sorted(w)
    assert await match("ExecutionDuration IS NULL AND ParentWorkflowId IS NULL") == sorted(w)
    assert await match("`CustomerId` = 'cust-2'") == [w[2]]

    assert (await client.count_workflows(base)).count == 4
    assert (await client.count_workflows(f"{base} AND Tags = 'all' AND Amount > 0")).count == 2


async def test_order_by_standard_and_custom_attributes(client: Client) -> None:
    tq = new_task_queue()
    w = await _started(client, tq)
    base = f"TaskQueue = '{tq}'"
    assert await ids(client, f"{base} ORDER BY Amount DESC") == [w[2], w[1], w[0], w[3]]  # unset last
    assert await ids(client, f"{base} ORDER BY Amount") == [w[0], w[1], w[2], w[3]]
    assert await ids(client, f"{base} ORDER BY CustomerId DESC") == [w[3], w[2], w[1], w[0]]
    assert await ids(client, f"{base} ORDER BY StartTime ASC, WorkflowId DESC") == w
    assert await ids(client, f"{base} ORDER BY DueAt DESC", page_size=1) == [w[2], w[1], w[0], w[3]]
    with pytest.raises(RPCError, match="cannot ORDER BY Tags"):
        await ids(client, f"{base} ORDER BY Tags")


async def test_count_group_by_execution_status(client: Client) -> None:
    tq = new_task_queue()
    w = await _started(client, tq)
    await client.get_workflow_handle(w[0]).terminate(reason="x")
    await client.get_workflow_handle(w[1]).terminate(reason="x")
    counted = await client.count_workflows(f"TaskQueue = '{tq}' GROUP BY ExecutionStatus")
    assert counted.count == 4
    assert sorted((list(g.group_values), g.count) for g in counted.groups) == [(["Running"], 2), (["Terminated"], 2)]
    counted = await client.count_workflows(f"TaskQueue = '{tq}' AND Amount > 0 GROUP BY ExecutionStatus")
    assert [(list(g.group_values), g.count) for g in counted.groups] == [(["Running"], 1), (["Terminated"], 1)]
    with pytest.raises(RPCError, match="GROUP BY is only supported by count_workflows"):
        await ids(client, f"TaskQueue = '{tq}' GROUP BY ExecutionStatus")
    with pytest.raises(RPCError, match="GROUP BY is supported for ExecutionStatus only"):
        await client.count_workflows("GROUP BY WorkflowType")


async def test_paging_limit_and_resuming_from_a_token(client: Client) -> None:
    tq = new_task_queue()
    w = await _started(client, tq, n=5)
    query = f"TaskQueue = '{tq}'"
    assert await ids(client, query, page_size=2) == list(reversed(w))
    assert await ids(client, query, page_size=2, limit=3) == list(reversed(w))[:3]
    assert await ids(client, query, limit=0) == []

    it = client.list_workflows(query, page_size=2)
    assert isinstance(it, WorkflowExecutionAsyncIterator)
    await it.fetch_next_page()
    assert [wf.id for wf in it.current_page or []] == [w[4], w[3]] and it.next_page_token
    rest = await ids(client, query, page_size=2, next_page_token=it.next_page_token)
    assert rest == [w[2], w[1], w[0]]
    with pytest.raises(RPCError) as info:  # a token of another query
        await ids(client, f"{query} AND Amount > 0", next_page_token=it.next_page_token)
    assert info.value.status == RPCStatusCode.INVALID_ARGUMENT
    with pytest.raises(RPCError, match="invalid page token"):
        await ids(client, query, next_page_token=b"garbage")
    with pytest.raises(ValueError, match="page_size"):
        client.list_workflows(query, page_size=0)


# --- hostile queries ---------------------------------------------------------------------------


@pytest.mark.parametrize("query,fragment", [
    ("WorkflowId = 'x' OR 1=1", "expected an attribute name, found 1"),
    ("WorkflowId = 'x'; DELETE FROM temporalflow_run", "unexpected character ';'"),
    ("WorkflowId = 'x' -- comment", "unexpected character '-'"),
    ("WorkflowId = 'x' /* comment */", "unexpected character '/'"),
    ("WorkflowId = x", "expected a value for WorkflowId"),
    ("Nope = 'x'", "unknown attribute 'Nope'"),
    ("Amount = 'ten'", "Amount takes an integer"),
    ("Amount = 1.5", "Amount takes an integer"),
    ("Vip = 'maybe'", "Vip takes true or false"),
    ("DueAt > 'tomorrow'", "not an ISO 8601 time"),
    ("Score = 'high'", "Score takes a number"),
    ("Tags STARTS_WITH 'a'", "STARTS_WITH is not supported for Tags"),
    ("Notes > 'a'", "operator > is not supported for Notes"),
    ("CustomerId = 'x' ORDER BY Nope", "unknown attribute 'Nope'"),
])
async def test_hostile_and_mistyped_queries_are_clear_errors(client: Client, query: str, fragment: str) -> None:
    await _started(client, new_task_queue(), n=2)
    with pytest.raises(RPCError) as info:
        await ids(client, query)
    assert info.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert fragment in str(info.value)
    with pytest.raises(RPCError):
        await client.count_workflows(query)


@pytest.mark.parametrize("value", [
    "x' OR '1'='1", "x'; DROP TABLE temporalflow_run; --", "x' OR 1=1 --", "%", "_", "\\", "*/", "') OR ('a'='a",
])
async def test_injection_inside_a_literal_matches_nothing(client: Client, value: str) -> None:
    tq = new_task_queue()
    await _started(client, tq, n=2)
    literal = "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"  # backslash escapes too
    for attribute in ("WorkflowId", "CustomerId", "Notes", "Tags"):
        assert await ids(client, f"{attribute} = {literal}") == []
        assert (await client.count_workflows(f"{attribute} = {literal}")).count == 0
    assert await ids(client, f"CustomerId STARTS_WITH {literal}") == []
    assert len(await ids(client, f"TaskQueue = '{tq}'")) == 2  # the table is still there


async def test_sync_client_lists_and_counts(client: Client) -> None:
    tq = new_task_queue()
    w = await _started(client, tq, n=3)

    def work() -> tuple[list[str], list[str], int, Sequence[Any]]:
        sync = SyncClient.connect()
        listed = [wf.id for wf in sync.list_workflows(f"TaskQueue = '{tq}'", page_size=1)]
        limited = [wf.id for wf in sync.list_workflows(f"TaskQueue = '{tq}' ORDER BY Amount", limit=2)]
        counted = sync.count_workflows(f"TaskQueue = '{tq}' GROUP BY ExecutionStatus")
        with pytest.raises(RPCError):
            list(sync.list_workflows("Amount = 'x'"))
        return listed, limited, counted.count, counted.groups

    listed, limited, count, groups = await sync_to_async(work, thread_sensitive=True)()
    assert listed == list(reversed(w))
    assert limited == [w[0], w[1]]
    assert count == 3 and [(list(g.group_values), g.count) for g in groups] == [(["Running"], 3)]


async def test_attributes_the_engine_sets_are_queryable_but_not_settable(client: Client) -> None:
    from temporalflow.core.search_attributes import encode_value
    from temporalflow.store import base as sb

    tq = new_task_queue()
    by_schedule = {"TemporalScheduledById": encode_value(SearchAttributeKey.for_keyword("TemporalScheduledById"),
                                                         "nightly"),
                   "CustomerId": encode_value(CUSTOMER, "c-1")}
    request = sb.StartWorkflowRequest(workflow_id=wf_id(), workflow_type="Listed", task_queue=tq,
                                      input={"payloads": []}, search_attributes=by_schedule)
    started = await sync_to_async(client.store.start_workflow, thread_sensitive=True)(request)
    assert await ids(client, "TemporalScheduledById = 'nightly' AND CustomerId = 'c-1'") == [request.workflow_id]
    [listed] = [wf async for wf in client.list_workflows(f"TaskQueue = '{tq}'")]
    assert listed.run_id == started.run_id
    assert listed.typed_search_attributes[SearchAttributeKey.for_keyword("TemporalScheduledById")] == "nightly"
    with pytest.raises(RPCError, match="TemporalScheduledById attribute can't be set in SearchAttributes"):
        await client.start_workflow("Listed", id=wf_id(), task_queue=tq, search_attributes=TypedSearchAttributes([
            SearchAttributePair(SearchAttributeKey.for_keyword("TemporalScheduledById"), "x")]))


async def test_the_admin_run_page_shows_decoded_attributes(client: Client) -> None:
    from django.contrib.auth.models import User
    from django.test import Client as BrowserClient

    from temporalflow.models import WorkflowRun

    tq = new_task_queue()
    handle = await client.start_workflow("Listed", id=wf_id(), task_queue=tq, search_attributes=every_type())

    def page() -> str:
        User.objects.create_superuser("sa-admin", password="pw")
        browser = BrowserClient()
        browser.force_login(User.objects.get(username="sa-admin"))
        run = WorkflowRun.objects.get(workflow_id=handle.id)
        return browser.get(f"/admin/temporalflow/workflowrun/{run.pk}/change/").content.decode()

    html = await sync_to_async(page, thread_sensitive=True)()
    assert "Search attributes" in html and "&quot;CustomerId&quot;: &quot;c-1&quot;" in html
    assert "&quot;Tags&quot;: [" in html and "json/plain" not in html


def test_manage_py_check_reports_a_bad_registration(settings: Any) -> None:
    from django.core.checks import run_checks

    assert not [e for e in run_checks() if e.id == "temporalflow.E003"]
    settings.TEMPORALFLOW = {**settings.TEMPORALFLOW, "SEARCH_ATTRIBUTES": {"Amount": "Number"}}
    [error] = [e for e in run_checks() if e.id == "temporalflow.E003"]
    assert "search attribute Amount has unknown type 'Number'" in error.msg


@workflow.defn
class ChildOfParent:
    @workflow.run
    async def run(self) -> str:
        return workflow.info().typed_search_attributes.get(CUSTOMER, "")


@workflow.defn
class Parent:
    @workflow.run
    async def run(self, key_name: str) -> str:
        key = SearchAttributeKey.for_keyword(key_name)
        return await workflow.execute_child_workflow(
            ChildOfParent.run, id=f"{workflow.info().workflow_id}-child",
            search_attributes=TypedSearchAttributes([SearchAttributePair(key, "from-parent")]))


async def test_child_workflows_start_with_search_attributes_checked_by_the_registry(client: Client) -> None:
    tq = new_task_queue()
    async with running_worker(client, [Parent, ChildOfParent], task_queue=tq):
        parent = await client.start_workflow(Parent.run, "CustomerId", id=wf_id(), task_queue=tq)
        assert await parent.result() == "from-parent"
        assert await ids(client, f"ParentWorkflowId = '{parent.id}' AND CustomerId = 'from-parent'") == [
            f"{parent.id}-child"]

        bad = await client.start_workflow(Parent.run, "NotRegistered", id=wf_id(), task_queue=tq)

        async def failed_task() -> Any:
            events = (await bad.fetch_history()).events
            return next((e for e in events if e.event_type is EventType.WORKFLOW_TASK_FAILED), None)

        event = await wait_for(failed_task)
        assert event.attributes["cause"] == "BadStartChildExecutionAttributes"
        assert "search attribute NotRegistered is not defined" in event.attributes["failure"]["message"]
        await bad.terminate(reason="test over")
