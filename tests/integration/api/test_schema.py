"""The OpenAPI 3 schema drf-spectacular serves, and the Swagger UI page."""

from __future__ import annotations

import json
from typing import Any

import pytest
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

PATHS = {
    "/api/workflows/": {"get", "post"},
    "/api/workflows/{workflow_id}/": {"get"},
    "/api/workflows/{workflow_id}/history/": {"get"},
    "/api/workflows/{workflow_id}/signal/": {"post"},
    "/api/workflows/{workflow_id}/query/": {"post"},
    "/api/workflows/{workflow_id}/update/": {"post"},
    "/api/workflows/{workflow_id}/cancel/": {"post"},
    "/api/workflows/{workflow_id}/terminate/": {"post"},
    "/api/workflows/{workflow_id}/result/": {"get"},
    "/api/task-queues/": {"get"},
    "/api/task-queues/{name}/": {"get"},
}


@pytest.fixture
def schema() -> dict[str, Any]:
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def test_schema_is_valid_openapi_3_with_every_endpoint(schema: dict[str, Any]) -> None:
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # drf-spectacular's bundled OpenAPI 3 JSON schema
    assert {p: set(ops) - {"parameters"} for p, ops in schema["paths"].items() if p.startswith("/api/")} == PATHS
    assert schema["info"]["title"] == "temporalflow API"


def test_schema_documents_bodies_errors_and_auth(schema: dict[str, Any]) -> None:
    start = schema["paths"]["/api/workflows/"]["post"]
    body = start["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    props = schema["components"]["schemas"][body]
    assert {"workflow_type", "workflow_id"} <= set(props["required"])
    assert {"args", "task_queue", "id_reuse_policy", "memo", "signal", "start_delay"} <= set(props["properties"])
    assert {"201", "400", "401", "403", "409"} <= set(start["responses"])
    error = start["responses"]["409"]["content"]["application/json"]["schema"]["$ref"]
    assert error.endswith("/Error")
    result = schema["paths"]["/api/workflows/{workflow_id}/result/"]["get"]
    assert {"200", "202", "404"} <= set(result["responses"])
    assert {p["name"] for p in result["parameters"]} >= {"workflow_id", "run_id", "timeout"}
    list_params = {p["name"] for p in schema["paths"]["/api/workflows/"]["get"]["parameters"]}
    assert {"query", "cursor", "page_size"} <= list_params
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])


def test_swagger_ui_page() -> None:
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
