"""The store: the only code that touches temporalflow's tables.

``base`` defines the ``Store`` protocol and its DTOs (no Django import);
``DjangoStore`` implements it on the project's database. ``DjangoStore`` and
``get_store`` are loaded lazily, so importing the protocol never imports
Django models.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from temporalflow.store.base import (
    ActivityTaskLease,
    CompleteWorkflowTaskResult,
    HeartbeatResult,
    PendingChildInfo,
    PendingUpdate,
    QueryAnswer,
    QueryTask,
    RunAlreadyStarted,
    RunClosed,
    RunInfo,
    RunNotFound,
    RunStatus,
    StaleTask,
    StartWorkflowRequest,
    StartWorkflowResult,
    Store,
    StoreError,
    Subscription,
    UpdateNotFound,
    UpdateOutcome,
    WorkflowTaskCompletion,
    WorkflowTaskLease,
)

if TYPE_CHECKING:
    from temporalflow.store.orm import DjangoStore

__all__ = [
    "ActivityTaskLease",
    "CompleteWorkflowTaskResult",
    "DjangoStore",
    "HeartbeatResult",
    "PendingChildInfo",
    "PendingUpdate",
    "QueryAnswer",
    "QueryTask",
    "RunAlreadyStarted",
    "RunClosed",
    "RunInfo",
    "RunNotFound",
    "RunStatus",
    "StaleTask",
    "StartWorkflowRequest",
    "StartWorkflowResult",
    "Store",
    "StoreError",
    "Subscription",
    "UpdateNotFound",
    "UpdateOutcome",
    "WorkflowTaskCompletion",
    "WorkflowTaskLease",
    "get_store",
]

_stores: dict[str, Any] = {}
_lock = threading.Lock()


def get_store(alias: str | None = None) -> DjangoStore:
    """The process's ``DjangoStore`` for ``alias`` (default ``TEMPORALFLOW["DATABASE_ALIAS"]``), cached."""
    from temporalflow.conf import settings
    from temporalflow.store.orm import DjangoStore

    alias = alias or settings.DATABASE_ALIAS
    with _lock:
        store = _stores.get(alias)
        if store is None:
            store = _stores[alias] = DjangoStore(alias=alias)
        return store


def __getattr__(name: str) -> Any:
    if name == "DjangoStore":
        from temporalflow.store.orm import DjangoStore

        return DjangoStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
