"""Payload converter and data converter: round-trips and decode errors (no Django, no DB)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum, StrEnum
from typing import Annotated, Any, Literal, NewType, Optional, TypedDict, Union

import pytest

from temporalflow.common import RawValue
from temporalflow.converter import (
    AdvancedJSONEncoder,
    BinaryNullPayloadConverter,
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
    JSONTypeConverter,
    Payload,
    PayloadCodec,
    PayloadConverter,
    default,
    default_converter,
    value_to_type,
)
from temporalflow.core.payload import payloads_to_json


class Color(Enum):
    RED = "red"
    BLUE = "blue"


class Level(IntEnum):
    LOW = 1
    HIGH = 2


class Mode(StrEnum):
    FAST = "fast"
    SLOW = "slow"


@dataclass
class Address:
    street: str
    zip_code: str = "00000"


@dataclass
class Customer:
    name: str
    addresses: list[Address]
    tags: set[str] = field(default_factory=set)
    nickname: str | None = None
    color: Color = Color.RED
    joined: datetime | None = None
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Point:
    x: int
    y: int


class Movie(TypedDict):
    title: str
    year: int


UserId = NewType("UserId", int)

conv = DefaultPayloadConverter()


def roundtrip(value: Any, hint: Any = None) -> Any:
    payload = conv.to_payload(value)
    # Through the stored JSON form too, as the engine does.
    payload = Payload.from_json(json.loads(json.dumps(payload.to_json())))
    return conv.from_payload(payload, hint)


# -- encodings ---------------------------------------------------------------


def test_none_is_binary_null() -> None:
    payload = conv.to_payload(None)
    assert payload.metadata["encoding"] == b"binary/null"
    assert payload.data == b""
    assert roundtrip(None) is None
    assert roundtrip(None, Optional[int]) is None  # noqa: UP007, UP045 - the typing forms are what is tested


def test_bytes_is_binary_plain() -> None:
    payload = conv.to_payload(b"\x00\xffabc")
    assert payload.metadata["encoding"] == b"binary/plain"
    assert payload.data == b"\x00\xffabc"
    assert roundtrip(b"\x00\xffabc", bytes) == b"\x00\xffabc"


def test_json_is_compact_and_sorted() -> None:
    payload = conv.to_payload({"b": 1, "a": [1, 2]})
    assert payload.metadata["encoding"] == b"json/plain"
    assert payload.data == b'{"a":[1,2],"b":1}'


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("text", str),
        ("", str),
        ("ünïcødé ✓", str),
        (0, int),
        (-(2**70), int),
        (1.5, float),
        (True, bool),
        (False, bool),
        ([1, 2, 3], list[int]),
        ({"a": 1}, dict[str, int]),
        ({"a": [1, None]}, dict[str, list[int | None]]),
    ],
)
def test_primitive_round_trips(value: Any, hint: Any) -> None:
    assert roundtrip(value) == value
    result = roundtrip(value, hint)
    assert result == value
    assert type(result) is type(value)


def test_int_accepted_for_float() -> None:
    result = roundtrip(3, float)
    assert result == 3.0 and type(result) is float


def test_nested_dataclasses() -> None:
    customer = Customer(
        name="Ada",
        addresses=[Address("1 Main St", "12345"), Address("2 Side St")],
        tags={"vip", "early"},
        nickname="ada",
        color=Color.BLUE,
        joined=datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        scores={"q1": 1.5},
    )
    assert roundtrip(customer, Customer) == customer
    # Without a hint the JSON form is plain data.
    plain = roundtrip(customer)
    assert plain["addresses"][0] == {"street": "1 Main St", "zip_code": "12345"}
    assert plain["tags"] == ["early", "vip"]  # sets are sorted
    assert plain["color"] == "blue"
    assert plain["joined"] == "2024-05-01T12:30:00+00:00"


def test_dataclass_defaults_fill_missing_optional_fields() -> None:
    assert value_to_type(Customer, {"name": "x", "addresses": []}) == Customer("x", [])


def test_dataclass_unknown_fields_are_ignored_as_in_temporalio() -> None:
    assert value_to_type(Address, {"street": "s", "extra": 1}) == Address("s")


def test_frozen_dataclass_and_list_of_them() -> None:
    points = [Point(1, 2), Point(3, 4)]
    assert roundtrip(points, list[Point]) == points


def test_datetime_with_timezone() -> None:
    value = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=-5)))
    result = roundtrip(value, datetime)
    assert result == value
    assert result.utcoffset() == timedelta(hours=-5)


def test_naive_datetime_date_time() -> None:
    assert roundtrip(datetime(2024, 1, 2, 3, 4), datetime) == datetime(2024, 1, 2, 3, 4)
    assert roundtrip(date(2024, 2, 29), date) == date(2024, 2, 29)
    assert type(roundtrip(date(2024, 2, 29), date)) is date
    assert roundtrip(time(23, 59, 1, 5), time) == time(23, 59, 1, 5)


def test_datetime_accepts_z_suffix() -> None:
    assert value_to_type(datetime, "2024-01-02T03:04:05Z") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_uuid_and_decimal() -> None:
    u = uuid.uuid4()
    assert roundtrip(u) == str(u)
    assert roundtrip(u, uuid.UUID) == u
    d = Decimal("12345.678900000000000001")
    assert roundtrip(d) == str(d)
    assert roundtrip(d, Decimal) == d
    assert value_to_type(Decimal, 3) == Decimal(3)


@pytest.mark.parametrize(
    ("value", "hint", "json_form"),
    [
        (Color.BLUE, Color, "blue"),
        (Level.HIGH, Level, 2),
        (Mode.SLOW, Mode, "slow"),
    ],
)
def test_enums(value: Enum, hint: type[Enum], json_form: Any) -> None:
    assert roundtrip(value) == json_form
    result = roundtrip(value, hint)
    assert result is value


def test_optional_and_union() -> None:
    assert roundtrip(5, Optional[int]) == 5  # noqa: UP007, UP045 - the typing forms are what is tested
    assert roundtrip(None, int | None) is None
    assert roundtrip("x", Union[int, str]) == "x"  # noqa: UP007, UP045 - the typing forms are what is tested
    assert roundtrip(1, float | int) == 1 and type(roundtrip(1, float | int)) is int
    assert roundtrip(Address("s"), Union[int, Address]) == Address("s")  # noqa: UP007, UP045 - the typing forms are what is tested
    with pytest.raises(TypeError, match="matches none of"):
        value_to_type(Union[int, Address], "nope")  # noqa: UP007, UP045 - the typing forms are what is tested


def test_tuples() -> None:
    assert roundtrip((1, "a", 2.5), tuple[int, str, float]) == (1, "a", 2.5)
    assert roundtrip((1, 2, 3), tuple[int, ...]) == (1, 2, 3)
    assert roundtrip((), tuple[int, ...]) == ()
    assert roundtrip((1, 2), tuple) == (1, 2)
    with pytest.raises(ValueError, match="expected 2 items, got 3"):
        value_to_type(tuple[int, int], [1, 2, 3])


def test_sets_and_abc_collections() -> None:
    assert roundtrip({3, 1, 2}, set[int]) == {1, 2, 3}
    assert roundtrip(frozenset({"a"}), frozenset[str]) == frozenset({"a"})
    assert value_to_type(Sequence[int], [1, 2]) == [1, 2]
    assert value_to_type(Mapping[str, Level], {"a": 1}) == {"a": Level.LOW}
    assert value_to_type(list, [1, "a"]) == [1, "a"]
    assert value_to_type(dict, {"a": 1}) == {"a": 1}


def test_dict_with_non_string_keys() -> None:
    assert roundtrip({1: "a", 2: "b"}, dict[int, str]) == {1: "a", 2: "b"}
    assert value_to_type(dict[Level, int], {"1": 5}) == {Level.LOW: 5}
    u = uuid.uuid4()
    assert value_to_type(dict[uuid.UUID, int], {str(u): 1}) == {u: 1}


def test_literal() -> None:
    hint = Literal["a", "b", 3]
    assert roundtrip("a", hint) == "a"
    assert roundtrip(3, hint) == 3
    with pytest.raises(ValueError, match="must be one of"):
        value_to_type(hint, "c")
    with pytest.raises(ValueError):
        value_to_type(Literal[1], True)
    assert value_to_type(Literal[Color.RED], "red") is Color.RED


def test_newtype_annotated_any_typeddict() -> None:
    assert roundtrip(5, UserId) == 5
    assert roundtrip(5, Annotated[int, "meta"]) == 5
    assert roundtrip({"x": [1]}, Any) == {"x": [1]}
    movie: Movie = {"title": "Alien", "year": 1979}
    assert roundtrip(movie, Movie) == movie
    with pytest.raises(TypeError, match="missing required key"):
        value_to_type(Movie, {"title": "Alien"})
    with pytest.raises(TypeError, match=r"expected int at \$\.year"):
        value_to_type(Movie, {"title": "Alien", "year": "1979"})


def test_pydantic_models() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Item(pydantic.BaseModel):
        sku: str
        price: Decimal
        when: datetime
        ids: list[uuid.UUID] = []

    item = Item(
        sku="A1",
        price=Decimal("9.99"),
        when=datetime(2024, 1, 1, tzinfo=UTC),
        ids=[uuid.uuid4()],
    )
    assert roundtrip(item, Item) == item
    assert roundtrip([item], list[Item]) == [item]
    plain = roundtrip(item)
    assert plain["sku"] == "A1"
    with pytest.raises(ValueError, match="invalid Item"):
        value_to_type(Item, {"sku": 1})


def test_pydantic_is_not_imported_by_the_converter() -> None:
    assert "temporalflow.converter" in sys.modules
    code = (
        "import sys, temporalflow.converter, temporalflow.core.retry, temporalflow.common, "
        "temporalflow.exceptions; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('django', 'pydantic')]; "
        "assert not bad, bad"
    )
    import subprocess

    subprocess.run([sys.executable, "-c", code], check=True)


def test_raw_value_passes_payload_through() -> None:
    payload = Payload(metadata={"encoding": b"custom/x"}, data=b"raw")
    [encoded] = conv.to_payloads([RawValue(payload)])
    assert encoded == payload
    [decoded] = conv.from_payloads([payload], [RawValue])
    assert decoded == RawValue(payload)


# -- decode errors -----------------------------------------------------------


@pytest.mark.parametrize(
    ("hint", "value", "error", "message"),
    [
        (int, "5", TypeError, "expected int, got str '5'"),
        (int, True, TypeError, "expected int, got bool"),
        (int, 1.5, TypeError, "expected int, got float"),
        (str, 5, TypeError, "expected str, got int 5"),
        (bool, 1, TypeError, "expected bool, got int"),
        (float, "1.0", TypeError, "expected float"),
        (list[int], {"a": 1}, TypeError, "expected list"),
        (list[int], [1, "x"], TypeError, r"expected int at \$\[1\]"),
        (Color, "green", ValueError, r"invalid Color: 'green' \(must be one of \['red', 'blue'\]\)"),
        (datetime, "yesterday", ValueError, "invalid datetime"),
        (date, 20240101, TypeError, "expected date"),
        (uuid.UUID, "not-a-uuid", ValueError, "invalid UUID"),
        (Decimal, "abc", ValueError, "invalid Decimal"),
        (Address, [1], TypeError, "expected Address"),
        (Address, {}, TypeError, "missing required field"),
        (Customer, {"name": "x", "addresses": [{"street": 1}]}, TypeError, r"\$\.addresses\[0\]\.street"),
        (type(None), 0, TypeError, "expected None"),
        (dict[int, str], {"x": "a"}, TypeError, "expected int"),
    ],
)
def test_decode_errors_are_clear(hint: Any, value: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        value_to_type(hint, value)


def test_unknown_encoding_is_a_clear_error() -> None:
    payload = Payload(metadata={"encoding": b"binary/encrypted"}, data=b"...")
    with pytest.raises(ValueError, match="unknown encoding 'binary/encrypted'.*codec"):
        conv.from_payloads([payload])
    with pytest.raises(ValueError, match="no 'encoding' metadata"):
        conv.from_payloads([Payload(metadata={}, data=b"1")])


def test_invalid_json_payload() -> None:
    payload = Payload(metadata={"encoding": b"json/plain"}, data=b"{nope")
    with pytest.raises(ValueError, match="not valid JSON"):
        conv.from_payload(payload)


def test_binary_null_with_data_is_rejected() -> None:
    with pytest.raises(ValueError, match="empty data"):
        conv.from_payload(Payload(metadata={"encoding": b"binary/null"}, data=b"x"))


def test_hint_count_mismatch() -> None:
    with pytest.raises(ValueError, match="2 payloads but 1 type hints"):
        conv.from_payloads(conv.to_payloads([1, 2]), [int])


def test_decode_error_names_payload_index() -> None:
    with pytest.raises(TypeError, match="payload at index 1 .*expected int"):
        conv.from_payloads(conv.to_payloads([1, "x"]), [int, int])


def test_unserialisable_value() -> None:
    with pytest.raises(TypeError, match="cannot be encoded as JSON"):
        conv.to_payload(object())


def test_unsupported_hint() -> None:
    class Opaque:
        pass

    with pytest.raises(TypeError, match="unsupported type hint"):
        value_to_type(Opaque, {"a": 1})


# -- extension points --------------------------------------------------------


class TimedeltaConverter(JSONTypeConverter):
    def to_typed_value(self, hint: Any, value: Any) -> Any:
        if hint is timedelta:
            return timedelta(seconds=value)
        return JSONTypeConverter.Unhandled


class TimedeltaEncoder(AdvancedJSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, timedelta):
            return o.total_seconds()
        return super().default(o)


class TimedeltaPayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        super().__init__(
            BinaryNullPayloadConverter(),
            JSONPlainPayloadConverter(
                encoder=TimedeltaEncoder, custom_type_converters=[TimedeltaConverter()]
            ),
        )


def test_custom_type_converter_and_encoder() -> None:
    converter = DataConverter(payload_converter_class=TimedeltaPayloadConverter)
    payloads = asyncio.run(converter.encode([timedelta(minutes=2), {"d": timedelta(seconds=1)}]))
    values = asyncio.run(converter.decode(payloads, [timedelta, dict[str, timedelta]]))
    assert values == [timedelta(minutes=2), {"d": timedelta(seconds=1)}]


class Rot13Codec(PayloadCodec):
    """Reverses data and marks it, so encoding is visible."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload(metadata={"encoding": b"binary/reversed"}, data=payloads_json(p)[::-1]) for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            assert p.metadata["encoding"] == b"binary/reversed"
            out.append(Payload.from_json(json.loads(p.data[::-1])))
        return out


