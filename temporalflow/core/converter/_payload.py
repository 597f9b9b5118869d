"""Payload converters: Python values ↔ :py:class:`Payload`, as in ``temporalio.converter``.

The default converter tries, in order, ``binary/null`` (``None``),
``binary/plain`` (``bytes``) and ``json/plain`` (everything else, with
:py:class:`AdvancedJSONEncoder`). Decoding picks the converter named by the
payload's ``encoding`` metadata and, given a type hint, rebuilds the value
with :py:func:`value_to_type`.

Pure: standard library only; pydantic models are recognised by duck typing
(``model_dump`` / ``model_validate``), never imported.
"""

from __future__ import annotations

import collections
import collections.abc
import dataclasses
import inspect
import json
import types
import typing
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from temporalflow.common import RawValue
from temporalflow.core.payload import Payload, PayloadsJSON, payloads_from_json, payloads_to_json

__all__ = [
    "AdvancedJSONEncoder",
    "BinaryNullPayloadConverter",
    "BinaryPlainPayloadConverter",
    "CompositePayloadConverter",
    "DefaultPayloadConverter",
    "EncodingPayloadConverter",
    "JSONPlainPayloadConverter",
    "JSONTypeConverter",
    "PayloadConverter",
    "value_to_type",
]


class EncodingPayloadConverter(ABC):
    """Converts values to and from payloads of one ``encoding``."""

    @property
    @abstractmethod
    def encoding(self) -> str:
        """The encoding name written to (and matched against) ``metadata["encoding"]``."""

    @abstractmethod
    def to_payload(self, value: Any) -> Payload | None:
        """Encode a value, or return ``None`` if this converter does not handle it.

        Args:
            value: The value to encode.

        Returns:
            The payload, or ``None`` to let the next converter try.
        """

    @abstractmethod
    def from_payload(self, payload: Payload, type_hint: Any | None = None) -> Any:
        """Decode a payload of this converter's encoding.

        Args:
            payload: The payload to decode.
            type_hint: Type to decode into, if known.

        Returns:
            The decoded value.
        """


class BinaryNullPayloadConverter(EncodingPayloadConverter):
    """Converts ``None`` to an empty ``binary/null`` payload and back."""

    @property
    def encoding(self) -> str:
        """``"binary/null"``."""
        return "binary/null"

    def to_payload(self, value: Any) -> Payload | None:
        """Encode ``None``; return ``None`` for anything else."""
        if value is None:
            return Payload(metadata={"encoding": self.encoding.encode()})
        return None

    def from_payload(self, payload: Payload, type_hint: Any | None = None) -> Any:
        """Decode to ``None``.

        Raises:
            ValueError: If the payload carries data.
        """
        if payload.data:
            raise ValueError("binary/null payload must have empty data")
        return None


class BinaryPlainPayloadConverter(EncodingPayloadConverter):
    """Converts ``bytes`` to ``binary/plain`` payloads and back, unchanged."""

    @property
    def encoding(self) -> str:
        """``"binary/plain"``."""
        return "binary/plain"

    def to_payload(self, value: Any) -> Payload | None:
        """Encode ``bytes``; return ``None`` for anything else."""
        if isinstance(value, bytes):
            return Payload(metadata={"encoding": self.encoding.encode()}, data=value)
        return None

    def from_payload(self, payload: Payload, type_hint: Any | None = None) -> Any:
        """Return the payload's data bytes."""
        return payload.data


class AdvancedJSONEncoder(json.JSONEncoder):
    """JSON encoder for the values workflows and activities usually pass.

    Handles, beyond plain JSON: pydantic models (``model_dump(mode="json")``),
    dataclasses (field by field, recursively), ``datetime``/``date``/``time``
    (ISO 8601), ``UUID`` and ``Decimal`` (``str``), ``Enum`` (its value) and
    ``set``/``frozenset`` (a list, sorted when the items allow it, so equal
    sets encode to equal bytes).
    """

    def default(self, o: Any) -> Any:
        """Return a JSON-encodable form of ``o``.

        Raises:
            TypeError: If ``o`` has no JSON form.
        """
        if hasattr(type(o), "model_dump"):
            return o.model_dump(mode="json")
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return {f.name: getattr(o, f.name) for f in dataclasses.fields(o)}
        if isinstance(o, (datetime, date, time)):
            return o.isoformat()
        if isinstance(o, uuid.UUID):
            return str(o)
        if isinstance(o, Decimal):
            return str(o)
        if isinstance(o, Enum):
            return o.value
        if isinstance(o, (set, frozenset)):
            try:
                return sorted(o)
            except TypeError:
                return list(o)
        return super().default(o)


