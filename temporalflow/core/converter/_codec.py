"""Payload codecs: payload → payload transformations, as in ``temporalio.converter``.

A codec (compression, encryption, ...) runs after the payload converter on
encode and before it on decode. It sees every payload the engine stores:
arguments, results, and the details inside Failure dicts.

Pure: standard library only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from temporalflow.core.payload import Payload, Payloads, PayloadsJSON, payloads_from_json

__all__ = ["PayloadCodec"]

_FAILURE_DETAIL_FIELDS: tuple[tuple[str, str], ...] = (
    ("application_failure_info", "details"),
    ("timeout_failure_info", "last_heartbeat_details"),
    ("canceled_failure_info", "details"),
    ("reset_workflow_failure_info", "last_heartbeat_details"),
)


class PayloadCodec(ABC):
    """Encodes and decodes lists of payloads (e.g. to compress or encrypt them).

    Implementations override :py:meth:`encode` and :py:meth:`decode`; the
    ``*_wrapper`` and ``*_failure`` helpers apply them to the JSON forms the
    engine stores.
    """

    @abstractmethod
    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encode payloads.

        Args:
            payloads: Payloads to encode; not mutated.

        Returns:
            The encoded payloads; usually one per input payload.
        """

    @abstractmethod
    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decode payloads.

        Args:
            payloads: Payloads to decode; not mutated.

        Returns:
            The decoded payloads; usually one per input payload.
        """

    async def encode_wrapper(self, payloads: PayloadsJSON | Payloads) -> None:
        """Encode, in place, a ``Payloads`` message (as temporalio) or its ``{"payloads": [...]}`` JSON form."""
        await self._apply_to_wrapper(payloads, self.encode)

    async def decode_wrapper(self, payloads: PayloadsJSON | Payloads) -> None:
        """Decode, in place, a ``Payloads`` message (as temporalio) or its ``{"payloads": [...]}`` JSON form."""
        await self._apply_to_wrapper(payloads, self.decode)

    async def encode_failure(self, failure: dict[str, Any]) -> None:
        """Encode, in place, every payload inside a Failure dict and its causes."""
        await self._apply_to_failure_payloads(failure, self.encode)

    async def decode_failure(self, failure: dict[str, Any]) -> None:
        """Decode, in place, every payload inside a Failure dict and its causes."""
        await self._apply_to_failure_payloads(failure, self.decode)

    @staticmethod
    async def _apply_to_wrapper(
        payloads: PayloadsJSON | Payloads,
        fn: Callable[[Sequence[Payload]], Awaitable[list[Payload]]],
    ) -> None:
        if isinstance(payloads, Payloads):
            if payloads.payloads:
                payloads.payloads = list(await fn(payloads.payloads))
            return
        items = payloads_from_json(payloads)
        if not items:
            return
        payloads["payloads"] = [p.to_json() for p in await fn(items)]

    async def _apply_to_failure_payloads(
        self,
        failure: dict[str, Any],
        fn: Callable[[Sequence[Payload]], Awaitable[list[Payload]]],
    ) -> None:
        depth = 0
        current: Any = failure
        while isinstance(current, dict) and depth < 1000:
            encoded = current.get("encoded_attributes")
            if isinstance(encoded, dict):
                wrapper: PayloadsJSON = {"payloads": [encoded]}
                await self._apply_to_wrapper(wrapper, fn)
                current["encoded_attributes"] = wrapper["payloads"][0]
            for info_key, field_name in _FAILURE_DETAIL_FIELDS:
                info = current.get(info_key)
                if isinstance(info, dict) and isinstance(info.get(field_name), dict):
                    await self._apply_to_wrapper(info[field_name], fn)
            current = current.get("cause")
            depth += 1
