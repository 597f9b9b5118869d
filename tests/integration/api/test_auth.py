"""Authentication (token, session) and per-action permissions: refused means nothing is written."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from temporalflow.client import SyncClient
from temporalflow.models import HistoryEvent, WorkflowQuery, WorkflowRun, WorkflowUpdate

from .conftest import ALL_PERMS, assert_error, make_user, new_task_queue, token_client, wf_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def _running_run() -> tuple[str, str]:
    wid = wf_id()
    handle = SyncClient.connect().start_workflow("ApiCartWorkflow", "ann", id=wid, task_queue=new_task_queue())
    return wid, handle.result_run_id


def _written() -> tuple[int, int, int, int]:
    return (WorkflowRun.objects.count(), HistoryEvent.objects.count(), WorkflowUpdate.objects.count(),
            WorkflowQuery.objects.count())


def _calls(wid: str) -> dict[str, tuple[str, str, dict[str, Any] | None]]:
    return {
        "start": ("post", "/api/workflows/", {"workflow_type": "ApiCartWorkflow", "workflow_id": wf_id()}),
        "signal": ("post", f"/api/workflows/{wid}/signal/", {"name": "add", "args": ["x"]}),
        "update": ("post", f"/api/workflows/{wid}/update/", {"name": "add_item", "timeout": 0.2}),
        "cancel": ("post", f"/api/workflows/{wid}/cancel/", {}),
        "terminate": ("post", f"/api/workflows/{wid}/terminate/", {"reason": "no"}),
        "query": ("post", f"/api/workflows/{wid}/query/", {"name": "items_so_far", "timeout": 0.2}),
        "list": ("get", "/api/workflows/", None),
        "describe": ("get", f"/api/workflows/{wid}/", None),
        "history": ("get", f"/api/workflows/{wid}/history/", None),
        "result": ("get", f"/api/workflows/{wid}/result/?timeout=0", None),
        "task_queues": ("get", "/api/task-queues/", None),
        "task_queue": ("get", "/api/task-queues/default/", None),
    }


NEEDS = {
    "start": "start_workflow", "signal": "signal_workflow", "update": "update_workflow",
    "cancel": "cancel_workflow", "terminate": "terminate_workflow", "query": "view_workflowrun",
    "list": "view_workflowrun", "describe": "view_workflowrun", "history": "view_workflowrun",
    "result": "view_workflowrun", "task_queues": "view_workflowrun", "task_queue": "view_workflowrun",
}


def _call(client: APIClient, call: tuple[str, str, dict[str, Any] | None]) -> Any:
    method, url, body = call
    return getattr(client, method)(url, body, format="json") if method == "post" else client.get(url)


@pytest.mark.parametrize("action", sorted(NEEDS))
def test_each_action_needs_its_permission_and_a_refusal_writes_nothing(action: str) -> None:
    wid, _ = _running_run()
    lacking = token_client(make_user("lacking", [p for p in ALL_PERMS if p != NEEDS[action]]))
    before = _written()
    error = assert_error(_call(lacking, _calls(wid)[action]), 403, "permission_denied")
    assert f"temporalflow.{NEEDS[action]}" in error["message"]
    assert _written() == before
    assert WorkflowRun.objects.get(workflow_id=wid).status == 1


@pytest.mark.parametrize("action", sorted(NEEDS))
def test_a_user_with_the_permission_gets_past_the_check(action: str) -> None:
    wid, _ = _running_run()
    allowed = token_client(make_user("allowed", [NEEDS[action]]))
    response = _call(allowed, _calls(wid)[action])
    # No worker runs here: query/update time out (504) and result is pending (202); never a 401/403.
    assert response.status_code in (200, 201, 202, 504), (action, response.status_code, response.content)


def test_signal_with_start_needs_the_signal_permission_too() -> None:
    client = token_client(make_user("starter", ["start_workflow"]))
    body = {"workflow_type": "ApiCartWorkflow", "workflow_id": wf_id(), "signal": {"name": "add"}}
    error = assert_error(client.post("/api/workflows/", body, format="json"), 403, "permission_denied")
    assert "signal_workflow" in error["message"]
    assert not WorkflowRun.objects.exists()


def test_anonymous_requests_are_401_and_write_nothing(transactional_db: Any) -> None:
    wid, _ = _running_run()
    before = _written()
    anonymous = APIClient()
    for action, call in _calls(wid).items():
        response = _call(anonymous, call)
        assert_error(response, 401, "not_authenticated")
        assert response["WWW-Authenticate"] == "Token", action
    assert _written() == before


def test_a_bad_token_is_401(transactional_db: Any) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert_error(client.get("/api/workflows/"), 401, "authentication_failed")


def test_token_authentication_works(transactional_db: Any) -> None:
    client = token_client(make_user("tok", ["view_workflowrun", "start_workflow"]))
    assert client.get("/api/workflows/").status_code == 200
    assert client.post("/api/workflows/", {"workflow_type": "ApiCartWorkflow", "workflow_id": wf_id()},
                       format="json").status_code == 201


def test_session_authentication_enforces_csrf(transactional_db: Any) -> None:
    make_user("sess", ALL_PERMS)
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="sess", password="pw")
    assert client.get("/api/workflows/").status_code == 200
    refused = client.post("/api/workflows/", {"workflow_type": "A", "workflow_id": wf_id()}, format="json")
    error = assert_error(refused, 403, "permission_denied")
    assert "CSRF" in error["message"]
    assert not WorkflowRun.objects.exists()
    client.get("/admin/login/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    accepted = client.post("/api/workflows/", {"workflow_type": "A", "workflow_id": wf_id()}, format="json",
                           HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201, accepted.content


def test_superusers_have_every_permission(transactional_db: Any) -> None:
    client = token_client(User.objects.create_superuser("root", password="pw"))
    assert client.post("/api/workflows/", {"workflow_type": "A", "workflow_id": wf_id()}, format="json"
                       ).status_code == 201