class JSONTypeConverter(ABC):
    """Custom conversion of decoded JSON values into a type hint.

    Pass instances as ``custom_type_converters`` to
    :py:class:`JSONPlainPayloadConverter` (or to :py:func:`value_to_type`).
    """

    Unhandled: ClassVar[Any] = object()
    """Sentinel returned by :py:meth:`to_typed_value` when the hint is not handled."""

    @abstractmethod
    def to_typed_value(self, hint: Any, value: Any) -> Any:
        """Convert ``value`` into ``hint``, or return :py:attr:`Unhandled`.

        Args:
            hint: The type hint.
            value: The decoded JSON value.

        Returns:
            The converted value, or ``JSONTypeConverter.Unhandled``.
        """


class JSONPlainPayloadConverter(EncodingPayloadConverter):
    """Converts values to compact ``json/plain`` payloads and back.

    Args:
        encoder: The JSON encoder class. Default :py:class:`AdvancedJSONEncoder`.
        decoder: The JSON decoder class, if not the standard one.
        encoding: The encoding name. Default ``"json/plain"``.
        custom_type_converters: Extra hint conversions, tried first.
    """

    def __init__(
        self,
        *,
        encoder: type[json.JSONEncoder] | None = AdvancedJSONEncoder,
        decoder: type[json.JSONDecoder] | None = None,
        encoding: str = "json/plain",
        custom_type_converters: Sequence[JSONTypeConverter] = (),
    ) -> None:
        """Initialize a JSON converter."""
        self._encoder = encoder
        self._decoder = decoder
        self._encoding = encoding
        self._custom_type_converters = tuple(custom_type_converters)

    @property
    def encoding(self) -> str:
        """The encoding name (``"json/plain"`` by default)."""
        return self._encoding

    def to_payload(self, value: Any) -> Payload | None:
        """Encode ``value`` as compact JSON with sorted keys.

        Raises:
            TypeError: If the value has no JSON form.
        """
        try:
            data = json.dumps(value, cls=self._encoder, separators=(",", ":"), sort_keys=True)
        except (TypeError, ValueError) as err:
            raise TypeError(f"value of type {type(value).__name__} cannot be encoded as JSON: {err}") from err
        return Payload(metadata={"encoding": self._encoding.encode()}, data=data.encode())

    def from_payload(self, payload: Payload, type_hint: Any | None = None) -> Any:
        """Decode JSON and, given a hint, convert it with :py:func:`value_to_type`.

        Raises:
            ValueError: If the data is not JSON, or does not fit the hint.
            TypeError: If the value does not fit the hint.
        """
        try:
            obj = json.loads(payload.data, cls=self._decoder)
        except json.JSONDecodeError as err:
            raise ValueError(f"{self._encoding} payload is not valid JSON: {err}") from err
        if type_hint is not None:
            obj = value_to_type(type_hint, obj, self._custom_type_converters)
        return obj


class PayloadConverter(ABC):
    """Converts lists of values to lists of payloads and back."""

    default: ClassVar[PayloadConverter]
    """The default payload converter (a :py:class:`DefaultPayloadConverter`)."""

    @abstractmethod
    def to_payloads(self, values: Sequence[Any]) -> list[Payload]:
        """Encode values, one payload each.

        Args:
            values: The values.

        Returns:
            One payload per value, in order.
        """

    @abstractmethod
    def from_payloads(self, payloads: Sequence[Payload], type_hints: list[Any] | None = None) -> list[Any]:
        """Decode payloads, one value each.

        Args:
            payloads: The payloads.
            type_hints: One hint per payload, or ``None`` to decode plain JSON.

        Returns:
            One value per payload, in order.
        """

    def to_payloads_wrapper(self, values: Sequence[Any]) -> PayloadsJSON:
        """Encode values into Temporal's ``{"payloads": [...]}`` JSON form."""
        return payloads_to_json(self.to_payloads(values))

    def from_payloads_wrapper(
        self, payloads: PayloadsJSON | None, type_hints: list[Any] | None = None
    ) -> list[Any]:
        """Decode Temporal's ``{"payloads": [...]}`` JSON form (``None`` is no values)."""
        return self.from_payloads(payloads_from_json(payloads), type_hints)

    def to_payload(self, value: Any) -> Payload:
        """Encode one value."""
        return self.to_payloads([value])[0]

    def from_payload(self, payload: Payload, type_hint: Any | None = None) -> Any:
        """Decode one payload, optionally into ``type_hint``."""
        return self.from_payloads([payload], None if type_hint is None else [type_hint])[0]


