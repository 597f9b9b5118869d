"""Public data-converter names, as ``temporalio.converter``.

User code imports from here, e.g.::

    from temporalflow.converter import DataConverter, PayloadCodec

    converter = dataclasses.replace(DataConverter.default, payload_codec=MyCodec())

The implementation lives in :py:mod:`temporalflow.core.converter`.
"""

from __future__ import annotations

from temporalflow.core.converter import (
    AdvancedJSONEncoder,
    BinaryNullPayloadConverter,
    BinaryPlainPayloadConverter,
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    EncodingPayloadConverter,
    FailureConverter,
    JSONPlainPayloadConverter,
    JSONTypeConverter,
    Payload,
    PayloadCodec,
    PayloadConverter,
    default,
    default_converter,
    value_to_type,
)

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
