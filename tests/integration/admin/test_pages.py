"""The runs list (filters, search), the run page, the events feed and the task queues page."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from temporalflow.client import SyncClient
from temporalflow.models import ActivityTask, RunStatus, TaskQueuePoller, Timer, WorkflowRun
from tests.helpers import assert_eventually

from .conftest import history_types, new_task_queue, run_of, wf_id, worker_thread
from .workflows import (
    UNSERVED_QUEUE,
    ApprovalWorkflow,
    FailingWorkflow,
    GreetWorkflow,
    HeartbeatWorkflow,
    flaky_then_heartbeats,
    greet,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

CHANGELIST = "/admin/temporalflow/workflowrun/"


def page(pk: int, suffix: str = "change/") -> str:
    return f"{CHANGELIST}{pk}/{suffix}"


def wait_status(workflow_id: str, status: int) -> WorkflowRun:
    return assert_eventually(lambda: (r := run_of(workflow_id)).status == status and r, timeout=20)


@pytest.fixture
def three_runs(tf_client: SyncClient) -> dict[str, WorkflowRun]:
    """A completed, a failed and a running (waiting) run on one queue, and an untouched run on another."""
    ids = {"done": wf_id(), "failed": wf_id(), "waiting": wf_id(), "idle": wf_id()}
    with worker_thread([GreetWorkflow, FailingWorkflow, ApprovalWorkflow], [greet]) as w:
        tf_client.start_workflow(GreetWorkflow.run, args=["alice", {"vip": True}], id=ids["done"],
                                 task_queue=w.task_queue, memo={"customer": {"name": "Alice"}})
        tf_client.start_workflow(FailingWorkflow.run, 42, id=ids["failed"], task_queue=w.task_queue)
        tf_client.start_workflow(ApprovalWorkflow.run, "order-7", id=ids["waiting"], task_queue=w.task_queue)
        wait_status(ids["done"], RunStatus.COMPLETED)
        wait_status(ids["failed"], RunStatus.FAILED)
        assert_eventually(lambda: Timer.objects.filter(run=run_of(ids["waiting"])).exists()
                          and ActivityTask.objects.filter(run=run_of(ids["waiting"])).exists(), timeout=20)
    tf_client.start_workflow("GreetWorkflow", args=["bob", {}], id=ids["idle"], task_queue=new_task_queue())
    return {name: run_of(wid) for name, wid in ids.items()}


def listed(http: HttpClient, query: str = "") -> set[str]:
    response = http.get(CHANGELIST + query)
    assert response.status_code == 200, response.content[:500]
    return {run.workflow_id for run in response.context["cl"].result_list}


def test_list_filters_and_search(operator_http: HttpClient, three_runs: dict[str, WorkflowRun]) -> None:
    runs = three_runs
    everything = {r.workflow_id for r in runs.values()}
    assert listed(operator_http) == everything
    content = operator_http.get(CHANGELIST).content.decode()
    for column in ("Workflow id", "Workflow type", "Status", "Task queue", "Start time", "Close time",
                   "History length"):
        assert column in content
    assert listed(operator_http, f"?status__exact={RunStatus.COMPLETED}") == {runs["done"].workflow_id}
    assert listed(operator_http, f"?status__exact={RunStatus.FAILED}") == {runs["failed"].workflow_id}
    assert listed(operator_http, f"?status__exact={RunStatus.RUNNING}") == {runs["waiting"].workflow_id,
                                                                             runs["idle"].workflow_id}
    assert listed(operator_http, "?workflow_type=GreetWorkflow") == {runs["done"].workflow_id,
                                                                       runs["idle"].workflow_id}
    assert listed(operator_http, f"?task_queue={runs['idle'].task_queue}") == {runs["idle"].workflow_id}
    # Start time: the date links, the range form, the date hierarchy.
    today = timezone.localdate()
    tomorrow = today + timedelta(days=1)
    assert listed(operator_http, f"?start_time__from={today}") == everything
    assert listed(operator_http, f"?start_time__from={tomorrow}") == set()
    assert listed(operator_http, f"?start_time__to={today - timedelta(days=1)}") == set()
    assert listed(operator_http, f"?start_time__from={today}&start_time__to={today}") == everything
    assert listed(operator_http, f"?start_time__year={today.year}&start_time__month={today.month}") == everything
    # Close time: open runs have none.
    assert listed(operator_http, "?close_time__isnull=True") == {runs["waiting"].workflow_id,
                                                                   runs["idle"].workflow_id}
    assert listed(operator_http, f"?close_time__from={today}") == {runs["done"].workflow_id,
                                                                     runs["failed"].workflow_id}
    assert listed(operator_http, f"?close_time__from={today}&status__exact={RunStatus.FAILED}") == {
        runs["failed"].workflow_id}
    # A range that does not parse is the admin's "incorrect lookup" redirect, not a server error.
    assert operator_http.get(CHANGELIST + "?start_time__from=not-a-date").status_code == 302
    # Search: by (part of) the workflow id, and by exact run id.
    assert listed(operator_http, f"?q={runs['failed'].workflow_id[-8:]}") == {runs["failed"].workflow_id}
    assert listed(operator_http, f"?q={runs['done'].run_id}") == {runs["done"].workflow_id}
    # Read-only: no add, no delete action.
    assert operator_http.get(CHANGELIST + "add/").status_code == 403
    assert "delete_selected" not in content


def test_completed_run_page(operator_http: HttpClient, three_runs: dict[str, WorkflowRun]) -> None:
    run = three_runs["done"]
    response = operator_http.get(page(run.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="tf-input"' in html and "&quot;alice&quot;" in html and "&quot;vip&quot;: true" in html
    assert 'id="tf-outcome"' in html and "&quot;greeting&quot;: &quot;hello alice&quot;" in html
    assert "&quot;name&quot;: &quot;Alice&quot;" in html  # the memo, decoded
    for event_id, event_type in enumerate(history_types(run), start=1):
        assert f'data-event-id="{event_id}" data-event-type="{event_type}"' in html
    assert "WorkflowExecutionCompleted" in html and 'data-closed="true"' in html
    # Event attributes show decoded payloads (the activity's result), not base64.
    assert "&quot;hello alice&quot;" in html.split('data-event-type="ActivityTaskCompleted"')[1]
    assert 'id="tf-actions"' not in html  # closed: nothing to do
    assert operator_http.post(page(run.pk), {"status": 3}).status_code == 405  # never a save


def test_failed_run_page(operator_http: HttpClient, three_runs: dict[str, WorkflowRun]) -> None:
    html = operator_http.get(page(three_runs["failed"].pk)).content.decode()
    assert 'id="tf-failure-summary"' in html and "PaymentDeclined: card declined for 42" in html
    assert "&quot;code&quot;: &quot;declined&quot;" in html  # the failure's details, decoded
    assert "WorkflowExecutionFailed" in html


def test_running_run_page_shows_pending_work_and_polls(operator_http: HttpClient,
                                                        three_runs: dict[str, WorkflowRun]) -> None:
    run = three_runs["waiting"]
    html = operator_http.get(page(run.pk)).content.decode()
    activity = ActivityTask.objects.get(run=run)
    assert f'data-activity-id="{activity.activity_id}"' in html and "never_runs" in html
    assert UNSERVED_QUEUE in html
    timer = Timer.objects.get(run=run)
    assert f'data-timer-id="{timer.timer_id}"' in html
    assert 'data-closed="false"' in html and f'data-events-url="{page(run.pk, "events/")}"' in html
    assert "window.temporalflowHistory" in html  # the polling script
    assert 'id="tf-action-signal"' in html and 'id="tf-action-terminate"' in html


def test_pending_activity_shows_attempt_heartbeat_and_last_failure(operator_http: HttpClient,
                                                                   tf_client: SyncClient) -> None:
    workflow_id = wf_id()
    with worker_thread([HeartbeatWorkflow], [flaky_then_heartbeats]) as w:
        tf_client.start_workflow(HeartbeatWorkflow.run, "resize", id=workflow_id, task_queue=w.task_queue)
        activity = assert_eventually(
            lambda: ActivityTask.objects.filter(run=run_of(workflow_id), attempt=2,
                                                heartbeat_details__isnull=False).first(), timeout=30)
        html = operator_http.get(page(activity.run_id)).content.decode()
    row = html.split(f'data-activity-id="{activity.activity_id}"')[1].split("</tr>")[0]
    assert '<td class="tf-activity-attempt">2</td>' in row
    assert "&quot;progress&quot;: 50" in row  # heartbeat details, decoded
    assert "Flaky: resize: first attempt fails" in row  # last failure


def test_parent_and_children_are_linked(operator_http: HttpClient, three_runs: dict[str, WorkflowRun]) -> None:
    parent, child = three_runs["waiting"], three_runs["idle"]
    # No child-workflow command yet: set the parent columns as a child's start would.
    WorkflowRun.objects.filter(pk=child.pk).update(parent_workflow_id=parent.workflow_id,
                                                   parent_run_id=parent.run_id)
    parent_html = operator_http.get(page(parent.pk)).content.decode()
    assert 'id="tf-children"' in parent_html and page(child.pk) in parent_html
    child_html = operator_http.get(page(child.pk)).content.decode()
    assert 'id="tf-parent"' in child_html and page(parent.pk) in child_html


def test_events_feed_returns_only_later_events_and_grows(operator_http: HttpClient, tf_client: SyncClient,
                                                         three_runs: dict[str, WorkflowRun]) -> None:
    run = three_runs["waiting"]
    url = page(run.pk, "events/")
    everything = operator_http.get(url).json()
    ids = [e["event_id"] for e in everything["events"]]
    assert ids == list(range(1, run.next_event_id)) and everything["run"]["closed"] is False
    assert everything["more"] is False and everything["last_event_id"] == ids[-1]
    # Pending work comes along as HTML; the outcome only once the run is closed.
    activity = ActivityTask.objects.get(run=run)
    assert f'data-activity-id="{activity.activity_id}"' in everything["pending_html"]
    assert 'class="tf-timer"' in everything["pending_html"] and "outcome_html" not in everything
    # One poll: session, user, its permissions (2), run, events, activities, timers.
    with CaptureQueriesContext(connection) as queries:
        operator_http.get(url, {"after": ids[-1]})
    assert len(queries) <= 8, [q["sql"] for q in queries]
    later = operator_http.get(url, {"after": ids[-3]}).json()
    assert [e["event_id"] for e in later["events"]] == ids[-2:]
    assert operator_http.get(url, {"after": ids[-1]}).json()["events"] == []
    # A new event (a signal through the client) appears after the last one seen, rendered as a row.
    tf_client.get_workflow_handle(run.workflow_id).signal("approve", args=["ann", {"n": 1}])
    new = operator_http.get(url, {"after": ids[-1]}).json()
    # (No worker runs this queue any more: the signal schedules a workflow task nobody starts.)
    assert [e["event_type"] for e in new["events"]] == ["WorkflowExecutionSignaled", "WorkflowTaskScheduled"]
    signaled = new["events"][0]
    assert signaled["attributes"]["input"] == ["ann", {"n": 1}]  # payloads decoded
    assert f'data-event-id="{signaled["event_id"]}"' in signaled["html"]
    # Bad input is a 400, an unknown run a 404, never a server error.
    assert operator_http.get(url, {"after": "x"}).status_code == 400
    assert operator_http.get(url, {"after": "-1"}).status_code == 400
    assert operator_http.get(page(10**9, "events/")).status_code == 404


def test_events_feed_reports_closed_runs(operator_http: HttpClient, three_runs: dict[str, WorkflowRun]) -> None:
    data = operator_http.get(page(three_runs["done"].pk, "events/"), {"after": 1}).json()
    assert data["run"]["closed"] is True and data["run"]["status_label"] == "Completed"
    assert data["events"][-1]["event_type"] == "WorkflowExecutionCompleted"
    assert "hello alice" in data["outcome_html"] and data["pending_html"].strip() == ""


def test_pages_need_view_permission(three_runs: dict[str, WorkflowRun]) -> None:
    nobody = User.objects.create_user("nobody", password="pw", is_staff=True)
    http = HttpClient()
    http.force_login(nobody)
    run = three_runs["waiting"]
    assert http.get(CHANGELIST).status_code == 403
    assert http.get(page(run.pk)).status_code == 403
    assert http.get(page(run.pk, "events/")).status_code == 403
    anonymous = HttpClient()
    assert anonymous.get(page(run.pk, "events/")).status_code == 302  # to the login page


def test_task_queues_page(operator_http: HttpClient, tf_client: SyncClient) -> None:
    lonely_queue = new_task_queue()
    tf_client.start_workflow("GreetWorkflow", args=["x", {}], id=wf_id(), task_queue=lonely_queue)
    with worker_thread([ApprovalWorkflow]) as w:
        tf_client.start_workflow(ApprovalWorkflow.run, "order-9", id=wf_id(), task_queue=w.task_queue)
        assert_eventually(lambda: ActivityTask.objects.filter(task_queue=UNSERVED_QUEUE).exists(), timeout=20)
        # The worker records its poll from a loop of its own, which may come after its first task.
        assert_eventually(lambda: TaskQueuePoller.objects.filter(task_queue=w.task_queue).exists(), timeout=20)
        response = operator_http.get("/admin/temporalflow/taskqueuepoller/")
    assert response.status_code == 200
    backlog = {(row["task_queue"]): row for row in response.context["backlog"]}
    assert backlog[lonely_queue]["workflow_scheduled"] == 1 and backlog[lonely_queue]["workers"] == 0
    assert backlog[lonely_queue]["unattended"] is True
    assert backlog[UNSERVED_QUEUE]["activity_scheduled"] == 1 and backlog[UNSERVED_QUEUE]["unattended"] is True
    assert backlog[w.task_queue]["workers"] >= 1 and backlog[w.task_queue]["last_poll"] is not None
    html = response.content.decode()
    assert "Backlog per task queue" in html and f'data-task-queue="{lonely_queue}"' in html
    pollers = {p.task_queue for p in response.context["cl"].result_list}
    assert w.task_queue in pollers
    # Read-only: pollers are written by workers.
    assert operator_http.get("/admin/temporalflow/taskqueuepoller/add/").status_code == 403
    # Linked from the runs list.
    assert "/admin/temporalflow/taskqueuepoller/" in operator_http.get(CHANGELIST).content.decode()
    assert json.dumps(backlog[lonely_queue]["workflow_scheduled"]) == "1"
