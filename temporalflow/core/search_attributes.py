"""Search attribute values ↔ payloads, and their validation against the registered attributes.

Search attributes travel and are stored as Temporal does: ``{name: payload}`` (the
``indexed_fields`` of Temporal's ``SearchAttributes`` message), each payload ``json/plain``
with a ``type`` metadata entry naming the indexed type (``Keyword``, ``Int``, ...). A
``binary/null`` payload (no ``type``) in an upsert removes the attribute.

:func:`validate` is what Temporal's frontend does before it accepts a start or an upsert:
every name must be registered for the namespace (``TEMPORALFLOW["SEARCH_ATTRIBUTES"]``)
with the value's type, system attributes cannot be set, and the number and size of values
are bounded. It returns the canonical form the engine stores (``type`` metadata from the
registry, a one-element list unwrapped as Temporal's server reads it).

Pure: standard library and the authoring API's ``temporalflow.common`` only.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from temporalflow.common import (
    SearchAttributeIndexedValueType,
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)
from temporalflow.core.payload import PayloadJSON

__all__ = [
    "ENGINE_SET_ATTRIBUTES",
    "MAX_KEYS",
    "MAX_VALUE_SIZE",
    "ROW_ATTRIBUTES",
    "SYSTEM_ATTRIBUTES",
    "TYPE_NAMES",
    "SearchAttributeError",
    "decode_typed",
    "decode_untyped",
    "decode_value",
    "encode_search_attributes",
    "encode_updates",
    "encode_value",
    "from_json_form",
    "index_values",
    "is_null",
    "merged",
    "parse_registry",
    "to_json_form",
    "validate",
]

IVT = SearchAttributeIndexedValueType

TYPE_NAMES: dict[str, SearchAttributeIndexedValueType] = {
    "Text": IVT.TEXT,
    "Keyword": IVT.KEYWORD,
    "Int": IVT.INT,
    "Double": IVT.DOUBLE,
    "Bool": IVT.BOOL,
    "Datetime": IVT.DATETIME,
    "KeywordList": IVT.KEYWORD_LIST,
}
"""Temporal's type names (as ``temporal operator search-attribute create --type`` takes them)."""

_NAME_OF = {v: k for k, v in TYPE_NAMES.items()}

SYSTEM_ATTRIBUTES: dict[str, SearchAttributeIndexedValueType] = {
    "WorkflowId": IVT.KEYWORD,
    "RunId": IVT.KEYWORD,
    "WorkflowType": IVT.KEYWORD,
    "ExecutionStatus": IVT.KEYWORD,
    "StartTime": IVT.DATETIME,
    "CloseTime": IVT.DATETIME,
    "ExecutionTime": IVT.DATETIME,
    "ExecutionDuration": IVT.INT,
    "TaskQueue": IVT.KEYWORD,
    "HistoryLength": IVT.INT,
    "ParentWorkflowId": IVT.KEYWORD,
    "ParentRunId": IVT.KEYWORD,
    "RootWorkflowId": IVT.KEYWORD,
    "RootRunId": IVT.KEYWORD,
    "HistorySizeBytes": IVT.INT,
    "StateTransitionCount": IVT.INT,
    "BatcherUser": IVT.KEYWORD,
    "BatcherNamespace": IVT.KEYWORD,
    "BinaryChecksums": IVT.KEYWORD_LIST,
    "BuildIds": IVT.KEYWORD_LIST,
    "TemporalChangeVersion": IVT.KEYWORD_LIST,
    "TemporalScheduledStartTime": IVT.DATETIME,
    "TemporalScheduledById": IVT.KEYWORD,
    "TemporalSchedulePaused": IVT.BOOL,
    "TemporalNamespaceDivision": IVT.KEYWORD,
}
"""Temporal's system search attributes: the server sets them; users cannot register or set them."""

