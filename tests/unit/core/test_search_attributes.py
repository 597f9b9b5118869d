"""Typed search attributes (temporalio.common's classes) and their payloads, registry and validation."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest

from temporalflow.checks import search_attribute_problems
from temporalflow.common import (
    SearchAttributeIndexedValueType,
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)
from temporalflow.core import search_attributes as sa

IVT = SearchAttributeIndexedValueType
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def meta(payload: dict, key: str) -> str:
    return base64.b64decode(payload["metadata"][key]).decode()


def data(payload: dict) -> object:
    return json.loads(base64.b64decode(payload["data"]))


def test_keys_have_temporalios_types() -> None:
    assert SearchAttributeKey.for_text("a").indexed_value_type == IVT.TEXT
    assert SearchAttributeKey.for_keyword("a").value_type is str
    assert SearchAttributeKey.for_int("a").indexed_value_type == IVT.INT == 3
    assert SearchAttributeKey.for_float("a").value_type is float
    assert SearchAttributeKey.for_bool("a").indexed_value_type == IVT.BOOL
    assert SearchAttributeKey.for_datetime("a").value_type is datetime
    assert SearchAttributeKey.for_keyword_list("a").origin_value_type is Sequence
    assert SearchAttributeKey.for_int("a") == SearchAttributeKey.for_int("a")
    assert SearchAttributeKey.for_int("a") != SearchAttributeKey.for_float("a")
    update = SearchAttributeKey.for_int("n").value_set(3)
    assert isinstance(update, SearchAttributeUpdate) and update.value == 3 and update.key.name == "n"
    assert SearchAttributeKey.for_int("n").value_unset().value is None


def test_typed_search_attributes_collection() -> None:
    k, b = SearchAttributeKey.for_keyword("k"), SearchAttributeKey.for_bool("b")
    attrs = TypedSearchAttributes([SearchAttributePair(k, "x"), SearchAttributePair(b, False)])
    assert [p.key.name for p in attrs] == ["b", "k"]  # sorted by name
    assert attrs[k] == "x" and attrs[b] is False and len(attrs) == 2
    assert k in attrs and SearchAttributeKey.for_text("k") not in attrs  # same name, other type
    assert attrs.get(SearchAttributeKey.for_int("nope"), 5) == 5
    with pytest.raises(KeyError):
        attrs[SearchAttributeKey.for_int("nope")]
    updated = attrs.updated(SearchAttributePair(k, "y"), SearchAttributePair(SearchAttributeKey.for_int("n"), 1))
    assert updated[k] == "y" and len(updated) == 3 and attrs[k] == "x"
    with pytest.raises(ValueError, match="Duplicate search attribute entries found for key k"):
        TypedSearchAttributes([SearchAttributePair(k, "x"), SearchAttributePair(k, "y")])
    assert len(TypedSearchAttributes.empty) == 0


def test_values_encode_as_temporals_payloads_and_decode_back() -> None:
    pairs = [
        SearchAttributePair(SearchAttributeKey.for_text("t"), "some text"),
        SearchAttributePair(SearchAttributeKey.for_keyword("k"), "kw"),
        SearchAttributePair(SearchAttributeKey.for_int("i"), 2**40),
        SearchAttributePair(SearchAttributeKey.for_float("f"), 1.5),
        SearchAttributePair(SearchAttributeKey.for_bool("b"), True),
        SearchAttributePair(SearchAttributeKey.for_datetime("d"), WHEN),
        SearchAttributePair(SearchAttributeKey.for_keyword_list("l"), ["a", "b"]),
    ]
    encoded = sa.encode_search_attributes(TypedSearchAttributes(pairs))
    assert meta(encoded["i"], "encoding") == "json/plain" and meta(encoded["i"], "type") == "Int"
    assert meta(encoded["l"], "type") == "KeywordList" and data(encoded["l"]) == ["a", "b"]
    assert data(encoded["d"]) == WHEN.isoformat()
    assert sa.decode_typed(encoded) == TypedSearchAttributes(pairs)
    assert sa.decode_untyped(encoded)["i"] == [2**40] and sa.decode_untyped(encoded)["l"] == ["a", "b"]
    # An unset is the binary/null payload without a type, as temporalio writes it.
    null = sa.encode_value(SearchAttributeKey.for_int("i"), None)
    assert meta(null, "encoding") == "binary/null" and "type" not in null["metadata"]
    assert sa.merged(encoded, {"i": null, "new": encoded["k"]}).keys() == {"t", "k", "f", "b", "d", "l", "new"}


@pytest.mark.parametrize("key,value,error", [
    (SearchAttributeKey.for_int("i"), "5", TypeError),
    (SearchAttributeKey.for_int("i"), True, TypeError),
    (SearchAttributeKey.for_keyword("k"), 5, TypeError),
    (SearchAttributeKey.for_bool("b"), 1, TypeError),
    (SearchAttributeKey.for_keyword_list("l"), "ab", TypeError),
    (SearchAttributeKey.for_keyword_list("l"), ["a", 1], TypeError),
    (SearchAttributeKey.for_datetime("d"), datetime(2026, 1, 1), ValueError),
    (SearchAttributeKey.for_float("f"), float("nan"), ValueError),
])
def test_values_that_do_not_fit_their_key_are_refused(key: SearchAttributeKey, value: object, error: type) -> None:
    with pytest.raises(error):
        sa.encode_value(key, value)


def test_an_int_fits_a_double_key() -> None:
    payload = sa.encode_value(SearchAttributeKey.for_float("f"), 2)
    assert data(payload) == 2.0


def test_registry_and_validation_use_temporals_messages() -> None:
    registry = sa.parse_registry({"Amount": "Int", "When": "Datetime", "Tags": "KeywordList",
                                  "billing": {"InvoiceId": "Keyword"}}, "default")
    assert registry == {"Amount": IVT.INT, "When": IVT.DATETIME, "Tags": IVT.KEYWORD_LIST}
    assert sa.parse_registry({"billing": {"InvoiceId": "Keyword"}}, "billing") == {"InvoiceId": IVT.KEYWORD}
    with pytest.raises(sa.SearchAttributeError, match="unknown type 'Integer'"):
        sa.parse_registry({"Amount": "Integer"}, "default")

    def check(attrs: dict, **kwargs: bool) -> dict:
        return sa.validate(attrs, registry, **kwargs)

    with pytest.raises(sa.SearchAttributeError, match="^search attribute Nope is not defined$"):
        check(sa.encode_search_attributes({"Nope": ["x"]}))
    with pytest.raises(sa.SearchAttributeError, match="WorkflowType attribute can't be set in SearchAttributes"):
        check(sa.encode_search_attributes({"WorkflowType": ["x"]}))
    with pytest.raises(sa.SearchAttributeError, match='invalid value for search attribute Amount of type Int: "x"'):
        check(sa.encode_search_attributes({"Amount": ["x"]}))
    with pytest.raises(sa.SearchAttributeError, match="of type Int"):
        check(sa.encode_search_attributes({"Amount": [1, 2]}))
    with pytest.raises(sa.SearchAttributeError, match="of type Datetime"):
        check(sa.encode_search_attributes({"When": ["not a time"]}))
    with pytest.raises(sa.SearchAttributeError, match="exceeds size limit"):
        check(sa.encode_search_attributes({"Tags": ["x" * 3000]}))
    with pytest.raises(sa.SearchAttributeError, match="exceeds limit 100"):
        check({f"A{i}": sa.encode_search_attributes({"Amount": [i]})["Amount"] for i in range(101)})
    unset = sa.encode_value(SearchAttributeKey.for_int("Amount"), None)
    with pytest.raises(sa.SearchAttributeError, match="null"):
        check({"Amount": unset})
    assert sa.is_null(check({"Amount": unset}, allow_unset=True)["Amount"])

    # The untyped form is typed by the registry: a one-element list becomes a scalar.
    canonical = check(sa.encode_search_attributes({"Amount": [7], "When": [WHEN.astimezone(timezone(timedelta(
        hours=2)))], "Tags": ["a"]}))
    assert meta(canonical["Amount"], "type") == "Int" and data(canonical["Amount"]) == 7
    assert data(canonical["Tags"]) == ["a"]
    assert sa.decode_typed(canonical)[SearchAttributeKey.for_datetime("When")] == WHEN


def test_the_api_json_form_round_trips() -> None:
    encoded = sa.encode_search_attributes(TypedSearchAttributes([
        SearchAttributePair(SearchAttributeKey.for_int("i"), 5),
        SearchAttributePair(SearchAttributeKey.for_datetime("d"), WHEN)]))
    form = sa.to_json_form(encoded)
    assert form == {"i": {"type": "Int", "value": 5}, "d": {"type": "Datetime", "value": WHEN.isoformat()}}
    assert sa.decode_typed(sa.from_json_form(form)) == sa.decode_typed(encoded)


def test_the_system_check_reports_bad_registrations() -> None:
    assert search_attribute_problems({"CustomerId": "Keyword", "billing": {"InvoiceId": "Int"}}) == []
    assert search_attribute_problems(None) == []
    messages = [e.msg for e in search_attribute_problems({
        "Bad Name": "Keyword", "WorkflowId": "Keyword", "Amount": "Integer", "ns": {"X": "Nope"}})]
    assert len(messages) == 4
    assert any("is not a valid name" in m for m in messages)
    assert any("system attribute" in m for m in messages)
    assert any("unknown type 'Integer'" in m for m in messages)
    assert any("(namespace 'ns') has unknown type 'Nope'" in m for m in messages)
    [error] = search_attribute_problems(["CustomerId"])
    assert error.id == "temporalflow.E003" and "must be a dict" in error.msg
