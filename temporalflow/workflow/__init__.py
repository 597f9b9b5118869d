"""Authoring API for workflows, with ``temporalio.workflow``'s names and semantics.

Code written for Temporal's Python SDK runs here when its imports say
``temporalflow`` instead of ``temporalio``::

    from temporalflow import workflow

    @workflow.defn
    class Greeting:
        @workflow.run
        async def run(self, name: str) -> str:
            return await workflow.execute_activity(
                compose, name, start_to_close_timeout=timedelta(seconds=10))
"""

import asyncio

from temporalflow.core.errors import (
    ContinueAsNewError,
    NondeterminismError,
    ReadOnlyContextError,
    UnfinishedSignalHandlersWarning,
    UnfinishedUpdateHandlersWarning,
)
from temporalflow.core.info import ParentInfo
from temporalflow.core.info import WorkflowInfo as Info
from temporalflow.workflow._api import (
    ActivityCancellationType,
    ParentClosePolicy,
    all_handlers_finished,
    continue_as_new,
    deprecate_patch,
    execute_activity,
    execute_activity_method,
    execute_local_activity,
    execute_local_activity_class,
    execute_local_activity_method,
    get_dynamic_query_handler,
    get_dynamic_signal_handler,
    get_dynamic_update_handler,
    get_last_completion_result,
    get_last_failure,
    get_query_handler,
    get_signal_handler,
    get_update_handler,
    has_last_completion_result,
    in_workflow,
    info,
    logger,
    memo,
    memo_value,
    now,
    patched,
    payload_converter,
    random,
    set_dynamic_query_handler,
    set_dynamic_signal_handler,
    set_dynamic_update_handler,
    set_query_handler,
    set_signal_handler,
    set_update_handler,
    sleep,
    start_activity,
    start_activity_class,
    start_activity_method,
    start_local_activity,
    start_local_activity_class,
    start_local_activity_method,
    time,
    time_ns,
    unsafe,
    upsert_search_attributes,
    uuid4,
    wait_condition,
)
from temporalflow.workflow._asyncio import as_completed, wait
from temporalflow.workflow._children import (
    ChildWorkflowCancellationType,
    ChildWorkflowHandle,
    ExternalWorkflowHandle,
    execute_child_workflow,
    get_external_workflow_handle,
    get_external_workflow_handle_for,
    start_child_workflow,
)
from temporalflow.workflow._decorators import (
    HandlerUnfinishedPolicy,
    defn,
    init,
    query,
    run,
    signal,
    update,
)

ActivityHandle = asyncio.Task
"""The type ``start_activity`` returns (an ``asyncio.Task``), as in temporalio."""

__all__ = [
    "get_last_completion_result",
    "get_last_failure",
    "has_last_completion_result",
    "start_child_workflow",
    "get_external_workflow_handle_for",
    "get_external_workflow_handle",
    "execute_child_workflow",
    "ExternalWorkflowHandle",
    "ChildWorkflowHandle",
    "ChildWorkflowCancellationType",
    "ActivityCancellationType",
    "ActivityHandle",
    "ContinueAsNewError",
    "HandlerUnfinishedPolicy",
    "Info",
    "NondeterminismError",
    "ParentClosePolicy",
    "ParentInfo",
    "ReadOnlyContextError",
    "UnfinishedSignalHandlersWarning",
    "UnfinishedUpdateHandlersWarning",
    "all_handlers_finished",
    "as_completed",
    "continue_as_new",
    "defn",
    "deprecate_patch",
    "execute_activity",
    "execute_activity_method",
    "execute_local_activity",
    "execute_local_activity_class",
    "execute_local_activity_method",
    "start_local_activity",
    "start_local_activity_class",
    "start_local_activity_method",
    "get_dynamic_query_handler",
    "get_dynamic_signal_handler",
    "get_dynamic_update_handler",
    "get_query_handler",
    "get_signal_handler",
    "get_update_handler",
    "in_workflow",
    "info",
    "init",
    "logger",
    "memo",
    "memo_value",
    "now",
    "patched",
    "payload_converter",
    "query",
    "random",
    "run",
    "set_dynamic_query_handler",
    "set_dynamic_signal_handler",
    "set_dynamic_update_handler",
    "set_query_handler",
    "set_signal_handler",
    "set_update_handler",
    "signal",
    "sleep",
    "start_activity",
    "start_activity_class",
    "start_activity_method",
    "time",
    "time_ns",
    "unsafe",
    "update",
    "upsert_search_attributes",
    "uuid4",
    "wait",
    "wait_condition",
]
