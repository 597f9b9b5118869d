"""Payload decoding for display: JSON, codecs, and what stays raw (no database)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from collections.abc import Sequence

from temporalflow.admin.display import RAW_PAYLOAD_KEY, DisplayEvent, PayloadDecoder, failure_summary
from temporalflow.core.converter import DataConverter, Payload, PayloadCodec
from temporalflow.core.payload import payloads_to_json


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_json_payloads_decode_and_others_stay_raw() -> None:
    decoder = PayloadDecoder()
    good = {"metadata": {"encoding": b64("json/plain")}, "data": b64('{"a": [1, 2]}')}
    not_json = {"metadata": {"encoding": b64("json/plain")}, "data": b64("{nope")}
    unknown = {"metadata": {"encoding": b64("binary/encrypted")}, "data": b64("\x00\x01")}
    broken = {"metadata": {"encoding": "***"}, "data": "***"}
    assert decoder.values({"payloads": [good]}) == [{"a": [1, 2]}]
    raw = decoder.value(not_json)[RAW_PAYLOAD_KEY]
    assert raw["encoding"] == "json/plain" and raw["data (base64)"] == not_json["data"] and "JSON" in raw["error"]
    assert decoder.value(unknown)[RAW_PAYLOAD_KEY]["encoding"] == "binary/encrypted"
    assert RAW_PAYLOAD_KEY in decoder.value(broken)
    assert decoder.value({"metadata": {"encoding": b64("binary/null")}, "data": ""}) is None
    assert decoder.values(None) == []


def test_payloads_nested_anywhere_in_attributes_are_decoded() -> None:
    decoder = PayloadDecoder()
    payloads = payloads_to_json(DataConverter.default.payload_converter.to_payloads(["x", {"k": 1}]))
    attributes = {"input": payloads, "header": {"fields": {"trace": payloads["payloads"][0]}}, "attempt": 2,
                  "failure": {"message": "m", "application_failure_info": {"type": "T", "details": payloads}}}
    tree = decoder.tree(attributes)
    assert tree["input"] == ["x", {"k": 1}] and tree["header"]["fields"]["trace"] == "x" and tree["attempt"] == 2
    assert tree["failure"]["application_failure_info"]["details"] == ["x", {"k": 1}]
    event = DisplayEvent.build(3, "ActivityTaskScheduled", 0.0, json.dumps({"input": payloads}), decoder)
    assert event.as_json()["attributes"] == {"input": ["x", {"k": 1}]} and event.category == "command"


class ReverseCodec(PayloadCodec):
    """A toy codec: reverses the data bytes and marks the encoding."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload(metadata={"encoding": b"binary/reversed", "inner": p.metadata["encoding"]}, data=p.data[::-1])
                for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != b"binary/reversed":
                raise ValueError("not mine")
            out.append(Payload(metadata={"encoding": p.metadata["inner"]}, data=p.data[::-1]))
        return out


def test_a_codec_decodes_before_the_converter() -> None:
    converter = dataclasses.replace(DataConverter.default, payload_codec=ReverseCodec())
    encoded = payloads_to_json(asyncio.run(converter.encode([{"secret": "s3"}])))
    assert PayloadDecoder(converter).values(encoded) == [{"secret": "s3"}]
    # Without the codec the payload is shown raw, not an error.
    assert RAW_PAYLOAD_KEY in PayloadDecoder().values(encoded)[0]
    # A payload the codec refuses is raw too.
    plain = payloads_to_json(DataConverter.default.payload_converter.to_payloads([1]))
    assert "not mine" in PayloadDecoder(converter).values(plain)[0][RAW_PAYLOAD_KEY]["error"]


def test_failure_summary_follows_causes() -> None:
    failure = {"message": "outer", "application_failure_info": {"type": "Outer"},
               "cause": {"message": "inner", "timeout_failure_info": {}}}
    assert failure_summary(failure) == "Outer: outer\ntimeout: inner"
    assert failure_summary(None) == ""
