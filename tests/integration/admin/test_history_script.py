"""The run page's polling script, run by Node against the real events feed's answers (skipped without node)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.test import Client as HttpClient

from temporalflow.admin.runs import WorkflowRunAdmin
from temporalflow.client import SyncClient
from tests.helpers import assert_eventually

from .conftest import run_of, wf_id, worker_thread
from .workflows import GreetWorkflow, greet

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90),
              pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")]

HARNESS = Path(__file__).with_name("history_harness.js")


def test_script_appends_new_events_follows_pages_and_stops_when_closed(
    operator_http: HttpClient, tf_client: SyncClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    workflow_id = wf_id()
    with worker_thread([GreetWorkflow], [greet]) as w:
        tf_client.start_workflow(GreetWorkflow.run, args=["eve", {}], id=workflow_id, task_queue=w.task_queue)
        assert_eventually(lambda: run_of(workflow_id).status != 1, timeout=20)
    run = run_of(workflow_id)
    total = run.next_event_id - 1
    assert total >= 6
    page = operator_http.get(f"/admin/temporalflow/workflowrun/{run.pk}/change/").content.decode()
    script = next(s for s in re.findall(r"<script>(.*?)</script>", page, re.S) if "temporalflowHistory" in s)
    # Pretend the page was loaded after event 2, while the run was open; the feed answers 2 events at a time.
    monkeypatch.setattr(WorkflowRunAdmin, "events_page_size", 2)
    url = f"/admin/temporalflow/workflowrun/{run.pk}/events/"
    responses = {f"/events/?after={after}": operator_http.get(url, {"after": after}).json()
                 for after in range(0, total + 1)}
    (tmp_path / "script.js").write_text(script)
    (tmp_path / "responses.json").write_text(json.dumps(responses))
    out = subprocess.run(["node", str(HARNESS), str(tmp_path / "script.js"), str(tmp_path / "responses.json"), "2"],
                         capture_output=True, text=True, timeout=60, check=True)
    result = json.loads(out.stdout)
    # One request per page, each after the last event shown, and none once the run is closed.
    assert result["fetched"] == [f"/events/?after={after}" for after in range(2, total, 2)]
    ids = [int(re.search(r'data-event-id="(\d+)"', row).group(1)) for row in result["rows"]]
    assert ids == list(range(3, total + 1))
    assert result["status"] == "Completed" and result["length"] == total and "complete" in result["live"]
    assert result["lastEventId"] == str(total)
    # The closed run's outcome and (empty) pending work replace the page's sections; the actions go.
    assert 'id="tf-outcome"' in result["outcome"] and "hello eve" in result["outcome"]
    assert result["pending"].strip() == "" and result["actionsHidden"] is True
    assert result["closeTime"] == run.close_time.isoformat()
