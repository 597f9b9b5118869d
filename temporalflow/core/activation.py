"""Activations: the jobs a workflow task hands to a workflow instance.

An activation is what new history events mean to workflow code: start,
resolve activity ``seq``, fire timer ``seq``, deliver a signal, run an update,
cancel. ``core.machines`` derives activations from history events; the
instance applies them (``core.instance``) and returns a completion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalflow.core.commands import Command
from temporalflow.core.payload import PayloadsJSON


@dataclass(slots=True)
class InitializeWorkflow:
    """Create the workflow object and start its run method."""

    arguments: PayloadsJSON
    attributes: dict[str, Any]
    """The WorkflowExecutionStarted attributes."""
    event_time: float


@dataclass(slots=True)
class FireTimer:
    """Timer ``seq`` fired."""

    seq: int


@dataclass(slots=True)
class ResolveActivity:
    """Activity ``seq`` finished: exactly one of result / failure, or cancelled."""

    seq: int
    result: PayloadsJSON | None = None
    failure: dict[str, Any] | None = None
    """A Failure dict for failed, timed-out and cancelled activities."""
    cancelled: bool = False
    backoff: dict[str, Any] | None = None
    """Local activities only: retry after a durable timer instead of resolving.
    ``{"attempt": next attempt, "backoff_duration": seconds, "original_schedule_time": epoch}``."""


@dataclass(slots=True)
class ResolveChildWorkflowStart:
    """Child ``seq`` started (``run_id``) or could not start (``failure_cause``)."""

    seq: int
    run_id: str = ""
    failure_cause: str = ""
    """Temporal's StartChildWorkflowExecutionFailedCause name, e.g. ``WORKFLOW_ALREADY_EXISTS``."""


@dataclass(slots=True)
class ResolveChildWorkflow:
    """Child ``seq`` closed: its result, or a ChildWorkflowError failure dict."""

    seq: int
    result: PayloadsJSON | None = None
    failure: dict[str, Any] | None = None


@dataclass(slots=True)
class ResolveSignalExternalWorkflow:
    """Signal ``seq`` to another run was delivered (no failure) or failed."""

    seq: int
    failure: dict[str, Any] | None = None


@dataclass(slots=True)
class ResolveRequestCancelExternalWorkflow:
    """Cancel request ``seq`` to another run was recorded there (no failure) or failed."""

    seq: int
    failure: dict[str, Any] | None = None


@dataclass(slots=True)
class SignalWorkflow:
    """A signal arrived."""

    name: str
    input: PayloadsJSON
    identity: str = ""
    header: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class CancelWorkflow:
    """Cancellation of the workflow was requested."""


@dataclass(slots=True)
class DoUpdate:
    """Run an update; on replay (``run_validator`` False) it was already accepted."""

    update_id: str
    name: str
    input: PayloadsJSON
    run_validator: bool
    identity: str = ""


@dataclass(slots=True)
class NotifyHasPatch:
    """The history has a marker for patch ``patch_id`` (``workflow.patched`` returns True)."""

    patch_id: str


Job = (
    InitializeWorkflow | FireTimer | ResolveActivity | SignalWorkflow | CancelWorkflow | DoUpdate | NotifyHasPatch
    | ResolveChildWorkflowStart | ResolveChildWorkflow | ResolveSignalExternalWorkflow
    | ResolveRequestCancelExternalWorkflow
)
"""Any activation job."""


@dataclass(slots=True)
class Activation:
    """The jobs of one workflow task, with the task's deterministic time."""

    jobs: list[Job]
    timestamp: float
    """Epoch seconds of WorkflowTaskStarted: ``workflow.now()`` during this activation."""
    is_replaying: bool
    history_length: int
    continue_as_new_suggested: bool = False


@dataclass(slots=True)
class Completion:
    """What an activation produced: commands, or a task failure (never both)."""

    commands: list[Command] = field(default_factory=list)
    failure: dict[str, Any] | None = None
    """Set when the workflow TASK failed (not the workflow): retried by the engine."""
    cause: str = ""
    """Temporal's WorkflowTaskFailedCause name, e.g. ``NonDeterministicError``."""
    exception: BaseException | None = None
    """The exception behind ``failure``, for the worker's log (never stored)."""
