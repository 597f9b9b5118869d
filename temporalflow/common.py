"""Common Temporal types, as in ``temporalio.common``.

``RetryPolicy``, the workflow-id reuse and conflict policies, ``RawValue``,
``QueryRejectCondition`` and the typed search attributes (``SearchAttributeKey``,
``SearchAttributePair``, ``SearchAttributeUpdate``, ``TypedSearchAttributes``). Enum values
are those of Temporal's API enums, so a value stored by temporalflow means the same thing to
a Temporal tool.

This module imports the standard library and ``temporalflow.core`` only.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any, ClassVar, Generic, NamedTuple, TypeAlias, TypeVar, get_origin

from temporalflow.core.payload import Payload

__all__ = [
    "QueryRejectCondition",
    "RawValue",
    "RetryPolicy",
    "SearchAttributeIndexedValueType",
    "SearchAttributeKey",
    "SearchAttributePair",
    "SearchAttributeUpdate",
    "SearchAttributeValue",
    "SearchAttributeValues",
    "SearchAttributes",
    "TypedSearchAttributes",
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


# --- search attributes (as in temporalio.common) -----------------------------------------

# A list, not a sequence, so a plain string passed by mistake (a sequence too) is caught.
SearchAttributeValues: TypeAlias = list[str] | list[int] | list[float] | list[bool] | list[datetime]
"""Values of one attribute in the deprecated dict form (always a list)."""

SearchAttributes: TypeAlias = Mapping[str, SearchAttributeValues]
"""The deprecated untyped form: attribute name → list of values."""

SearchAttributeValue: TypeAlias = str | int | float | bool | datetime | Sequence[str]
"""One typed attribute's value."""

SearchAttributeValueType = TypeVar("SearchAttributeValueType", str, int, float, bool, datetime, Sequence[str])


class SearchAttributeIndexedValueType(IntEnum):
    """How the server indexes an attribute (Temporal's ``IndexedValueType`` numbers)."""

    TEXT = 1
    KEYWORD = 2
    INT = 3
    DOUBLE = 4
    BOOL = 5
    DATETIME = 6
    KEYWORD_LIST = 7


_METADATA_TYPES = {
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}


class SearchAttributeKey(ABC, Generic[SearchAttributeValueType]):
    """A typed search attribute key; make one with a ``for_*`` static method (``for_keyword("CustomerId")``)."""

    @property
    @abstractmethod
    def name(self) -> str:
        """The attribute's name."""

    @property
    @abstractmethod
    def indexed_value_type(self) -> SearchAttributeIndexedValueType:
        """How the attribute is indexed."""

    @property
    @abstractmethod
    def value_type(self) -> type[SearchAttributeValueType]:
        """The Python type of its values (``Sequence[str]`` for a keyword list)."""

    @property
    def origin_value_type(self) -> type:
        """:py:attr:`value_type` without generics (usable with ``isinstance``)."""
        return get_origin(self.value_type) or self.value_type

    @property
    def _metadata_type(self) -> str:
        try:
            return _METADATA_TYPES[self.indexed_value_type]
        except KeyError:
            raise ValueError(f"Unrecognized type: {self}") from None

    def value_set(self, value: SearchAttributeValueType) -> SearchAttributeUpdate[SearchAttributeValueType]:
        """An update that sets this key to ``value``."""
        return _SearchAttributeUpdate(self, value)

    def value_unset(self) -> SearchAttributeUpdate[SearchAttributeValueType]:
        """An update that removes this key."""
        return _SearchAttributeUpdate(self, None)

    @staticmethod
    def for_text(name: str) -> SearchAttributeKey[str]:
        """A ``Text`` key (full-text matched)."""
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.TEXT, str)

    @staticmethod
    def for_keyword(name: str) -> SearchAttributeKey[str]:
        """A ``Keyword`` key (exact match)."""
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.KEYWORD, str)

    @staticmethod
    def for_int(name: str) -> SearchAttributeKey[int]:
        """An ``Int`` key."""
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.INT, int)

    @staticmethod
    def for_float(name: str) -> SearchAttributeKey[float]:
        """A ``Double`` key."""
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.DOUBLE, float)

    @staticmethod
    def for_bool(name: str) -> SearchAttributeKey[bool]:
        """A ``Bool`` key."""
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.BOOL, bool)

    @staticmethod
    def for_datetime(name: str) -> SearchAttributeKey[datetime]:
        """A ``Datetime`` key."""
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.DATETIME, datetime)

    @staticmethod
    def for_keyword_list(name: str) -> SearchAttributeKey[Sequence[str]]:
        """A ``KeywordList`` key (a run matches when any of its keywords does)."""
        return _SearchAttributeKey(name, SearchAttributeIndexedValueType.KEYWORD_LIST, Sequence[str])  # type: ignore[arg-type]

    @staticmethod
    def _from_metadata_type(name: str, metadata_type: str) -> SearchAttributeKey[Any] | None:
        for index_type, text in _METADATA_TYPES.items():
            if text == metadata_type:
                return _SearchAttributeKey(name, index_type, _VALUE_TYPES[index_type])
        return None

    @staticmethod
    def _guess_from_untyped_values(name: str, vals: SearchAttributeValues) -> SearchAttributeKey[Any] | None:
        if not vals:
            return None
        if len(vals) > 1:
            return SearchAttributeKey.for_keyword_list(name) if isinstance(vals[0], str) else None
        first = vals[0]
        if isinstance(first, str):
            return SearchAttributeKey.for_keyword(name)
        if isinstance(first, bool):  # before int: a bool is an int
            return SearchAttributeKey.for_bool(name)
        if isinstance(first, int):
            return SearchAttributeKey.for_int(name)
        if isinstance(first, float):
            return SearchAttributeKey.for_float(name)
        if isinstance(first, datetime):
            return SearchAttributeKey.for_datetime(name)
        return None


