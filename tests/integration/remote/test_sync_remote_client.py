"""``SyncClient.connect(url, api_key=...)``: the synchronous twin, from plain synchronous code."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from temporalflow.client import SyncClient, SyncRemoteClient, WorkflowFailureError, WorkflowUpdateFailedError
from temporalflow.exceptions import TerminatedError, WorkflowAlreadyStartedError
from temporalflow.service import RPCError, RPCStatusCode
from tests.integration.api.conftest import WorkerThread
from tests.integration.remote.conftest import new_task_queue, wf_id
from tests.integration.remote.test_remote_client import ALL, _order
from tests.integration.remote.workflows import Item, RemoteCartWorkflow, RemoteOrderWorkflow

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_sync_twin_drives_workflows(api_url: str, api_key: str) -> None:
    client = SyncClient.connect(api_url, api_key=api_key)
    assert isinstance(client, SyncRemoteClient)
    worker = WorkerThread(ALL, task_queue=new_task_queue()).start_and_wait()
    try:
        tq = worker.task_queue
        order = _order()
        receipt = client.execute_workflow(RemoteOrderWorkflow.run, order, id=wf_id(), task_queue=tq)
        assert receipt.order_id == order.order_id and receipt.total == Decimal("20.50")

        handle = client.start_workflow(RemoteCartWorkflow.run, "s", id=wf_id(), task_queue=tq)
        with pytest.raises(WorkflowAlreadyStartedError):
            client.start_workflow(RemoteCartWorkflow.run, "s", id=handle.id, task_queue=tq)
        handle.signal(RemoteCartWorkflow.add, "x")
        deadline = time.monotonic() + 15
        while handle.query(RemoteCartWorkflow.items_so_far) != ["x"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert handle.execute_update(RemoteCartWorkflow.add_item, Item("y", 1)) == 2
        update = handle.start_update(RemoteCartWorkflow.add_item, Item("z", 3))
        assert update.result() == 3
        with pytest.raises(WorkflowUpdateFailedError):
            handle.execute_update(RemoteCartWorkflow.add_item, Item("z", -1))
        with pytest.raises(RPCError) as timed_out:
            handle.result(timeout=0.2)
        assert timed_out.value.status == RPCStatusCode.DEADLINE_EXCEEDED
        handle.terminate(reason="done")
        with pytest.raises(WorkflowFailureError) as err:
            handle.result()
        assert isinstance(err.value.cause, TerminatedError)
        history = handle.fetch_history(page_size=2)
        assert [e.event_id for e in history.events] == list(range(1, handle.describe().history_length + 1))
        assert [wf.id for wf in client.list_workflows(f"TaskQueue = '{tq}'", page_size=1)][0] == handle.id
        assert client.count_workflows(f"TaskQueue = '{tq}'").count == 2
    finally:
        worker.stop()


def test_the_sync_twin_maps_errors(api_url: str, transactional_db: Any) -> None:
    client = SyncClient.connect(api_url, api_key="wrong")
    with pytest.raises(RPCError) as err:
        client.get_workflow_handle("x-" + uuid.uuid4().hex).describe()
    assert err.value.status == RPCStatusCode.UNAUTHENTICATED
    with pytest.raises(RPCError) as err:
        SyncClient.connect("http://127.0.0.1:9/api/", api_key="k", rpc_timeout=timedelta(seconds=3))
    assert err.value.status == RPCStatusCode.UNAVAILABLE
