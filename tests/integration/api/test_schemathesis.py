"""A bounded schemathesis run against the API's OpenAPI schema: no input may make it answer 5xx.

Schemathesis generates requests (valid ones and, in its negative mode, invalid ones) for every
operation of the schema drf-spectacular serves and sends them in-process to the project's WSGI
application as a superuser. The only check is "not a server error": every bad input must get a 4xx
(the other API tests pin the error bodies).

To reach more than the "no such workflow" branches, a share of the generated cases is pointed at
real runs: an ``ApiCartWorkflow`` run served by a worker (so queries and updates are answered), one
nobody serves, and a closed one. Timeouts the server would wait for are capped so that the run
stays bounded (a valid ``timeout`` is replaced by another valid one, an invalid one is left as generated).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from hypothesis import HealthCheck, Phase, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

from temporalflow.client import SyncClient

from .conftest import wf_id
from .workflows import ApiCartWorkflow

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 20
_RESULT_WAIT = 0.1  # seconds a generated result long-poll on an open run waits (valid timeouts only)
_HANDLER_WAIT = 10.0  # seconds a generated query/update may wait for the served run's worker


@pytest.fixture
def seeded(start_worker: Any) -> dict[str, str]:
    """Runs the generated requests may address: served, unserved and closed."""
    worker = start_worker([ApiCartWorkflow])
    client = SyncClient.connect()
    served = client.start_workflow(ApiCartWorkflow.run, "served", id=wf_id(), task_queue=worker.task_queue)
    served.signal(ApiCartWorkflow.add, "first")
    # Signals, cancels and terminates go to their own served run: a generated signal "add" with no
    # argument fails the workflow task on every attempt (as in temporalio: the handler raises TypeError),
    # and a query or update then waits for a task that never completes.
    writes = client.start_workflow(ApiCartWorkflow.run, "writes", id=wf_id(), task_queue=worker.task_queue)
    unserved = client.start_workflow("ApiCartWorkflow", "unserved", id=wf_id(), task_queue="tq-api-nobody")
    # Closed, but on the served queue: a query of a closed run is answered by a worker replaying it.
    closed = client.start_workflow("ApiCartWorkflow", "closed", id=wf_id(), task_queue=worker.task_queue)
    closed.terminate(reason="closed before the run")
    return {"served": served.id, "writes": writes.id, "unserved": unserved.id, "closed": closed.id,
            "task_queue": worker.task_queue}


@pytest.fixture
def api_schema(transactional_db: Any, seeded: dict[str, str]) -> Any:
    """The served OpenAPI schema, loaded through the WSGI app (so schemathesis calls the app in-process)."""
    from project.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@pytest.fixture
def superuser_token(transactional_db: Any) -> str:
    """A DRF token of a superuser (every permission: the run explores behaviour, not refusals)."""
    user = User.objects.create_superuser("fuzzer", password="pw")
    return Token.objects.create(user=user).key


schema = schemathesis.pytest.from_fixture("api_schema")


def _pick(case: Any, seeded: dict[str, str]) -> str | None:
    """A seeded run for most cases (stable per generated value), else None (keep the generated id).

    Queries and updates never go to a run nobody serves (the unserved seed, or a run the fuzzed
    start operation created under a generated id): with no worker to answer, the documented answer
    is 504 ``deadline_exceeded`` after the request's timeout, which is not an input error. Their
    generated ids get a prefix no started run has, so they still probe odd ids (404).
    """
    generated = "".join(str(v) for v in (case.path_parameters or {}).values())
    n = hashlib.blake2b(generated.encode("utf-8", "surrogatepass"), digest_size=1).digest()[0] % 4
    if case.operation.path.endswith(("/query/", "/update/")):
        return (seeded["served"], seeded["served"], seeded["closed"],
                f"never-started-{case.path_parameters.get('workflow_id', '')}")[n]
    served = seeded["writes"] if case.method.upper() == "POST" else seeded["served"]
    return (served, seeded["unserved"], seeded["closed"], None)[n]


def _set_wait(container: Any, key: str, seconds: float) -> None:
    """Replace a valid number of seconds to wait by ``seconds``; leave anything invalid alone."""
    if not isinstance(container, dict) or key not in container:
        return
    value = container[key]
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return
    if isinstance(value, bool) or not (0.1 <= number <= 60):
        return
    container[key] = seconds if isinstance(value, int | float) else str(seconds)


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
          phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
def test_no_input_makes_the_api_answer_5xx(case: Any, superuser_token: str, seeded: dict[str, str]) -> None:
    if "workflow_id" in (case.path_parameters or {}):
        target = _pick(case, seeded)
        if target is not None:
            case.path_parameters["workflow_id"] = target
    if "name" in (case.path_parameters or {}) and case.operation.path.startswith("/api/task-queues/"):
        if _pick(case, seeded) == seeded["served"]:
            case.path_parameters["name"] = seeded["task_queue"]
    path = case.operation.path
    if path.endswith("/result/"):
        # An open run makes the result long-poll wait the whole timeout (then 202): keep it short.
        case.query = case.query if isinstance(case.query, dict) else {}
        case.query.setdefault("timeout", "0")
        _set_wait(case.query, "timeout", _RESULT_WAIT)
    if path.endswith(("/query/", "/update/")) and isinstance(case.body, dict):
        # The worker answers in milliseconds; a generous valid timeout keeps a loaded machine from turning a
        # slow answer into a 504 (which would be the documented answer for a worker that never comes).
        _set_wait(case.body, "timeout", _HANDLER_WAIT)
    case.call_and_validate(headers={"Authorization": f"Token {superuser_token}"}, checks=[not_a_server_error])