_VALUE_TYPES: dict[SearchAttributeIndexedValueType, Any] = {
    SearchAttributeIndexedValueType.TEXT: str,
    SearchAttributeIndexedValueType.KEYWORD: str,
    SearchAttributeIndexedValueType.INT: int,
    SearchAttributeIndexedValueType.DOUBLE: float,
    SearchAttributeIndexedValueType.BOOL: bool,
    SearchAttributeIndexedValueType.DATETIME: datetime,
    SearchAttributeIndexedValueType.KEYWORD_LIST: Sequence[str],
}


@dataclass(frozen=True)
class _SearchAttributeKey(SearchAttributeKey[SearchAttributeValueType]):
    _name: str
    _indexed_value_type: SearchAttributeIndexedValueType
    _value_type: type[SearchAttributeValueType]

    @property
    def name(self) -> str:
        return self._name

    @property
    def indexed_value_type(self) -> SearchAttributeIndexedValueType:
        return self._indexed_value_type

    @property
    def value_type(self) -> type[SearchAttributeValueType]:
        return self._value_type


class SearchAttributePair(NamedTuple, Generic[SearchAttributeValueType]):
    """A key and its value."""

    key: SearchAttributeKey[SearchAttributeValueType]
    value: SearchAttributeValueType


class SearchAttributeUpdate(ABC, Generic[SearchAttributeValueType]):
    """A change to one attribute: set it (``value``) or remove it (``value`` is None)."""

    @property
    @abstractmethod
    def key(self) -> SearchAttributeKey[SearchAttributeValueType]:
        """The key changed."""

    @property
    @abstractmethod
    def value(self) -> SearchAttributeValueType | None:
        """The new value, or None to unset."""


@dataclass(frozen=True)
class _SearchAttributeUpdate(SearchAttributeUpdate[SearchAttributeValueType]):
    _key: SearchAttributeKey[SearchAttributeValueType]
    _value: SearchAttributeValueType | None

    @property
    def key(self) -> SearchAttributeKey[SearchAttributeValueType]:
        return self._key

    @property
    def value(self) -> SearchAttributeValueType | None:
        return self._value


@dataclass(frozen=True)
class TypedSearchAttributes(Collection[SearchAttributePair]):
    """An immutable collection of :py:class:`SearchAttributePair`, sorted by key name, without duplicates.

    Attributes:
        search_attributes: The pairs (do not mutate; build a new collection with :py:meth:`updated`).

    Raises:
        ValueError: Two pairs have the same key name.
    """

    search_attributes: Sequence[SearchAttributePair]

    empty: ClassVar[TypedSearchAttributes]
    """An empty collection."""

    def __post_init__(self) -> None:
        pairs = sorted(self.search_attributes, key=lambda pair: pair.key.name)
        object.__setattr__(self, "search_attributes", pairs)
        for i, pair in enumerate(pairs):
            if i > 0 and pairs[i - 1].key.name == pair.key.name:
                raise ValueError(f"Duplicate search attribute entries found for key {pair.key.name}")

    def __len__(self) -> int:
        return len(self.search_attributes)

    def __getitem__(self, key: SearchAttributeKey[SearchAttributeValueType]) -> SearchAttributeValueType:
        """The value of ``key`` (same name and type); ``KeyError`` if absent."""
        for k, v in self:
            if k == key:
                return v
        raise KeyError(key.name)

    def __iter__(self) -> Iterator[SearchAttributePair]:
        return iter(self.search_attributes)

    def __contains__(self, key: object) -> bool:
        """Whether a pair has ``key`` (same name and type)."""
        return any(k == key for k, _ in self)

    def get(self, key: SearchAttributeKey[SearchAttributeValueType], default: Any = None) -> Any:
        """The value of ``key``, or ``default`` (like ``dict.get``)."""
        try:
            return self[key]
        except KeyError:
            return default

    def updated(self, *search_attributes: SearchAttributePair) -> TypedSearchAttributes:
        """A copy where pairs with the same key name are replaced and new ones added."""
        pairs = list(self.search_attributes)
        for pair in search_attributes:
            index = next((i for i, p in enumerate(pairs) if p.key.name == pair.key.name), None)
            if index is None:
                pairs.append(pair)
            else:
                pairs[index] = pair
        return TypedSearchAttributes(pairs)


TypedSearchAttributes.empty = TypedSearchAttributes(search_attributes=[])


def _warn_on_deprecated_search_attributes(attributes: Any, stack_level: int = 2) -> None:
    if attributes and isinstance(attributes, Mapping):
        warnings.warn("Dictionary-based search attributes are deprecated", DeprecationWarning,
                      stacklevel=1 + stack_level)