class CompositePayloadConverter(PayloadConverter):
    """Tries encoding converters in order; decodes by ``metadata["encoding"]``.

    Args:
        *converters: The encoding converters, in the order they are tried.
    """

    def __init__(self, *converters: EncodingPayloadConverter) -> None:
        """Initialize from encoding converters."""
        self.converters: dict[bytes, EncodingPayloadConverter] = {c.encoding.encode(): c for c in converters}

    def to_payloads(self, values: Sequence[Any]) -> list[Payload]:
        """Encode each value with the first converter that accepts it.

        ``RawValue`` values pass their payload through unchanged.

        Raises:
            TypeError: If no converter accepts a value, or encoding fails.
        """
        payloads: list[Payload] = []
        for index, value in enumerate(values):
            if isinstance(value, RawValue):
                payloads.append(value.payload)
                continue
            payload = None
            for converter in self.converters.values():
                payload = converter.to_payload(value)
                if payload is not None:
                    break
            if payload is None:
                raise TypeError(
                    f"value at index {index} of type {type(value).__name__} has no payload converter"
                )
            payloads.append(payload)
        return payloads

    def from_payloads(self, payloads: Sequence[Payload], type_hints: list[Any] | None = None) -> list[Any]:
        """Decode each payload with the converter named by its encoding.

        A ``RawValue`` type hint returns the payload wrapped, undecoded.

        Raises:
            ValueError: If the counts differ, an encoding is unknown, or a
                value does not fit its hint.
            TypeError: If a value does not fit its hint.
        """
        if type_hints is not None and len(type_hints) != len(payloads):
            raise ValueError(f"got {len(payloads)} payloads but {len(type_hints)} type hints")
        values: list[Any] = []
        for index, payload in enumerate(payloads):
            hint = None if type_hints is None else type_hints[index]
            if hint is RawValue:
                values.append(RawValue(payload))
                continue
            encoding = payload.metadata.get("encoding")
            if encoding is None:
                raise ValueError(f"payload at index {index} has no 'encoding' metadata")
            converter = self.converters.get(encoding)
            if converter is None:
                known = ", ".join(k.decode(errors="replace") for k in self.converters)
                raise ValueError(
                    f"payload at index {index} has unknown encoding "
                    f"{encoding.decode(errors='replace')!r} (known: {known}); "
                    "is a payload codec missing from the data converter?"
                )
            try:
                values.append(converter.from_payload(payload, hint))
            except (TypeError, ValueError) as err:
                err_type = TypeError if isinstance(err, TypeError) else ValueError
                raise err_type(
                    f"payload at index {index} ({encoding.decode(errors='replace')}) "
                    f"could not be decoded: {err}"
                ) from err
        return values


class DefaultPayloadConverter(CompositePayloadConverter):
    """The default converter: ``binary/null``, ``binary/plain``, ``json/plain``, in that order."""

    default_encoding_payload_converters: ClassVar[tuple[EncodingPayloadConverter, ...]] = (
        BinaryNullPayloadConverter(),
        BinaryPlainPayloadConverter(),
        JSONPlainPayloadConverter(),
    )
    """The encoding converters every instance uses."""

    def __init__(self) -> None:
        """Initialize with :py:attr:`default_encoding_payload_converters`."""
        super().__init__(*DefaultPayloadConverter.default_encoding_payload_converters)


PayloadConverter.default = DefaultPayloadConverter()


