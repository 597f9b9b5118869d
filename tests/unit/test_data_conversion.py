"""Data conversion without a database: Payload's wire format, codecs, the payload visitor, converters."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
import os
import subprocess
import sys
import uuid
import zlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from temporalflow.api.common.v1 import Payload, Payloads
from temporalflow.contrib.pydantic import (
    PydanticJSONPlainPayloadConverter,
    PydanticPayloadConverter,
    ToJsonOptions,
    pydantic_data_converter,
)
from temporalflow.converter import (
    AdvancedJSONEncoder,
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    JSONTypeConverter,
    PayloadCodec,
    value_to_type,
)
from temporalflow.core import commands as cmds
from temporalflow.core.events import EventType, HistoryEvent
from temporalflow.core.instance import PATCH_MARKER
from temporalflow.core.payload import payloads_to_json
from temporalflow.core.payload_visitor import decode_events, visit_commands, visit_payloads
from temporalflow.exceptions import ApplicationError

ROOT = Path(__file__).resolve().parents[2]


class ZlibCodec(PayloadCodec):
    """Compression, written as against temporalio (SerializeToString / FromString)."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload(metadata={"encoding": b"binary/zlib"}, data=zlib.compress(p.SerializeToString()))
                for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != b"binary/zlib":
                out.append(p)
                continue
            out.append(Payload.FromString(zlib.decompress(p.data)))
        return out


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# --- Payload as the protobuf message ------------------------------------------------------------


def test_payload_wire_format_is_protobufs() -> None:
    payload = Payload(metadata={"encoding": b"json/plain"}, data=b"1")
    # field 1 (map entry: key 1, value 2), field 2 (bytes): what protobuf writes for this message.
    assert payload.SerializeToString() == b"\x0a\x16\x0a\x08encoding\x12\x0ajson/plain\x12\x011"
    assert Payload.FromString(payload.SerializeToString()) == payload
    assert Payload().SerializeToString() == b""
    big = Payload(metadata={"a": b"\x00" * 300, "b": b""}, data=bytes(range(256)) * 100)
    assert Payload.FromString(big.SerializeToString()) == big
    assert big.ByteSize() == len(big.SerializeToString())
    copy = Payload()
    copy.CopyFrom(big)
    assert copy == big and copy.metadata is not big.metadata
    many = Payloads(payloads=[payload, big])
    assert Payloads.FromString(many.SerializeToString()) == many


@pytest.mark.parametrize("data", [b"\x0a\x05ab", b"\x0a", b"\x0b\x00", b"\x00\x01", b"\x0a\x03\x0a\x01\xff"])
def test_payload_from_garbage_is_a_clear_value_error(data: bytes) -> None:
    with pytest.raises(ValueError, match="Error parsing message"):
        Payload.FromString(data)


def test_api_common_v1_imports_without_django() -> None:
    code = ("import sys; import temporalflow.api.common.v1 as m; "
            "assert m.Payload(metadata={'encoding': b'x'}, data=b'y').data == b'y'; "
            "bad = [n for n in sys.modules if n.split('.')[0] in ('django', 'rest_framework')]; "
            "assert not bad, bad")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env, timeout=60)


# --- DataConverter with a codec --------------------------------------------------------------------


def test_data_converter_replace_and_round_trip_through_codec() -> None:
    converter = dataclasses.replace(DataConverter.default, payload_codec=ZlibCodec())
    assert converter.payload_converter_class is DefaultPayloadConverter
    values = [None, b"\x00raw", {"a": [1, 2]}, "text" * 100, uuid.UUID(int=5)]
    payloads = run(converter.encode(values))
    assert all(p.metadata["encoding"] == b"binary/zlib" for p in payloads)
    decoded = run(converter.decode(payloads, [Any, bytes, dict[str, list[int]], str, uuid.UUID]))
    assert decoded == values
    assert run(converter.decode_wrapper(run(converter.encode_wrapper(["x"])))) == ["x"]
    # The codec's wrapper helpers also take a Payloads message, in place, as temporalio's do.
    message = Payloads(payloads=DataConverter.default.payload_converter.to_payloads(["y", 2]))
    run(converter.payload_codec.encode_wrapper(message))
    assert [p.metadata["encoding"] for p in message.payloads] == [b"binary/zlib"] * 2
    assert run(converter.decode_wrapper(message, [str, int])) == ["y", 2]
    # The default converter is unchanged by replace().
    assert DataConverter.default.payload_codec is None