def payloads_json(payload: Payload) -> bytes:
    return json.dumps(payload.to_json()).encode()


def test_data_converter_with_codec() -> None:
    converter = dataclasses.replace(DataConverter.default, payload_codec=Rot13Codec())
    values = [Address("x"), None, b"raw", 7]
    payloads = asyncio.run(converter.encode(values))
    assert all(p.metadata["encoding"] == b"binary/reversed" for p in payloads)
    assert asyncio.run(converter.decode(payloads, [Address, None, bytes, int])) == values
    wrapped = asyncio.run(converter.encode_wrapper(values))
    assert asyncio.run(converter.decode_wrapper(wrapped, [Address, None, bytes, int])) == values
    # Without the codec the stored payloads are unreadable, with a clear error.
    with pytest.raises(ValueError, match="unknown encoding 'binary/reversed'"):
        asyncio.run(DataConverter.default.decode(payloads))


def test_defaults() -> None:
    assert default() is DataConverter.default is default_converter()
    assert isinstance(DataConverter.default.payload_converter, DefaultPayloadConverter)
    assert isinstance(PayloadConverter.default, DefaultPayloadConverter)
    assert DataConverter() == DataConverter.default
    assert asyncio.run(DataConverter.default.decode_wrapper(None)) == []


def test_payloads_wrapper_round_trip() -> None:
    wrapped = conv.to_payloads_wrapper([1, "a", None])
    assert wrapped == payloads_to_json(conv.to_payloads([1, "a", None]))
    assert conv.from_payloads_wrapper(wrapped, [int, str, type(None)]) == [1, "a", None]