# --------------------------------------------------------------------------
# value_to_type: decoded JSON → the type a hint asks for
# --------------------------------------------------------------------------

_SEQUENCE_ORIGINS: frozenset[Any] = frozenset(
    {
        list,
        collections.abc.Sequence,
        collections.abc.MutableSequence,
        collections.abc.Iterable,
        collections.abc.Collection,
    }
)
_SET_ORIGINS: dict[Any, type] = {
    set: set,
    frozenset: frozenset,
    collections.abc.Set: frozenset,
    collections.abc.MutableSet: set,
}
_MAPPING_ORIGINS: frozenset[Any] = frozenset(
    {dict, collections.abc.Mapping, collections.abc.MutableMapping, collections.OrderedDict}
)


def value_to_type(hint: Any, value: Any, custom_converters: Sequence[JSONTypeConverter] = ()) -> Any:
    """Convert a decoded JSON value into the type ``hint`` describes.

    Supported hints: ``Any``, ``None``, ``str``/``int``/``float``/``bool``
    (an ``int`` is accepted for ``float``), dataclasses (recursively by
    field type hints; unknown keys are ignored as in ``temporalio``, missing
    required fields are an error), ``Optional``/``Union`` (members tried in
    order), ``list``/``tuple`` (fixed or variadic)/``set``/``frozenset``/
    ``dict`` and their ``collections.abc`` equivalents, ``datetime``/``date``/
    ``time`` (ISO 8601), ``UUID``, ``Decimal``, enums (by value), ``Literal``,
    ``NewType``, ``TypedDict``, ``Annotated``, pydantic models
    (``model_validate``) and :py:class:`JSONTypeConverter` extensions.

    Args:
        hint: The type hint.
        value: The value decoded from JSON.
        custom_converters: Converters tried before the built-in rules.

    Returns:
        The converted value.

    Raises:
        TypeError: If the value's type does not fit the hint, or the hint is
            not supported.
        ValueError: If the value has the right JSON type but an invalid
            content (bad date string, unknown enum value, ...).
    """
    return _convert(hint, value, tuple(custom_converters), "")


def _type_name(hint: Any) -> str:
    if isinstance(hint, type) and not get_args(hint):
        return hint.__qualname__.rsplit("<locals>.", 1)[-1]
    return repr(hint).replace("typing.", "")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _where(path: str) -> str:
    return f" at ${path}" if path else ""


def _mismatch(hint: Any, value: Any, path: str) -> TypeError:
    where = _where(path)
    return TypeError(f"expected {_type_name(hint)}{where}, got {type(value).__name__} {_short(value)}")


def _invalid(hint: Any, value: Any, path: str, err: BaseException | str) -> ValueError:
    where = _where(path)
    return ValueError(f"invalid {_type_name(hint)}{where}: {_short(value)} ({err})")


