"""``RPCError`` and its status codes, as ``temporalio.service`` defines them.

temporalflow has no RPC layer between client and database, but code ported
from temporalio catches ``RPCError`` for "not found" and friends, so the client
raises the same type with the same status codes.
"""

from __future__ import annotations

import enum


class RPCStatusCode(enum.IntEnum):
    """gRPC status codes."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class RPCError(Exception):
    """A request the engine refused: ``status`` says why (e.g. NOT_FOUND)."""

    def __init__(self, message: str, status: RPCStatusCode, raw_grpc_status: bytes = b"") -> None:
        super().__init__(message)
        self._message = message
        self._status = status
        self._raw_grpc_status = raw_grpc_status

    @property
    def message(self) -> str:
        """The error message."""
        return self._message

    @property
    def status(self) -> RPCStatusCode:
        """The status code."""
        return self._status

    @property
    def raw_grpc_status(self) -> bytes:
        """Always empty: there is no gRPC here."""
        return self._raw_grpc_status
