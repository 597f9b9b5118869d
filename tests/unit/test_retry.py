"""Retry math (core.retry) and RetryPolicy validation (no Django, no DB)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from temporalflow.common import RetryPolicy
from temporalflow.core.retry import next_retry_delay, workflow_task_retry_delay

IN_PROGRESS = "RETRY_STATE_IN_PROGRESS"


def delays(policy: dict | None, attempts: int) -> list[float | None]:
    return [next_retry_delay(policy, a, error_type=None)[0] for a in range(1, attempts + 1)]


def test_default_policy() -> None:
    assert delays(None, 9) == [1, 2, 4, 8, 16, 32, 64, 100, 100]
    assert next_retry_delay(None, 1000, error_type="X") == (100.0, IN_PROGRESS)
    assert delays(RetryPolicy().to_json(), 9) == delays(None, 9)
    assert delays({}, 3) == [1, 2, 4]


def test_backoff_is_capped_by_maximum_interval() -> None:
    policy = RetryPolicy(
        initial_interval=timedelta(seconds=0.5),
        backoff_coefficient=3,
        maximum_interval=timedelta(seconds=10),
    ).to_json()
    assert delays(policy, 5) == [0.5, 1.5, 4.5, 10, 10]


def test_coefficient_one_is_constant() -> None:
    policy = RetryPolicy(initial_interval=timedelta(seconds=3), backoff_coefficient=1).to_json()
    assert delays(policy, 4) == [3, 3, 3, 3]


def test_huge_attempt_does_not_overflow() -> None:
    assert next_retry_delay({"backoff_coefficient": 10.0}, 10**6, error_type=None) == (100.0, IN_PROGRESS)


def test_maximum_attempts() -> None:
    policy = RetryPolicy(maximum_attempts=3).to_json()
    assert next_retry_delay(policy, 1, error_type=None) == (1.0, IN_PROGRESS)
    assert next_retry_delay(policy, 2, error_type=None) == (2.0, IN_PROGRESS)
    assert next_retry_delay(policy, 3, error_type=None) == (None, "RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED")
    no_retries = RetryPolicy(maximum_attempts=1).to_json()
    assert next_retry_delay(no_retries, 1, error_type=None) == (
        None,
        "RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED",
    )


def test_non_retryable() -> None:
    policy = RetryPolicy(non_retryable_error_types=["CardDeclined", "ValueError"]).to_json()
    assert next_retry_delay(policy, 1, error_type="CardDeclined") == (
        None,
        "RETRY_STATE_NON_RETRYABLE_FAILURE",
    )
    assert next_retry_delay(policy, 1, error_type="Other") == (1.0, IN_PROGRESS)
    assert next_retry_delay(policy, 1, error_type=None) == (1.0, IN_PROGRESS)
    assert next_retry_delay(None, 1, error_type="X", non_retryable=True) == (
        None,
        "RETRY_STATE_NON_RETRYABLE_FAILURE",
    )
    # Non-retryable wins over the attempt limit, as in Temporal's server.
    limited = RetryPolicy(maximum_attempts=1, non_retryable_error_types=["X"]).to_json()
    assert next_retry_delay(limited, 1, error_type="X")[1] == "RETRY_STATE_NON_RETRYABLE_FAILURE"


def test_next_retry_delay_override() -> None:
    policy = RetryPolicy(maximum_interval=timedelta(seconds=5)).to_json()
    assert next_retry_delay(policy, 3, error_type=None, next_retry_delay=42.0) == (42.0, IN_PROGRESS)
    assert next_retry_delay(policy, 1, error_type=None, next_retry_delay=0) == (0.0, IN_PROGRESS)
    # Still subject to the attempt limit.
    limited = RetryPolicy(maximum_attempts=2).to_json()
    assert next_retry_delay(limited, 2, error_type=None, next_retry_delay=1.0)[0] is None


def test_schedule_to_close_budget() -> None:
    assert next_retry_delay(None, 3, error_type=None, elapsed=5, schedule_to_close_timeout=10) == (
        4.0,
        IN_PROGRESS,
    )
    assert next_retry_delay(None, 3, error_type=None, elapsed=6, schedule_to_close_timeout=10) == (
        4.0,
        IN_PROGRESS,
    )
    assert next_retry_delay(None, 3, error_type=None, elapsed=6.5, schedule_to_close_timeout=10) == (
        None,
        "RETRY_STATE_TIMEOUT",
    )
    assert next_retry_delay(
        None, 1, error_type=None, next_retry_delay=30, elapsed=0, schedule_to_close_timeout=10
    ) == (None, "RETRY_STATE_TIMEOUT")
    # No budget when unset or zero.
    assert next_retry_delay(None, 3, error_type=None, elapsed=10**9, schedule_to_close_timeout=0)[0] == 4.0


def test_zero_values_take_defaults_as_the_server_does() -> None:
    policy = {"initial_interval": 0, "backoff_coefficient": 0, "maximum_interval": 0}
    assert delays(policy, 3) == [1, 2, 4]


def test_bad_policy_values_are_clear() -> None:
    with pytest.raises(ValueError, match="'initial_interval' must be a number"):
        next_retry_delay({"initial_interval": "1s"}, 1, error_type=None)


def test_workflow_task_retry_delay() -> None:
    assert [workflow_task_retry_delay(a) for a in range(1, 11)] == [0, 1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert workflow_task_retry_delay(0) == 0
    assert workflow_task_retry_delay(10**9) == 60


# -- RetryPolicy -----------------------------------------------------------------


def test_retry_policy_defaults_and_json() -> None:
    policy = RetryPolicy()
    assert policy.initial_interval == timedelta(seconds=1)
    assert policy.backoff_coefficient == 2.0
    assert policy.maximum_interval is None
    assert policy.maximum_attempts == 0
    assert policy.non_retryable_error_types is None
    assert policy.to_json() == {
        "initial_interval": 1.0,
        "backoff_coefficient": 2.0,
        "maximum_interval": None,
        "maximum_attempts": 0,
        "non_retryable_error_types": [],
    }
    assert RetryPolicy.from_json(policy.to_json()) == policy
    assert RetryPolicy.from_json({}) == policy


def test_retry_policy_round_trip() -> None:
    policy = RetryPolicy(
        initial_interval=timedelta(milliseconds=250),
        backoff_coefficient=1.5,
        maximum_interval=timedelta(minutes=2),
        maximum_attempts=7,
        non_retryable_error_types=["A", "B"],
    )
    assert policy.non_retryable_error_types == ("A", "B")
    assert hash(policy) == hash(RetryPolicy.from_json(policy.to_json()))
    assert RetryPolicy.from_json(policy.to_json()) == policy


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial_interval": timedelta(seconds=-1)}, "initial_interval cannot be negative"),
        ({"backoff_coefficient": 0.5}, "backoff_coefficient cannot be less than 1"),
        ({"maximum_interval": timedelta(seconds=-1)}, "maximum_interval cannot be negative"),
        (
            {"initial_interval": timedelta(seconds=5), "maximum_interval": timedelta(seconds=2)},
            "cannot be less than initial_interval",
        ),
        ({"maximum_attempts": -1}, "maximum_attempts cannot be negative"),
        ({"non_retryable_error_types": "ValueError"}, "not a single string"),
        ({"initial_interval": 5}, "initial_interval must be a timedelta"),
    ],
)
def test_retry_policy_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)


def test_retry_policy_with_retries_disabled_skips_validation() -> None:
    RetryPolicy(maximum_attempts=1, backoff_coefficient=0.1)


def test_retry_policy_from_bad_json() -> None:
    with pytest.raises(ValueError, match="must be an object"):
        RetryPolicy.from_json([])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RetryPolicy.from_json({"initial_interval": "soon"})
    with pytest.raises(ValueError, match="backoff_coefficient"):
        RetryPolicy.from_json({"backoff_coefficient": 0.5})
    with pytest.raises(ValueError, match="not a single string"):
        RetryPolicy.from_json({"non_retryable_error_types": "ValueError"})
    with pytest.raises(ValueError, match="invalid RetryPolicy JSON"):
        RetryPolicy.from_json({"non_retryable_error_types": 5})
