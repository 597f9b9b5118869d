"""The stored unit of data: a ``Payload`` (metadata + bytes), as Temporal defines it.

Payloads live inside history-event attributes and commands in their JSON form,
exactly as Temporal's JSON history export writes them::

    {"metadata": {"encoding": "<base64>"}, "data": "<base64>"}

and lists of payloads as ``{"payloads": [...]}``. Keeping one JSON shape
everywhere means the store never needs to know where payloads are nested.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

PayloadJSON = dict[str, Any]
"""A payload in Temporal's JSON form: ``{"metadata": {k: b64}, "data": b64}``."""

PayloadsJSON = dict[str, list[PayloadJSON]]
"""A list of payloads in Temporal's JSON form: ``{"payloads": [...]}``."""


@dataclass(slots=True)
class Payload:
    """One encoded value: ``metadata`` (e.g. ``encoding``) and raw ``data`` bytes.

    The fields, and the protobuf methods codecs use (``SerializeToString``,
    ``FromString``, ``ParseFromString``, ``CopyFrom``, ``ByteSize``), are those of
    ``temporal.api.common.v1.Payload``, with its wire format, so an encryption or
    compression codec written for temporalio (``encrypt(p.SerializeToString())`` …
    ``Payload.FromString(decrypt(p.data))``) runs unchanged. User code imports it as
    ``temporalflow.api.common.v1.Payload``.
    """

    metadata: dict[str, bytes] = field(default_factory=dict)
    data: bytes = b""

    def SerializeToString(self, *, deterministic: bool = False) -> bytes:  # noqa: N802 - protobuf's name
        """The protobuf wire form of this payload (``metadata`` entries, then ``data``).

        Args:
            deterministic: Write ``metadata`` entries sorted by key (as protobuf's option does).
        """
        out = bytearray()
        items = sorted(self.metadata.items()) if deterministic else self.metadata.items()
        for key, value in items:
            entry = bytearray()
            _write_bytes(entry, 1, key.encode("utf-8"))
            _write_bytes(entry, 2, bytes(value))
            _write_bytes(out, 1, bytes(entry))
        if self.data:
            _write_bytes(out, 2, bytes(self.data))
        return bytes(out)

    @classmethod
    def FromString(cls, data: bytes) -> Payload:  # noqa: N802 - protobuf's name
        """Parse a payload from its protobuf wire form.

        Raises:
            ValueError: If ``data`` is not a serialized ``Payload`` (protobuf's ``DecodeError`` is
                a ``ValueError`` too, hence the same type).
        """
        payload = cls()
        payload.ParseFromString(data)
        return payload

    def ParseFromString(self, data: bytes) -> int:  # noqa: N802 - protobuf's name
        """Replace this payload's fields with those parsed from ``data``; returns ``len(data)``.

        Raises:
            ValueError: If ``data`` is not a serialized ``Payload``.
        """
        metadata: dict[str, bytes] = {}
        body = b""
        for number, value in _read_fields(bytes(data), "Payload"):
            if number == 1:
                key, entry_value = "", b""
                for entry_number, entry_field in _read_fields(value, "Payload.metadata entry"):
                    if entry_number == 1:
                        try:
                            key = entry_field.decode("utf-8")
                        except UnicodeDecodeError:
                            raise ValueError("Error parsing message: metadata key is not UTF-8") from None
                    elif entry_number == 2:
                        entry_value = entry_field
                metadata[key] = entry_value
            elif number == 2:
                body = value
            # Field 3 (external_payloads) and unknown fields are skipped, as protobuf skips unknowns.
        self.metadata = metadata
        self.data = body
        return len(data)

    def CopyFrom(self, other: Payload) -> None:  # noqa: N802 - protobuf's name
        """Make this payload a copy of ``other``."""
        self.metadata = dict(other.metadata)
        self.data = other.data

    def ByteSize(self) -> int:  # noqa: N802 - protobuf's name
        """Size of the protobuf wire form, in bytes."""
        return len(self.SerializeToString())

    def to_json(self) -> PayloadJSON:
        """Return Temporal's JSON form of this payload."""
        b64 = base64.b64encode
        return {
            "metadata": {k: b64(v).decode("ascii") for k, v in self.metadata.items()},
            "data": b64(self.data).decode("ascii"),
        }

    @classmethod
    def from_json(cls, obj: PayloadJSON) -> Payload:
        """Build a payload from Temporal's JSON form, rejecting anything else."""
        if not isinstance(obj, dict):
            raise ValueError(f"payload must be a JSON object, got {type(obj).__name__}")
        metadata = obj.get("metadata") or {}
        data = obj.get("data") or ""
        if not isinstance(metadata, dict) or not isinstance(data, str):
            raise ValueError("payload must have a 'metadata' object and a base64 'data' string")
        try:
            return cls(
                metadata={str(k): base64.b64decode(v, validate=True) for k, v in metadata.items()},
                data=base64.b64decode(data, validate=True),
            )
        except (ValueError, TypeError) as err:
            raise ValueError(f"payload is not valid base64: {err}") from None


