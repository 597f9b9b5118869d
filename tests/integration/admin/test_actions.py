"""Signal, cancel and terminate from the admin: permissions, validation, closed runs, CSRF, the admin log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.messages import get_messages
from django.test import Client as HttpClient

from temporalflow.client import SyncClient
from temporalflow.models import RunStatus, WorkflowRun
from tests.helpers import assert_eventually

from .conftest import WorkerThread, history_types, new_task_queue, run_of, wf_id, worker_thread
from .workflows import ApprovalWorkflow, GreetWorkflow, greet

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

CHANGELIST = "/admin/temporalflow/workflowrun/"


def url(run: WorkflowRun, action: str) -> str:
    return f"{CHANGELIST}{run.pk}/{action}/"


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def start_idle(tf_client: SyncClient, task_queue: str | None = None) -> WorkflowRun:
    """A running run no worker picks up (its history stays put unless the admin writes)."""
    workflow_id = wf_id()
    tf_client.start_workflow(ApprovalWorkflow.run, "order-1", id=workflow_id, task_queue=task_queue or new_task_queue())
    return run_of(workflow_id)


def snapshot(run: WorkflowRun) -> tuple[list[str], int]:
    """What must not change when an action is refused: the history and the admin log."""
    return history_types(run), LogEntry.objects.count()


@pytest.fixture
def worker() -> Iterator[WorkerThread]:
    """A worker for ApprovalWorkflow and GreetWorkflow."""
    with worker_thread([ApprovalWorkflow, GreetWorkflow], [greet]) as w:
        yield w


def test_signal_through_the_run_page(operator_http: HttpClient, operator: Any, tf_client: SyncClient,
                                     worker: WorkerThread) -> None:
    run = start_idle(tf_client, worker.task_queue)
    form = operator_http.get(url(run, "signal"))
    assert form.status_code == 200 and 'name="signal_name"' in form.content.decode()
    response = operator_http.post(url(run, "signal"), {
        "signal_name": "approve", "signal_args": json.dumps(["ann", {"ok": True}]), "post": "yes"})
    assert response.status_code == 302 and response["Location"] == f"{CHANGELIST}{run.pk}/change/"
    assert any("signaled 'approve' with 2 arguments" in m for m in messages_of(response))
    assert "WorkflowExecutionSignaled" in history_types(run)
    signaled = run.events.get(event_type="WorkflowExecutionSignaled")
    assert json.loads(signaled.attributes)["identity"] == "admin:operator"  # who, in the history too
    entry = LogEntry.objects.get(object_id=str(run.pk))
    assert entry.user == operator and entry.action_flag == CHANGE and "approve" in entry.get_change_message()
    admin_log = operator_http.get(f"{CHANGELIST}{run.pk}/history/").content.decode()
    assert "operator" in admin_log and "Signaled &#x27;approve&#x27;" in admin_log
    # The worker gets the signal and the run completes with it.
    done = assert_eventually(lambda: (r := run_of(run.workflow_id)).status == RunStatus.COMPLETED and r, timeout=20)
    page = operator_http.get(f"{CHANGELIST}{done.pk}/change/").content.decode()
    assert "&quot;ok&quot;: true" in page.split('id="tf-outcome"')[1]


def test_bad_signal_arguments_are_a_form_error(operator_http: HttpClient, tf_client: SyncClient) -> None:
    run = start_idle(tf_client)
    before = snapshot(run)
    for text, error in (("[1, ", "Not valid JSON"), ('{"a": 1}', "must be a JSON list"), ('"x"', "JSON string")):
        response = operator_http.post(url(run, "signal"), {"signal_name": "approve", "signal_args": text,
                                                           "post": "yes"})
        assert response.status_code == 200 and error in response.content.decode(), text
    response = operator_http.post(url(run, "signal"), {"signal_name": "", "signal_args": "[]", "post": "yes"})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert snapshot(run) == before


def test_cancel_needs_confirmation(operator_http: HttpClient, operator: Any, tf_client: SyncClient) -> None:
    run = start_idle(tf_client)
    confirm = operator_http.get(url(run, "cancel"))
    assert confirm.status_code == 200 and "Yes, request cancellation" in confirm.content.decode()
    assert "WorkflowExecutionCancelRequested" not in history_types(run)  # a GET changes nothing
    response = operator_http.post(url(run, "cancel"), {"post": "yes"})
    assert response.status_code == 302 and any("cancellation requested" in m for m in messages_of(response))
    assert history_types(run).count("WorkflowExecutionCancelRequested") == 1
    assert LogEntry.objects.get(object_id=str(run.pk)).user == operator
    # A second request says so and writes nothing.
    before = snapshot(run)
    again = operator_http.post(url(run, "cancel"), {"post": "yes"})
    assert any("already requested" in m for m in messages_of(again)) and snapshot(run) == before


def test_terminate_with_reason(operator_http: HttpClient, operator: Any, tf_client: SyncClient) -> None:
    run = start_idle(tf_client)
    confirm = operator_http.get(url(run, "terminate"))
    assert confirm.status_code == 200 and 'name="reason"' in confirm.content.decode()
    response = operator_http.post(url(run, "terminate"), {"post": "yes", "reason": "duplicate order"})
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.TERMINATED and history_types(run)[-1] == "WorkflowExecutionTerminated"
    attrs = json.loads(run.events.get(event_type="WorkflowExecutionTerminated").attributes)
    assert attrs["reason"] == "duplicate order" and attrs["identity"] == "admin:operator"
    entry = LogEntry.objects.get(object_id=str(run.pk))
    assert entry.user == operator and "duplicate order" in entry.get_change_message()
    page = operator_http.get(f"{CHANGELIST}{run.pk}/change/").content.decode()
    assert "Reason: duplicate order" in page


@pytest.mark.parametrize("action,data", [
    ("signal", {"signal_name": "approve", "signal_args": "[]", "post": "yes"}),
    ("cancel", {"post": "yes"}),
    ("terminate", {"post": "yes", "reason": "r"}),
])
def test_each_action_is_refused_without_its_permission(viewer_http: HttpClient, operator: Any, viewer: Any,
                                                       tf_client: SyncClient, action: str, data: dict) -> None:
    run = start_idle(tf_client)
    before = snapshot(run)
    assert viewer_http.get(url(run, action)).status_code == 403
    assert viewer_http.post(url(run, action), data).status_code == 403
    # The bulk action is not offered and cannot be posted.
    changelist = viewer_http.get(CHANGELIST)
    assert f'value="{action}_selected"' not in changelist.content.decode()
    bulk = viewer_http.post(CHANGELIST, {"action": f"{action}_selected", ACTION_CHECKBOX_NAME: [run.pk], **data})
    # (The viewer has no actions at all, so the changelist just shows itself again.)
    assert bulk.status_code == 200 and f'value="{action}_selected"' not in bulk.content.decode()
    assert snapshot(run) == before
    # The run page offers no button for it.
    assert f'id="tf-action-{action}"' not in viewer_http.get(f"{CHANGELIST}{run.pk}/change/").content.decode()


def test_one_permission_does_not_grant_the_others(tf_client: SyncClient) -> None:
    from .conftest import _staff

    signaller = _staff("signaller", ["view_workflowrun", "signal_workflow"])
    http = HttpClient()
    http.force_login(signaller)
    run = start_idle(tf_client)
    page = http.get(f"{CHANGELIST}{run.pk}/change/").content.decode()
    assert 'id="tf-action-signal"' in page and 'id="tf-action-terminate"' not in page
    before = snapshot(run)
    assert http.post(url(run, "terminate"), {"post": "yes", "reason": "r"}).status_code == 403
    assert http.post(url(run, "cancel"), {"post": "yes"}).status_code == 403
    assert snapshot(run) == before
    assert http.post(url(run, "signal"), {"signal_name": "approve", "signal_args": "[]"}).status_code == 302
    assert "WorkflowExecutionSignaled" in history_types(run)


@pytest.mark.parametrize("action,data", [
    ("signal", {"signal_name": "approve", "signal_args": "[]", "post": "yes"}),
    ("cancel", {"post": "yes"}),
    ("terminate", {"post": "yes", "reason": "r"}),
])
def test_actions_on_a_closed_run_say_so(operator_http: HttpClient, tf_client: SyncClient, action: str,
                                        data: dict) -> None:
    run = start_idle(tf_client)
    tf_client.get_workflow_handle(run.workflow_id).terminate(reason="closed first")
    run.refresh_from_db()
    before = snapshot(run)
    for response in (operator_http.get(url(run, action)), operator_http.post(url(run, action), data)):
        assert response.status_code == 302
        assert any("already closed (Terminated)" in m for m in messages_of(response))
    assert snapshot(run) == before


def test_run_closed_between_page_and_post(operator_http: HttpClient, tf_client: SyncClient,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's refusal (RPCError NOT_FOUND) is a message too, when the run closes after the check."""
    from temporalflow.admin.runs import WorkflowRunAdmin

    run = start_idle(tf_client)
    real_get_client = WorkflowRunAdmin.get_client

    def closing_client(self: WorkflowRunAdmin, request: Any, target: WorkflowRun) -> SyncClient:
        tf_client.get_workflow_handle(target.workflow_id).terminate(reason="raced")
        return real_get_client(self, request, target)

    monkeypatch.setattr(WorkflowRunAdmin, "get_client", closing_client)
    log_entries = LogEntry.objects.count()
    response = operator_http.post(url(run, "signal"), {"signal_name": "approve", "signal_args": "[]",
                                                       "post": "yes"})
    assert response.status_code == 302 and any("already closed" in m for m in messages_of(response))
    assert "WorkflowExecutionSignaled" not in history_types(run) and LogEntry.objects.count() == log_entries


