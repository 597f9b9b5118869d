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


def _json_schema(node: Any, components: dict[str, Any]) -> Any:
    """An OpenAPI 3.0 schema object as JSON Schema: $refs inlined, ``nullable`` as a null type."""
    if isinstance(node, list):
        return [_json_schema(n, components) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _json_schema(components[node["$ref"].rsplit("/", 1)[1]], components)
    out = {k: _json_schema(v, components) for k, v in node.items() if k not in ("nullable", "readOnly", "format")}
    if node.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def _check(schema: dict[str, Any], path: str, method: str, response: Any) -> None:
    import jsonschema

    op = schema["paths"][path][method]
    declared = op["responses"].get(str(response.status_code))
    assert declared is not None, f"{method} {path} answered {response.status_code}, not in the schema"
    body_schema = declared["content"]["application/json"]["schema"]
    jsonschema.validate(response.json(), _json_schema(body_schema, schema["components"]["schemas"]))


@pytest.mark.django_db(transaction=True)
def test_responses_match_the_schema(schema: dict[str, Any], start_worker: Any) -> None:
    from .conftest import make_user, token_client, wf_id
    from .workflows import ApiCartWorkflow

    api = token_client(make_user("checker"))
    worker = start_worker([ApiCartWorkflow])
    wid = wf_id()
    body = {"workflow_type": "ApiCartWorkflow", "workflow_id": wid, "task_queue": worker.task_queue, "args": ["a"],
            "memo": {"k": [1, {"x": None}]}}
    calls = [
        ("/api/workflows/", "post", lambda: api.post("/api/workflows/", body, format="json")),
        ("/api/workflows/", "post", lambda: api.post("/api/workflows/", body, format="json")),  # 409
        ("/api/workflows/", "post", lambda: api.post("/api/workflows/", {}, format="json")),  # 400
        ("/api/workflows/", "get", lambda: api.get("/api/workflows/", {"page_size": 1})),
        ("/api/workflows/", "get", lambda: api.get("/api/workflows/", {"query": "Nope = 1"})),
        ("/api/workflows/{workflow_id}/", "get", lambda: api.get(f"/api/workflows/{wid}/")),
        ("/api/workflows/{workflow_id}/", "get", lambda: api.get("/api/workflows/missing/")),
        ("/api/workflows/{workflow_id}/history/", "get", lambda: api.get(f"/api/workflows/{wid}/history/",
                                                                        {"decode": "true", "page_size": 1})),
        ("/api/workflows/{workflow_id}/signal/", "post",
         lambda: api.post(f"/api/workflows/{wid}/signal/", {"name": "add", "args": ["b"]}, format="json")),
        ("/api/workflows/{workflow_id}/query/", "post", lambda: api.post(f"/api/workflows/{wid}/query/",
                                                                        {"name": "items_so_far"}, format="json")),
        ("/api/workflows/{workflow_id}/query/", "post", lambda: api.post(f"/api/workflows/{wid}/query/",
                                                                        {"name": "nope"}, format="json")),
        ("/api/workflows/{workflow_id}/update/", "post", lambda: api.post(f"/api/workflows/{wid}/update/", {
            "name": "add_item", "args": [{"sku": "s", "qty": 1}]}, format="json")),
        ("/api/workflows/{workflow_id}/update/", "post", lambda: api.post(f"/api/workflows/{wid}/update/", {
            "name": "add_item", "args": [{"sku": "s", "qty": 0}]}, format="json")),  # 422
        ("/api/workflows/{workflow_id}/result/", "get", lambda: api.get(f"/api/workflows/{wid}/result/",
                                                                       {"timeout": 0})),  # 202
        ("/api/task-queues/", "get", lambda: api.get("/api/task-queues/")),
        ("/api/task-queues/{name}/", "get", lambda: api.get(f"/api/task-queues/{worker.task_queue}/")),
        ("/api/workflows/{workflow_id}/terminate/", "post", lambda: api.post(f"/api/workflows/{wid}/terminate/",
                                                                            {"reason": "r"}, format="json")),
        ("/api/workflows/{workflow_id}/cancel/", "post", lambda: api.post(f"/api/workflows/{wid}/cancel/", {},
                                                                         format="json")),  # 409
        ("/api/workflows/{workflow_id}/result/", "get", lambda: api.get(f"/api/workflows/{wid}/result/",
                                                                       {"timeout": 0})),  # 200 with failure
        ("/api/workflows/", "get", lambda: APIClient().get("/api/workflows/")),  # 401
    ]
    statuses = []
    for path, method, call in calls:
        response = call()
        statuses.append(response.status_code)
        _check(schema, path, method, response)
    assert statuses == [201, 409, 400, 200, 400, 200, 404, 200, 200, 200, 400, 200, 422, 202, 200, 200, 200, 409,
                        200, 401]