def _convert(hint: Any, value: Any, custom: tuple[JSONTypeConverter, ...], path: str) -> Any:
    for converter in custom:
        result = converter.to_typed_value(hint, value)
        if result is not JSONTypeConverter.Unhandled:
            return result

    if hint is Any or hint is object:
        return value
    if hint is None or hint is type(None):
        if value is not None:
            raise _mismatch(None, value, path)
        return None

    origin = get_origin(hint)
    args = get_args(hint)

    if origin is typing.Annotated:
        return _convert(args[0], value, custom, path)
    supertype = getattr(hint, "__supertype__", None)
    if supertype is not None:  # NewType
        return _convert(supertype, value, custom, path)
    if isinstance(hint, TypeVar):
        return value if hint.__bound__ is None else _convert(hint.__bound__, value, custom, path)
    if origin is Literal:
        return _convert_literal(hint, args, value, path)
    if origin is Union or origin is types.UnionType:
        return _convert_union(hint, args, value, custom, path)

    # Primitives (exact classes; enums and other subclasses are handled below).
    if hint is bool:
        if not isinstance(value, bool):
            raise _mismatch(hint, value, path)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _mismatch(hint, value, path)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _mismatch(hint, value, path)
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise _mismatch(hint, value, path)
        return value
    if hint is bytes:
        if not isinstance(value, bytes):
            raise _mismatch(hint, value, path)
        return value

    target = origin if origin is not None else hint
    if inspect.isclass(target):
        if hasattr(target, "model_validate") and hasattr(target, "model_dump"):
            return _convert_pydantic(hint, value, path)
        if issubclass(target, Enum):
            return _convert_enum(target, value, path)
        if target is datetime or target is date or target is time:
            return _convert_temporal(target, value, path)
        if target is uuid.UUID:
            if isinstance(value, uuid.UUID):
                return value
            if not isinstance(value, str):
                raise _mismatch(hint, value, path)
            try:
                return uuid.UUID(value)
            except ValueError as err:
                raise _invalid(hint, value, path, err) from None
        if target is Decimal:
            if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
                raise _mismatch(hint, value, path)
            try:
                return Decimal(str(value)) if isinstance(value, float) else Decimal(value)
            except InvalidOperation:
                raise _invalid(hint, value, path, "not a decimal number") from None
        if dataclasses.is_dataclass(target):
            return _convert_dataclass(target, args, value, custom, path)
        if typing.is_typeddict(target):
            return _convert_typeddict(target, value, custom, path)
        if target is tuple:
            return _convert_tuple(hint, args, value, custom, path)
        if target in _SEQUENCE_ORIGINS:
            if not isinstance(value, (list, tuple)):
                raise _mismatch(hint, value, path)
            item = args[0] if args else Any
            return [_convert(item, v, custom, f"{path}[{i}]") for i, v in enumerate(value)]
        if target in _SET_ORIGINS:
            if not isinstance(value, (list, tuple, set, frozenset)):
                raise _mismatch(hint, value, path)
            item = args[0] if args else Any
            items = [_convert(item, v, custom, f"{path}[{i}]") for i, v in enumerate(value)]
            try:
                return _SET_ORIGINS[target](items)
            except TypeError as err:
                raise _invalid(hint, value, path, err) from None
        if target in _MAPPING_ORIGINS:
            return _convert_mapping(hint, target, args, value, custom, path)
        if target is collections.deque:
            if not isinstance(value, (list, tuple)):
                raise _mismatch(hint, value, path)
            item = args[0] if args else Any
            return collections.deque(_convert(item, v, custom, f"{path}[{i}]") for i, v in enumerate(value))
        if isinstance(value, target):
            return value
        raise TypeError(f"unsupported type hint {_type_name(hint)}{_where(path)} for value {_short(value)}")
    raise TypeError(f"unsupported type hint {hint!r}{_where(path)}")


def _convert_literal(hint: Any, args: tuple[Any, ...], value: Any, path: str) -> Any:
    for allowed in args:
        if isinstance(allowed, Enum):
            if value == allowed.value or value is allowed:
                return allowed
        elif type(value) is type(allowed) and value == allowed:
            return allowed
    raise _invalid(hint, value, path, f"must be one of {list(args)!r}")


def _convert_union(
    hint: Any, args: tuple[Any, ...], value: Any, custom: tuple[JSONTypeConverter, ...], path: str
) -> Any:
    if value is None and type(None) in args:
        return None
    # An exact primitive match wins over conversions (so 1 stays int in float | int).
    if type(value) in (str, int, float, bool) and type(value) in args:
        return value
    errors: list[str] = []
    for member in args:
        if member is type(None):
            continue
        try:
            return _convert(member, value, custom, path)
        except (TypeError, ValueError) as err:
            errors.append(f"{_type_name(member)}: {err}")
    where = _where(path)
    raise TypeError(f"value {_short(value)}{where} matches none of {_type_name(hint)} ({'; '.join(errors)})")


def _convert_pydantic(hint: Any, value: Any, path: str) -> Any:
    try:
        return hint.model_validate(value)
    except ValueError as err:  # pydantic's ValidationError is a ValueError
        where = _where(path)
        raise ValueError(f"invalid {_type_name(hint)}{where}: {err}") from err


def _convert_enum(hint: type[Enum], value: Any, path: str) -> Any:
    if isinstance(value, hint):
        return value
    try:
        return hint(value)
    except ValueError:
        allowed = [m.value for m in hint]
        raise _invalid(hint, value, path, f"must be one of {allowed!r}") from None


