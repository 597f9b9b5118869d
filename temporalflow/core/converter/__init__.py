"""Data conversion: values and exceptions ↔ stored payloads and failures.

The engine-side home of ``temporalio.converter``'s model; user code imports
the same names from :py:mod:`temporalflow.converter`. Pure: standard library,
``temporalflow.core``, and the dependency-free ``temporalflow.common`` /
``temporalflow.exceptions`` modules.
"""

from __future__ import annotations

from temporalflow.core.converter._codec import PayloadCodec
from temporalflow.core.converter._data import DataConverter, default, default_converter
from temporalflow.core.converter._failure import (
    DefaultFailureConverter,
    DefaultFailureConverterWithEncodedAttributes,
    FailureConverter,
)
from temporalflow.core.converter._payload import (
    AdvancedJSONEncoder,
    BinaryNullPayloadConverter,
    BinaryPlainPayloadConverter,
    CompositePayloadConverter,
    DefaultPayloadConverter,
    EncodingPayloadConverter,
    JSONPlainPayloadConverter,
    JSONTypeConverter,
    PayloadConverter,
    value_to_type,
)
from temporalflow.core.payload import Payload

__all__ = [
    "AdvancedJSONEncoder",
    "BinaryNullPayloadConverter",
    "BinaryPlainPayloadConverter",
    "CompositePayloadConverter",
    "DataConverter",
    "DefaultFailureConverter",
    "DefaultFailureConverterWithEncodedAttributes",
    "DefaultPayloadConverter",
    "EncodingPayloadConverter",
    "FailureConverter",
    "JSONPlainPayloadConverter",
    "JSONTypeConverter",
    "Payload",
    "PayloadCodec",
    "PayloadConverter",
    "default",
    "default_converter",
    "value_to_type",
]
