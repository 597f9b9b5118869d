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
    """One encoded value: ``metadata`` (e.g. ``encoding``) and raw ``data`` bytes."""

    metadata: dict[str, bytes] = field(default_factory=dict)
    data: bytes = b""

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