def test_unknown_run_is_a_message(operator_http: HttpClient) -> None:
    response = operator_http.post(f"{CHANGELIST}999999/terminate/", {"post": "yes", "reason": "r"})
    assert response.status_code == 302 and any("doesn’t exist" in m for m in messages_of(response))
    assert operator_http.get(f"{CHANGELIST}999999/change/").status_code == 302


def test_bulk_actions(operator_http: HttpClient, operator: Any, tf_client: SyncClient) -> None:
    first, second = start_idle(tf_client), start_idle(tf_client)
    closed = start_idle(tf_client)
    tf_client.get_workflow_handle(closed.workflow_id).terminate(reason="earlier")
    selected = {ACTION_CHECKBOX_NAME: [first.pk, second.pk, closed.pk]}
    # The intermediate page: the form, the selected runs, the closed one flagged.
    page = operator_http.post(CHANGELIST, {"action": "signal_selected", **selected})
    html = page.content.decode()
    assert page.status_code == 200 and 'name="signal_name"' in html and "will be skipped" in html
    # Bad JSON: the form again, nothing sent.
    bad = operator_http.post(CHANGELIST, {"action": "signal_selected", "post": "yes", "signal_name": "approve",
                                          "signal_args": "nope", **selected})
    assert bad.status_code == 200 and "Not valid JSON" in bad.content.decode()
    assert LogEntry.objects.count() == 0
    done = operator_http.post(CHANGELIST, {"action": "signal_selected", "post": "yes", "signal_name": "approve",
                                           "signal_args": '["bulk", {}]', **selected})
    assert done.status_code == 302
    notes = messages_of(done)
    assert any("2 workflow runs signaled" in m for m in notes) and any("already closed" in m for m in notes)
    for run in (first, second):
        assert "WorkflowExecutionSignaled" in history_types(run)
    assert "WorkflowExecutionSignaled" not in history_types(closed)
    assert LogEntry.objects.filter(user=operator).count() == 2
    # Cancel, then terminate, in bulk (each confirmed first).
    confirm = operator_http.post(CHANGELIST, {"action": "cancel_selected", **selected})
    assert confirm.status_code == 200 and "Yes, request cancellation" in confirm.content.decode()
    operator_http.post(CHANGELIST, {"action": "cancel_selected", "post": "yes", **selected})
    assert all("WorkflowExecutionCancelRequested" in history_types(r) for r in (first, second))
    operator_http.post(CHANGELIST, {"action": "terminate_selected", "post": "yes", "reason": "cleanup", **selected})
    for run in (first, second):
        run.refresh_from_db()
        assert run.status == RunStatus.TERMINATED
    assert LogEntry.objects.filter(user=operator).count() == 6


