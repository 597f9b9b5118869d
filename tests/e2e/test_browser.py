"""A real headless browser (Debian's chromium, driven by Playwright) on the admin's run page.

A ``runworker`` process runs the workflow and ``manage.py runserver`` (daphne's, so HTTP and
WebSockets) serves the admin, both on the test database. The page must show new history
events without reloading, pushed over the run's WebSocket, as the admin's signal and
terminate forms (in a second tab) act on the run. Skipped when Playwright or
``/usr/bin/chromium`` is missing (``scripts/bootstrap.sh`` installs both when it can).
A screenshot of the run page is saved to ``<VAR_DIR>/artifacts/``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.db import connection

from temporalflow import workflow
from temporalflow.client import SyncClient
from temporalflow.models import WorkflowRun
from tests.helpers import assert_eventually

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


@workflow.defn
class BrowserChatWorkflow:
    """Collects ``say`` signals until it is terminated (the runworker process imports this module)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    @workflow.run
    async def run(self, topic: str) -> list[str]:
        await workflow.wait_condition(lambda: len(self.lines) >= 1000)
        return self.lines

    @workflow.signal
    def say(self, line: str) -> None:
        self.lines.append(line)


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    return f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


class Processes:
    """The web server and the worker, as subprocesses on the test database."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []
        self.env = {**os.environ, "DATABASE_URL": _database_url(), "PYTHONUNBUFFERED": "1",
                    "TEMPORALFLOW_EXTRA_MODULES": __name__, "DJANGO_DEBUG": "1"}

    def spawn(self, name: str, *args: str) -> None:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.procs.append(subprocess.Popen([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT,
                                           env=self.env, stdout=log, stderr=subprocess.STDOUT))

    def output(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')}" for p in sorted(self.logs.glob("*.log")))

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)


@pytest.fixture
def sync_playwright() -> Any:
    """Playwright's sync API (skips when it or the browser is missing)."""
    api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"{CHROMIUM} is not installed (scripts/bootstrap.sh installs it as root with apt-get)")
    return api.sync_playwright


@pytest.fixture
def processes(tmp_path: Path, transactional_db: Any) -> Iterator[Processes]:
    """A running ``runserver`` (daphne) and ``runworker`` on a fresh task queue."""
    procs = Processes(tmp_path)
    procs.port = _free_port()  # type: ignore[attr-defined]
    procs.task_queue = f"browser-{uuid.uuid4().hex[:8]}"  # type: ignore[attr-defined]
    procs.spawn("web", "runserver", f"127.0.0.1:{procs.port}", "--noreload")  # type: ignore[attr-defined]
    procs.spawn("worker", "runworker", "-q", procs.task_queue)  # type: ignore[attr-defined]
    try:
        assert_eventually(lambda: _answers(f"http://127.0.0.1:{procs.port}/admin/login/"),  # type: ignore[attr-defined]
                          timeout=60, interval=0.2)
        yield procs
    except BaseException:
        print(procs.output())
        raise
    finally:
        procs.stop()


def test_run_page_follows_signal_and_terminate_live(sync_playwright: Any, processes: Any) -> None:
    user = User.objects.create_user("browser", password="pw-browser", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="temporalflow",
        codename__in=["view_workflowrun", "signal_workflow", "terminate_workflow"]))
    client = SyncClient.connect()
    workflow_id = f"browser-{uuid.uuid4().hex[:8]}"
    handle = client.start_workflow(BrowserChatWorkflow.run, "weather", id=workflow_id,
                                   task_queue=processes.task_queue)
    run = WorkflowRun.objects.get(run_id=handle.result_run_id)
    # The worker process took the first workflow task: the run waits for signals.
    assert_eventually(lambda: run.events.filter(event_type="WorkflowTaskCompleted").exists(), timeout=60)

    known = run.events.count()  # no database access in the block below: Playwright runs an event loop
    base = f"http://127.0.0.1:{processes.port}"
    run_url = f"{base}/admin/temporalflow/workflowrun/{run.pk}/change/"
    artifacts = Path(settings.VAR_DIR) / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1400})
            page = context.new_page()
            sockets: list[str] = []
            page.on("websocket", lambda ws: sockets.append(ws.url))
            page.goto(f"{base}/admin/login/?next=/admin/")
            page.fill("#id_username", "browser")
            page.fill("#id_password", "pw-browser")
            page.click("input[type=submit]")
            page.wait_for_url(f"{base}/admin/")

            page.goto(run_url)
            page.wait_for_function("document.getElementById('tf-live').textContent.trim() === 'live'",
                                   timeout=15000)  # the socket is open
            assert sockets == [f"ws://127.0.0.1:{processes.port}/ws/temporalflow/runs/{run.pk}/"
                               f"?after={known}"]
            page.evaluate("window.__notReloaded = true")
            assert page.locator("#tf-run-status").inner_text() == "Running"

            # Signal through the admin's form, in a second tab: the first shows the events as they come.
            actions = context.new_page()
            actions.goto(run_url)
            actions.click("#tf-action-signal")
            actions.fill("#id_signal_name", "say")
            actions.fill("#id_signal_args", '["sunny with a chance of events"]')
            actions.click("#tf-action-form input[type=submit]")
            actions.wait_for_load_state()
            page.locator("tr[data-event-type=WorkflowExecutionSignaled]").wait_for(timeout=10000)
            assert "sunny with a chance of events" in page.locator(
                "tr[data-event-type=WorkflowExecutionSignaled]").text_content()
            # The signal's workflow task runs on the worker process; its events follow.
            page.wait_for_function(
                "document.querySelectorAll('#tf-history tr[data-event-type=WorkflowTaskCompleted]').length >= 2",
                timeout=10000)

            # Terminate through the admin: the final status, the outcome and the end of the live feed.
            actions.goto(run_url)
            actions.click("#tf-action-terminate")
            actions.fill("#id_reason", "seen enough")
            actions.click("#tf-action-form input[type=submit]")
            actions.wait_for_load_state()
            page.locator("tr[data-event-type=WorkflowExecutionTerminated]").wait_for(timeout=10000)
            page.wait_for_function("document.getElementById('tf-run-status').textContent.trim() === 'Terminated'",
                                   timeout=10000)
            page.wait_for_function("document.getElementById('tf-live').textContent.includes('complete')",
                                   timeout=10000)
            assert "seen enough" in page.locator("#tf-outcome").inner_text()
            assert page.locator("#tf-actions").is_hidden()
            assert page.evaluate("window.__notReloaded") is True  # no reload happened
            ids = [int(i) for i in page.locator("#tf-history tr[data-event-id]").evaluate_all(
                "rows => rows.map(r => r.dataset.eventId)")]
            assert len(sockets) == 1  # one socket did it all: no fallback to polling
            page.screenshot(path=str(artifacts / "run_page.png"), full_page=True)
        finally:
            browser.close()
    run.refresh_from_db()
    assert ids == list(range(1, run.next_event_id))  # every event once, in order
