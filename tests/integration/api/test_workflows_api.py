"""Every endpoint of the REST API, and every bad input it must answer with a 4xx."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from temporalflow.models import HistoryEvent, WorkflowRun, WorkflowUpdate
from tests.helpers import assert_eventually

from .conftest import assert_error, new_task_queue, wf_id
from .workflows import ApiCartWorkflow, ApiFailingWorkflow, ApiOddResultWorkflow

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]


def start(api: APIClient, task_queue: str, workflow_type: str = "ApiCartWorkflow", args: Any = ("ann",),
          **body: Any) -> dict[str, Any]:
    response = api.post("/api/workflows/", {"workflow_type": workflow_type, "workflow_id": body.pop("workflow_id",
                        None) or wf_id(), "task_queue": task_queue, "args": list(args), **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def events(api: APIClient, workflow_id: str, **params: Any) -> list[dict[str, Any]]:
    response = api.get(f"/api/workflows/{workflow_id}/history/", params)
    assert response.status_code == 200, response.content
    return response.json()["events"]


def event_types(api: APIClient, workflow_id: str) -> list[str]:
    return [e["event_type"] for e in events(api, workflow_id)]


# --- start ---------------------------------------------------------------------------------


def test_start_creates_a_run_with_its_options(api: APIClient) -> None:
    tq = new_task_queue()
    wid = wf_id()
    response = api.post("/api/workflows/", {
        "workflow_type": "ApiCartWorkflow", "workflow_id": wid, "task_queue": tq, "args": ["ann"],
        "execution_timeout": 3600, "run_timeout": 600, "task_timeout": 5, "start_delay": 30,
        "memo": {"customer": {"tier": "gold"}}, "id_reuse_policy": "REJECT_DUPLICATE",
        "retry_policy": {"maximum_attempts": 3, "initial_interval": 2},
    }, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["workflow_id"] == wid and body["started"] is True
    run = WorkflowRun.objects.get(run_id=body["run_id"])
    assert (run.workflow_type, run.task_queue, run.execution_timeout, run.run_timeout, run.task_timeout) == (
        "ApiCartWorkflow", tq, 3600, 600, 5)
    assert run.execution_time - run.start_time == timedelta(seconds=30)
    assert run.retry_policy["maximum_attempts"] == 3
    described = api.get(f"/api/workflows/{wid}/").json()
    assert described["memo"] == {"customer": {"tier": "gold"}}
    assert described["status"] == "Running" and described["run_id"] == body["run_id"]
    first = HistoryEvent.objects.get(run=run, event_id=1)
    assert first.event_type == "WorkflowExecutionStarted"


def test_start_duplicate_id_is_409_with_the_existing_run(api: APIClient) -> None:
    tq, wid = new_task_queue(), wf_id()
    first = start(api, tq, workflow_id=wid)
    response = api.post("/api/workflows/", {"workflow_type": "ApiCartWorkflow", "workflow_id": wid,
                                            "task_queue": tq}, format="json")
    error = assert_error(response, 409, "already_started")
    assert error["details"]["run_id"] == first["run_id"]
    assert error["details"]["workflow_id"] == wid
    assert WorkflowRun.objects.filter(workflow_id=wid).count() == 1
    same = api.post("/api/workflows/", {"workflow_type": "ApiCartWorkflow", "workflow_id": wid, "task_queue": tq,
                                        "id_conflict_policy": "USE_EXISTING"}, format="json")
    assert same.status_code == 200 and same.json() == {"workflow_id": wid, "run_id": first["run_id"], "started": False}


def test_start_with_signal(api: APIClient) -> None:
    started = start(api, new_task_queue(), signal={"name": "add", "args": ["first"]})
    types = event_types(api, started["workflow_id"])
    assert types[:2] == ["WorkflowExecutionStarted", "WorkflowExecutionSignaled"]
    signaled = events(api, started["workflow_id"], decode="true")[1]
    assert signaled["attributes"]["signal_name"] == "add"
    assert signaled["attributes"]["input"]["payloads"][0]["decoded"] == "first"


def test_start_uses_the_default_task_queue(api: APIClient) -> None:
    response = api.post("/api/workflows/", {"workflow_type": "ApiCartWorkflow", "workflow_id": wf_id()},
                        format="json")
    assert response.status_code == 201
    assert WorkflowRun.objects.get(run_id=response.json()["run_id"]).task_queue == "default"


@pytest.mark.parametrize("body,field", [
    ({"workflow_id": "x"}, "workflow_type"),
    ({"workflow_type": "", "workflow_id": "x"}, "workflow_type"),
    ({"workflow_type": "   ", "workflow_id": "x"}, "workflow_type"),
    ({"workflow_type": "A"}, "workflow_id"),
    ({"workflow_type": "A", "workflow_id": ""}, "workflow_id"),
    ({"workflow_type": "A", "workflow_id": "x", "args": "not a list"}, "args"),
    ({"workflow_type": "A", "workflow_id": "x", "execution_timeout": -1}, "execution_timeout"),
    ({"workflow_type": "A", "workflow_id": "x", "run_timeout": "soon"}, "run_timeout"),
    ({"workflow_type": "A", "workflow_id": "x", "id_reuse_policy": "SOMETIMES"}, "id_reuse_policy"),
    ({"workflow_type": "A", "workflow_id": "x", "id_conflict_policy": "UNSPECIFIED"}, "id_conflict_policy"),
    ({"workflow_type": "A", "workflow_id": "x", "memo": ["a"]}, "memo"),
    ({"workflow_type": "A", "workflow_id": "x", "retry_policy": {"backoff_coefficient": 0.5}}, "retry_policy"),
    ({"workflow_type": "A", "workflow_id": "x", "signal": {"args": []}}, "signal"),
    ({"workflow_type": "A" * 300, "workflow_id": "x"}, "workflow_type"),
])
def test_start_validation_errors(api: APIClient, body: dict[str, Any], field: str) -> None:
    error = assert_error(api.post("/api/workflows/", body, format="json"), 400, "validation_error")
    assert field in error["details"]["fields"], error
    assert not WorkflowRun.objects.exists()


def test_retry_policy_the_engine_refuses_is_400(api: APIClient) -> None:
    body = {"workflow_type": "A", "workflow_id": "x", "retry_policy": {"initial_interval": 10, "maximum_interval": 1}}
    error = assert_error(api.post("/api/workflows/", body, format="json"), 400, "validation_error")
    assert "retry_policy" in error["details"]["fields"]
    assert not WorkflowRun.objects.exists()


def test_malformed_json_and_non_object_bodies_are_400(api: APIClient) -> None:
    bad = api.post("/api/workflows/", data='{"workflow_type": "A", ', content_type="application/json")
    error = assert_error(bad, 400, "malformed_request")
    assert "JSON" in error["message"]
    assert_error(api.post("/api/workflows/", data="[1, 2]", content_type="application/json"), 400,
                 "malformed_request")
    assert_error(api.post("/api/workflows/", data="<a/>", content_type="application/xml"), 415,
                 "unsupported_media_type")
    assert not WorkflowRun.objects.exists()


def test_arguments_over_the_payload_limit_are_400(api: APIClient, settings: Any) -> None:
    with override_settings(TEMPORALFLOW={**settings.TEMPORALFLOW, "PAYLOAD_SIZE_LIMIT": 1000}):
        response = api.post("/api/workflows/", {"workflow_type": "A", "workflow_id": wf_id(), "args": ["x" * 2000]},
                            format="json")
    error = assert_error(response, 400, "invalid_argument")
    assert "payload size limit" in error["message"]
    assert not WorkflowRun.objects.exists()


def test_unknown_workflow_type_starts_and_its_first_task_fails(api: APIClient, start_worker: Any) -> None:
    worker = start_worker([ApiCartWorkflow])
    started = start(api, worker.task_queue, workflow_type="NoSuchWorkflow", args=())
    assert_eventually(lambda: "WorkflowTaskFailed" in event_types(api, started["workflow_id"]), timeout=20)
    failed = next(e for e in events(api, started["workflow_id"]) if e["event_type"] == "WorkflowTaskFailed")
    assert "NoSuchWorkflow" in str(failed["attributes"])
    assert api.get(f"/api/workflows/{started['workflow_id']}/").json()["status"] == "Running"


# --- list ----------------------------------------------------------------------------------


def test_list_filters_with_temporals_syntax(api: APIClient) -> None:
    tq = new_task_queue()
    carts = [start(api, tq) for _ in range(3)]
    failing = start(api, tq, workflow_type="ApiFailingWorkflow", args=())
    api.post(f"/api/workflows/{carts[0]['workflow_id']}/terminate/", {"reason": "x"}, format="json")

    def ids(query: str, **params: Any) -> list[str]:
        response = api.get("/api/workflows/", {"query": query, **params})
        assert response.status_code == 200, response.content
        return sorted(r["workflow_id"] for r in response.json()["results"])

    cart_ids = sorted(c["workflow_id"] for c in carts)
    assert ids(f"TaskQueue = '{tq}'") == sorted([*cart_ids, failing["workflow_id"]])
    assert ids(f"TaskQueue = '{tq}' AND WorkflowType = 'ApiCartWorkflow' AND ExecutionStatus = 'Running'") == \
        cart_ids[0:0] + sorted(c["workflow_id"] for c in carts[1:])
    assert ids(f"WorkflowId = '{carts[0]['workflow_id']}'") == [carts[0]["workflow_id"]]
    assert ids(f"TaskQueue = '{tq}' AND ExecutionStatus = 'Terminated'") == [carts[0]["workflow_id"]]
    assert ids(f"TaskQueue = '{tq}' AND (WorkflowType = 'ApiFailingWorkflow' OR ExecutionStatus = 'Terminated')") \
        == sorted([carts[0]["workflow_id"], failing["workflow_id"]])
    assert ids(f"TaskQueue = '{tq}' AND WorkflowId IN ('{carts[1]['workflow_id']}', 'nope')") == \
        [carts[1]["workflow_id"]]
    assert ids(f"TaskQueue = '{tq}' AND CloseTime IS NOT NULL") == [carts[0]["workflow_id"]]
    now = datetime.now(UTC)
    assert ids(f"TaskQueue = '{tq}' AND StartTime > '{(now - timedelta(hours=1)).isoformat()}'") == sorted(
        [*cart_ids, failing["workflow_id"]])
    assert ids(f"TaskQueue = '{tq}' AND StartTime > '{(now + timedelta(hours=1)).isoformat()}'") == []
    assert ids(f"TaskQueue = '{tq}' AND CloseTime > '2000-01-01T00:00:00Z'") == [carts[0]["workflow_id"]]


def test_list_filter_injection_is_a_literal(api: APIClient) -> None:
    start(api, new_task_queue())
    response = api.get("/api/workflows/", {"query": "WorkflowId = 'x'' OR 1=1 --'"})
    assert response.status_code == 200 and response.json()["results"] == []
    response = api.get("/api/workflows/", {"query": "WorkflowId = 'x' OR 'a'='a'"})
    error = assert_error(response, 400, "invalid_query")
    assert "expected an attribute name" in error["message"]
    assert error["details"]["position"] == 20


@pytest.mark.parametrize("query,fragment", [
    ("Foo = 'x'", "unknown attribute 'Foo'"),
    ("ExecutionStatus = 'Sleeping'", "unknown ExecutionStatus"),
    ("StartTime > 'yesterday'", "ISO 8601"),
    ("WorkflowId = 'x", "unterminated"),
    ("WorkflowId = 'x' AND", "expected an attribute name"),
])
def test_list_filter_errors_are_400(api: APIClient, query: str, fragment: str) -> None:
    error = assert_error(api.get("/api/workflows/", {"query": query}), 400, "invalid_query")
    assert fragment in error["message"]
    assert isinstance(error["details"]["position"], int)


def test_list_is_paginated_newest_first(api: APIClient) -> None:
    tq = new_task_queue()
    started = [start(api, tq)["workflow_id"] for _ in range(5)]
    seen: list[str] = []
    page = api.get("/api/workflows/", {"query": f"TaskQueue = '{tq}'", "page_size": 2}).json()
    while True:
        assert len(page["results"]) <= 2
        seen += [r["workflow_id"] for r in page["results"]]
        if not page["next"]:
            break
        page = api.get(page["next"]).json()
    assert seen == list(reversed(started))
    first = api.get("/api/workflows/", {"query": f"TaskQueue = '{tq}'"}).json()["results"][0]
    assert set(first) == {"workflow_id", "run_id", "workflow_type", "task_queue", "status", "start_time",
                          "execution_time", "close_time", "history_length", "parent_workflow_id", "parent_run_id",
                          "memo", "search_attributes"}
    assert_error(api.get("/api/workflows/", {"cursor": "garbage"}), 400, "invalid_cursor")


# --- describe and history ------------------------------------------------------------------


def test_describe_and_unknown_runs(api: APIClient) -> None:
    started = start(api, new_task_queue())
    body = api.get(f"/api/workflows/{started['workflow_id']}/").json()
    assert (body["workflow_type"], body["status"], body["history_length"]) == ("ApiCartWorkflow", "Running", 2)
    by_run = api.get(f"/api/workflows/{started['workflow_id']}/", {"run_id": started["run_id"]})
    assert by_run.status_code == 200 and by_run.json()["run_id"] == started["run_id"]
    assert_error(api.get("/api/workflows/nope/"), 404, "not_found")
    assert_error(api.get(f"/api/workflows/{started['workflow_id']}/", {"run_id": "no-such-run"}), 404, "not_found")
    for suffix in ("history/", "result/?timeout=0"):
        assert_error(api.get(f"/api/workflows/nope/{suffix}"), 404, "not_found")
    for action in ("signal", "query", "update", "cancel", "terminate"):
        error = assert_error(api.post(f"/api/workflows/nope/{action}/", {"name": "x"}, format="json"), 404,
                             "not_found")
        assert "nope" in error["message"]


def test_history_pages_from_an_event_id(api: APIClient) -> None:
    started = start(api, new_task_queue())
    wid = started["workflow_id"]
    for i in range(5):
        assert api.post(f"/api/workflows/{wid}/signal/", {"name": "add", "args": [f"i{i}"]}, format="json"
                        ).status_code == 200
    everything = events(api, wid)
    assert [e["event_id"] for e in everything] == list(range(1, 8))
    assert everything[0]["event_type"] == "WorkflowExecutionStarted"
    assert everything[0]["attributes"]["workflow_type"]["name"] == "ApiCartWorkflow"
    assert everything[0]["event_time"].endswith("Z")
    assert [e["event_id"] for e in events(api, wid, after=5)] == [6, 7]
    pages, token = [], None
    while True:
        params: dict[str, Any] = {"page_size": 3}
        if token:
            params["next_page_token"] = token
        body = api.get(f"/api/workflows/{wid}/history/", params).json()
        pages.append([e["event_id"] for e in body["events"]])
        token = body["next_page_token"]
        if token is None:
            break
    assert pages == [[1, 2, 3], [4, 5, 6], [7]]
    decoded = events(api, wid, decode="true")
    assert decoded[0]["attributes"]["input"]["payloads"][0]["decoded"] == "ann"
    assert decoded[2]["attributes"]["input"]["payloads"][0]["decoded"] == "i0"
    assert "decoded" not in str(events(api, wid)[0])
    for params in ({"after": "x"}, {"after": -1}, {"page_size": 0}, {"page_size": 100000}):
        assert_error(api.get(f"/api/workflows/{wid}/history/", params), 400, "validation_error")
    assert_error(api.get(f"/api/workflows/{wid}/history/", {"next_page_token": "abc"}), 400, "invalid_page_token")


# --- signal, query, update ------------------------------------------------------------------


def test_signal_query_update_and_result_with_a_worker(api: APIClient, start_worker: Any) -> None:
    worker = start_worker([ApiCartWorkflow, ApiFailingWorkflow])
    started = start(api, worker.task_queue)
    wid = started["workflow_id"]
    assert api.post(f"/api/workflows/{wid}/signal/", {"name": "add", "args": ["apple"]}, format="json").json() == {
        "workflow_id": wid, "run_id": None}
    query = api.post(f"/api/workflows/{wid}/query/", {"name": "items_so_far"}, format="json")
    assert query.status_code == 200 and query.json() == {"result": ["apple"]}
    at = api.post(f"/api/workflows/{wid}/query/", {"name": "item_at", "args": [0], "run_id": started["run_id"]},
                  format="json")
    assert at.json() == {"result": "apple"}

    update = api.post(f"/api/workflows/{wid}/update/", {"name": "add_item", "args": [{"sku": "pear", "qty": 2}],
                                                       "update_id": "u-1"}, format="json")
    assert update.status_code == 200, update.content
    assert update.json() == {"update_id": "u-1", "run_id": started["run_id"], "result": 2}
    again = api.post(f"/api/workflows/{wid}/update/", {"name": "add_item", "args": [{"sku": "pear", "qty": 2}],
                                                      "update_id": "u-1"}, format="json")
    assert again.status_code == 200 and again.json()["result"] == 2  # same update id: same outcome, applied once
    assert api.post(f"/api/workflows/{wid}/query/", {"name": "items_so_far"}, format="json").json()["result"] == [
        "apple", "pearx2"]

    pending = api.get(f"/api/workflows/{wid}/result/", {"timeout": 0})
    assert pending.status_code == 202
    assert pending.json() == {"workflow_id": wid, "run_id": started["run_id"], "done": False, "status": "Running"}

    api.post(f"/api/workflows/{wid}/signal/", {"name": "checkout"}, format="json")
    result = api.get(f"/api/workflows/{wid}/result/", {"timeout": 20})
    assert result.status_code == 200, result.content
    assert result.json() == {"workflow_id": wid, "run_id": None, "done": True, "status": "Completed",
                             "result": {"name": "ann", "items": ["apple", "pearx2"]}}

    closed = api.post(f"/api/workflows/{wid}/query/", {"name": "items_so_far"}, format="json")
    assert closed.status_code == 200 and closed.json() == {"result": ["apple", "pearx2"]}  # closed runs answer too

    failing = start(api, worker.task_queue, workflow_type="ApiFailingWorkflow", args=())
    failed = api.get(f"/api/workflows/{failing['workflow_id']}/result/", {"timeout": 20}).json()
    assert failed["done"] is True and failed["status"] == "Failed"
    assert failed["failure"]["type"] == "ApplicationError" and failed["failure"]["message"] == "boom"
    assert failed["failure"]["application_type"] == "Boom"
    assert failed["failure"]["failure"]["message"] == "boom"


def test_query_and_update_errors_from_the_worker(api: APIClient, start_worker: Any) -> None:
    worker = start_worker([ApiCartWorkflow])
    wid = start(api, worker.task_queue)["workflow_id"]

    error = assert_error(api.post(f"/api/workflows/{wid}/query/", {"name": "nope"}, format="json"), 400,
                         "unknown_query")
    assert "items_so_far" in error["message"]  # names the known queries
    error = assert_error(api.post(f"/api/workflows/{wid}/query/", {"name": "item_at", "args": [0, 1, 2]},
                                  format="json"), 422, "query_failed")
    assert "argument" in error["message"]
    assert_error(api.post(f"/api/workflows/{wid}/query/", {"name": "item_at", "args": [5]}, format="json"), 422,
                 "query_failed")  # the handler raised IndexError

    error = assert_error(api.post(f"/api/workflows/{wid}/update/", {"name": "nope"}, format="json"), 400,
                         "unknown_update")
    assert "add_item" in error["message"]
    error = assert_error(api.post(f"/api/workflows/{wid}/update/", {"name": "add_item", "args": [
        {"sku": "x", "qty": 0}]}, format="json"), 422, "update_failed")
    assert error["message"] == "qty must be positive"
    assert error["details"]["failure"]["application_type"] == "BadQty"
    assert_error(api.post(f"/api/workflows/{wid}/update/", {"name": "add_item", "args": ["not an item"]},
                          format="json"), 422, "update_failed")  # arguments that do not decode
    assert api.post(f"/api/workflows/{wid}/query/", {"name": "items_so_far"}, format="json").json() == {"result": []}


def test_query_without_a_worker_times_out_with_504(api: APIClient) -> None:
    wid = start(api, new_task_queue())["workflow_id"]
    error = assert_error(api.post(f"/api/workflows/{wid}/query/", {"name": "items_so_far", "timeout": 0.3},
                                  format="json"), 504, "deadline_exceeded")
    assert "no worker answered" in error["message"]
    error = assert_error(api.post(f"/api/workflows/{wid}/update/", {"name": "add_item", "timeout": 0.3,
                                                                   "update_id": "late"}, format="json"),
                         504, "deadline_exceeded")
    assert WorkflowUpdate.objects.filter(update_id="late").exists()  # admitted; a worker may still run it


@pytest.mark.parametrize("action,body,field", [
    ("signal", {}, "name"),
    ("signal", {"name": ""}, "name"),
    ("signal", {"name": "add", "args": {"a": 1}}, "args"),
    ("query", {"args": []}, "name"),
    ("query", {"name": "q", "timeout": 1000}, "timeout"),
    ("query", {"name": "q", "timeout": 0}, "timeout"),
    ("update", {"name": ""}, "name"),
    ("update", {"name": "u", "timeout": -1}, "timeout"),
    ("update", {"name": "u", "update_id": ""}, "update_id"),
    ("terminate", {"reason": ["x"]}, "reason"),
    ("cancel", {"run_id": ""}, "run_id"),
])
def test_message_validation_errors(api: APIClient, action: str, body: dict[str, Any], field: str) -> None:
    wid = start(api, new_task_queue())["workflow_id"]
    before = HistoryEvent.objects.count()
    error = assert_error(api.post(f"/api/workflows/{wid}/{action}/", body, format="json"), 400, "validation_error")
    assert field in error["details"]["fields"]
    assert_error(api.post(f"/api/workflows/{wid}/{action}/", data="{nope", content_type="application/json"), 400,
                 "malformed_request")
    assert HistoryEvent.objects.count() == before


def test_unknown_signal_names_are_recorded_as_in_temporal(api: APIClient) -> None:
    wid = start(api, new_task_queue())["workflow_id"]
    assert api.post(f"/api/workflows/{wid}/signal/", {"name": "no_handler"}, format="json").status_code == 200
    last = events(api, wid)[-1]
    assert last["event_type"] == "WorkflowExecutionSignaled"
    assert last["attributes"]["identity"] == "api:operator"  # the API user, in history


# --- cancel, terminate, closed runs ---------------------------------------------------------


def test_cancel_terminate_and_closed_runs(api: APIClient) -> None:
    started = start(api, new_task_queue())
    wid = started["workflow_id"]
    cancel = api.post(f"/api/workflows/{wid}/cancel/", {}, format="json")
    assert cancel.status_code == 200 and cancel.json() == {"workflow_id": wid, "run_id": None}
    assert event_types(api, wid)[-1] == "WorkflowExecutionCancelRequested"
    term = api.post(f"/api/workflows/{wid}/terminate/", {"reason": "ops said so", "run_id": started["run_id"]},
                    format="json")
    assert term.status_code == 200
    last = events(api, wid)[-1]
    assert last["event_type"] == "WorkflowExecutionTerminated" and last["attributes"]["reason"] == "ops said so"
    assert api.get(f"/api/workflows/{wid}/").json()["status"] == "Terminated"
    before = HistoryEvent.objects.count()
    for action, body in (("signal", {"name": "add"}), ("cancel", {}), ("terminate", {}),
                         ("update", {"name": "add_item"})):
        error = assert_error(api.post(f"/api/workflows/{wid}/{action}/", body, format="json"), 409,
                             "workflow_closed")
        assert error["details"] == {"workflow_id": wid, "run_id": started["run_id"], "status": "Terminated"}
    assert HistoryEvent.objects.count() == before
    result = api.get(f"/api/workflows/{wid}/result/", {"timeout": 0}).json()
    assert result["done"] is True and result["status"] == "Terminated"
    assert result["failure"]["type"] == "TerminatedError"


def test_result_timeout_is_bounded(api: APIClient) -> None:
    wid = start(api, new_task_queue())["workflow_id"]
    for timeout in ("61", "-1", "soon", "nan"):
        error = assert_error(api.get(f"/api/workflows/{wid}/result/", {"timeout": timeout}), 400, "validation_error")
        assert "timeout" in error["details"]["fields"]
    assert api.get(f"/api/workflows/{wid}/result/", {"timeout": "0.2"}).status_code == 202


# --- task queues ---------------------------------------------------------------------------


def test_task_queues_show_backlog_and_pollers(api: APIClient, start_worker: Any) -> None:
    idle_tq = new_task_queue()
    start(api, idle_tq)
    start(api, idle_tq)
    worker = start_worker([ApiCartWorkflow])

    def queues() -> dict[str, Any]:
        return {q["name"]: q for q in api.get("/api/task-queues/").json()["results"]}

    idle = queues()[idle_tq]
    assert (idle["workflow_backlog"], idle["running_workflows"], idle["pollers"]) == (2, 2, [])
    seen = assert_eventually(lambda: queues().get(worker.task_queue, {}).get("pollers"), timeout=20)
    assert worker.identity in {p["identity"] for p in seen}
    assert {p["kind"] for p in seen} <= {"workflow", "activity"}
    one = api.get(f"/api/task-queues/{idle_tq}/").json()
    assert one == {**idle, "name": idle_tq}
    unused = api.get("/api/task-queues/never-used/").json()
    assert unused == {"name": "never-used", "workflow_backlog": 0, "activity_backlog": 0, "running_workflows": 0,
                      "pollers": []}
    assert_error(api.get("/api/task-queues/", {"within": "x"}), 400, "validation_error")


# --- routing ---------------------------------------------------------------------------------


def test_unknown_paths_and_methods_are_json_errors(api: APIClient) -> None:
    assert_error(api.get("/api/nothing-here/"), 404, "not_found")
    assert_error(api.delete("/api/workflows/"), 405, "method_not_allowed")
    assert_error(api.get("/api/workflows/x/signal/"), 405, "method_not_allowed")


def test_failing_workflow_result_before_a_worker_runs_it_is_202(api: APIClient) -> None:
    started = start(api, new_task_queue(), workflow_type=ApiFailingWorkflow.__name__, args=())
    assert api.get(f"/api/workflows/{started['workflow_id']}/result/", {"timeout": 0}).status_code == 202


def test_waiting_views_opt_out_of_atomic_requests() -> None:
    from django.urls import resolve

    for path in ("/api/workflows/x/result/", "/api/workflows/x/query/", "/api/workflows/x/update/"):
        assert resolve(path).func._non_atomic_requests == {"default"}, path
    assert not getattr(resolve("/api/workflows/x/signal/").func, "_non_atomic_requests", set())


def test_results_json_cannot_carry_are_still_json(api: APIClient, start_worker: Any) -> None:
    worker = start_worker([ApiOddResultWorkflow])
    raw = start(api, worker.task_queue, workflow_type="ApiOddResultWorkflow", args=["bytes"])
    body = api.get(f"/api/workflows/{raw['workflow_id']}/result/", {"timeout": 20}).json()
    assert body["result"] == {"base64": "AP9yYXc="}
    inf = start(api, worker.task_queue, workflow_type="ApiOddResultWorkflow", args=["inf"])
    assert api.get(f"/api/workflows/{inf['workflow_id']}/result/", {"timeout": 20}).json()["result"] == "inf"
    history = api.get(f"/api/workflows/{raw['workflow_id']}/history/", {"decode": "true"})
    assert history.status_code == 200
    completed = history.json()["events"][-1]
    assert completed["event_type"] == "WorkflowExecutionCompleted"
    assert completed["attributes"]["result"]["payloads"][0]["decoded"] == {"base64": "AP9yYXc="}


def test_nul_characters_are_400_on_every_database(api: APIClient) -> None:
    wid = start(api, new_task_queue())["workflow_id"]
    assert_error(api.get("/api/workflows/a%00b/"), 400, "validation_error")
    assert_error(api.get(f"/api/workflows/{wid}/", {"run_id": "a\x00"}), 400, "validation_error")
    assert_error(api.get("/api/workflows/", {"query": "WorkflowId = 'a\x00'"}), 400, "validation_error")
    assert_error(api.post("/api/workflows/a%00b/signal/", {"name": "add"}, format="json"), 400, "validation_error")
    for body in ({"workflow_type": "A", "workflow_id": "a\x00b"}, {"workflow_type": "A\x00", "workflow_id": "x"},
                 {"workflow_type": "A", "workflow_id": "x", "memo": {"k\x00": 1}},
                 {"workflow_type": "A", "workflow_id": "x", "task_queue": "q\x00"}):
        assert_error(api.post("/api/workflows/", body, format="json"), 400, "validation_error")
    assert_error(api.post(f"/api/workflows/{wid}/signal/", {"name": "a\x00"}, format="json"), 400,
                 "validation_error")
    nul_args = api.post(f"/api/workflows/{wid}/signal/", {"name": "add", "args": ["a\x00b"]}, format="json")
    assert nul_args.status_code == 200  # arguments are payloads (base64), any JSON string is fine
    assert WorkflowRun.objects.count() == 1


def test_workflow_ids_with_slashes(api: APIClient) -> None:
    started = start(api, new_task_queue(), workflow_id="order/42/shipping")
    assert api.get("/api/workflows/order/42/shipping/").json()["run_id"] == started["run_id"]
    assert api.post("/api/workflows/order/42/shipping/signal/", {"name": "add", "args": ["x"]}, format="json"
                    ).status_code == 200
    assert event_types(api, "order/42/shipping")[-1] == "WorkflowExecutionSignaled"
    assert api.get("/api/workflows/order/42/shipping/result/", {"timeout": 0}).status_code == 202
    assert_error(api.get("/api/workflows/order/42/"), 404, "not_found")
