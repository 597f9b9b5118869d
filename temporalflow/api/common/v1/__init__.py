"""``temporal.api.common.v1`` messages, as ``temporalio.api.common.v1``.

Payload codecs and payload converters written for temporalio build and read
payloads as protobuf messages::

    from temporalflow.api.common.v1 import Payload

    Payload(metadata={"encoding": b"binary/encrypted"}, data=encrypt(p.SerializeToString()))

These are the engine's own classes (defined in :py:mod:`temporalflow.core.payload`),
re-exported: the objects a codec receives are instances of them, with ``metadata``
(``dict[str, bytes]``), ``data`` (``bytes``) and protobuf's wire format.
"""

from temporalflow.core.payload import Payload, Payloads

__all__ = ["Payload", "Payloads"]
