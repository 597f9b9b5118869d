"""Code written for Temporal's Python SDK (``import temporalio``) runs on temporalflow unchanged.

``temporalio_code/shop.py`` and this test import only ``temporalio`` names; an import hook
maps them to temporalflow's modules, so a name missing from (or misplaced in) temporalflow
fails here as it would fail a user's port.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import new_task_queue, wf_id
from .temporalio_code import alias

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@pytest.fixture
def temporalio() -> Iterator[Any]:
    """The ``temporalio`` names, and the shop module written against them."""
    alias.install()
    try:
        yield importlib.import_module("tests.integration.engine.temporalio_code.shop")
    finally:
        alias.uninstall()


async def test_a_temporalio_application_runs_unchanged(temporalio: Any, client: Any) -> None:
    from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError  # noqa: F401
    from temporalio.worker import Worker

    shop = temporalio
    tq = new_task_queue()
    async with Worker(client, task_queue=tq, workflows=[shop.Cart, shop.Receipt],
                      activities=[shop.reserve, shop.charge, shop.price]):
        ok = await client.start_workflow(shop.Cart.run, "ada", id=wf_id(), task_queue=tq)
        with pytest.raises(WorkflowUpdateFailedError):
            await ok.execute_update(shop.Cart.checkout)  # the validator refuses an empty cart
        await ok.signal(shop.Cart.add, shop.Item("apple", 2))
        await ok.signal(shop.Cart.add, shop.Item("pear", 1))
        assert await ok.query(shop.Cart.count) == 3
        assert await ok.execute_update(shop.Cart.checkout) == "ada checks out 2 lines"
        result = await ok.result()
        assert result["reserved"] == ["reserved 2 x apple", "reserved 1 x pear"]
        assert result["receipt"] == "receipt for ada: reserved 2 x apple; reserved 1 x pear; charged 5.00"

        declined = await client.start_workflow(shop.Cart.run, "bob", id=wf_id(), task_queue=tq)
        await declined.signal(shop.Cart.add, shop.Item("caviar", 2))
        await declined.execute_update(shop.Cart.checkout)
        assert await declined.result() == {"customer": "bob", "declined": "CardDeclined",
                                           "details": [{"limit": 1000}]}


async def test_temporalio_module_paths_resolve(temporalio: Any) -> None:
    """Names user code imports from temporalio's modules, where temporalio has them."""
    import temporalio.activity
    import temporalio.client
    import temporalio.common
    import temporalio.converter
    import temporalio.exceptions
    import temporalio.testing
    import temporalio.worker
    import temporalio.workflow
    from temporalio.api.common.v1 import Payload

    for module, names in {
        temporalio.workflow: ["defn", "run", "init", "signal", "query", "update", "execute_activity",
                              "start_activity", "execute_local_activity", "execute_child_workflow",
                              "start_child_workflow", "get_external_workflow_handle", "wait", "as_completed",
                              "wait_condition", "continue_as_new",
                              "patched", "deprecate_patch", "info", "now", "uuid4", "random", "logger", "memo",
                              "ActivityCancellationType", "ParentClosePolicy", "unsafe", "all_handlers_finished"],
        temporalio.activity: ["defn", "info", "heartbeat", "is_cancelled", "wait_for_cancelled"],
        temporalio.client: ["Client", "WorkflowHandle", "WorkflowFailureError", "WorkflowExecutionStatus",
                            "WithStartWorkflowOperation", "WorkflowUpdateStage"],
        temporalio.common: ["RetryPolicy", "WorkflowIDReusePolicy", "WorkflowIDConflictPolicy"],
        temporalio.exceptions: ["ApplicationError", "ActivityError", "CancelledError", "TerminatedError",
                                "TimeoutError", "TimeoutType", "WorkflowAlreadyStartedError", "FailureError",
                                "RetryState", "ChildWorkflowError"],
        temporalio.worker: ["Worker", "Replayer"],
        temporalio.testing: ["WorkflowEnvironment", "ActivityEnvironment"],
        temporalio.converter: ["DataConverter", "PayloadConverter", "PayloadCodec"],
    }.items():
        missing = [n for n in names if not hasattr(module, n)]
        assert not missing, f"{module.__name__} lacks {missing}"
    assert Payload(metadata={"encoding": b"json/plain"}, data=b"1").data == b"1"
