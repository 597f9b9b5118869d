"""The REST API with the project's encrypting converter (``TEMPORALFLOW["DATA_CONVERTER"]``).

The API's client encodes what it is sent and decodes what it answers with the configured
codec; the worker (``Client.connect()`` in its thread) reads the same setting. The rows stay
opaque; ``?decode=true`` histories show the values.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from temporalflow.models import HistoryEvent

from .conftest import wf_id
from .workflows import ApiCartWorkflow

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

CONVERTER = "tests.integration.engine.test_data_conversion.ENCRYPTED"
SECRET = "t0p-s3cr3t"


def test_api_round_trip_through_the_configured_codec(api: APIClient, start_worker: Any, settings: Any) -> None:
    settings.TEMPORALFLOW = {"DATA_CONVERTER": CONVERTER}
    worker = start_worker([ApiCartWorkflow])
    wid = wf_id()
    response = api.post("/api/workflows/", {"workflow_type": "ApiCartWorkflow", "workflow_id": wid,
                                            "task_queue": worker.task_queue, "args": [f"name {SECRET}"],
                                            "memo": {"note": f"memo {SECRET}"}}, format="json")
    assert response.status_code == 201, response.content
    assert api.post(f"/api/workflows/{wid}/signal/", {"name": "add", "args": [f"item {SECRET}"]},
                    format="json").status_code == 200
    assert api.post(f"/api/workflows/{wid}/signal/", {"name": "checkout"}, format="json").status_code == 200
    result = api.get(f"/api/workflows/{wid}/result/", {"timeout": 20})
    assert result.status_code == 200, result.content
    assert result.json()["result"] == {"name": f"name {SECRET}", "items": [f"item {SECRET}"]}
    assert api.get(f"/api/workflows/{wid}/").json()["memo"] == {"note": f"memo {SECRET}"}

    decoded = api.get(f"/api/workflows/{wid}/history/", {"decode": "true"}).json()["events"]
    started = decoded[0]["attributes"]["input"]["payloads"][0]
    assert base64.b64decode(started["metadata"]["encoding"]) == b"binary/encrypted"
    assert started["decoded"] == f"name {SECRET}"

    rows = list(HistoryEvent.objects.filter(run__workflow_id=wid).values_list("attributes", flat=True))
    assert rows and all(SECRET not in row for row in rows)
    for row in rows:
        text = json.dumps(json.loads(row))
        assert "json/plain" not in text and base64.b64encode(b"json/plain").decode() not in text
