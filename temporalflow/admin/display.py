"""Turning stored payloads, failures and events into what an operator reads.

Payloads are stored in Temporal's JSON form (``{"metadata": {"encoding": b64},
"data": b64}``, lists as ``{"payloads": [...]}``). The admin decodes them with
a data converter (its codec first, when there is one) into plain JSON values;
a payload that does not decode (an unknown encoding, a codec that refuses it,
bytes that are not JSON) is shown raw, with its encoding, instead of failing
the page.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import async_to_sync

from temporalflow.core.converter import AdvancedJSONEncoder, DataConverter
from temporalflow.core.payload import Payload

__all__ = [
    "DisplayEvent",
    "PayloadDecoder",
    "RAW_PAYLOAD_KEY",
    "epoch_to_datetime",
    "failure_summary",
    "pretty_json",
]

RAW_PAYLOAD_KEY = "(undecoded payload)"
"""Key of the object that stands for a payload the converter could not decode."""

_MAX_DEPTH = 200


def epoch_to_datetime(value: float | None) -> datetime | None:
    """An aware UTC datetime from epoch seconds (None stays None)."""
    if value is None:
        return None
    return datetime.fromtimestamp(float(value), tz=UTC)


def pretty_json(value: Any) -> str:
    """Indented JSON for display; anything JSON cannot encode is shown by ``str``."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _is_payload(obj: dict[str, Any]) -> bool:
    metadata = obj.get("metadata")
    return (
        isinstance(metadata, dict)
        and "encoding" in metadata
        and isinstance(obj.get("data", ""), str)
        and set(obj) <= {"metadata", "data", "external_payloads"}
    )


def _is_payloads(obj: dict[str, Any]) -> bool:
    items = obj.get("payloads")
    return set(obj) == {"payloads"} and isinstance(items, list) and all(isinstance(p, dict) for p in items)


def _text_of_b64(value: Any) -> str:
    try:
        return base64.b64decode(value or "", validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError, TypeError):
        return str(value)


class PayloadDecoder:
    """Decodes payloads (and whatever contains them) into plain JSON values for display.

    Args:
        data_converter: The converter whose codec and payload converter decode; the
            default converter when None.
    """

    def __init__(self, data_converter: DataConverter | None = None) -> None:
        self.data_converter = data_converter or DataConverter.default

    def raw(self, payload_json: Any, error: str = "") -> dict[str, Any]:
        """The stand-in for a payload that does not decode: its encoding and data as stored."""
        metadata = payload_json.get("metadata") if isinstance(payload_json, dict) else None
        encoding = _text_of_b64(metadata.get("encoding")) if isinstance(metadata, dict) else "?"
        data = payload_json.get("data", "") if isinstance(payload_json, dict) else payload_json
        raw: dict[str, Any] = {"encoding": encoding, "data (base64)": data}
        if error:
            raw["error"] = error
        return {RAW_PAYLOAD_KEY: raw}

    def value(self, payload_json: Any) -> Any:
        """One payload (JSON form) → its value as plain JSON, or the raw stand-in."""
        try:
            payload = Payload.from_json(payload_json)
        except ValueError as err:
            return self.raw(payload_json, str(err))
        codec = self.data_converter.payload_codec
        try:
            if codec is not None:
                decoded = async_to_sync(codec.decode)([payload])
                if len(decoded) != 1:
                    return self.raw(payload_json, "the codec returned a different number of payloads")
                payload = decoded[0]
            value = self.data_converter.payload_converter.from_payloads([payload])[0]
        except Exception as err:  # noqa: BLE001 - any converter or codec error: show the payload raw
            return self.raw(payload_json, f"{type(err).__name__}: {err}")
        if isinstance(value, bytes):
            return {RAW_PAYLOAD_KEY: {"encoding": _text_of_b64(payload_json["metadata"].get("encoding")),
                                      "data (base64)": base64.b64encode(value).decode("ascii")}}
        try:
            return json.loads(json.dumps(value, cls=AdvancedJSONEncoder))
        except (TypeError, ValueError):
            return repr(value)

    def values(self, payloads_json: Any) -> list[Any]:
        """``{"payloads": [...]}`` (or None) → the list of its values."""
        if not isinstance(payloads_json, dict):
            return []
        return [self.value(p) for p in payloads_json.get("payloads") or []]

    def tree(self, obj: Any, _depth: int = 0) -> Any:
        """A copy of ``obj`` with every payload and payload list inside it replaced by decoded values."""
        if _depth > _MAX_DEPTH:
            return obj
        if isinstance(obj, dict):
            if _is_payloads(obj):
                return [self.value(p) for p in obj["payloads"]]
            if _is_payload(obj):
                return self.value(obj)
            return {k: self.tree(v, _depth + 1) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.tree(v, _depth + 1) for v in obj]
        return obj


def failure_summary(failure: Any) -> str:
    """``Type: message`` of a Failure dict and its causes, one per line (empty if not a failure).

    Give it the failure as :py:meth:`PayloadDecoder.tree` returns it: a message moved into
    ``encoded_attributes`` (``encode_common_attributes=True``) is then read from there instead
    of the stand-in "Encoded failure".
    """
    lines = []
    current = failure
    depth = 0
    while isinstance(current, dict) and depth < 20:
        info = current.get("application_failure_info")
        kind = ""
        if isinstance(info, dict) and info.get("type"):
            kind = str(info["type"])
        else:
            kind = next((k[: -len("_failure_info")] for k in current if k.endswith("_failure_info")), "")
        message = str(current.get("message") or "")
        encoded = current.get("encoded_attributes")
        if isinstance(encoded, dict) and isinstance(encoded.get("message"), str):
            message = encoded["message"]
        lines.append(f"{kind}: {message}" if kind else message)
        current = current.get("cause")
        depth += 1
    return "\n".join(line for line in lines if line)


@dataclass(frozen=True, slots=True)
class DisplayEvent:
    """One history event as the timeline shows it.

    Attributes:
        event_id: Position in the history, from 1.
        event_type: Temporal's event type name.
        time: When the event was written.
        attributes_json: The attributes, payloads decoded, as indented JSON.
        category: ``"failure"``, ``"close"``, ``"signal"`` … (a CSS hint).
    """

    event_id: int
    event_type: str
    time: datetime
    attributes_json: str
    category: str

    @classmethod
    def build(cls, event_id: int, event_type: str, event_time: float, attributes_text: str,
              decoder: PayloadDecoder) -> DisplayEvent:
        """Build from a stored row's fields (``attributes_text`` is the stored JSON text)."""
        try:
            attributes = json.loads(attributes_text or "{}")
        except ValueError:
            attributes = {"(unreadable attributes)": attributes_text}
        return cls(
            event_id=int(event_id),
            event_type=event_type,
            time=epoch_to_datetime(event_time),  # type: ignore[arg-type]
            attributes_json=pretty_json(decoder.tree(attributes)),
            category=_category(event_type),
        )

    def as_json(self) -> dict[str, Any]:
        """The event for the JSON feed (without the rendered row)."""
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "event_time": self.time.isoformat(),
            "attributes": json.loads(self.attributes_json),
        }


def _category(event_type: str) -> str:
    if event_type.endswith(("Failed", "TimedOut", "Terminated")):
        return "failure"
    if "Signal" in event_type or "CancelRequested" in event_type or "Update" in event_type:
        return "message"
    if event_type.startswith("WorkflowExecution") and event_type.endswith(("Completed", "Canceled", "ContinuedAsNew")):
        return "close"
    if event_type.startswith("WorkflowTask"):
        return "task"
    return "command"
