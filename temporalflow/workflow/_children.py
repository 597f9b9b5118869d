"""``workflow.start_child_workflow`` / ``execute_child_workflow`` and external workflow handles.

Names, signatures, defaults and enum values are temporalio's, so code ports by
changing imports. The work is done by the instance (``core/children.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from temporalflow.common import RetryPolicy, WorkflowIDReusePolicy
from temporalflow.core.children import ChildWorkflowHandle, ExternalWorkflowHandle
from temporalflow.core.definitions import WorkflowDefinition
from temporalflow.workflow._api import ParentClosePolicy, _runtime

_MISSING: Any = object()


class ChildWorkflowCancellationType(enum.IntEnum):
    """How cancelling a child workflow's handle behaves (temporalio's values)."""

    ABANDON = 0
    """Do not ask the child to cancel; the handle raises at once."""
    TRY_CANCEL = 1
    """Ask the child to cancel and raise at once."""
    WAIT_CANCELLATION_COMPLETED = 2
    """Ask the child to cancel and wait for it to close (the default)."""
    WAIT_CANCELLATION_REQUESTED = 3
    """Ask the child to cancel and wait until its history records the request."""


def _workflow_name(workflow: Any) -> tuple[str, Any]:
    """``(workflow type, result type)`` of a workflow given by run method, class or name."""
    if isinstance(workflow, str):
        if not workflow:
            raise ValueError("workflow name must not be empty")
        return workflow, None
    if isinstance(workflow, type):
        defn = WorkflowDefinition.must_from_class(workflow)
    elif callable(workflow):
        defn = WorkflowDefinition.from_run_fn(workflow)
    else:
        raise TypeError(f"workflow must be a @workflow.run method or a workflow name, not {workflow!r}")
    if defn.name is None:
        raise TypeError("a dynamic workflow has no name: start the child by name instead")
    return defn.name, defn.ret_type


async def start_child_workflow(
    workflow: Callable[..., Awaitable[Any]] | str,
    arg: Any = _MISSING,
    *,
    args: Sequence[Any] = (),
    id: str | None = None,
    task_queue: str | None = None,
    result_type: type | None = None,
    cancellation_type: ChildWorkflowCancellationType = ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
    parent_close_policy: ParentClosePolicy = ParentClosePolicy.TERMINATE,
    execution_timeout: timedelta | None = None,
    run_timeout: timedelta | None = None,
    task_timeout: timedelta | None = None,
    id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    retry_policy: RetryPolicy | None = None,
    cron_schedule: str = "",
    memo: Mapping[str, Any] | None = None,
    search_attributes: Any = None,
    versioning_intent: Any = None,
    static_summary: str | None = None,
    static_details: str | None = None,
    priority: Any = None,
) -> ChildWorkflowHandle:
    """Start a child workflow and return its handle once it has started.

    ``id`` defaults to a deterministic ``workflow.uuid4()``, ``task_queue`` to the
    parent's. Raises ``WorkflowAlreadyStartedError`` when a run with that id is
    already running (or the id reuse policy forbids reusing it).
    """
    if arg is not _MISSING:
        if args:
            raise ValueError("Cannot provide both arg and args")
        args = [arg]
    name, ret_type = _workflow_name(workflow)
    return await _runtime().start_child_workflow(
        name, list(args),
        id=id,
        task_queue=task_queue,
        result_type=result_type if result_type is not None else ret_type,
        cancellation_type=int(cancellation_type),
        parent_close_policy=int(parent_close_policy),
        execution_timeout=execution_timeout,
        run_timeout=run_timeout,
        task_timeout=task_timeout,
        id_reuse_policy=int(id_reuse_policy),
        retry_policy=retry_policy,
        cron_schedule=cron_schedule,
        memo=dict(memo) if memo else None,
        search_attributes=search_attributes,
    )


async def execute_child_workflow(
    workflow: Callable[..., Awaitable[Any]] | str, arg: Any = _MISSING, **kwargs: Any
) -> Any:
    """Start a child workflow and wait for its result (``ChildWorkflowError`` if it did not complete)."""
    handle = await start_child_workflow(workflow, arg, **kwargs)
    return await handle


def get_external_workflow_handle(workflow_id: str, *, run_id: str | None = None) -> ExternalWorkflowHandle:
    """A handle to another workflow (by id, optionally one run) to signal or cancel it."""
    return _runtime().get_external_workflow_handle(workflow_id, run_id)


def get_external_workflow_handle_for(
    workflow: Any, workflow_id: str, *, run_id: str | None = None
) -> ExternalWorkflowHandle:
    """:func:`get_external_workflow_handle`, typed by the workflow's run method (the type is not checked)."""
    return get_external_workflow_handle(workflow_id, run_id=run_id)