ROW_ATTRIBUTES = frozenset({
    "WorkflowId", "RunId", "WorkflowType", "ExecutionStatus", "StartTime", "CloseTime", "ExecutionTime",
    "ExecutionDuration", "TaskQueue", "HistoryLength", "ParentWorkflowId", "ParentRunId", "RootWorkflowId",
    "RootRunId", "HistorySizeBytes", "StateTransitionCount",
})
"""System attributes read from the run row; the others of :data:`SYSTEM_ATTRIBUTES` are set by the
engine itself (a schedule's ``TemporalScheduledById``, ...) and indexed like custom ones."""

ENGINE_SET_ATTRIBUTES: dict[str, SearchAttributeIndexedValueType] = {
    name: kind for name, kind in SYSTEM_ATTRIBUTES.items() if name not in ROW_ATTRIBUTES}
"""System attributes the engine writes into a run's attributes (queryable, never set by users)."""

MAX_KEYS = 100
"""Most attributes one run may carry (Temporal's ``limit.numberOfSearchAttributesKeys`` default)."""

MAX_VALUE_SIZE = 2 * 1024
"""Most bytes of one value (Temporal's ``limit.searchAttributesSizeOfValue`` default)."""

_NULL = {"metadata": {"encoding": base64.b64encode(b"binary/null").decode()}, "data": ""}


