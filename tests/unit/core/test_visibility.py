"""The list-filter parser of core.visibility: custom attributes, typed values, ORDER BY, GROUP BY."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from temporalflow.common import SearchAttributeIndexedValueType as IVT
from temporalflow.core.visibility import (
    And,
    Condition,
    ListFilterError,
    Not,
    Or,
    parse_list_query,
    tokenize,
)

CUSTOM = {"CustomerId": IVT.KEYWORD, "Amount": IVT.INT, "Score": IVT.DOUBLE, "Vip": IVT.BOOL,
          "DueAt": IVT.DATETIME, "Tags": IVT.KEYWORD_LIST, "Notes": IVT.TEXT}


def where(query: str) -> object:
    return parse_list_query(query, CUSTOM).where


def cond(node: object) -> tuple[str, str, tuple]:
    assert isinstance(node, Condition)
    return node.attribute.name, node.op, node.values


@pytest.mark.parametrize("query,expected", [
    ("CustomerId = 'c-1'", ("CustomerId", "exact", ("c-1",))),
    ("Amount > 5", ("Amount", "gt", (5,))),
    ("Amount BETWEEN -3 AND 7", ("Amount", "between", (-3, 7))),
    ("Score <= 1.5e2", ("Score", "lte", (150.0,))),
    ("Score = 2", ("Score", "exact", (2.0,))),
    ("Vip = true", ("Vip", "exact", (True,))),
    ("Vip = 'FALSE'", ("Vip", "exact", (False,))),
    ("DueAt >= '2026-01-01'", ("DueAt", "gte", (datetime(2026, 1, 1, tzinfo=UTC),))),
    ("Tags IN ('a', 'b')", ("Tags", "in", ("a", "b"))),
    ("Notes = 'hello'", ("Notes", "exact", ("hello",))),
    ("CustomerId STARTS_WITH 'c-'", ("CustomerId", "startswith", ("c-",))),
    ("Amount IS NULL", ("Amount", "isnull", (True,))),
    ("Tags IS NOT NULL", ("Tags", "isnull", (False,))),
    ("amount = 1", ("Amount", "exact", (1,))),  # names are matched case-insensitively
    ("ExecutionDuration > '1h30m'", ("ExecutionDuration", "gt", (5400.0,))),
    ("ExecutionDuration < 2500000000", ("ExecutionDuration", "lt", (2.5,))),
    ("ExecutionDuration >= '250ms'", ("ExecutionDuration", "gte", (0.25,))),
    ("ParentRunId IS NULL", ("ParentRunId", "isnull", (True,))),
])
def test_conditions_are_typed_per_attribute(query: str, expected: tuple) -> None:
    assert cond(where(query)) == expected


def test_negations_and_combinations() -> None:
    node = where("CustomerId != 'a' AND (Amount NOT IN (1, 2) OR Score NOT BETWEEN 1 AND 2)")
    assert isinstance(node, And)
    first, second = node.items
    assert isinstance(first, Not) and cond(first.item) == ("CustomerId", "exact", ("a",))
    assert isinstance(second, Or) and all(isinstance(i, Not) for i in second.items)


def test_order_by_and_group_by() -> None:
    query = parse_list_query("Amount > 1 ORDER BY Amount DESC, StartTime", CUSTOM)
    assert [(a.name, desc) for a, desc in query.order_by] == [("Amount", True), ("StartTime", False)]
    assert query.order_position == 11
    assert parse_list_query("ORDER BY CustomerId asc", CUSTOM).where is None
    grouped = parse_list_query("GROUP BY ExecutionStatus", CUSTOM)
    assert [a.name for a in grouped.group_by] == ["ExecutionStatus"] and grouped.where is None
    assert parse_list_query("", CUSTOM).where is None


@pytest.mark.parametrize("query,fragment", [
    ("Unknown = 'x'", "unknown attribute 'Unknown'"),
    ("Amount = 'x'", "Amount takes an integer"),
    ("Amount = 1.5", "Amount takes an integer"),
    ("Amount = 99999999999999999999", "out of the 64-bit integer range"),
    ("Score = 'x'", "Score takes a number"),
    ("Vip = 1", "Vip takes true or false"),
    ("Vip > true", "operator > is not supported for Vip"),
    ("Notes IN ('a')", "IN is not supported for Notes"),
    ("Notes STARTS_WITH 'a'", "STARTS_WITH is not supported for Notes"),
    ("Tags > 'a'", "operator > is not supported for Tags"),
    ("Tags BETWEEN 'a' AND 'b'", "BETWEEN is not supported for Tags"),
    ("ExecutionDuration > 'soon'", "is not a duration"),
    ("DueAt = 5", "takes a quoted string"),
    ("ORDER BY Tags", "cannot ORDER BY Tags"),
    ("ORDER BY Notes", "cannot ORDER BY Notes"),
    ("ORDER Amount", "expected BY"),
    ("GROUP BY CustomerId", "GROUP BY is supported for ExecutionStatus only"),
    ("GROUP BY ExecutionStatus ORDER BY StartTime", "expected AND, OR or the end of the query"),
    ("Amount = 1 ORDER BY Amount Amount", "expected AND, OR or the end of the query"),
    ("Score = 1.", "unexpected character '.'"),
    ("Amount = 1 OR 1=1", "expected an attribute name, found 1"),
    ("Amount = 1; DROP TABLE x", "unexpected character ';'"),
])
def test_errors_say_what_and_where(query: str, fragment: str) -> None:
    with pytest.raises(ListFilterError) as info:
        parse_list_query(query, CUSTOM)
    assert fragment in info.value.message
    assert 0 <= info.value.position <= len(query)


def test_unknown_attribute_lists_the_registered_ones_too() -> None:
    with pytest.raises(ListFilterError) as info:
        parse_list_query("Foo = 1", CUSTOM)
    assert "WorkflowId" in info.value.message and "CustomerId" in info.value.message


def test_custom_attributes_unknown_without_registration() -> None:
    with pytest.raises(ListFilterError, match="unknown attribute 'CustomerId'"):
        parse_list_query("CustomerId = 'x'")


def test_numbers_tokenize_as_int_or_float() -> None:
    assert [(t.kind, t.value) for t in tokenize("1 -2 3.5 1e3")][:-1] == [
        ("int", 1), ("int", -2), ("float", 3.5), ("float", 1000.0)]


def test_attributes_the_engine_sets_are_known_without_registration() -> None:
    assert cond(parse_list_query("TemporalScheduledById = 'nightly'").where) == (
        "TemporalScheduledById", "exact", ("nightly",))
    node = parse_list_query("TemporalScheduledStartTime > '2026-01-01T00:00:00Z'").where
    assert cond(node)[1] == "gt" and node.attribute.custom  # stored in the index, not on the run row
