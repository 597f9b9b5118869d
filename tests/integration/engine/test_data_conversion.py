"""Data conversion through the engine: payload codecs at temporalio's boundaries, stored encoded.

The encrypting codec is the one Temporal's samples use (AES-GCM over the serialized
Payload), written against ``temporalflow.api.common.v1`` exactly as against
``temporalio.api.common.v1``. The tests read the raw rows afterwards: every payload a
workflow, activity, signal, query, update or failure carried is stored opaque.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
import uuid
import zlib
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import connections
from pydantic import BaseModel

from temporalflow import activity, workflow
from temporalflow.api.common.v1 import Payload
from temporalflow.client import (
    Client,
    SyncClient,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalflow.common import RetryPolicy
from temporalflow.contrib.pydantic import pydantic_data_converter
from temporalflow.converter import DataConverter, DefaultFailureConverter, PayloadCodec
from temporalflow.exceptions import ActivityError, ApplicationError
from temporalflow.models import ActivityTask, HistoryEvent, WorkflowQuery, WorkflowRun, WorkflowUpdate
from temporalflow.store import notify
from temporalflow.testing import WorkflowEnvironment
from tests.integration.engine.conftest import running_worker, wf_id

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "s3cr3t"
"""Every value in these tests contains it; no stored byte may show it in clear."""


class EncryptionCodec(PayloadCodec):
    """AES-GCM over the serialized payload, as in Temporal's encryption sample."""

    def __init__(self, key_id: str = "test-key-id", key: bytes = b"0123456789abcdef0123456789abcdef") -> None:
        super().__init__()
        self.key_id = key_id
        self.encryptor = AESGCM(key)
        self.decoded = 0
        self.loops: set[asyncio.AbstractEventLoop] = set()

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.loops.add(asyncio.get_running_loop())
        return [
            Payload(
                metadata={"encoding": b"binary/encrypted", "encryption-key-id": self.key_id.encode()},
                data=self.encrypt(p.SerializeToString()),
            )
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        ret: list[Payload] = []
        for p in payloads:
            self.loops.add(asyncio.get_running_loop())
            if p.metadata.get("encoding", b"").decode() != "binary/encrypted":
                ret.append(p)
                continue
            key_id = p.metadata.get("encryption-key-id", b"").decode()
            if key_id != self.key_id:
                raise ValueError(f"Unrecognized key ID {key_id}. Current key ID is {self.key_id}.")
            self.decoded += 1
            ret.append(Payload.FromString(self.decrypt(p.data)))
        return ret

    def encrypt(self, data: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self.encryptor.encrypt(nonce, data, None)

    def decrypt(self, data: bytes) -> bytes:
        return self.encryptor.decrypt(data[:12], data[12:], None)


class CompressionCodec(PayloadCodec):
    """zlib over the serialized payload (a second codec shape: no per-payload key)."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload(metadata={"encoding": b"binary/zlib"}, data=zlib.compress(p.SerializeToString()))
                for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload.FromString(zlib.decompress(p.data)) if p.metadata.get("encoding") == b"binary/zlib" else p
                for p in payloads]


class EncodedAttributesFailureConverter(DefaultFailureConverter):
    """Messages and stack traces go into an encoded payload (so the codec encrypts them)."""

    def __init__(self) -> None:
        super().__init__(encode_common_attributes=True)


def encrypted_converter(**codec_kwargs: Any) -> DataConverter:
    """The default converter with the encrypting codec and encoded failure attributes."""
    return dataclasses.replace(DataConverter.default, payload_codec=EncryptionCodec(**codec_kwargs),
                               failure_converter_class=EncodedAttributesFailureConverter)


@pytest.fixture
async def codec_env(transactional_db: Any) -> Any:
    """A local environment whose client (and so its workers) encrypt every payload."""
    environment = await WorkflowEnvironment.start_local(data_converter=encrypted_converter())
    yield environment
    await environment.shutdown()
    await notify.hub.aclose()
    await sync_to_async(connections.close_all, thread_sensitive=True)()


# --- workflows and activities -------------------------------------------------------------------


@activity.defn
async def greet(name: str) -> str:
    activity.heartbeat(f"heartbeat {SECRET}")
    return f"Hello, {name}"


@activity.defn
async def heartbeat_then_retry(text: str) -> list[Any]:
    info = activity.info()
    if info.attempt == 1:
        activity.heartbeat(f"progress {text}")
        await asyncio.sleep(0.3)  # the first heartbeat is sent at once; let it land
        raise ApplicationError("try again")

    @sync_to_async
    def stored() -> Any:
        row = ActivityTask.objects.get(run__workflow_id=info.workflow_id, activity_id=info.activity_id)
        return _json(row.heartbeat_details)

    return [list(info.heartbeat_details), await stored()]


@activity.defn
async def fail_with_secret(text: str) -> None:
    raise ApplicationError(f"activity failed on {text}", f"detail {SECRET}", type="SecretError",
                           non_retryable=True)


@workflow.defn
class SecretWorkflow:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.done = False

    @workflow.run
    async def run(self, name: str) -> str:
        greeting = await workflow.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=10))
        await workflow.wait_condition(lambda: self.done)
        return f"{greeting} | {','.join(self.items)}"

    @workflow.signal
    def add(self, item: str) -> None:
        self.items.append(item)

    @workflow.query
    def current(self) -> list[str]:
        return list(self.items)

    @workflow.query
    def broken(self) -> str:
        raise ValueError(f"query failed on {SECRET}")

    @workflow.update
    def finish(self, suffix: str) -> str:
        self.items.append(suffix)
        self.done = True
        return f"finished with {suffix}"

    @finish.validator
    def check_finish(self, suffix: str) -> None:
        if "reject" in suffix:
            raise ValueError(f"rejected {suffix}")


@workflow.defn
class HeartbeatWorkflow:
    @workflow.run
    async def run(self, text: str) -> list[Any]:
        return await workflow.execute_activity(
            heartbeat_then_retry, text, start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)))


@workflow.defn
class FailingWorkflow:
    @workflow.run
    async def run(self, text: str) -> None:
        try:
            await workflow.execute_activity(fail_with_secret, text, start_to_close_timeout=timedelta(seconds=10))
        except ActivityError as err:
            raise ApplicationError(f"workflow failed on {text}", f"wf detail {SECRET}",
                                   type="WorkflowSecretError") from err


@workflow.defn
class LocalSecretWorkflow:
    def __init__(self) -> None:
        self.greeting = ""

    @workflow.run
    async def run(self, name: str) -> str:
        self.greeting = await workflow.execute_local_activity(greet, name,
                                                              start_to_close_timeout=timedelta(seconds=10))
        return self.greeting

    @workflow.query
    def last(self) -> str:
        return self.greeting


class Order(BaseModel):
    id: uuid.UUID
    lines: list[str]
    total: float


class Receipt(BaseModel):
    order_id: uuid.UUID
    count: int
    note: str


@activity.defn
async def price(order: Order) -> Receipt:
    assert isinstance(order, Order)
    return Receipt(order_id=order.id, count=len(order.lines), note=f"priced {order.total:.2f}")


@workflow.defn
class OrderWorkflow:
    @workflow.run
    async def run(self, order: Order) -> Receipt:
        assert isinstance(order, Order)
        receipt = await workflow.execute_activity(price, order, start_to_close_timeout=timedelta(seconds=10))
        assert isinstance(receipt, Receipt)
        return Receipt(order_id=receipt.order_id, count=receipt.count, note=receipt.note + " in workflow")


# --- helpers ------------------------------------------------------------------------------------


def _payloads(obj: Any) -> Iterator[dict[str, Any]]:
    """Every payload object inside stored JSON (search attributes and headers are never encoded)."""
    if isinstance(obj, dict):
        if isinstance(obj.get("metadata"), dict) and isinstance(obj.get("data"), str):
            yield obj
            return
        for key, value in obj.items():
            if key not in ("search_attributes", "header"):
                yield from _payloads(value)
    elif isinstance(obj, list | tuple):
        for item in obj:
            yield from _payloads(item)


def _assert_opaque(obj: Any, where: str) -> int:
    """Every payload in ``obj`` is encrypted; no clear text of SECRET anywhere. Returns the count."""
    text = json.dumps(obj)
    assert SECRET not in text, f"{where}: clear text stored: {text[:300]}"
    count = 0
    for payload in _payloads(obj):
        encoding = base64.b64decode(payload["metadata"].get("encoding", ""))
        assert encoding == b"binary/encrypted", f"{where}: payload stored as {encoding!r}"
        assert SECRET.encode() not in base64.b64decode(payload["data"]), f"{where}: payload data in clear"
        count += 1
    return count


def _json(value: Any) -> Any:
    """A JSON column's value (the store writes some as JSON text)."""
    return json.loads(value) if isinstance(value, str) else value


@sync_to_async
def _stored_rows(workflow_id: str) -> dict[str, Any]:
    run = WorkflowRun.objects.get(workflow_id=workflow_id)
    events = [(e.event_type, json.loads(e.attributes)) for e in HistoryEvent.objects.filter(run=run)
              .order_by("event_id")]
    queries = [(_json(q.args), _json(q.answer)) for q in WorkflowQuery.objects.filter(run=run)]
    updates = [(_json(u.args), _json(u.outcome)) for u in WorkflowUpdate.objects.filter(run=run)]
    return {"events": events, "queries": queries, "updates": updates, "memo": run.memo}


async def _wait_for(predicate: Any, timeout: float = 20.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


# --- tests --------------------------------------------------------------------------------------


async def test_workflow_activity_signal_query_update_through_encrypting_codec(codec_env: Any) -> None:
    client: Client = codec_env.client
    workflow_id = wf_id()
    async with running_worker(client, [SecretWorkflow], [greet]) as worker:
        handle = await client.start_workflow(SecretWorkflow.run, f"name {SECRET}", id=workflow_id,
                                             task_queue=worker.task_queue, memo={"note": f"memo {SECRET}"})
        await handle.signal(SecretWorkflow.add, f"signal {SECRET}")
        assert await _wait_for(lambda: handle.query(SecretWorkflow.current)) == [f"signal {SECRET}"]
        with pytest.raises(WorkflowQueryFailedError, match=f"query failed on {SECRET}"):
            await handle.query(SecretWorkflow.broken)
        with pytest.raises(WorkflowUpdateFailedError) as rejected:
            await handle.execute_update(SecretWorkflow.finish, f"reject {SECRET}")
        assert rejected.value.cause.message == f"rejected reject {SECRET}"
        assert await handle.execute_update(SecretWorkflow.finish, f"update {SECRET}") == \
            f"finished with update {SECRET}"
        assert await handle.result() == f"Hello, name {SECRET} | signal {SECRET},update {SECRET}"
        assert (await (await handle.describe()).memo()) == {"note": f"memo {SECRET}"}
    # Client and worker calls alike ran the codec on this (the caller's) event loop.
    assert client.data_converter.payload_codec.loops == {asyncio.get_running_loop()}

    rows = await _stored_rows(workflow_id)
    seen = {}
    for event_type, attributes in rows["events"]:
        seen[event_type] = seen.get(event_type, 0) + _assert_opaque(attributes, event_type)
    # Input, memo, activity input and result, signal, update args and result, workflow result.
    for event_type in ("WorkflowExecutionStarted", "ActivityTaskScheduled", "ActivityTaskCompleted",
                       "WorkflowExecutionSignaled", "WorkflowExecutionUpdateAccepted",
                       "WorkflowExecutionUpdateCompleted", "WorkflowExecutionCompleted"):
        assert seen.get(event_type), f"no encrypted payload in {event_type}"
    assert seen["WorkflowExecutionStarted"] == 2  # the input and the memo value
    for query in rows["queries"]:  # answered queries may already be gone
        _assert_opaque(query, "query row")
    assert len(rows["updates"]) == 2  # the rejected one (its failure) and the completed one
    assert sum(_assert_opaque(u, "update row") for u in rows["updates"]) >= 3  # two args, result, failure
    assert _assert_opaque(rows["memo"], "run memo") == 1


async def test_failures_are_encoded_with_common_attributes(codec_env: Any) -> None:
    client: Client = codec_env.client
    workflow_id = wf_id()
    async with running_worker(client, [FailingWorkflow], [fail_with_secret]) as worker:
        with pytest.raises(WorkflowFailureError) as info:
            await client.execute_workflow(FailingWorkflow.run, f"text {SECRET}", id=workflow_id,
                                          task_queue=worker.task_queue)
    error = info.value.cause
    assert isinstance(error, ApplicationError)
    assert error.message == f"workflow failed on text {SECRET}"  # decoded from the encoded attributes
    assert error.type == "WorkflowSecretError"
    assert list(error.details) == [f"wf detail {SECRET}"]
    assert isinstance(error.__cause__, ActivityError)
    root = error.__cause__.__cause__
    assert isinstance(root, ApplicationError)
    assert root.message == f"activity failed on text {SECRET}"
    assert list(root.details) == [f"detail {SECRET}"]

    rows = await _stored_rows(workflow_id)
    failures = [a["failure"] for t, a in rows["events"] if t in ("ActivityTaskFailed", "WorkflowExecutionFailed")]
    assert len(failures) == 2
    # The admin's summary line reads the encoded message back when it has the codec.
    from temporalflow.admin.display import PayloadDecoder, failure_summary

    summary = await sync_to_async(lambda: failure_summary(PayloadDecoder(ENCRYPTED).tree(failures[1])))()
    assert summary.splitlines()[0] == f"WorkflowSecretError: workflow failed on text {SECRET}"
    assert f"SecretError: activity failed on text {SECRET}" in summary
    assert "Encoded failure" in failure_summary(failures[1])  # without the codec: the stand-in
    for failure in failures:
        _assert_opaque(failure, "failure")
        current = failure
        while current is not None:
            if "application_failure_info" in current:
                assert current["message"] == "Encoded failure"
                assert current["stack_trace"] == ""
                assert "encoded_attributes" in current
            current = current.get("cause")


async def test_sync_client_and_compression_codec(transactional_db: Any) -> None:
    converter = dataclasses.replace(DataConverter.default, payload_codec=CompressionCodec())
    environment = await WorkflowEnvironment.start_local(data_converter=converter)
    try:
        workflow_id = wf_id()
        async with running_worker(environment.client, [SecretWorkflow], [greet]) as worker:
            def drive() -> str:
                sync = SyncClient(environment.client.store, data_converter=converter)
                handle = sync.start_workflow(SecretWorkflow.run, f"sync {SECRET}", id=workflow_id,
                                             task_queue=worker.task_queue)
                handle.signal(SecretWorkflow.add, "x")
                assert handle.execute_update(SecretWorkflow.finish, "y") == "finished with y"
                return handle.result(timeout=20)

            assert await sync_to_async(drive, thread_sensitive=True)() == f"Hello, sync {SECRET} | x,y"
        rows = await _stored_rows(workflow_id)
        started = dict(rows["events"])["WorkflowExecutionStarted"]
        [stored] = started["input"]["payloads"]
        assert base64.b64decode(stored["metadata"]["encoding"]) == b"binary/zlib"
        assert SECRET.encode() not in base64.b64decode(stored["data"])
    finally:
        await environment.shutdown()
        await notify.hub.aclose()
        await sync_to_async(connections.close_all, thread_sensitive=True)()


async def test_pydantic_models_in_and_out_of_workflow_and_activity(transactional_db: Any) -> None:
    environment = await WorkflowEnvironment.start_local(data_converter=pydantic_data_converter)
    try:
        order = Order(id=uuid.uuid4(), lines=["a", "b", "c"], total=12.5)
        async with running_worker(environment.client, [OrderWorkflow], [price]) as worker:
            receipt = await environment.client.execute_workflow(OrderWorkflow.run, order, id=wf_id(),
                                                                task_queue=worker.task_queue)
        assert receipt == Receipt(order_id=order.id, count=3, note="priced 12.50 in workflow")
    finally:
        await environment.shutdown()
        await notify.hub.aclose()
        await sync_to_async(connections.close_all, thread_sensitive=True)()


async def test_payload_the_worker_cannot_decode_fails_the_task_clearly(codec_env: Any) -> None:
    """A run written with another key: its workflow task fails (retried), the worker keeps working."""
    other = Client(codec_env.client.store, data_converter=encrypted_converter(key_id="other-key",
                                                                              key=b"k" * 32))
    bad_id, good_id = wf_id(), wf_id()
    async with running_worker(codec_env.client, [SecretWorkflow], [greet]) as worker:
        await other.start_workflow(SecretWorkflow.run, "unreadable", id=bad_id, task_queue=worker.task_queue)

        @sync_to_async
        def task_failure() -> dict[str, Any] | None:
            row = (HistoryEvent.objects.filter(run__workflow_id=bad_id, event_type="WorkflowTaskFailed")
                   .order_by("event_id").first())
            return json.loads(row.attributes) if row else None

        failed = await _wait_for(task_failure)
        # The task failure is itself stored encoded; the worker's converter reads it.
        error = await codec_env.client.data_converter.decode_failure(failed["failure"])
        assert "Failed decoding activation" in error.message
        assert "Unrecognized key ID other-key" in error.message
        assert error.type == "ValueError"

        # The same worker still runs a good workflow to the end.
        handle = await codec_env.client.start_workflow(SecretWorkflow.run, "fine", id=good_id,
                                                       task_queue=worker.task_queue)
        await handle.execute_update(SecretWorkflow.finish, "done")
        assert await handle.result() == "Hello, fine | done"

    # A client without the codec gets a clear error, not garbage, for the encrypted result.
    plain = Client(codec_env.client.store)
    with pytest.raises(ValueError, match="unknown encoding 'binary/encrypted'.*payload codec missing"):
        await plain.get_workflow_handle(good_id).result()


async def test_local_activity_marker_is_stored_encoded(codec_env: Any) -> None:
    client: Client = codec_env.client
    workflow_id = wf_id()
    async with running_worker(client, [LocalSecretWorkflow], [greet]) as worker:
        assert await client.execute_workflow(LocalSecretWorkflow.run, f"local {SECRET}", id=workflow_id,
                                             task_queue=worker.task_queue) == f"Hello, local {SECRET}"
        # The closed run is out of the cache: the query replays the history, marker decoded.
        assert await client.get_workflow_handle(workflow_id).query(LocalSecretWorkflow.last) == \
            f"Hello, local {SECRET}"
    rows = await _stored_rows(workflow_id)
    markers = [a for t, a in rows["events"] if t == "MarkerRecorded"]
    assert markers, "no local activity marker"
    assert sum(_assert_opaque(m, "marker") for m in markers) >= 1
    for event_type, attributes in rows["events"]:
        _assert_opaque(attributes, event_type)


ENCRYPTED = encrypted_converter()
"""A module-level converter for ``TEMPORALFLOW["DATA_CONVERTER"]`` (same key as the fixture's)."""

_HERE = "tests.integration.engine.test_data_conversion"


def make_converter() -> DataConverter:
    """A factory the setting may name instead of an instance."""
    return ENCRYPTED


def test_data_converter_setting(settings: Any) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from temporalflow.conf import get_data_converter

    settings.TEMPORALFLOW = {}
    assert get_data_converter() is DataConverter.default
    settings.TEMPORALFLOW = {"DATA_CONVERTER": f"{_HERE}.ENCRYPTED"}
    assert get_data_converter() is ENCRYPTED
    settings.TEMPORALFLOW = {"DATA_CONVERTER": f"{_HERE}.make_converter"}
    assert get_data_converter() is ENCRYPTED
    settings.TEMPORALFLOW = {"DATA_CONVERTER": ENCRYPTED}
    assert get_data_converter() is ENCRYPTED
    settings.TEMPORALFLOW = {"DATA_CONVERTER": f"{_HERE}.no_such_name"}
    with pytest.raises(ImproperlyConfigured, match="cannot be imported"):
        get_data_converter()
    settings.TEMPORALFLOW = {"DATA_CONVERTER": f"{_HERE}.SECRET"}
    with pytest.raises(ImproperlyConfigured, match="is a str, not a temporalflow.converter.DataConverter"):
        get_data_converter()
    settings.TEMPORALFLOW = {"DATA_CONVERTER": 42}
    with pytest.raises(ImproperlyConfigured, match="must be a dotted path"):
        get_data_converter()


async def test_admin_api_and_sync_client_decode_only_with_the_configured_converter(
        codec_env: Any, settings: Any) -> None:
    from django.contrib import admin

    from temporalflow.admin.display import RAW_PAYLOAD_KEY
    from temporalflow.admin.runs import WorkflowRunAdmin
    from temporalflow.api.views import _with_decoded

    workflow_id = wf_id()
    async with running_worker(codec_env.client, [SecretWorkflow], [greet]) as worker:
        handle = await codec_env.client.start_workflow(SecretWorkflow.run, f"shown {SECRET}", id=workflow_id,
                                                       task_queue=worker.task_queue)
        await handle.execute_update(SecretWorkflow.finish, "end")
        await handle.result()
    rows = await _stored_rows(workflow_id)
    started = dict(rows["events"])["WorkflowExecutionStarted"]

    @sync_to_async
    def shown() -> tuple[Any, Any, Any]:
        decoder = WorkflowRunAdmin(WorkflowRun, admin.site).get_decoder()
        api = _with_decoded(started["input"])["payloads"][0]
        result = SyncClient.connect().get_workflow_handle(workflow_id).result(timeout=10)
        return decoder.values(started["input"]), api, result

    settings.TEMPORALFLOW = {}
    with pytest.raises(ValueError, match="payload codec missing"):
        await shown()  # SyncClient.connect() has the default converter: the result does not decode
    settings.TEMPORALFLOW = {"DATA_CONVERTER": f"{_HERE}.ENCRYPTED"}
    admin_values, api_payload, result = await shown()
    assert admin_values == [f"shown {SECRET}"]
    assert api_payload["decoded"] == f"shown {SECRET}"
    assert result == f"Hello, shown {SECRET} | end"

    @sync_to_async
    def shown_without() -> tuple[Any, Any]:
        decoder = WorkflowRunAdmin(WorkflowRun, admin.site).get_decoder()
        return decoder.values(started["input"]), _with_decoded(started["input"])["payloads"][0]

    settings.TEMPORALFLOW = {}
    [raw], api_raw = await shown_without()
    assert raw[RAW_PAYLOAD_KEY]["encoding"] == "binary/encrypted"
    assert "unknown encoding 'binary/encrypted'" in api_raw["decode_error"]


async def test_heartbeat_details_are_stored_encoded_and_reach_the_next_attempt_decoded(codec_env: Any) -> None:
    client: Client = codec_env.client
    async with running_worker(client, [HeartbeatWorkflow], [heartbeat_then_retry]) as worker:
        details, stored = await client.execute_workflow(HeartbeatWorkflow.run, SECRET, id=wf_id(),
                                                        task_queue=worker.task_queue)
    assert details == [f"progress {SECRET}"]
    assert _assert_opaque(stored, "heartbeat details row") == 1


class OrmCodec(PayloadCodec):
    """A codec that (wrongly) waits for Django's sync thread, e.g. to read its keys with the ORM."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        await sync_to_async(lambda: None, thread_sensitive=True)()
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


async def test_codec_waiting_for_the_sync_thread_gets_an_error_not_a_hang(codec_env: Any) -> None:
    client = Client(codec_env.client.store,
                    data_converter=dataclasses.replace(DataConverter.default, payload_codec=OrmCodec()))
    with pytest.raises(RuntimeError, match="would deadlock"):
        await asyncio.wait_for(client.start_workflow(SecretWorkflow.run, "x", id=wf_id(), task_queue="nowhere"), 20)


async def test_replayer_decodes_histories_with_its_codec(codec_env: Any) -> None:
    from temporalflow.worker import Replayer

    client: Client = codec_env.client
    async with running_worker(client, [SecretWorkflow], [greet]) as worker:
        handle = await client.start_workflow(SecretWorkflow.run, f"replayed {SECRET}", id=wf_id(),
                                             task_queue=worker.task_queue)
        await handle.signal(SecretWorkflow.add, "a")
        await handle.execute_update(SecretWorkflow.finish, "b")
        await handle.result()
    history = await handle.fetch_history()
    result = await Replayer(workflows=[SecretWorkflow], data_converter=client.data_converter).replay_workflow(history)
    assert result.replay_failure is None
    # Without the codec the stored input does not decode: replay fails, saying why.
    plain = await Replayer(workflows=[SecretWorkflow]).replay_workflow(history, raise_on_replay_failure=False)
    assert plain.replay_failure is not None
    assert "binary/encrypted" in str(plain.replay_failure)
