"""Retry math: when (and whether) a failed activity or workflow task runs again.

Pure functions over numbers; the caller adds the result to its own ``now``.
The rules are those of Temporal's server (``getBackoffInterval``): a
non-retryable failure stops first, then the attempt limit, then the
schedule-to-close budget. Zero or missing policy values take Temporal's
defaults, as the server fills them in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DEFAULT_BACKOFF_COEFFICIENT",
    "DEFAULT_INITIAL_INTERVAL",
    "DEFAULT_MAXIMUM_INTERVAL_FACTOR",
    "RETRY_STATE_IN_PROGRESS",
    "RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED",
    "RETRY_STATE_NON_RETRYABLE_FAILURE",
    "RETRY_STATE_TIMEOUT",
    "next_retry_delay",
    "workflow_task_retry_delay",
]

DEFAULT_INITIAL_INTERVAL = 1.0
"""Seconds before the first retry when the policy does not say."""
DEFAULT_BACKOFF_COEFFICIENT = 2.0
"""Backoff multiplier when the policy does not say."""
DEFAULT_MAXIMUM_INTERVAL_FACTOR = 100.0
"""Default maximum interval, as a multiple of the initial interval."""

RETRY_STATE_IN_PROGRESS = "RETRY_STATE_IN_PROGRESS"
RETRY_STATE_NON_RETRYABLE_FAILURE = "RETRY_STATE_NON_RETRYABLE_FAILURE"
RETRY_STATE_TIMEOUT = "RETRY_STATE_TIMEOUT"
RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED = "RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED"

_WORKFLOW_TASK_MAX_DELAY = 60.0


def _number(policy: Mapping[str, Any], key: str) -> float:
    value = policy.get(key)
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"retry policy {key!r} must be a number, got {value!r}")
    return float(value)


def next_retry_delay(
    policy: Mapping[str, Any] | None,
    attempt: int,
    *,
    error_type: str | None,
    non_retryable: bool = False,
    next_retry_delay: float | None = None,
    elapsed: float = 0.0,
    schedule_to_close_timeout: float | None = None,
) -> tuple[float | None, str]:
    """Decide whether a failed attempt is retried, and after how long.

    Args:
        policy: ``RetryPolicy.to_json()`` form, or ``None`` for the default
            policy (1 s initial, ×2, at most 100 s, unlimited attempts).
        attempt: The 1-based attempt that just failed.
        error_type: ``ApplicationError.type`` (or the exception's class name)
            of the failure, matched against ``non_retryable_error_types``.
        non_retryable: The failure said it is not retryable.
        next_retry_delay: Seconds requested by ``ApplicationError.next_retry_delay``;
            replaces the computed backoff.
        elapsed: Seconds since the activity was first scheduled.
        schedule_to_close_timeout: The activity's total budget in seconds,
            or ``None``/0 for no budget.

    Returns:
        ``(delay_seconds, "RETRY_STATE_IN_PROGRESS")`` if another attempt
        should run after ``delay_seconds``, else ``(None, retry_state)`` with
        ``"RETRY_STATE_NON_RETRYABLE_FAILURE"``,
        ``"RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED"`` or ``"RETRY_STATE_TIMEOUT"``.

    Raises:
        ValueError: If the policy holds values of the wrong type.
    """
    policy = policy or {}
    non_retryable_types = policy.get("non_retryable_error_types") or ()
    if isinstance(non_retryable_types, str):
        non_retryable_types = (non_retryable_types,)
    if non_retryable or (error_type is not None and error_type in non_retryable_types):
        return None, RETRY_STATE_NON_RETRYABLE_FAILURE

    maximum_attempts = int(_number(policy, "maximum_attempts"))
    if maximum_attempts > 0 and attempt >= maximum_attempts:
        return None, RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED

    if next_retry_delay is not None:
        delay = max(0.0, float(next_retry_delay))
    else:
        initial = _number(policy, "initial_interval") or DEFAULT_INITIAL_INTERVAL
        coefficient = _number(policy, "backoff_coefficient") or DEFAULT_BACKOFF_COEFFICIENT
        maximum = _number(policy, "maximum_interval") or initial * DEFAULT_MAXIMUM_INTERVAL_FACTOR
        try:
            delay = initial * math.pow(coefficient, max(attempt, 1) - 1)
        except OverflowError:
            delay = maximum
        if not math.isfinite(delay) or delay > maximum:
            delay = maximum

    if schedule_to_close_timeout and elapsed + delay > schedule_to_close_timeout:
        return None, RETRY_STATE_TIMEOUT
    return delay, RETRY_STATE_IN_PROGRESS


def workflow_task_retry_delay(attempt: int) -> float:
    """Backoff before retrying a failed workflow task.

    Args:
        attempt: The 1-based workflow-task attempt that just failed.

    Returns:
        0 s for the first retry (after attempt 1), then 1 s, 2 s, 4 s, ...
        capped at 60 s.
    """
    if attempt <= 1:
        return 0.0
    exponent = attempt - 2
    if exponent >= 6:  # 2**6 = 64 > 60
        return _WORKFLOW_TASK_MAX_DELAY
    return min(float(2**exponent), _WORKFLOW_TASK_MAX_DELAY)
