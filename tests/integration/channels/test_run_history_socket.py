"""The run history WebSocket (temporalflow.channels) through the project's ASGI app, with a real worker."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from temporalflow.channels.consumers import (
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    CLOSE_UNAUTHENTICATED,
)
from temporalflow.client import Client
from temporalflow.models import RunStatus, WorkflowRun
from temporalflow.worker import Worker
from tests.helpers import assert_eventually_async

from .conftest import communicator, new_task_queue, receive_until, wf_id
from .workflows import ChatWorkflow

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

VIEW = ["view_workflowrun"]


def _path(pk: int, after: int | None = None) -> str:
    return f"/ws/temporalflow/runs/{pk}/" + ("" if after is None else f"?after={after}")


async def _run_row(run_id: str) -> WorkflowRun:
    return await sync_to_async(WorkflowRun.objects.get, thread_sensitive=True)(run_id=run_id)


async def _waiting_run(client: Client, task_queue: str) -> tuple[Any, WorkflowRun]:
    """A ChatWorkflow blocked on its signals (its first workflow task completed)."""
    handle = await client.start_workflow(ChatWorkflow.run, "weather", id=wf_id(), task_queue=task_queue)

    def read() -> WorkflowRun | None:
        run = WorkflowRun.objects.get(run_id=handle.result_run_id)
        types = list(run.events.order_by("event_id").values_list("event_type", flat=True))
        settled = types[-1:] == ["WorkflowTaskCompleted"] and len(types) == run.next_event_id - 1
        return run if settled else None

    async def settled() -> WorkflowRun | None:
        return await sync_to_async(read, thread_sensitive=True)()

    return handle, await assert_eventually_async(settled, timeout=20)


async def _expect_refused(comm: Any, code: int) -> None:
    connected, _ = await comm.connect()
    assert connected  # accepted so that the browser sees the close code ...
    output = await comm.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": code}  # ... and nothing before it
    assert await comm.receive_nothing(timeout=0.2)
    await comm.disconnect()


async def test_streams_existing_then_new_events_then_the_close(
    tf_client: Client, make_user: Any, asgi_application: Any,
) -> None:
    session = await make_user("watcher", VIEW)
    async with Worker(tf_client, task_queue=new_task_queue(), workflows=[ChatWorkflow]) as worker:
        handle, run = await _waiting_run(tf_client, worker.task_queue)
        existing = run.next_event_id - 1
        comm = communicator(asgi_application, _path(run.pk, after=0), session)
        connected, _ = await comm.connect()
        assert connected
        first = await comm.receive_json_from(timeout=5)
        assert first["type"] == "history"
        assert [e["event_id"] for e in first["events"]] == list(range(1, existing + 1))
        assert first["events"][0]["event_type"] == "WorkflowExecutionStarted"
        assert 'data-event-id="1"' in first["events"][0]["html"]
        assert first["run"]["status"] == RunStatus.RUNNING and first["run"]["closed"] is False
        assert first["run"]["history_length"] == existing and first["last_event_id"] == existing
        assert "outcome_html" not in first

        # A signal through the client: the worker's appends reach the socket without asking.
        await handle.signal(ChatWorkflow.say, "sunny")
        seen = await receive_until(
            comm, lambda m: any(e["event_type"] == "WorkflowExecutionSignaled" for e in m.get("events", [])),
            timeout=5)
        signaled = next(e for m in seen for e in m["events"] if e["event_type"] == "WorkflowExecutionSignaled")
        assert signaled["event_id"] == existing + 1
        assert signaled["attributes"]["signal_name"] == "say"
        assert "sunny" in signaled["html"]

        # The run completes: its last events, the outcome, a "closed" message, then a normal close.
        await handle.signal(ChatWorkflow.done)
        rest = await receive_until(comm, lambda m: m["type"] == "closed", timeout=10)
        assert rest[-1]["run"]["status"] == RunStatus.COMPLETED and rest[-1]["run"]["closed"] is True
        events = [e for m in seen + rest for e in m.get("events", [])]
        ids = [e["event_id"] for e in events]
        assert ids == list(range(existing + 1, ids[-1] + 1))  # every event once, in order
        assert events[-1]["event_type"] == "WorkflowExecutionCompleted"
        last_history = [m for m in rest if m["type"] == "history"][-1]
        assert "weather" in last_history["outcome_html"] and "sunny" in last_history["outcome_html"]
        assert await comm.receive_output(timeout=5) == {"type": "websocket.close", "code": 1000}
        await comm.disconnect()
        assert await handle.result() == {"topic": "weather", "lines": ["sunny"]}


async def test_after_skips_the_events_the_page_has_and_a_closed_run_ends_at_once(
    tf_client: Client, make_user: Any, asgi_application: Any,
) -> None:
    session = await make_user("watcher", VIEW)
    async with Worker(tf_client, task_queue=new_task_queue(), workflows=[ChatWorkflow]) as worker:
        handle, run = await _waiting_run(tf_client, worker.task_queue)
        await handle.terminate(reason="enough")
    run = await _run_row(handle.result_run_id)
    total = run.next_event_id - 1
    comm = communicator(asgi_application, _path(run.pk, after=2), session)
    assert (await comm.connect())[0]
    first = await comm.receive_json_from(timeout=5)
    assert [e["event_id"] for e in first["events"]] == list(range(3, total + 1))
    assert first["events"][-1]["event_type"] == "WorkflowExecutionTerminated"
    assert "enough" in first["outcome_html"]
    closed = await comm.receive_json_from(timeout=5)
    assert closed == {"type": "closed", "run": first["run"]}
    assert closed["run"]["status"] == RunStatus.TERMINATED and closed["run"]["status_label"] == "Terminated"
    assert await comm.receive_output(timeout=5) == {"type": "websocket.close", "code": 1000}


async def test_a_page_of_events_at_a_time(
    tf_client: Client, make_user: Any, asgi_application: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from temporalflow.admin.runs import WorkflowRunAdmin

    monkeypatch.setattr(WorkflowRunAdmin, "events_page_size", 2)
    session = await make_user("watcher", VIEW)
    async with Worker(tf_client, task_queue=new_task_queue(), workflows=[ChatWorkflow]) as worker:
        handle, _ = await _waiting_run(tf_client, worker.task_queue)
        await handle.terminate(reason="paged")
    run = await _run_row(handle.result_run_id)
    total = run.next_event_id - 1
    comm = communicator(asgi_application, _path(run.pk), session)
    assert (await comm.connect())[0]
    messages = await receive_until(comm, lambda m: m["type"] == "closed", timeout=10)
    pages = [m for m in messages if m["type"] == "history"]
    assert [len(p["events"]) for p in pages[:-1]] == [2] * (len(pages) - 1)
    assert [p["more"] for p in pages] == [True] * (len(pages) - 1) + [False]
    assert [e["event_id"] for p in pages for e in p["events"]] == list(range(1, total + 1))
    assert "outcome_html" in pages[-1] and not any("outcome_html" in p for p in pages[:-1])


async def test_anonymous_is_refused(tf_client: Client, asgi_application: Any) -> None:
    async with Worker(tf_client, task_queue=new_task_queue(), workflows=[ChatWorkflow]) as worker:
        _, run = await _waiting_run(tf_client, worker.task_queue)
        await _expect_refused(communicator(asgi_application, _path(run.pk)), CLOSE_UNAUTHENTICATED)


@pytest.mark.parametrize("codenames, flags", [
    pytest.param([], {}, id="staff-without-view-permission"),
    pytest.param(["signal_workflow", "terminate_workflow"], {}, id="staff-with-other-permissions"),
    pytest.param(VIEW, {"is_staff": False}, id="permission-but-not-staff"),
    pytest.param(VIEW, {"is_active": False}, id="inactive"),
])
async def test_users_who_may_not_view_runs_are_refused_and_sent_nothing(
    tf_client: Client, make_user: Any, asgi_application: Any, codenames: list[str], flags: dict,
) -> None:
    session = await make_user("nosy", codenames, **flags)
    async with Worker(tf_client, task_queue=new_task_queue(), workflows=[ChatWorkflow]) as worker:
        _, run = await _waiting_run(tf_client, worker.task_queue)
        # An inactive user's session does not authenticate: anonymous; the others are forbidden.
        code = CLOSE_UNAUTHENTICATED if flags.get("is_active") is False else CLOSE_FORBIDDEN
        await _expect_refused(communicator(asgi_application, _path(run.pk), session), code)


async def test_a_superuser_needs_no_explicit_permission(
    tf_client: Client, asgi_application: Any,
) -> None:
    from django.contrib.auth.models import User

    from .conftest import _session_cookie

    session = await sync_to_async(
        lambda: _session_cookie(User.objects.create_superuser("root", password="pw")), thread_sensitive=True)()
    async with Worker(tf_client, task_queue=new_task_queue(), workflows=[ChatWorkflow]) as worker:
        _, run = await _waiting_run(tf_client, worker.task_queue)
        comm = communicator(asgi_application, _path(run.pk), session)
        assert (await comm.connect())[0]
        assert (await comm.receive_json_from(timeout=5))["type"] == "history"
        await comm.disconnect()


@pytest.mark.parametrize("origin", [b"http://evil.example", b"https://localhost.evil.example", None],
                         ids=["foreign", "lookalike", "missing"])
async def test_a_foreign_origin_is_refused_before_the_consumer(
    tf_client: Client, make_user: Any, asgi_application: Any, origin: bytes | None,
) -> None:
    session = await make_user("watcher", VIEW)
    async with Worker(tf_client, task_queue=new_task_queue(), workflows=[ChatWorkflow]) as worker:
        _, run = await _waiting_run(tf_client, worker.task_queue)
        comm = communicator(asgi_application, _path(run.pk), session, origin=origin)
        connected, _ = await comm.connect()
        assert not connected  # the handshake is rejected (HTTP 403 for a browser)
        assert await comm.receive_nothing(timeout=0.2)


async def test_an_unknown_run_is_refused_with_4404(make_user: Any, asgi_application: Any, tf_client: Client) -> None:
    session = await make_user("watcher", VIEW)
    await _expect_refused(communicator(asgi_application, _path(987654321), session), CLOSE_NOT_FOUND)


@pytest.mark.parametrize("after", ["-1", "x", "1.5"])
async def test_a_bad_after_is_refused_with_4400(
    make_user: Any, asgi_application: Any, tf_client: Client, after: str,
) -> None:
    session = await make_user("watcher", VIEW)
    await _expect_refused(communicator(asgi_application, f"/ws/temporalflow/runs/1/?after={after}", session),
                          CLOSE_BAD_REQUEST)


async def test_a_user_who_loses_the_permission_is_disconnected(
    tf_client: Client, make_user: Any, asgi_application: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.contrib.auth.models import Permission, User

    from temporalflow.channels.consumers import RunHistoryConsumer

    monkeypatch.setattr(RunHistoryConsumer, "pending_refresh", 0.2)
    session = await make_user("leaver", VIEW)
    async with Worker(tf_client, task_queue=new_task_queue(), workflows=[ChatWorkflow]) as worker:
        _, run = await _waiting_run(tf_client, worker.task_queue)
        comm = communicator(asgi_application, _path(run.pk), session)
        assert (await comm.connect())[0]
        assert (await comm.receive_json_from(timeout=5))["type"] == "history"
        await sync_to_async(
            lambda: User.objects.get(username="leaver").user_permissions.remove(
                Permission.objects.get(content_type__app_label="temporalflow", codename="view_workflowrun")),
            thread_sensitive=True)()
        assert await comm.receive_output(timeout=5) == {"type": "websocket.close", "code": CLOSE_FORBIDDEN}
        await comm.disconnect()