def test_encode_common_attributes_moves_message_and_stack_into_the_codec() -> None:
    class Encoded(DefaultFailureConverter):
        def __init__(self) -> None:
            super().__init__(encode_common_attributes=True)

    converter = DataConverter(payload_codec=ZlibCodec(), failure_converter_class=Encoded)
    try:
        raise ApplicationError("secret message", "secret detail", type="Boom")
    except ApplicationError as err:
        failure = run(converter.encode_failure(err))
    assert failure["message"] == "Encoded failure"
    assert failure["stack_trace"] == ""
    assert "secret" not in json.dumps(failure)  # message, stack and details are all compressed payloads
    assert Payload.from_json(failure["encoded_attributes"]).metadata["encoding"] == b"binary/zlib"
    error = run(converter.decode_failure(failure))
    assert isinstance(error, ApplicationError)
    assert error.message == "secret message"
    assert list(error.details) == ["secret detail"]
    assert error.type == "Boom"
    assert "test_encode_common_attributes" in error.failure["stack_trace"]


# --- the payload visitor ----------------------------------------------------------------------------


def _json_payloads(*values: Any) -> dict[str, Any]:
    return payloads_to_json(DataConverter.default.payload_converter.to_payloads(list(values)))


def test_visitor_encodes_commands_but_not_search_attributes_headers_or_patches() -> None:
    codec = ZlibCodec()
    patch = cmds.RecordMarker(marker_name=PATCH_MARKER, details={"patch_id": _json_payloads("p1")})
    schedule = cmds.ScheduleActivityTask(seq=1, activity_id="1", activity_type="a", task_queue="q",
                                         input=_json_payloads("in"), header={"k": _json_payloads("h")["payloads"][0]})
    fail = cmds.FailWorkflowExecution(failure={"message": "m", "application_failure_info": {
        "details": _json_payloads("d")}, "cause": {"message": "c", "encoded_attributes":
                                                   _json_payloads({"message": "x"})["payloads"][0]}})
    can = cmds.ContinueAsNewWorkflowExecution(workflow_type="w", task_queue="q", input=_json_payloads(1),
                                              memo={"m": _json_payloads(2)["payloads"][0]},
                                              search_attributes={"s": _json_payloads(3)["payloads"][0]})
    before_patch = json.dumps(patch.details)
    run(visit_commands([patch, schedule, fail, can], codec.encode))

    def encoding(p: dict[str, Any]) -> bytes:
        return Payload.from_json(p).metadata["encoding"]

    assert json.dumps(patch.details) == before_patch
    assert encoding(schedule.input["payloads"][0]) == b"binary/zlib"
    assert encoding(schedule.header["k"]) == b"json/plain"
    assert encoding(fail.failure["application_failure_info"]["details"]["payloads"][0]) == b"binary/zlib"
    assert encoding(fail.failure["cause"]["encoded_attributes"]) == b"binary/zlib"
    assert encoding(can.input["payloads"][0]) == b"binary/zlib"
    assert encoding(can.memo["m"]) == b"binary/zlib"
    assert encoding(can.search_attributes["s"]) == b"json/plain"


def test_decode_events_copies_and_leaves_stored_events_alone() -> None:
    codec = ZlibCodec()
    attrs = {"input": _json_payloads("a", "b"), "workflow_type": {"name": "W"}}
    run(visit_payloads(attrs, codec.encode))
    stored = HistoryEvent(event_id=1, event_type=EventType.WORKFLOW_EXECUTION_STARTED, event_time=1.0,
                          attributes=attrs)
    timer = HistoryEvent(event_id=2, event_type=EventType.TIMER_STARTED, event_time=1.0,
                         attributes={"timer_id": "1"})
    stored_text = json.dumps(stored.attributes)
    decoded = run(decode_events([stored, timer], codec.decode))
    assert json.dumps(stored.attributes) == stored_text
    assert decoded[1] is timer
    assert DataConverter.default.payload_converter.from_payloads_wrapper(decoded[0].attributes["input"]) == ["a", "b"]