def test_csrf_is_enforced(operator: Any, tf_client: SyncClient) -> None:
    run = start_idle(tf_client)
    http = HttpClient(enforce_csrf_checks=True)
    http.force_login(operator)
    before = snapshot(run)
    data = {"signal_name": "approve", "signal_args": "[]", "post": "yes"}
    assert http.post(url(run, "signal"), data).status_code == 403
    assert http.post(url(run, "terminate"), {"post": "yes", "reason": "r"}).status_code == 403
    assert http.post(CHANGELIST, {"action": "terminate_selected", "post": "yes", ACTION_CHECKBOX_NAME: [run.pk]}
                     ).status_code == 403
    assert snapshot(run) == before
    # With the form's token the same POST goes through.
    form = http.get(url(run, "signal"))
    token = form.cookies["csrftoken"].value
    assert 'name="csrfmiddlewaretoken"' in form.content.decode()
    assert http.post(url(run, "signal"), {**data, "csrfmiddlewaretoken": token}).status_code == 302
    assert "WorkflowExecutionSignaled" in history_types(run)


def test_a_bulk_action_without_its_permission_is_refused(tf_client: SyncClient) -> None:
    """A user with another action's permission sees the actions box, but not this action."""
    from .conftest import _staff

    signaller = _staff("signaller2", ["view_workflowrun", "signal_workflow"])
    http = HttpClient()
    http.force_login(signaller)
    run = start_idle(tf_client)
    before = snapshot(run)
    response = http.post(CHANGELIST, {"action": "terminate_selected", "post": "yes", "reason": "r",
                                      ACTION_CHECKBOX_NAME: [run.pk]})
    assert response.status_code == 302 and any("No action selected" in m for m in messages_of(response))
    assert snapshot(run) == before