# -- property tests (seeded, stdlib only) ------------------------------------


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["null", "bool", "int", "float", "str"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.randint(-(2**63), 2**63)
    if kind == "float":
        return rng.uniform(-1e12, 1e12)
    if kind == "str":
        return "".join(rng.choice('ab"\\ü✓\n\x00{}') for _ in range(rng.randint(0, 8)))
    if kind == "list":
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {
        "".join(rng.choice('kéy"') for _ in range(rng.randint(0, 4))): _random_json(rng, depth + 1)
        for _ in range(rng.randint(0, 4))
    }


def test_property_json_values_round_trip() -> None:
    rng = random.Random(1234)
    for _ in range(300):
        value = _random_json(rng)
        assert roundtrip(value) == value
        assert roundtrip(value, Any) == value


def test_property_dataclass_round_trip() -> None:
    rng = random.Random(99)
    for _ in range(200):
        customer = Customer(
            name=str(_random_json(rng)),
            addresses=[Address(str(rng.random())) for _ in range(rng.randint(0, 3))],
            tags={str(rng.randint(0, 9)) for _ in range(rng.randint(0, 3))},
            nickname=rng.choice([None, "n"]),
            color=rng.choice(list(Color)),
            joined=rng.choice(
                [None, datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 10**9))]
            ),
            scores={str(i): rng.uniform(-5, 5) for i in range(rng.randint(0, 3))},
        )
        assert roundtrip(customer, Customer) == customer
