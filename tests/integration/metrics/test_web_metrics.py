"""The web process's /metrics (django-prometheus): HTTP, database and engine metrics together."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from temporalflow.client import SyncClient

pytest.importorskip("django_prometheus")  # the metrics extra (not in the Django 6.1 environment)

pytestmark = pytest.mark.django_db


def test_metrics_endpoint_has_django_and_engine_metrics(client: Any, settings: Any) -> None:
    settings.TEMPORALFLOW = {"METRICS_BACKLOG_INTERVAL": 0}
    tq = f"web-{uuid.uuid4().hex[:8]}"
    SyncClient.connect().start_workflow("SomeWorkflow", id=f"wf-{uuid.uuid4().hex[:8]}", task_queue=tq)
    client.get("/admin/login/")  # one request the HTTP middleware counts
    response = client.get("/metrics")
    assert response.status_code == 200
    body = response.content.decode()
    assert "django_http_requests_total_by_method_total" in body
    assert "django_http_responses_total_by_status_total" in body
    labels = f'namespace="default",task_queue="{tq}",workflow_type="SomeWorkflow"'
    assert f"temporalflow_workflows_started_total{{{labels}}} 1.0" in body
    assert f'temporalflow_task_queue_backlog{{kind="workflow",namespace="default",task_queue="{tq}"}} 1.0' in body
    assert "# TYPE temporalflow_workflow_task_execution_seconds histogram" in body
