"""The data converter: payload converter + optional codec + failure converter.

As ``temporalio.converter.DataConverter``; replace parts with
``dataclasses.replace(DataConverter.default, payload_codec=MyCodec())``.

Pure: standard library and ``temporalflow.core`` (plus ``temporalflow.exceptions``
through the failure converter).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

from temporalflow.core.converter._codec import PayloadCodec
from temporalflow.core.converter._failure import DefaultFailureConverter, FailureConverter
from temporalflow.core.converter._payload import DefaultPayloadConverter, PayloadConverter
from temporalflow.core.payload import Payload, Payloads, PayloadsJSON, payloads_from_json, payloads_to_json

__all__ = ["DataConverter", "default", "default_converter"]


@dataclasses.dataclass(frozen=True)
class DataConverter:
    """Converts values and exceptions to and from stored payloads and failures.

    Attributes:
        payload_converter_class: Class of the payload converter; instantiated
            with no arguments.
        payload_codec: Optional codec applied after the payload converter
            on encode and before it on decode.
        failure_converter_class: Class of the failure converter; instantiated
            with no arguments.
        payload_converter: The payload converter instance (not an argument).
        failure_converter: The failure converter instance (not an argument).
    """

    payload_converter_class: type[PayloadConverter] = DefaultPayloadConverter
    payload_codec: PayloadCodec | None = None
    failure_converter_class: type[FailureConverter] = DefaultFailureConverter
    payload_converter: PayloadConverter = dataclasses.field(init=False, repr=False, compare=False)
    failure_converter: FailureConverter = dataclasses.field(init=False, repr=False, compare=False)

    default: ClassVar[DataConverter]
    """The default data converter."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "payload_converter", self.payload_converter_class())
        object.__setattr__(self, "failure_converter", self.failure_converter_class())

    async def encode(self, values: Sequence[Any]) -> list[Payload]:
        """Encode values into payloads (converter, then codec).

        Args:
            values: The values.

        Returns:
            One payload per value (unless the codec changes the count).
        """
        payloads = self.payload_converter.to_payloads(values)
        if self.payload_codec is not None:
            payloads = await self.payload_codec.encode(payloads)
        return payloads

    async def decode(self, payloads: Sequence[Payload], type_hints: list[Any] | None = None) -> list[Any]:
        """Decode payloads into values (codec, then converter).

        Args:
            payloads: The payloads.
            type_hints: One hint per payload, or ``None``.

        Returns:
            The values.
        """
        if self.payload_codec is not None:
            payloads = await self.payload_codec.decode(payloads)
        return self.payload_converter.from_payloads(payloads, type_hints)

    async def encode_wrapper(self, values: Sequence[Any]) -> PayloadsJSON:
        """Encode values into Temporal's ``{"payloads": [...]}`` JSON form."""
        return payloads_to_json(await self.encode(values))

    async def decode_wrapper(
        self, payloads: PayloadsJSON | Payloads | None, type_hints: list[Any] | None = None
    ) -> list[Any]:
        """Decode a ``Payloads`` message or its ``{"payloads": [...]}`` JSON form (``None`` is no values)."""
        if isinstance(payloads, Payloads):
            return await self.decode(payloads.payloads, type_hints)
        return await self.decode(payloads_from_json(payloads), type_hints)

    async def encode_failure(self, exception: BaseException) -> dict[str, Any]:
        """Convert an exception into a Failure dict, its payloads encoded by the codec.

        Args:
            exception: The exception (its ``__cause__`` chain is included).

        Returns:
            The Failure dict.
        """
        failure = self.failure_converter.to_failure(exception, self.payload_converter)
        if self.payload_codec is not None:
            await self.payload_codec.encode_failure(failure)
        return failure

    async def decode_failure(self, failure: dict[str, Any]) -> BaseException:
        """Convert a Failure dict into an exception; the dict is not mutated.

        Args:
            failure: The Failure dict, as stored.

        Returns:
            The exception; its ``failure`` attribute is the (codec-decoded) dict.
        """
        if self.payload_codec is not None and isinstance(failure, dict):
            failure = copy.deepcopy(failure)
            await self.payload_codec.decode_failure(failure)
        return self.failure_converter.from_failure(failure, self.payload_converter)


DataConverter.default = DataConverter()


def default() -> DataConverter:
    """Return :py:attr:`DataConverter.default`, as ``temporalio.converter.default()``."""
    return DataConverter.default


def default_converter() -> DataConverter:
    """Return the default data converter (the engine's fallback when none is configured)."""
    return DataConverter.default