def test_run_gone_between_page_and_post(operator_http: HttpClient, tf_client: SyncClient,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from temporalflow.admin.runs import WorkflowRunAdmin

    run = start_idle(tf_client)
    real_get_client = WorkflowRunAdmin.get_client

    def vanishing_client(self: WorkflowRunAdmin, request: Any, target: WorkflowRun) -> SyncClient:
        WorkflowRun.objects.filter(pk=target.pk).delete()
        return real_get_client(self, request, target)

    monkeypatch.setattr(WorkflowRunAdmin, "get_client", vanishing_client)
    response = operator_http.post(url(run, "cancel"), {"post": "yes"})
    assert response.status_code == 302 and any("was not found" in m for m in messages_of(response))
    assert LogEntry.objects.count() == 0


def test_oversized_signal_arguments_are_a_message(operator_http: HttpClient, tf_client: SyncClient,
                                                  settings: Any) -> None:
    run = start_idle(tf_client)
    before = snapshot(run)
    settings.TEMPORALFLOW = {**settings.TEMPORALFLOW, "PAYLOAD_SIZE_LIMIT": 100}
    response = operator_http.post(url(run, "signal"), {"signal_name": "approve", "post": "yes",
                                                       "signal_args": json.dumps(["x" * 500])})
    assert response.status_code == 302 and any("payload size limit" in m for m in messages_of(response))
    assert snapshot(run) == before