class SearchAttributeError(ValueError):
    """A search attribute Temporal's server would refuse (unknown name, wrong type, too large)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _payload(value: Any, type_name: str) -> PayloadJSON:
    data = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    return {"metadata": {"encoding": _b64(b"json/plain"), "type": _b64(type_name.encode())}, "data": _b64(data)}


def _is_null(payload: Mapping[str, Any]) -> bool:
    encoding = (payload.get("metadata") or {}).get("encoding")
    try:
        return encoding is not None and base64.b64decode(encoding) == b"binary/null"
    except ValueError:
        return False


def _metadata(payload: Mapping[str, Any], key: str) -> str | None:
    raw = (payload.get("metadata") or {}).get(key)
    if raw is None:
        return None
    try:
        return base64.b64decode(raw).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def _json_value(payload: Mapping[str, Any]) -> Any:
    return json.loads(base64.b64decode(payload.get("data") or ""))


# --- encoding (client and workflow side) --------------------------------------------------


def encode_value(key: SearchAttributeKey[Any], value: Any) -> PayloadJSON:
    """One typed value as its payload (``None``: the ``binary/null`` payload that unsets it).

    Raises:
        TypeError: The value does not fit the key's type (as temporalio raises it).
        ValueError: A datetime without a time zone.
    """
    if value is None:
        return dict(_NULL)
    origin = key.origin_value_type
    if not isinstance(value, origin) or (origin in (int, float) and isinstance(value, bool)):
        if not (origin is float and isinstance(value, int) and not isinstance(value, bool)):
            raise TypeError(f"Value of type {value} not suitable for indexed value type {key.indexed_value_type}")
        value = float(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"search attribute {key.name}: Timezone must be present on all search attribute dates")
        value = value.isoformat()
    elif key.indexed_value_type == IVT.KEYWORD_LIST:
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            raise TypeError("All values of a keyword list must be strings")
        value = list(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"search attribute {key.name}: {value} is not a finite number")
    return _payload(value, key._metadata_type)


def _encode_untyped_values(name: str, vals: Any) -> PayloadJSON:
    if not isinstance(vals, list):
        raise TypeError("Search attribute values must be lists")
    safe: list[Any] = []
    val_type: type | None = None
    for v in vals:
        if isinstance(v, datetime):
            if v.tzinfo is None:
                raise ValueError("Timezone must be present on all search attribute dates")
            v = v.isoformat()
        elif not isinstance(v, str | int | float | bool):
            raise TypeError(f"Search attribute value of type {type(v).__name__} not one of str, int, float, bool, "
                            "or datetime")
        elif val_type is not None and type(v) is not val_type:
            raise TypeError("Search attribute values must have the same type for the same key")
        val_type = val_type or type(v)
        safe.append(v)
    data = json.dumps(safe, separators=(",", ":"), ensure_ascii=False).encode()
    return {"metadata": {"encoding": _b64(b"json/plain")}, "data": _b64(data)}


def encode_search_attributes(attributes: Any) -> dict[str, PayloadJSON]:
    """``TypedSearchAttributes`` (or the deprecated ``{name: [values]}`` dict) → ``{name: payload}``.

    Raises:
        TypeError: Not one of those forms, or a value that does not fit its key.
    """
    if attributes is None:
        return {}
    if isinstance(attributes, TypedSearchAttributes):
        return {pair.key.name: encode_value(pair.key, pair.value) for pair in attributes}
    if isinstance(attributes, Mapping):
        return {str(name): _encode_untyped_values(str(name), vals) for name, vals in attributes.items()}
    raise TypeError(f"search_attributes must be a TypedSearchAttributes (or the deprecated dict of lists), "
                    f"not {type(attributes).__name__}")


def encode_updates(updates: Any) -> dict[str, PayloadJSON]:
    """``workflow.upsert_search_attributes``'s argument → ``{name: payload}`` (null payloads unset).

    Raises:
        TypeError: Neither a sequence of ``SearchAttributeUpdate`` nor the deprecated dict.
    """
    if isinstance(updates, Mapping):
        return encode_search_attributes(updates)
    if isinstance(updates, TypedSearchAttributes):
        raise TypeError("upsert_search_attributes takes SearchAttributeUpdate values "
                        "(key.value_set(v) / key.value_unset()), not a TypedSearchAttributes")
    if isinstance(updates, str | bytes) or not isinstance(updates, Sequence):
        raise TypeError(f"upsert_search_attributes takes a sequence of SearchAttributeUpdate, not "
                        f"{type(updates).__name__}")
    out: dict[str, PayloadJSON] = {}
    for update in updates:
        if not isinstance(update, SearchAttributeUpdate):
            raise TypeError(f"expected SearchAttributeUpdate values (key.value_set(v) / key.value_unset()), got "
                            f"{type(update).__name__}")
        out[update.key.name] = encode_value(update.key, update.value)
    return out


# --- decoding -----------------------------------------------------------------------------


def decode_value(payload: Mapping[str, Any]) -> Any:
    """A stored payload → its Python value (a datetime for ``Datetime``; None for a null payload)."""
    if _is_null(payload):
        return None
    value = _json_value(payload)
    if _metadata(payload, "type") == "Datetime":
        if isinstance(value, list):
            return [datetime.fromisoformat(v) for v in value]
        return datetime.fromisoformat(value)
    return value


def decode_typed(indexed: Mapping[str, Any] | None) -> TypedSearchAttributes:
    """``{name: payload}`` → ``TypedSearchAttributes`` (payloads without a known ``type`` are skipped)."""
    pairs: list[SearchAttributePair] = []
    for name, payload in (indexed or {}).items():
        key = SearchAttributeKey._from_metadata_type(name, _metadata(payload, "type") or "")
        if key is None or _is_null(payload):
            continue
        try:
            value = _json_value(payload)
        except ValueError:
            continue
        if key.indexed_value_type != IVT.KEYWORD_LIST and isinstance(value, list):
            if len(value) != 1:
                continue
            value = value[0]
        if key.indexed_value_type == IVT.DATETIME:
            try:
                value = datetime.fromisoformat(value)
            except (TypeError, ValueError):
                continue
        elif key.indexed_value_type == IVT.DOUBLE and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if key.indexed_value_type == IVT.KEYWORD_LIST:
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                pairs.append(SearchAttributePair(key, value))
        elif isinstance(value, key.origin_value_type) and not (
                key.indexed_value_type == IVT.INT and isinstance(value, bool)):
            pairs.append(SearchAttributePair(key, value))
    return TypedSearchAttributes(pairs)


def decode_untyped(indexed: Mapping[str, Any] | None) -> dict[str, list[Any]]:
    """``{name: payload}`` → the deprecated ``{name: [values]}`` form."""
    out: dict[str, list[Any]] = {}
    for name, payload in (indexed or {}).items():
        if _is_null(payload):
            continue
        value = decode_value(payload)
        out[name] = value if isinstance(value, list) else [value]
    return out


# --- the registry and validation (the server's side) ---------------------------------------


def parse_registry(setting: Any, namespace: str) -> dict[str, SearchAttributeIndexedValueType]:
    """``TEMPORALFLOW["SEARCH_ATTRIBUTES"]`` → the attributes registered for ``namespace``.

    The setting maps a name to a type name (``{"CustomerId": "Keyword"}``: registered in every
    namespace) or a namespace to such a mapping (``{"billing": {"InvoiceId": "Keyword"}}``).

    Raises:
        SearchAttributeError: The setting is malformed (the system check reports it too).
    """
    if not setting:
        return {}
    if not isinstance(setting, Mapping):
        raise SearchAttributeError("TEMPORALFLOW['SEARCH_ATTRIBUTES'] must be a dict of name -> type")
    out: dict[str, SearchAttributeIndexedValueType] = {}

    def add(name: Any, type_name: Any) -> None:
        if not isinstance(name, str) or not name:
            raise SearchAttributeError(f"search attribute name {name!r} must be a non-empty string")
        if type_name not in TYPE_NAMES:
            raise SearchAttributeError(f"search attribute {name}: unknown type {type_name!r}; one of "
                                       f"{', '.join(TYPE_NAMES)}")
        out[name] = TYPE_NAMES[type_name]

    for name, value in setting.items():
        if isinstance(value, Mapping):
            if name == namespace:
                for inner, type_name in value.items():
                    add(inner, type_name)
        else:
            add(name, value)
    return out


def validate(
    indexed: Mapping[str, Any], registry: Mapping[str, SearchAttributeIndexedValueType], *, allow_unset: bool = False,
    allow_system: bool = False,
) -> dict[str, PayloadJSON]:
    """Check ``{name: payload}`` as Temporal's frontend does; return the canonical payloads.

    ``allow_unset``: null payloads (an upsert's unset) are kept as they are; otherwise refused.
    ``allow_system``: the engine's own writes may carry :data:`ENGINE_SET_ATTRIBUTES`.

    Raises:
        SearchAttributeError: With Temporal's wording ("search attribute X is not defined", ...).
    """
    if not isinstance(indexed, Mapping):
        raise SearchAttributeError("search attributes must be a mapping of name to payload")
    if len(indexed) > MAX_KEYS:
        raise SearchAttributeError(f"number of search attributes {len(indexed)} exceeds limit {MAX_KEYS}")
    out: dict[str, PayloadJSON] = {}
    for name, payload in indexed.items():
        if name in SYSTEM_ATTRIBUTES and not (allow_system and name in ENGINE_SET_ATTRIBUTES):
            raise SearchAttributeError(f"{name} attribute can't be set in SearchAttributes")
        kind = ENGINE_SET_ATTRIBUTES.get(name) if name in SYSTEM_ATTRIBUTES else registry.get(name)
        if kind is None:
            raise SearchAttributeError(f"search attribute {name} is not defined")
        if not isinstance(payload, Mapping):
            raise SearchAttributeError(f"invalid value for search attribute {name} of type {_NAME_OF[kind]}: "
                                       f"{payload!r}")
        if _is_null(payload):
            if not allow_unset:
                raise SearchAttributeError(f"invalid value for search attribute {name} of type {_NAME_OF[kind]}: "
                                           "null (unset it with an upsert instead)")
            out[name] = dict(_NULL)
            continue
        try:
            size = len(base64.b64decode(payload.get("data") or ""))
            value = _json_value(payload)
        except (ValueError, TypeError):
            raise SearchAttributeError(f"invalid value for search attribute {name} of type {_NAME_OF[kind]}: "
                                       "not JSON") from None
        if size > MAX_VALUE_SIZE:
            raise SearchAttributeError(f"search attribute {name} value size {size} exceeds size limit "
                                       f"{MAX_VALUE_SIZE}")
        out[name] = _payload(_coerce(name, kind, value), _NAME_OF[kind])
    return out


def _coerce(name: str, kind: SearchAttributeIndexedValueType, value: Any) -> Any:
    """The JSON value as ``kind`` stores it, or SearchAttributeError (Temporal's "invalid value" wording)."""
    def bad() -> SearchAttributeError:
        return SearchAttributeError(f"invalid value for search attribute {name} of type {_NAME_OF[kind]}: "
                                    f"{json.dumps(value, ensure_ascii=False)}")

    if kind == IVT.KEYWORD_LIST:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad()
        return value
    if isinstance(value, list):  # the untyped form: one value in a list
        if len(value) != 1:
            raise bad()
        value = value[0]
    if kind in (IVT.KEYWORD, IVT.TEXT):
        if not isinstance(value, str):
            raise bad()
        return value
    if kind == IVT.INT:
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise bad()
        if not -(2**63) <= int(value) < 2**63:
            raise bad()
        return int(value)
    if kind == IVT.DOUBLE:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad()
        return float(value)
    if kind == IVT.BOOL:
        if not isinstance(value, bool):
            raise bad()
        return value
    if kind == IVT.DATETIME:
        if not isinstance(value, str):
            raise bad()
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        except ValueError:
            raise bad() from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.isoformat()
    raise bad()


def merged(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` after an upsert of ``changes`` (null payloads remove their attribute)."""
    out = dict(current)
    for name, payload in changes.items():
        if _is_null(payload):
            out.pop(name, None)
        else:
            out[name] = payload
    return out


def is_null(payload: Mapping[str, Any]) -> bool:
    """True for the ``binary/null`` payload an upsert uses to unset an attribute."""
    return _is_null(payload)


def index_values(payload: Mapping[str, Any]) -> tuple[str | None, list[Any]]:
    """The type name and the values to index of a canonical payload (one per keyword of a list)."""
    kind = _metadata(payload, "type")
    value = decode_value(payload)
    if value is None:
        return kind, []
    return kind, value if isinstance(value, list) else [value]


def to_json_form(indexed: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """``{name: payload}`` → ``{name: {"type": "Int", "value": 5}}`` (the REST API's readable form).

    Datetimes are ISO 8601 strings; payloads this engine cannot read are left out.
    """
    out: dict[str, dict[str, Any]] = {}
    for name, payload in (indexed or {}).items():
        if not isinstance(payload, Mapping) or _is_null(payload):
            continue
        try:
            value = _json_value(payload)
        except (ValueError, TypeError):
            continue
        out[name] = {"type": _metadata(payload, "type"), "value": value}
    return out


def from_json_form(obj: Mapping[str, Any]) -> dict[str, PayloadJSON]:
    """Inverse of :func:`to_json_form` (entries that are not ``{"type", "value"}`` are skipped)."""
    out: dict[str, PayloadJSON] = {}
    for name, entry in (obj or {}).items():
        if not isinstance(entry, Mapping) or "value" not in entry:
            continue
        type_name = entry.get("type")
        if type_name in TYPE_NAMES:
            out[str(name)] = _payload(entry["value"], type_name)
        else:
            data = json.dumps(entry["value"], separators=(",", ":"), ensure_ascii=False).encode()
            out[str(name)] = {"metadata": {"encoding": _b64(b"json/plain")}, "data": _b64(data)}
    return out