def _convert_temporal(hint: type, value: Any, path: str) -> Any:
    if hint is date:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
    elif isinstance(value, hint):
        return value
    if not isinstance(value, str):
        raise _mismatch(hint, value, path)
    try:
        return hint.fromisoformat(value)  # type: ignore[attr-defined]
    except ValueError as err:
        raise _invalid(hint, value, path, err) from None


def _field_hints(cls: type) -> dict[str, Any]:
    try:
        return get_type_hints(cls)
    except Exception as err:  # NameError for unresolvable forward references, ...
        raise TypeError(f"cannot resolve the type hints of {_type_name(cls)}: {err}") from err


def _substitute(hint: Any, mapping: Mapping[Any, Any]) -> Any:
    if not mapping:
        return hint
    if isinstance(hint, TypeVar):
        return mapping.get(hint, hint)
    params = getattr(hint, "__parameters__", ())
    if params:
        try:
            return hint[tuple(mapping.get(p, p) for p in params)]
        except TypeError:
            return hint
    return hint


def _convert_dataclass(
    cls: type,
    args: tuple[Any, ...],
    value: Any,
    custom: tuple[JSONTypeConverter, ...],
    path: str,
) -> Any:
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise _mismatch(cls, value, path)
    hints = _field_hints(cls)
    mapping = dict(zip(getattr(cls, "__parameters__", ()), args, strict=False))
    kwargs: dict[str, Any] = {}
    missing: list[str] = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.name in value:
            field_hint = _substitute(hints.get(f.name, Any), mapping)
            kwargs[f.name] = _convert(field_hint, value[f.name], custom, f"{path}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            missing.append(f.name)
    if missing:
        where = _where(path)
        raise TypeError(
            f"dataclass {_type_name(cls)}{where} is missing required field(s) "
            f"{', '.join(missing)} in {_short(value)}"
        )
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        err_type = TypeError if isinstance(err, TypeError) else ValueError
        raise err_type(f"cannot build {_type_name(cls)}{_where(path)}: {err}") from err


def _convert_typeddict(
    cls: type, value: Any, custom: tuple[JSONTypeConverter, ...], path: str
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _mismatch(cls, value, path)
    hints = _field_hints(cls)
    required: frozenset[str] = getattr(cls, "__required_keys__", frozenset())
    missing = sorted(k for k in required if k not in value)
    if missing:
        where = _where(path)
        raise TypeError(f"TypedDict {_type_name(cls)}{where} is missing required key(s) {', '.join(missing)}")
    return {k: _convert(hints[k], v, custom, f"{path}.{k}") if k in hints else v for k, v in value.items()}


def _convert_tuple(
    hint: Any, args: tuple[Any, ...], value: Any, custom: tuple[JSONTypeConverter, ...], path: str
) -> tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise _mismatch(hint, value, path)
    if not args:
        return tuple(value)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_convert(args[0], v, custom, f"{path}[{i}]") for i, v in enumerate(value))
    if args == ((),):  # tuple[()]
        args = ()
    if len(value) != len(args):
        raise _invalid(hint, value, path, f"expected {len(args)} items, got {len(value)}")
    return tuple(
        _convert(a, v, custom, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
    )


def _convert_key(hint: Any, key: Any, custom: tuple[JSONTypeConverter, ...], path: str) -> Any:
    try:
        return _convert(hint, key, custom, path)
    except (TypeError, ValueError):
        # JSON object keys are always strings: "1" for an int key, "true" for a bool.
        if not isinstance(key, str):
            raise
        try:
            parsed = json.loads(key)
        except ValueError:
            raise _mismatch(hint, key, path) from None
        return _convert(hint, parsed, custom, path)


def _convert_mapping(
    hint: Any,
    target: Any,
    args: tuple[Any, ...],
    value: Any,
    custom: tuple[JSONTypeConverter, ...],
    path: str,
) -> Any:
    if not isinstance(value, Mapping):
        raise _mismatch(hint, value, path)
    key_hint, value_hint = args if len(args) == 2 else (Any, Any)
    result = {
        _convert_key(key_hint, k, custom, f"{path}[{k!r}]"): _convert(value_hint, v, custom, f"{path}[{k!r}]")
        for k, v in value.items()
    }
    if target is collections.OrderedDict:
        return collections.OrderedDict(result)
    return result
