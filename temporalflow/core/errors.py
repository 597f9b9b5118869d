"""Errors raised by the engine core (re-exported by ``temporalflow.workflow``)."""

from __future__ import annotations

from typing import Any

from temporalflow.exceptions import TemporalError


class NondeterminismError(TemporalError):
    """Replayed workflow code produced commands that do not match its history.

    The workflow TASK fails (``WorkflowTaskFailed`` with cause
    ``NonDeterministicError``) and is retried until the code is fixed; the run
    itself is never lost.
    """


class ReadOnlyContextError(TemporalError):
    """A query handler (or validator) tried to do something that changes workflow state."""


class NotInWorkflowEventLoopError(RuntimeError):
    """A ``workflow.*`` function was called outside workflow code."""


class ContinueAsNewError(BaseException):
    """Raised by ``workflow.continue_as_new``: closes the run and starts its successor.

    A ``BaseException`` (as in temporalio) so ``except Exception`` in workflow
    code does not swallow it.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__("Continue as new")
        self.options = options


class UnfinishedUpdateHandlersWarning(RuntimeWarning):
    """The workflow exited before all update handlers had finished executing."""


class UnfinishedSignalHandlersWarning(RuntimeWarning):
    """The workflow exited before all signal handlers had finished executing."""


class DeadlockError(TemporalError):
    """Workflow code did not yield back to the engine within the deadlock timeout."""
