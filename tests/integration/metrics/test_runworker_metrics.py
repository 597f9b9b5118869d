"""``manage.py runworker --metrics-port N`` serves the engine metrics of that worker process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.db import connection

from tests.helpers import assert_eventually

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[3]


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    return f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            return r.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return ""


def test_runworker_serves_metrics_on_its_port(tmp_path: Path) -> None:
    port = _free_port()
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "runworker", "-q", queue, "--metrics-port", str(port),
         "--metrics-addr", "127.0.0.1"],
        cwd=ROOT, env={**os.environ, "DATABASE_URL": _database_url(), "PYTHONUNBUFFERED": "1"},
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        slots = f'temporalflow_worker_slots{{kind="workflow",namespace="default",task_queue="{queue}"}} 100.0'

        def served() -> str:
            assert proc.poll() is None, (tmp_path / "worker.log").read_text()
            body = _scrape(port)
            return body if slots in body else ""

        body = assert_eventually(served, timeout=60, interval=0.1)
        assert f'temporalflow_sticky_cache_hits_total{{namespace="default",task_queue="{queue}"}} 0.0' in body
        assert "temporalflow_task_queue_backlog" in body
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
    assert proc.returncode == 0, (tmp_path / "worker.log").read_text()
    assert f"metrics at http://127.0.0.1:{port}/metrics" in (tmp_path / "worker.log").read_text()
