"""The REST API's list endpoint over search attributes (filters, ORDER BY paging), and the remote client's
list_workflows on top of it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from rest_framework.test import APIClient

from temporalflow.client import SyncClient
from temporalflow.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalflow.service import RPCError, RPCStatusCode

from .conftest import assert_error, new_task_queue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

CUSTOMER = SearchAttributeKey.for_keyword("CustomerId")
AMOUNT = SearchAttributeKey.for_int("Amount")
DUE = SearchAttributeKey.for_datetime("DueAt")
WHEN = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)


@pytest.fixture(autouse=True)
def registered(settings: Any) -> None:
    settings.TEMPORALFLOW = {**settings.TEMPORALFLOW, "SEARCH_ATTRIBUTES": {
        "CustomerId": "Keyword", "Amount": "Int", "DueAt": "Datetime"}}


def started(tq: str, n: int = 3) -> list[str]:
    client = SyncClient.connect()
    out = []
    for i in range(n):
        attributes = TypedSearchAttributes([SearchAttributePair(CUSTOMER, f"c-{i}"),
                                            SearchAttributePair(AMOUNT, 10 * (n - i)),
                                            SearchAttributePair(DUE, WHEN)])
        out.append(client.start_workflow("Listed", id=f"{tq}-{i}", task_queue=tq, search_attributes=attributes).id)
    return out


def listed(api: APIClient, query: str, **params: Any) -> list[dict[str, Any]]:
    response = api.get("/api/workflows/", {"query": query, **params})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_list_filters_on_custom_attributes_and_shows_them_typed(api: APIClient) -> None:
    tq = new_task_queue()
    w = started(tq)
    [run] = listed(api, f"TaskQueue = '{tq}' AND CustomerId = 'c-1' AND Amount >= 20")
    assert run["workflow_id"] == w[1]
    assert run["search_attributes"] == {"CustomerId": {"type": "Keyword", "value": "c-1"},
                                        "Amount": {"type": "Int", "value": 20},
                                        "DueAt": {"type": "Datetime", "value": WHEN.isoformat()}}
    assert api.get(f"/api/workflows/{w[1]}/").json()["search_attributes"] == run["search_attributes"]
    assert [r["workflow_id"] for r in listed(api, f"TaskQueue = '{tq}' AND CustomerId IN ('c-0', 'c-2')")] == [
        w[2], w[0]]
    assert listed(api, "CustomerId = 'c-1'' OR 1=1 --'") == []


def test_order_by_pages_with_an_offset_cursor(api: APIClient) -> None:
    tq = new_task_queue()
    w = started(tq, n=5)
    page = api.get("/api/workflows/", {"query": f"TaskQueue = '{tq}' ORDER BY Amount", "page_size": 2}).json()
    seen: list[str] = []
    while True:
        seen += [r["workflow_id"] for r in page["results"]]
        if not page["next"]:
            break
        page = api.get(page["next"]).json()
    assert seen == list(reversed(w))  # Amount grows as the index falls
    assert_error(api.get("/api/workflows/", {"query": "ORDER BY Amount", "cursor": "garbage"}), 400, "invalid_cursor")


@pytest.mark.parametrize("query,fragment", [
    ("GROUP BY ExecutionStatus", "GROUP BY is only supported by count_workflows"),
    ("Amount = 'x'", "Amount takes an integer"),
    ("Nope = 1", "unknown attribute 'Nope'"),
    ("CustomerId = 'x' OR 1=1", "expected an attribute name"),
])
def test_bad_queries_are_400(api: APIClient, query: str, fragment: str) -> None:
    error = assert_error(api.get("/api/workflows/", {"query": query}), 400, "invalid_query")
    assert fragment in error["message"]


def test_the_remote_client_lists_with_custom_attributes(api_url: str, api_key: str) -> None:
    tq = new_task_queue()
    w = started(tq)
    remote = SyncClient.connect(api_url, api_key=api_key)
    found = list(remote.list_workflows(f"TaskQueue = '{tq}' AND Amount < 30 ORDER BY Amount DESC", page_size=1))
    assert [wf.id for wf in found] == [w[1], w[2]]
    assert found[0].typed_search_attributes[AMOUNT] == 20 and found[0].typed_search_attributes[DUE] == WHEN
    assert found[0].typed_search_attributes[CUSTOMER] == "c-1"
    assert remote.count_workflows(f"TaskQueue = '{tq}' AND CustomerId STARTS_WITH 'c-'").count == 3
    remote.get_workflow_handle(w[0]).terminate(reason="x")
    counted = remote.count_workflows(f"TaskQueue = '{tq}' GROUP BY ExecutionStatus")
    assert counted.count == 3
    assert [(list(g.group_values), g.count) for g in counted.groups] == [(["Running"], 2), (["Terminated"], 1)]
    with pytest.raises(RPCError, match="GROUP BY is supported for ExecutionStatus only"):
        remote.count_workflows("GROUP BY WorkflowType")
    with pytest.raises(RPCError) as info:
        list(remote.list_workflows("Amount = 'x'"))
    assert info.value.status == RPCStatusCode.INVALID_ARGUMENT


@pytest.fixture
def api_url(live_server: Any) -> str:
    return live_server.url + "/api/"


@pytest.fixture
def api_key(transactional_db: Any) -> str:
    from tests.integration.remote.conftest import make_token

    return make_token("visibility-remote")


def test_start_takes_search_attributes(api: APIClient) -> None:
    tq = new_task_queue()
    response = api.post("/api/workflows/", {
        "workflow_type": "Listed", "workflow_id": f"{tq}-api", "task_queue": tq, "args": [],
        "search_attributes": {"CustomerId": "c-api", "Amount": {"type": "Int", "value": 5},
                              "DueAt": WHEN.isoformat()}}, format="json")
    assert response.status_code == 201, response.content
    [run] = listed(api, f"TaskQueue = '{tq}' AND CustomerId = 'c-api' AND Amount = 5 AND DueAt = '{WHEN.isoformat()}'")
    assert run["search_attributes"]["Amount"] == {"type": "Int", "value": 5}
    for attributes, fragment in (({"Nope": "x"}, "search attribute Nope is not defined"),
                                 ({"Amount": "five"}, "invalid value for search attribute Amount of type Int")):
        error = assert_error(api.post("/api/workflows/", {
            "workflow_type": "Listed", "workflow_id": f"{tq}-bad", "task_queue": tq, "args": [],
            "search_attributes": attributes}, format="json"), 400, "invalid_argument")
        assert fragment in error["message"]
    assert listed(api, f"WorkflowId = '{tq}-bad'") == []


def test_the_remote_client_starts_with_typed_search_attributes(api_url: str, api_key: str) -> None:
    tq = new_task_queue()
    remote = SyncClient.connect(api_url, api_key=api_key)
    attributes = TypedSearchAttributes([SearchAttributePair(CUSTOMER, "c-remote"), SearchAttributePair(AMOUNT, 9),
                                        SearchAttributePair(DUE, WHEN)])
    handle = remote.start_workflow("Listed", id=f"{tq}-r", task_queue=tq, search_attributes=attributes)
    assert handle.describe().typed_search_attributes == attributes
    with pytest.raises(RPCError) as info:
        remote.start_workflow("Listed", id=f"{tq}-r2", task_queue=tq, search_attributes=TypedSearchAttributes(
            [SearchAttributePair(SearchAttributeKey.for_int("Unregistered"), 1)]))
    assert info.value.status == RPCStatusCode.INVALID_ARGUMENT and "is not defined" in str(info.value)