@dataclass(slots=True)
class Payloads:
    """A list of payloads, as ``temporal.api.common.v1.Payloads`` (``payloads`` field, wire format)."""

    payloads: list[Payload] = field(default_factory=list)

    def SerializeToString(self, *, deterministic: bool = False) -> bytes:  # noqa: N802 - protobuf's name
        """The protobuf wire form (one length-delimited ``Payload`` per item)."""
        out = bytearray()
        for payload in self.payloads:
            _write_bytes(out, 1, payload.SerializeToString(deterministic=deterministic))
        return bytes(out)

    @classmethod
    def FromString(cls, data: bytes) -> Payloads:  # noqa: N802 - protobuf's name
        """Parse from the protobuf wire form.

        Raises:
            ValueError: If ``data`` is not a serialized ``Payloads``.
        """
        return cls(payloads=[Payload.FromString(v) for n, v in _read_fields(bytes(data), "Payloads") if n == 1])

    def CopyFrom(self, other: Payloads) -> None:  # noqa: N802 - protobuf's name
        """Make this list a copy of ``other``."""
        self.payloads = [Payload(metadata=dict(p.metadata), data=p.data) for p in other.payloads]


def _write_varint(out: bytearray, value: int) -> None:
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _write_bytes(out: bytearray, number: int, value: bytes) -> None:
    _write_varint(out, (number << 3) | 2)  # wire type 2: length-delimited
    _write_varint(out, len(value))
    out += value


def _read_varint(data: bytes, pos: int, what: str) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError(f"Error parsing message {what}: truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _read_fields(data: bytes, what: str) -> list[tuple[int, bytes]]:
    """The length-delimited fields of a message, ``(number, bytes)``; other wire types are skipped."""
    fields: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        tag, pos = _read_varint(data, pos, what)
        number, wire_type = tag >> 3, tag & 7
        if number == 0:
            raise ValueError(f"Error parsing message {what}: field number 0")
        if wire_type == 2:
            length, pos = _read_varint(data, pos, what)
            if pos + length > len(data):
                raise ValueError(f"Error parsing message {what}: truncated field {number}")
            fields.append((number, data[pos:pos + length]))
            pos += length
        elif wire_type == 0:
            _, pos = _read_varint(data, pos, what)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        else:
            raise ValueError(f"Error parsing message {what}: unsupported wire type {wire_type}")
        if pos > len(data):
            raise ValueError(f"Error parsing message {what}: truncated field {number}")
    return fields


def payloads_to_json(payloads: list[Payload]) -> PayloadsJSON:
    """Wrap payloads as Temporal's ``{"payloads": [...]}`` JSON."""
    return {"payloads": [p.to_json() for p in payloads]}


def payloads_from_json(obj: PayloadsJSON | None) -> list[Payload]:
    """Unwrap ``{"payloads": [...]}`` (or ``None``) into payloads."""
    if not obj:
        return []
    return [Payload.from_json(p) for p in obj.get("payloads") or []]


def payloads_size(payloads: PayloadsJSON | None) -> int:
    """Bytes of data in ``{"payloads": [...]}`` (base64 decoded size, metadata included)."""
    total = 0
    for p in (payloads or {}).get("payloads") or []:
        total += (len(p.get("data") or "") * 3) // 4
        total += sum(len(k) + (len(v) * 3) // 4 for k, v in (p.get("metadata") or {}).items())
    return total
