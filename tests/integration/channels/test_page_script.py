"""The run page's script with a WebSocket: Node runs it against a fake socket replaying the real consumer's messages.

Skipped without node. The polling half is covered by tests/integration/admin/test_history_script.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client as HttpClient

from temporalflow.client import Client
from temporalflow.worker import Worker

from .conftest import _session_cookie, _user, communicator, new_task_queue, receive_until
from .test_run_history_socket import VIEW, _path, _run_row, _waiting_run
from .workflows import ChatWorkflow

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90),
              pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")]

HARNESS = Path(__file__).with_name("ws_harness.js")


@pytest.fixture
async def recorded(tf_client: Client, asgi_application: Any) -> dict[str, Any]:
    """A terminated run: its page's script, the socket's messages after event 2, and the feed's answers."""

    def login() -> tuple[HttpClient, str]:
        user = _user("watcher", VIEW)
        http = HttpClient()
        http.force_login(user)
        return http, _session_cookie(user)

    http, session = await sync_to_async(login, thread_sensitive=True)()
    async with Worker(tf_client, task_queue=new_task_queue(), workflows=[ChatWorkflow]) as worker:
        handle, _ = await _waiting_run(tf_client, worker.task_queue)
        await handle.signal(ChatWorkflow.say, "hi")
        await handle.terminate(reason="over")
    run = await _run_row(handle.result_run_id)
    comm = communicator(asgi_application, _path(run.pk, after=2), session)
    assert (await comm.connect())[0]
    messages = await receive_until(comm, lambda m: m["type"] == "closed", timeout=10)
    await comm.disconnect()

    def page_and_feed() -> tuple[str, dict[str, Any]]:
        page = http.get(f"/admin/temporalflow/workflowrun/{run.pk}/change/").content.decode()
        url = f"/admin/temporalflow/workflowrun/{run.pk}/events/"
        return page, {f"/events/?after={a}": http.get(url, {"after": a}).json() for a in range(run.next_event_id)}

    page, responses = await sync_to_async(page_and_feed, thread_sensitive=True)()
    assert f'data-ws-path="/ws/temporalflow/runs/{run.pk}/"' in page
    script = next(s for s in re.findall(r"<script>(.*?)</script>", page, re.S) if "temporalflowHistory" in s)
    return {"script": script, "messages": messages, "responses": responses, "total": run.next_event_id - 1}


def _run_script(tmp_path: Path, recorded: dict[str, Any], mode: str) -> dict[str, Any]:
    (tmp_path / "script.js").write_text(recorded["script"])
    fixture = {"lastEventId": 2, "closed": False, "mode": mode, "messages": recorded["messages"],
               "responses": recorded["responses"]}
    (tmp_path / "fixture.json").write_text(json.dumps(fixture))
    out = subprocess.run(["node", str(HARNESS), str(tmp_path / "script.js"), str(tmp_path / "fixture.json")],
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def _row_ids(result: dict[str, Any]) -> list[int]:
    return [int(re.search(r'data-event-id="(\d+)"', row).group(1)) for row in result["rows"]]


async def test_the_socket_feeds_the_page_and_nothing_polls(recorded: dict[str, Any], tmp_path: Path) -> None:
    result = await sync_to_async(_run_script)(tmp_path, recorded, "deliver")
    assert result["sockets"] == ["wss://example.test/ws/temporalflow/runs/7/?after=2"]
    assert result["fetched"] == []
    assert _row_ids(result) == list(range(3, recorded["total"] + 1))
    assert result["status"] == "Terminated" and result["length"] == recorded["total"]
    assert "complete" in result["live"] and result["actionsHidden"] is True
    assert "over" in result["outcome"] and result["pending"].strip() == ""


async def test_without_a_socket_the_page_polls(recorded: dict[str, Any], tmp_path: Path) -> None:
    result = await sync_to_async(_run_script)(tmp_path, recorded, "fail")
    assert len(result["sockets"]) == 1
    assert result["fetched"] == ["/events/?after=2"]
    assert _row_ids(result) == list(range(3, recorded["total"] + 1))
    assert result["status"] == "Terminated" and "complete" in result["live"]


async def test_a_dropped_socket_hands_over_to_polling_from_the_last_event(
    recorded: dict[str, Any], tmp_path: Path,
) -> None:
    # The socket delivers its first page only, then drops: polling goes on after the last event shown.
    recorded = {**recorded, "messages": recorded["messages"][:1]}
    first = recorded["messages"][0]
    first = {**first, "events": first["events"][:1], "run": {**first["run"], "closed": False}}
    first.pop("outcome_html", None)
    recorded["messages"] = [first]
    result = await sync_to_async(_run_script)(tmp_path, recorded, "drop")
    assert result["fetched"] == ["/events/?after=3"]
    assert _row_ids(result) == list(range(3, recorded["total"] + 1))
    assert result["status"] == "Terminated"


async def test_a_refused_socket_stops_the_page(recorded: dict[str, Any], tmp_path: Path) -> None:
    result = await sync_to_async(_run_script)(tmp_path, recorded, "forbidden")
    assert result["fetched"] == [] and result["rows"] == []
    assert "no longer available (4403)" in result["live"]
