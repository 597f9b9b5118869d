"""The list-filter parser: Temporal's syntax -> Q objects, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db.models import Q

from temporalflow.api.listfilter import ListFilterError, parse_list_filter, tokenize


def test_empty_query_matches_everything() -> None:
    assert parse_list_filter("") == Q()
    assert parse_list_filter("   ") == Q()


def test_equality_and_and() -> None:
    assert parse_list_filter("WorkflowType = 'X' AND ExecutionStatus = 'Running'") == (
        Q(workflow_type="X") & Q(status=1))


@pytest.mark.parametrize("text,expected", [
    ("WorkflowId = 'wf-1'", Q(workflow_id="wf-1")),
    ("RunId = 'r'", Q(run_id="r")),
    ("TaskQueue = \"q\"", Q(task_queue="q")),
    ("WorkflowId != 'a'", ~Q(workflow_id="a")),
    ("WorkflowId <> 'a'", ~Q(workflow_id="a")),
    ("ExecutionStatus = 'ContinuedAsNew'", Q(status=6)),
    ("ExecutionStatus = 'timedout'", Q(status=7)),
    ("HistoryLength > 5", Q(next_event_id__gt=6)),
    ("HistoryLength <= 10", Q(next_event_id__lte=11)),
    ("WorkflowId STARTS_WITH 'order-'", Q(workflow_id__startswith="order-")),
    ("CloseTime IS NULL", Q(close_time__isnull=True)),
    ("CloseTime is not null", Q(close_time__isnull=False)),
    ("ParentWorkflowId IS NULL", Q(parent_workflow_id__isnull=True)),
    ("`WorkflowType` = 'X'", Q(workflow_type="X")),
    ("workflowtype = 'X'", Q(workflow_type="X")),
])
def test_single_conditions(text: str, expected: Q) -> None:
    assert parse_list_filter(text) == expected


def test_times_are_parsed_and_naive_times_are_utc() -> None:
    assert parse_list_filter("StartTime > '2026-01-01T00:00:00Z'") == Q(
        start_time__gt=datetime(2026, 1, 1, tzinfo=UTC))
    assert parse_list_filter("CloseTime < '2026-01-02 03:04:05'") == Q(
        close_time__lt=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    plus2 = timezone(timedelta(hours=2))
    assert parse_list_filter("ExecutionTime >= '2026-01-01T02:00:00+02:00'") == Q(
        execution_time__gte=datetime(2026, 1, 1, 2, tzinfo=plus2))


def test_between_and_not_between() -> None:
    low, high = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    q = Q(start_time__gte=low, start_time__lte=high)
    assert parse_list_filter("StartTime BETWEEN '2026-01-01T00:00:00Z' AND '2026-02-01T00:00:00Z'") == q
    assert parse_list_filter("StartTime NOT BETWEEN '2026-01-01T00:00:00Z' AND '2026-02-01T00:00:00Z'") == ~q


def test_in_and_not_in() -> None:
    assert parse_list_filter("ExecutionStatus IN ('Running', 'Failed')") == Q(status__in=[1, 3])
    assert parse_list_filter("WorkflowType NOT IN ('A','B')") == ~Q(workflow_type__in=["A", "B"])
    assert parse_list_filter("WorkflowType in ('A')") == Q(workflow_type__in=["A"])


def test_and_binds_tighter_than_or() -> None:
    a, b, c = Q(workflow_type="A"), Q(workflow_type="B"), Q(status=1)
    assert parse_list_filter("WorkflowType = 'A' OR WorkflowType = 'B' AND ExecutionStatus = 'Running'") == a | (b & c)
    assert parse_list_filter("WorkflowType = 'A' AND WorkflowType = 'B' OR ExecutionStatus = 'Running'") == (a & b) | c


def test_parentheses_override_precedence() -> None:
    a, b, c = Q(workflow_type="A"), Q(workflow_type="B"), Q(status=1)
    assert parse_list_filter("(WorkflowType = 'A' OR WorkflowType = 'B') AND ExecutionStatus = 'Running'") == (
        (a | b) & c)
    assert parse_list_filter("((WorkflowType = 'A'))") == a


def test_keywords_are_case_insensitive() -> None:
    assert parse_list_filter("WorkflowType = 'A' and ExecutionStatus = 'Running' or WorkflowId = 'x'") == (
        (Q(workflow_type="A") & Q(status=1)) | Q(workflow_id="x"))


@pytest.mark.parametrize("text,value", [
    ("WorkflowId = 'it''s'", "it's"),
    ("WorkflowId = 'it\\'s'", "it's"),
    ("WorkflowId = \"say \"\"hi\"\"\"", 'say "hi"'),
    ("WorkflowId = 'back\\\\slash'", "back\\slash"),
    ("WorkflowId = 'AND OR ( ) = ,'", "AND OR ( ) = ,"),
    ("WorkflowId = ''", ""),
    ("WorkflowId = 'ünïcødé ✓'", "ünïcødé ✓"),
])
def test_quoting_and_escaping(text: str, value: str) -> None:
    assert parse_list_filter(text) == Q(workflow_id=value)


@pytest.mark.parametrize("text,value", [
    ("WorkflowId = 'x'' OR 1=1 --'", "x' OR 1=1 --"),
    ("WorkflowId = 'x''; DROP TABLE temporalflow_run; --'", "x'; DROP TABLE temporalflow_run; --"),
    ("WorkflowId = 'x\\' OR \\'1\\'=\\'1'", "x' OR '1'='1"),
    ("WorkflowId = '%'", "%"),
    ("WorkflowId = '_'", "_"),
])
def test_injection_attempts_are_literals(text: str, value: str) -> None:
    assert parse_list_filter(text) == Q(workflow_id=value)


@pytest.mark.parametrize("text,fragment", [
    ("WorkflowId = 'x' OR 1=1", "expected an attribute name, found 1"),
    ("WorkflowId = 'x' --", "unexpected character '-'"),
    ("WorkflowId = 'x'; DROP TABLE t", "unexpected character ';'"),
    ("WorkflowId = x", "expected a value for WorkflowId"),
])
def test_injection_outside_quotes_is_a_syntax_error(text: str, fragment: str) -> None:
    with pytest.raises(ListFilterError) as info:
        parse_list_filter(text)
    assert fragment in info.value.message


def test_unknown_attribute_is_a_clear_error() -> None:
    with pytest.raises(ListFilterError) as info:
        parse_list_filter("Foo = 'x'")
    assert "unknown attribute 'Foo'" in info.value.message
    assert "WorkflowType" in info.value.message  # lists the known ones
    assert info.value.position == 0


@pytest.mark.parametrize("text,fragment,position", [
    ("ExecutionStatus = 'Sleeping'", "unknown ExecutionStatus 'Sleeping'", 18),
    ("StartTime > 'yesterday'", "not an ISO 8601 time", 12),
    ("StartTime > 5", "takes a quoted string", 12),
    ("HistoryLength > '5'", "takes an integer", 16),
    ("WorkflowId > 'a'", "operator > is not supported for WorkflowId", 11),
    ("ExecutionStatus < 'Running'", "operator < is not supported", 16),
    ("WorkflowType BETWEEN 'a' AND 'b'", "BETWEEN is not supported for WorkflowType", 13),
    ("StartTime STARTS_WITH '2026'", "STARTS_WITH is not supported", 10),
    ("WorkflowId IS NULL", "never null", 14),
])
def test_type_errors(text: str, fragment: str, position: int) -> None:
    with pytest.raises(ListFilterError) as info:
        parse_list_filter(text)
    assert fragment in info.value.message
    assert info.value.position == position


@pytest.mark.parametrize("text,fragment", [
    ("WorkflowId = 'x", "unterminated string literal"),
    ("WorkflowId = 'x' AND", "expected an attribute name, found the end of the query"),
    ("(WorkflowId = 'x'", "expected ')'"),
    ("WorkflowId = 'x')", "expected AND, OR or the end of the query"),
    ("WorkflowId 'x'", "expected an operator after WorkflowId"),
    ("WorkflowId IN 'x'", "expected '(' after IN"),
    ("WorkflowId IN ('x' 'y')", "expected ',' or ')'"),
    ("WorkflowId IN ()", "expected a value"),
    ("WorkflowId NOT = 'x'", "expected IN or BETWEEN after NOT"),
    ("WorkflowId = 'a' WorkflowId = 'b'", "expected AND, OR"),
    ("`WorkflowId = 'x'", "unterminated `quoted` attribute name"),
    ("WorkflowId = 'x' ORDER BY StartTime", "expected AND, OR"),
    ("HistoryLength > 5abc", "unexpected character 'a'"),
    ("= 'x'", "expected an attribute name"),
])
def test_syntax_errors(text: str, fragment: str) -> None:
    with pytest.raises(ListFilterError) as info:
        parse_list_filter(text)
    assert fragment in info.value.message
    assert "position" in str(info.value)


def test_limits_bound_the_work() -> None:
    with pytest.raises(ListFilterError, match="nested deeper"):
        parse_list_filter("(" * 40 + "WorkflowId = 'x'" + ")" * 40)
    with pytest.raises(ListFilterError, match="longer than"):
        parse_list_filter("WorkflowId = '" + "x" * 5000 + "'")
    many = ",".join("1" for _ in range(1001))
    with pytest.raises(ListFilterError, match="more than 1000 values"):
        parse_list_filter(f"HistoryLength IN ({many})")
    assert parse_list_filter("(" * 30 + "WorkflowId = 'x'" + ")" * 30) == Q(workflow_id="x")


def test_tokenizer_positions() -> None:
    tokens = tokenize("WorkflowId = 'a b' AND HistoryLength >= 3")
    assert [(t.kind, t.value, t.position) for t in tokens] == [
        ("ident", "WorkflowId", 0), ("op", "=", 11), ("string", "a b", 13), ("keyword", "AND", 19),
        ("ident", "HistoryLength", 23), ("op", ">=", 37), ("int", 3, 40), ("end", None, 41)]


def test_nul_characters_are_refused() -> None:
    with pytest.raises(ListFilterError, match="NUL") as info:
        parse_list_filter("WorkflowId = 'a\x00b'")
    assert info.value.position == 15
