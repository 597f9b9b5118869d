"""Common Temporal types, as in ``temporalio.common``.

``RetryPolicy``, the workflow-id reuse and conflict policies, ``RawValue`` and
``QueryRejectCondition``. Enum values are those of Temporal's API enums, so a
value stored by temporalflow means the same thing to a Temporal tool.

This module imports the standard library and ``temporalflow.core`` only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import IntEnum
from typing import Any

from temporalflow.core.payload import Payload

__all__ = [
    "QueryRejectCondition",
    "RawValue",
    "RetryPolicy",
    "WorkflowIDConflictPolicy",
    "WorkflowIDReusePolicy",
]


@dataclass(frozen=True)
class RetryPolicy:
    """Options for retrying activities and workflows.

    Attributes:
        initial_interval: Backoff interval for the first retry. Default 1 s.
        backoff_coefficient: Coefficient to multiply the previous interval by
            for each following retry. Default 2.0.
        maximum_interval: Maximum backoff interval between retries. ``None``
            (the default) means 100 × ``initial_interval``.
        maximum_attempts: Maximum number of attempts, the first one
            included. ``0`` (the default) means unlimited.
        non_retryable_error_types: Error types (``ApplicationError.type``, or
            the class name of a plain exception) that are not retried.

    Raises:
        ValueError: If the policy is invalid (negative intervals, coefficient
            below 1, maximum interval below the initial one, negative
            attempts). As in ``temporalio``, a policy with
            ``maximum_attempts=1`` (retries disabled) skips the other checks.
    """

    initial_interval: timedelta = timedelta(seconds=1)
    backoff_coefficient: float = 2.0
    maximum_interval: timedelta | None = None
    maximum_attempts: int = 0
    non_retryable_error_types: Sequence[str] | None = None

    def __post_init__(self) -> None:
        types = self.non_retryable_error_types
        if types is not None:
            if isinstance(types, (str, bytes)):
                raise ValueError(
                    "non_retryable_error_types must be a sequence of type names, "
                    f"not a single string ({types!r}); wrap it in a list"
                )
            # Normalised to a tuple so the frozen policy stays hashable.
            object.__setattr__(self, "non_retryable_error_types", tuple(str(t) for t in types))
        self._validate()

    def _validate(self) -> None:
        if not isinstance(self.initial_interval, timedelta):
            raise ValueError(
                f"initial_interval must be a timedelta, got {type(self.initial_interval).__name__}"
            )
        if self.maximum_interval is not None and not isinstance(self.maximum_interval, timedelta):
            raise ValueError(
                f"maximum_interval must be a timedelta or None, got {type(self.maximum_interval).__name__}"
            )
        if isinstance(self.maximum_attempts, bool) or not isinstance(self.maximum_attempts, int):
            raise ValueError(f"maximum_attempts must be an int, got {type(self.maximum_attempts).__name__}")
        if self.maximum_attempts == 1:
            # Retries disabled: the other settings are never used (as temporalio).
            return
        if self.initial_interval < timedelta(0):
            raise ValueError(f"RetryPolicy initial_interval cannot be negative, got {self.initial_interval}")
        if self.backoff_coefficient < 1:
            raise ValueError(
                f"RetryPolicy backoff_coefficient cannot be less than 1, got {self.backoff_coefficient}"
            )
        if self.maximum_interval is not None:
            if self.maximum_interval < timedelta(0):
                raise ValueError(
                    f"RetryPolicy maximum_interval cannot be negative, got {self.maximum_interval}"
                )
            if self.maximum_interval < self.initial_interval:
                raise ValueError(
                    f"RetryPolicy maximum_interval ({self.maximum_interval}) cannot be less than "
                    f"initial_interval ({self.initial_interval})"
                )
        if self.maximum_attempts < 0:
            raise ValueError(f"RetryPolicy maximum_attempts cannot be negative, got {self.maximum_attempts}")

    def to_json(self) -> dict[str, Any]:
        """Return the stored JSON form; durations are float seconds.

        Returns:
            A dict with keys ``initial_interval``, ``backoff_coefficient``,
            ``maximum_interval`` (``None`` when unset), ``maximum_attempts``
            and ``non_retryable_error_types`` (a list, possibly empty).
        """
        return {
            "initial_interval": self.initial_interval.total_seconds(),
            "backoff_coefficient": float(self.backoff_coefficient),
            "maximum_interval": (
                None if self.maximum_interval is None else self.maximum_interval.total_seconds()
            ),
            "maximum_attempts": self.maximum_attempts,
            "non_retryable_error_types": list(self.non_retryable_error_types or ()),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RetryPolicy:
        """Build a policy from its :py:meth:`to_json` form.

        Missing or ``None`` keys take their defaults, so ``{}`` is the
        default policy.

        Args:
            d: The JSON form.

        Returns:
            The policy.

        Raises:
            ValueError: If ``d`` is not a mapping, a field has the wrong
                type, or the resulting policy is invalid.
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"RetryPolicy JSON must be an object, got {type(d).__name__}")
        try:
            initial = d.get("initial_interval")
            coefficient = d.get("backoff_coefficient")
            maximum = d.get("maximum_interval")
            attempts = d.get("maximum_attempts")
            types = d.get("non_retryable_error_types")
            return cls(
                initial_interval=(
                    timedelta(seconds=1) if initial is None else timedelta(seconds=float(initial))
                ),
                backoff_coefficient=2.0 if coefficient is None else float(coefficient),
                maximum_interval=None if maximum is None else timedelta(seconds=float(maximum)),
                maximum_attempts=0 if attempts is None else int(attempts),
                non_retryable_error_types=types or None,
            )
        except (TypeError, OverflowError) as err:
            raise ValueError(f"invalid RetryPolicy JSON {dict(d)!r}: {err}") from None


class WorkflowIDReusePolicy(IntEnum):
    """How a workflow ID may be reused once a run with that ID has closed.

    See Temporal's ``WorkflowIdReusePolicy``.
    """

    ALLOW_DUPLICATE = 1
    """Allow starting a run with the same ID whatever the previous outcome."""
    ALLOW_DUPLICATE_FAILED_ONLY = 2
    """Allow only if the previous run failed, was cancelled, terminated or timed out."""
    REJECT_DUPLICATE = 3
    """Never allow a second run with the same ID."""
    TERMINATE_IF_RUNNING = 4
    """Terminate a running run with the same ID, then start (prefer ``WorkflowIDConflictPolicy``)."""


class WorkflowIDConflictPolicy(IntEnum):
    """What to do when a run with the same workflow ID is still running.

    See Temporal's ``WorkflowIdConflictPolicy``.
    """

    UNSPECIFIED = 0
    """Use the default (``FAIL``)."""
    FAIL = 1
    """Fail the start with ``WorkflowAlreadyStartedError``."""
    USE_EXISTING = 2
    """Return a handle to the running run instead of starting one."""
    TERMINATE_EXISTING = 3
    """Terminate the running run, then start a new one."""


class QueryRejectCondition(IntEnum):
    """When a query should be rejected instead of answered, as Temporal defines it."""

    NONE = 1
    """Never reject."""
    NOT_OPEN = 2
    """Reject if the workflow is not open."""
    NOT_COMPLETED_CLEANLY = 3
    """Reject if the workflow closed without completing successfully."""


@dataclass(frozen=True)
class RawValue:
    """A value that is not converted, passed through as its :py:class:`Payload`.

    Use it as a type hint (or a value) to receive (or send) the payload
    itself rather than a decoded value, as in ``temporalio.common``.

    Attributes:
        payload: The raw payload.
    """

    payload: Payload
