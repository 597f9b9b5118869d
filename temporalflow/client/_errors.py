"""Client-side errors, as ``temporalio.client`` names them."""

from __future__ import annotations

from temporalflow.exceptions import TemporalError


class WorkflowFailureError(TemporalError):
    """The workflow did not complete successfully; ``cause`` says how it ended."""

    def __init__(self, *, cause: BaseException) -> None:
        super().__init__("Workflow execution failed")
        self.__cause__ = cause

    @property
    def cause(self) -> BaseException:
        """The failure (ApplicationError, CancelledError, TerminatedError, TimeoutError, ...)."""
        assert self.__cause__ is not None
        return self.__cause__


class WorkflowContinuedAsNewError(TemporalError):
    """The run continued as new and ``follow_runs`` was False."""

    def __init__(self, new_execution_run_id: str) -> None:
        super().__init__("Workflow continued as new")
        self._new_execution_run_id = new_execution_run_id

    @property
    def new_execution_run_id(self) -> str:
        """The run id of the next run."""
        return self._new_execution_run_id


class WorkflowQueryFailedError(TemporalError):
    """The query handler failed or does not exist."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self._message = message

    @property
    def message(self) -> str:
        """The failure message."""
        return self._message


class WorkflowQueryRejectedError(TemporalError):
    """The query was rejected by its ``reject_condition``."""

    def __init__(self, status: object) -> None:
        super().__init__(f"Query rejected, status: {status}")
        self._status = status

    @property
    def status(self) -> object:
        """The workflow status that caused the rejection."""
        return self._status


class WorkflowUpdateFailedError(TemporalError):
    """The update was rejected by its validator or its handler failed."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__("Workflow update failed")
        self.__cause__ = cause

    @property
    def cause(self) -> BaseException:
        """The failure."""
        assert self.__cause__ is not None
        return self.__cause__


class WorkflowUpdateRPCTimeoutOrCancelledError(TemporalError):
    """Waiting for the update's outcome timed out or was cancelled."""

    def __init__(self) -> None:
        super().__init__("Timeout or cancellation waiting for update")
