"""The admin's read-only schedule list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client as HttpClient

from temporalflow.client import Schedule, ScheduleActionStartWorkflow, ScheduleIntervalSpec, ScheduleSpec, SyncClient
from temporalflow.models import Schedule as ScheduleRow

from .conftest import _staff

pytestmark = pytest.mark.django_db(transaction=True)


def test_schedule_list_and_page_are_read_only(tf_client: SyncClient) -> None:
    tf_client.create_schedule("admin-sched", Schedule(
        action=ScheduleActionStartWorkflow("GreetWorkflow", id="greet", task_queue="q"),
        spec=ScheduleSpec(cron_expressions=["0 6 * * *"], intervals=[ScheduleIntervalSpec(every=timedelta(hours=2))],
                          time_zone_name="Europe/Paris")))
    http = HttpClient()
    http.force_login(_staff("scheduler", ["view_schedule"]))
    page = http.get("/admin/temporalflow/schedule/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "admin-sched" in body and "0 6 * * *; every 7200s (Europe/Paris)" in body
    row = ScheduleRow.objects.get(schedule_id="admin-sched")
    detail = http.get(f"/admin/temporalflow/schedule/{row.pk}/change/")
    assert detail.status_code == 200 and "GreetWorkflow" in detail.content.decode()
    assert http.post(f"/admin/temporalflow/schedule/{row.pk}/delete/").status_code == 403
    assert http.get("/admin/temporalflow/schedule/add/").status_code == 403
    nobody = HttpClient()
    nobody.force_login(_staff("no-perms"))
    assert nobody.get("/admin/temporalflow/schedule/").status_code == 403
