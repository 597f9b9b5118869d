"""The remote client against a real HTTP server (live_server) and a real worker."""

from __future__ import annotations

import ast
import asyncio
import os
import socket
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import temporalflow.client._remote as remote_module
from temporalflow.client import (
    Client,
    RemoteClient,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalflow.common import RetryPolicy, WorkflowIDReusePolicy
from temporalflow.envconfig import ClientConfig
from temporalflow.exceptions import ApplicationError, CancelledError, TerminatedError, WorkflowAlreadyStartedError
from temporalflow.service import RPCError, RPCStatusCode
from tests.integration.remote.conftest import make_token, new_task_queue, running_worker, wf_id
from tests.integration.remote.workflows import (
    Item,
    Order,
    Priority,
    Receipt,
    RemoteBytesWorkflow,
    RemoteCartWorkflow,
    RemoteFailingWorkflow,
    RemoteOrderWorkflow,
)

pytestmark = pytest.mark.django_db(transaction=True)

ALL = [RemoteOrderWorkflow, RemoteCartWorkflow, RemoteFailingWorkflow, RemoteBytesWorkflow]


async def eventually(probe: Callable[[], Awaitable[Any]], expected: Any, timeout: float = 15.0) -> None:
    """Await ``probe()`` until it returns ``expected`` (a condition, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value == expected:
            return
        assert time.monotonic() < deadline, f"still {value!r}, expected {expected!r}"
        await asyncio.sleep(0.05)


def _order() -> Order:
    return Order(order_id=uuid.uuid4(), placed_at=datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC),
                 amount=Decimal("10.25"), priority=Priority.HIGH, skus=["a", "b", "c"])


async def test_start_and_result_round_trip_dataclasses(remote: RemoteClient, local: Client) -> None:
    tq, order = new_task_queue(), _order()
    async with running_worker(local, ALL, tq):
        receipt = await remote.execute_workflow(RemoteOrderWorkflow.run, order, id=wf_id(), task_queue=tq)
        assert receipt == Receipt(order_id=order.order_id, placed_at=order.placed_at, total=Decimal("20.50"),
                                  priority=Priority.HIGH, lines=3)
        # By type name with an explicit result type, and through a fresh handle.
        handle = await remote.start_workflow("RemoteOrderWorkflow", args=[order], id=wf_id(), task_queue=tq,
                                             result_type=Receipt, execution_timeout=timedelta(minutes=5),
                                             retry_policy=RetryPolicy(maximum_attempts=2),
                                             memo={"placed": order.placed_at, "n": 1})
        assert handle.run_id is None and handle.result_run_id
        assert await handle.result() == receipt
        typed = remote.get_workflow_handle_for(RemoteOrderWorkflow.run, handle.id)
        assert await typed.result() == receipt
        assert isinstance(await remote.get_workflow_handle(handle.id).result(), dict)  # no hint: plain JSON
        desc = await typed.describe()
        assert await desc.memo() == {"placed": order.placed_at.isoformat(), "n": 1}
        # bytes come back as {"base64": ...} and decode with a bytes hint
        assert await remote.execute_workflow(RemoteBytesWorkflow.run, "hi", id=wf_id(), task_queue=tq) == b"hi\x00\xff"


async def test_signal_query_and_update(remote: RemoteClient, local: Client) -> None:
    tq = new_task_queue()
    async with running_worker(local, ALL, tq):
        handle = await remote.start_workflow(RemoteCartWorkflow.run, "ann", id=wf_id(), task_queue=tq)
        await handle.signal(RemoteCartWorkflow.add, "apple")
        await eventually(lambda: handle.query(RemoteCartWorkflow.items_so_far), ["apple"])

        assert await handle.execute_update(RemoteCartWorkflow.add_item, Item("pear", 2)) == 2
        assert await handle.query(RemoteCartWorkflow.last_item) == Item("pear", 2)  # typed query result
        update = await handle.start_update(RemoteCartWorkflow.add_item, Item("fig", 1), id="upd-fig",
                                           wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        assert update.id == "upd-fig" and await update.result() == 3

        with pytest.raises(WorkflowUpdateFailedError) as rejected:
            await handle.execute_update(RemoteCartWorkflow.add_item, Item("bad", 0))
        assert isinstance(rejected.value.cause, ApplicationError) and rejected.value.cause.type == "BadQty"
        with pytest.raises(WorkflowUpdateFailedError) as unknown_update:
            await handle.execute_update("no_such_update", 1)
        assert getattr(unknown_update.value.cause, "type", None) == "UpdateNotFound"
        with pytest.raises(WorkflowQueryFailedError):
            await handle.query("no_such_query")

        await handle.signal("checkout")
        assert await handle.result() == {"owner": "ann", "items": ["apple", "pearx2", "figx1"]}


async def test_cancel_and_terminate_end_results_with_the_local_exceptions(remote: RemoteClient,
                                                                          local: Client) -> None:
    tq = new_task_queue()
    async with running_worker(local, ALL, tq):
        cancelled = await remote.start_workflow(RemoteCartWorkflow.run, "c", id=wf_id(), task_queue=tq)
        await cancelled.cancel()
        with pytest.raises(WorkflowFailureError) as err:
            await cancelled.result()
        assert isinstance(err.value.cause, CancelledError)
        assert (await cancelled.describe()).status == WorkflowExecutionStatus.CANCELED

        terminated = await remote.start_workflow(RemoteCartWorkflow.run, "t", id=wf_id(), task_queue=tq)
        await terminated.terminate(reason="stop now")
        with pytest.raises(WorkflowFailureError) as err:
            await terminated.result()
        assert isinstance(err.value.cause, TerminatedError) and err.value.cause.message == "stop now"
        # A closed run: the local client's NOT_FOUND.
        with pytest.raises(RPCError) as closed:
            await terminated.signal("add", "late")
        assert closed.value.status == RPCStatusCode.NOT_FOUND

        failing = await remote.start_workflow(RemoteFailingWorkflow.run, id=wf_id(), task_queue=tq)
        with pytest.raises(WorkflowFailureError) as err:
            await failing.result()
        cause = err.value.cause
        assert isinstance(cause, ApplicationError)
        assert (cause.type, cause.message, cause.details, cause.non_retryable) == ("Boom", "boom", ({"why": "test"},),
                                                                                 True)
        with pytest.raises(WorkflowFailureError) as local_err:
            await local.get_workflow_handle(failing.id).result()
        assert type(local_err.value.cause) is type(cause) and local_err.value.cause.details == cause.details


async def test_describe_and_history_equal_what_the_local_client_sees(remote: RemoteClient, local: Client) -> None:
    tq = new_task_queue()
    async with running_worker(local, ALL, tq):
        handle = await remote.start_workflow(RemoteCartWorkflow.run, "d", id=wf_id(), task_queue=tq,
                                             memo={"who": "d"})
        for item in ("a", "b", "c"):
            await handle.signal("add", item)
        await handle.signal("checkout")
        await handle.result()
    mine, theirs = await handle.describe(), await local.get_workflow_handle(handle.id).describe()
    for attr in ("id", "run_id", "workflow_type", "task_queue", "status", "start_time", "close_time",
                 "execution_time", "history_length", "parent_id", "parent_run_id", "namespace"):
        assert getattr(mine, attr) == getattr(theirs, attr), attr
    assert dict(mine.search_attributes) == dict(theirs.search_attributes)
    assert await mine.memo() == await theirs.memo() == {"who": "d"}

    local_history = await local.get_workflow_handle(handle.id).fetch_history()
    for page_size in (1000, 3):  # one page, and many pages
        history = await handle.fetch_history(page_size=page_size)
        assert history.run_id == local_history.run_id and history.workflow_id == handle.id
        assert [(e.event_id, e.event_type, e.attributes) for e in history.events] == [
            (e.event_id, e.event_type, e.attributes) for e in local_history.events]
        # Event times travel as ISO 8601 with microseconds.
        assert all(abs(a.event_time - b.event_time) < 2e-6 for a, b in zip(history.events, local_history.events,
                                                                           strict=True))
    assert len(local_history.events) == mine.history_length


async def test_list_and_count_with_the_list_filter(remote: RemoteClient, local: Client) -> None:
    tq = new_task_queue()
    ids = [wf_id() for _ in range(3)]
    for workflow_id in ids:  # no worker: they stay Running
        await remote.start_workflow(RemoteCartWorkflow.run, "x", id=workflow_id, task_queue=tq)
    query = f"TaskQueue = '{tq}' AND ExecutionStatus = 'Running'"
    listed = [wf async for wf in remote.list_workflows(query, page_size=2)]
    assert [wf.id for wf in listed] == ids[::-1]  # newest first, across pages
    assert all(wf.status == WorkflowExecutionStatus.RUNNING and wf.workflow_type == "RemoteCartWorkflow"
               for wf in listed)
    assert [wf.id async for wf in remote.list_workflows(query, limit=1)] == [ids[-1]]
    assert (await remote.count_workflows(query)).count == 3
    assert (await remote.count_workflows(f"TaskQueue = '{tq}' AND ExecutionStatus = 'Completed'")).count == 0
    with pytest.raises(RPCError) as bad:
        await remote.count_workflows("WorkflowType = ")
    assert bad.value.status == RPCStatusCode.INVALID_ARGUMENT


async def test_duplicate_start_and_unknown_ids(remote: RemoteClient, local: Client,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    tq, workflow_id = new_task_queue(), wf_id()
    first = await remote.start_workflow(RemoteCartWorkflow.run, "x", id=workflow_id, task_queue=tq)
    with pytest.raises(WorkflowAlreadyStartedError) as dup:
        await remote.start_workflow(RemoteCartWorkflow.run, "y", id=workflow_id, task_queue=tq,
                                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE)
    assert dup.value.workflow_id == workflow_id and dup.value.run_id == first.result_run_id

    missing = remote.get_workflow_handle("no-such-workflow-" + uuid.uuid4().hex)
    for call in (missing.describe, missing.result, missing.fetch_history, missing.cancel,
                 lambda: missing.signal("add", "a")):
        with pytest.raises(RPCError) as err:
            await call()
        assert err.value.status == RPCStatusCode.NOT_FOUND

    with pytest.raises(RPCError) as timed_out:  # no worker: the result does not come in time
        await first.result(rpc_timeout=timedelta(seconds=0.3))
    assert timed_out.value.status == RPCStatusCode.DEADLINE_EXCEEDED
    # Giving up on a long poll returns at once. (A short server-side poll, so the abandoned request
    # does not hold a live-server connection after the test.)
    monkeypatch.setattr(remote_module, "RESULT_POLL", 1.0)
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(first.result(), 0.3)
    assert time.monotonic() - started < 0.9
    with pytest.raises(ValueError, match="JSON values only"):
        await remote.start_workflow("RemoteBytesWorkflow", b"raw", id=wf_id(), task_queue=tq)


@pytest.fixture
def viewer_key(transactional_db: Any) -> str:
    """A token of a user who may only view runs."""
    return make_token("viewer", ["view_workflowrun"])


async def test_bad_token_and_missing_permission(api_url: str, viewer_key: str) -> None:
    bad = await Client.connect(api_url, api_key="not-a-token")
    with pytest.raises(RPCError) as err:
        await bad.get_workflow_handle("x").describe()
    assert err.value.status == RPCStatusCode.UNAUTHENTICATED
    anonymous = await Client.connect(api_url)
    with pytest.raises(RPCError) as err:
        await anonymous.start_workflow("RemoteCartWorkflow", "x", id=wf_id(), task_queue="q")
    assert err.value.status == RPCStatusCode.UNAUTHENTICATED

    viewer = await Client.connect(api_url, api_key=viewer_key)
    with pytest.raises(RPCError) as err:
        await viewer.start_workflow("RemoteCartWorkflow", "x", id=wf_id(), task_queue="q")
    assert err.value.status == RPCStatusCode.PERMISSION_DENIED
    assert (await viewer.count_workflows()).count == 0  # what it may do still works


async def test_a_server_that_is_not_there_is_unavailable_quickly() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/"
    started = time.monotonic()
    with pytest.raises(RPCError) as err:
        await Client.connect(url, api_key="k")
    assert err.value.status == RPCStatusCode.UNAVAILABLE
    lazy = await Client.connect(url, api_key="k", lazy=True)
    with pytest.raises(RPCError) as err:
        await lazy.start_workflow("W", id="x", task_queue="q")
    assert err.value.status == RPCStatusCode.UNAVAILABLE
    assert time.monotonic() - started < 5


async def test_a_url_that_is_not_the_api_is_unavailable(live_server: Any) -> None:
    with pytest.raises(RPCError) as err:
        await Client.connect(live_server.url + "/not-the-api/", api_key="k")
    assert err.value.status == RPCStatusCode.UNAVAILABLE


async def test_connect_from_envconfig(api_url: str, api_key: str, local: Client) -> None:
    config = ClientConfig.load_client_connect_config(
        disable_file=True, override_env_vars={"TEMPORAL_ADDRESS": api_url, "TEMPORAL_API_KEY": api_key})
    client = await Client.connect(**config)
    assert isinstance(client, RemoteClient) and client.target_host == api_url
    tq = new_task_queue()
    async with running_worker(local, ALL, tq):
        assert await client.execute_workflow(RemoteBytesWorkflow.run, "e", id=wf_id(), task_queue=tq) == b"e\x00\xff"


def test_the_remote_client_imports_no_store_models_or_api() -> None:
    forbidden = ("temporalflow.store", "temporalflow.models", "temporalflow.api", "django")
    for module_file in Path(remote_module.__file__).parent.glob("_remote*.py"):  # the client and its sync twin
        tree = ast.parse(module_file.read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        assert not [m for m in imported if m.startswith(forbidden)], module_file.name


def test_a_payload_codec_is_refused() -> None:
    import dataclasses

    from temporalflow.core.converter import DataConverter

    class Codec:
        async def encode(self, payloads: Any) -> Any:
            return payloads

        async def decode(self, payloads: Any) -> Any:
            return payloads

    with pytest.raises(ValueError, match="payload codec"):
        RemoteClient("http://127.0.0.1:1/api/", data_converter=dataclasses.replace(DataConverter.default,
                                                                                  payload_codec=Codec()))


async def test_a_process_without_django_drives_a_workflow(remote: RemoteClient, api_url: str, api_key: str) -> None:
    """The point of the remote client: another process, no Django settings, no database."""
    handle = await remote.start_workflow(RemoteCartWorkflow.run, "p", id=wf_id(), task_queue=new_task_queue())
    script = (
        "import asyncio, sys\n"
        "from temporalflow.client import Client\n"
        "async def main():\n"
        f"    client = await Client.connect({api_url!r}, api_key={api_key!r})\n"
        f"    handle = client.get_workflow_handle({handle.id!r})\n"
        "    await handle.signal('add', 'from-outside')\n"
        "    print((await handle.describe()).status.name)\n"
        "    loaded = [m for m in sys.modules if m == 'django' or m.startswith(('django.', 'temporalflow.store.'))]\n"
        "    print(sorted(loaded))\n"
        "asyncio.run(main())\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, env=env, cwd=str(Path.cwd()),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    status, loaded = out.decode().splitlines()
    assert status == "RUNNING"
    # The client package imports the store's plain-Python types (no Django in them), never Django.
    assert set(ast.literal_eval(loaded)) <= {"temporalflow.store.base", "temporalflow.store.schedule_types",
                                 "temporalflow.store._schedule_spec"}, loaded
    history = await handle.fetch_history()
    signals = [e.attributes for e in history.events if e.event_type == "WorkflowExecutionSignaled"]
    assert [s["signal_name"] for s in signals] == ["add"]
