"""A data converter for Pydantic v2, as ``temporalio.contrib.pydantic``.

Install the ``pydantic`` extra (``pip install temporalflow[pydantic]``) and pass the
converter to the client (the worker uses its client's)::

    from temporalflow.contrib.pydantic import pydantic_data_converter

    client = await Client.connect(data_converter=pydantic_data_converter)

or name it in the Django settings, so ``runworker``, the admin and the REST API use it
too: ``TEMPORALFLOW = {"DATA_CONVERTER": "temporalflow.contrib.pydantic.pydantic_data_converter"}``.

Values are written with ``pydantic_core.to_json`` and read back with
``pydantic.TypeAdapter(type_hint).validate_json``, so every type Pydantic supports —
models, dataclasses, ``datetime``, ``UUID``, ``Decimal``, sets, unions, generics —
round-trips through workflow and activity arguments, results, signals, queries and
updates. Pydantic v1 is not supported.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import SchemaSerializer, to_json
from pydantic_core.core_schema import any_schema

from temporalflow.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    EncodingPayloadConverter,
    JSONPlainPayloadConverter,
)
from temporalflow.core.payload import Payload

__all__ = [
    "PydanticJSONPlainPayloadConverter",
    "PydanticPayloadConverter",
    "ToJsonOptions",
    "pydantic_data_converter",
]


@dataclass
class ToJsonOptions:
    """Options for converting to JSON with Pydantic.

    Attributes:
        exclude_unset: Leave out model fields that were not set explicitly.
    """

    exclude_unset: bool = False


@functools.lru_cache(maxsize=256)
def _cached_adapter(type_hint: Any) -> TypeAdapter[Any]:
    return TypeAdapter(type_hint)


def _adapter(type_hint: Any) -> TypeAdapter[Any]:
    # Building a TypeAdapter compiles a schema: reuse one per hint (a worker sees a few).
    try:
        return _cached_adapter(type_hint)
    except TypeError:  # an unhashable hint
        return TypeAdapter(type_hint)


class PydanticJSONPlainPayloadConverter(EncodingPayloadConverter):
    """``json/plain`` payloads written and read by Pydantic.

    Supports every type Pydantic supports: models, everything ``json.dump`` can write,
    dataclasses, ``datetime`` types, sets, ``UUID`` and types composed of these
    (https://docs.pydantic.dev/latest/api/standard_library_types/).

    Args:
        to_json_options: Serialization options (``exclude_unset``).
    """

    def __init__(self, to_json_options: ToJsonOptions | None = None) -> None:
        """Create the converter."""
        self._schema_serializer = SchemaSerializer(any_schema())
        self._to_json_options = to_json_options

    @property
    def encoding(self) -> str:
        """``"json/plain"``."""
        return "json/plain"

    def to_payload(self, value: Any) -> Payload | None:
        """Serialize ``value`` with ``pydantic_core.to_json``; every value is handled (this converter is last).

        Raises:
            pydantic_core.PydanticSerializationError: If Pydantic cannot serialize the value.
        """
        if self._to_json_options is not None:
            data = self._schema_serializer.to_json(value, exclude_unset=self._to_json_options.exclude_unset)
        else:
            data = to_json(value)
        return Payload(metadata={"encoding": self.encoding.encode()}, data=data)

    def from_payload(self, payload: Payload, type_hint: Any | None = None) -> Any:
        """Validate the JSON into ``type_hint`` (``Any`` when None) with ``TypeAdapter.validate_json``.

        Raises:
            pydantic.ValidationError: If the data does not fit the hint (a ``ValueError``).
        """
        return _adapter(type_hint if type_hint is not None else Any).validate_json(payload.data)


class PydanticPayloadConverter(CompositePayloadConverter):
    """The default converters with JSON conversion done by :py:class:`PydanticJSONPlainPayloadConverter`.

    Args:
        to_json_options: Serialization options for the JSON converter.
    """

    def __init__(self, to_json_options: ToJsonOptions | None = None) -> None:
        """Create the converter."""
        json_payload_converter = PydanticJSONPlainPayloadConverter(to_json_options)
        super().__init__(*(
            c if not isinstance(c, JSONPlainPayloadConverter) else json_payload_converter
            for c in DefaultPayloadConverter.default_encoding_payload_converters
        ))


pydantic_data_converter = DataConverter(payload_converter_class=PydanticPayloadConverter)
"""Data converter using Pydantic for JSON (see the module docstring)."""