def test_visitor_reports_a_codec_that_breaks_its_contract() -> None:
    class Dropping(PayloadCodec):
        async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
            return []

        async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
            return "nope"  # type: ignore[return-value]

    memo = {"m": _json_payloads(1)["payloads"][0]}
    with pytest.raises(TypeError, match="turned one payload into 0"):
        run(visit_payloads(memo, Dropping().encode, "memo"))
    with pytest.raises(TypeError, match="returned str, expected a list of payloads"):
        run(visit_payloads({"input": _json_payloads(1)}, Dropping().decode, "input"))


# --- custom JSON conversion (temporalio's documented pattern) ---------------------------------------


class IPv4AddressJSONEncoder(AdvancedJSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, ipaddress.IPv4Address):
            return str(o)
        return super().default(o)


class IPv4AddressJSONTypeConverter(JSONTypeConverter):
    def to_typed_value(self, hint: type, value: Any) -> Any | None:
        if isinstance(hint, type) and issubclass(hint, ipaddress.IPv4Address):
            return ipaddress.IPv4Address(value)
        return JSONTypeConverter.Unhandled


class IPv4AddressPayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        json_converter = JSONPlainPayloadConverter(encoder=IPv4AddressJSONEncoder,
                                                   custom_type_converters=[IPv4AddressJSONTypeConverter()])
        super().__init__(*[c if not isinstance(c, JSONPlainPayloadConverter) else json_converter
                           for c in DefaultPayloadConverter.default_encoding_payload_converters])


@dataclasses.dataclass
class Host:
    name: str
    address: ipaddress.IPv4Address
    seen: datetime


def test_custom_json_type_converter_round_trips_nested_values() -> None:
    converter = dataclasses.replace(DataConverter.default, payload_converter_class=IPv4AddressPayloadConverter)
    host = Host(name="db", address=ipaddress.IPv4Address("10.0.0.7"), seen=datetime(2026, 1, 2, 3, 4, 5))
    payloads = run(converter.encode([host, [ipaddress.IPv4Address("1.2.3.4")]]))
    assert json.loads(payloads[0].data)["address"] == "10.0.0.7"
    back = run(converter.decode(payloads, [Host, list[ipaddress.IPv4Address]]))
    assert back == [host, [ipaddress.IPv4Address("1.2.3.4")]]
    assert value_to_type(list[ipaddress.IPv4Address], ["8.8.8.8"], [IPv4AddressJSONTypeConverter()]) == \
        [ipaddress.IPv4Address("8.8.8.8")]
    with pytest.raises(TypeError, match="has no payload converter|cannot be encoded as JSON"):
        DataConverter.default.payload_converter.to_payloads([ipaddress.IPv4Address("1.1.1.1")])


# --- the pydantic converter --------------------------------------------------------------------------


class Item(BaseModel):
    sku: str
    qty: int = 1
    tags: set[str] = set()


def test_pydantic_converter_round_trips_models_and_stdlib_types() -> None:
    converter = pydantic_data_converter
    assert converter.payload_converter_class is PydanticPayloadConverter
    item = Item(sku="a-1", qty=3, tags={"x"})
    when = datetime(2026, 5, 6, 7, 8, 9)
    payloads = run(converter.encode([item, [item], when, uuid.UUID(int=1)]))
    assert all(p.metadata["encoding"] == b"json/plain" for p in payloads)
    back = run(converter.decode(payloads, [Item, list[Item], datetime, uuid.UUID]))
    assert back == [item, [item], when, uuid.UUID(int=1)]
    assert run(converter.decode(payloads[:1])) == [{"sku": "a-1", "qty": 3, "tags": ["x"]}]
    with pytest.raises(ValueError, match=r"(?s)payload at index 0 .*could not be decoded.*qty"):
        converter.payload_converter.from_payloads(
            [Payload(metadata={"encoding": b"json/plain"}, data=b'{"sku": "a", "qty": "many"}')], [Item])


def test_pydantic_exclude_unset_option() -> None:
    converter = PydanticJSONPlainPayloadConverter(ToJsonOptions(exclude_unset=True))
    assert json.loads(converter.to_payload(Item(sku="z")).data) == {"sku": "z"}
    assert json.loads(PydanticJSONPlainPayloadConverter().to_payload(Item(sku="z")).data) == \
        {"sku": "z", "qty": 1, "tags": []}
