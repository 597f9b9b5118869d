"""Visibility: the search-attribute index, and list/count queries in Temporal's list-filter syntax.

A parsed query (``temporalflow.core.visibility``) becomes a Django ``Q`` over ``WorkflowRun``:
standard attributes are run-row columns; a custom attribute is ``id IN (SELECT run_id ...)`` over
its rows of ``SearchAttributeValue`` (one indexed typed column per type). Every value is an ORM lookup
argument, i.e. a bound parameter: no query text ever reaches SQL.

Semantics of custom attributes: a comparison (``=``, ``>``, ``IN``, ``BETWEEN``,
``STARTS_WITH``) matches runs that have the attribute with a matching value; its negation
(``!=``, ``NOT IN``, ``NOT BETWEEN``) matches runs that have the attribute with another value
(a run without it matches neither: ``IS NULL`` finds those). ``Text = 'x'`` matches text
containing ``x``, case-insensitively (Temporal's full-text match, approximated); a
``KeywordList`` matches when any of its keywords does.

Index rows are written with the run row, in the same transaction: at start (and
continue-as-new, retry) by ``_create_run``, on ``UpsertWorkflowSearchAttributes`` by the
workflow-task completion.
"""

from __future__ import annotations

import base64
import functools
import json
import operator
from collections.abc import Iterable, Mapping
from datetime import UTC
from typing import Any

from django.db import connections
from django.db.models import Count, ExpressionWrapper, F, FloatField, OuterRef, Q, QuerySet, Subquery
from django.db.models import lookups as L

from temporalflow.conf import settings
from temporalflow.core import search_attributes as sa
from temporalflow.core.payload import PayloadJSON
from temporalflow.core.visibility import (
    STATUS_NAMES,
    And,
    Attribute,
    Condition,
    InvalidPageToken,
    ListFilterError,
    ListQuery,
    Node,
    Not,
    Or,
    parse_list_query,
)
from temporalflow.store._base_sql import _dumps, _loads, _marks
from temporalflow.store.base import RunInfo, RunStatus

__all__ = [
    "SA_TABLE",
    "InvalidPageToken",
    "filter_q",
    "order_by",
    "parse_query",
    "registry",
]

SA_TABLE = "temporalflow_search_attr"

_COLUMN = {
    "keyword": "keyword",
    "keyword_list": "keyword",
    "text": "text",
    "int": "int_value",
    "double": "double_value",
    "bool": "bool_value",
    "datetime": "datetime_value",
}
_COLUMN_OF_TYPE = {
    "Keyword": "keyword",
    "KeywordList": "keyword",
    "Text": "text",
    "Int": "int_value",
    "Double": "double_value",
    "Bool": "bool_value",
    "Datetime": "datetime_value",
}
_STATUS_BY_VALUE = {value: name for name, value in STATUS_NAMES.items()}


def registry(namespace: str) -> dict[str, sa.SearchAttributeIndexedValueType]:
    """The custom search attributes registered for ``namespace`` (``TEMPORALFLOW["SEARCH_ATTRIBUTES"]``)."""
    return sa.parse_registry(settings.SEARCH_ATTRIBUTES, namespace)


def parse_query(query: str | None, namespace: str) -> ListQuery:
    """Parse ``query`` against the standard attributes and ``namespace``'s registered ones."""
    return parse_list_query(query, registry(namespace))


# --- query → ORM ------------------------------------------------------------------------------


def _duration() -> ExpressionWrapper:
    return ExpressionWrapper(F("close_ts") - F("start_ts"), output_field=FloatField())


def _standard(cond: Condition) -> Q:
    attr, op, values = cond.attribute, cond.op, cond.values
    field = attr.field
    assert field is not None
    if attr.kind == "duration":
        if op == "isnull":
            return Q(close_ts__isnull=values[0])
        expr = _duration()
        if op == "in":
            return Q(L.In(expr, list(values)))
        if op == "between":
            return Q(L.GreaterThanOrEqual(expr, values[0])) & Q(L.LessThanOrEqual(expr, values[1]))
        lookup = {"exact": L.Exact, "gt": L.GreaterThan, "gte": L.GreaterThanOrEqual, "lt": L.LessThan,
                  "lte": L.LessThanOrEqual}[op]
        return Q(lookup(expr, values[0]))
    if op == "exact":
        return Q(**{field: values[0]})
    if op == "in":
        return Q(**{f"{field}__in": list(values)})
    if op == "between":
        return Q(**{f"{field}__gte": values[0], f"{field}__lte": values[1]})
    if op == "isnull":
        return Q(**{f"{field}__isnull": values[0]})
    return Q(**{f"{field}__{op}": values[0]})


def _value_lookup(attr: Attribute, op: str, values: tuple[Any, ...]) -> dict[str, Any]:
    col = _COLUMN[attr.kind]
    if op == "exact":
        return {f"{col}__icontains" if attr.kind == "text" else col: values[0]}
    if op == "in":
        return {f"{col}__in": list(values)}
    if op == "between":
        return {f"{col}__gte": values[0], f"{col}__lte": values[1]}
    return {f"{col}__{op}": values[0]}


def _custom(cond: Condition, namespace: str, negate: bool) -> Q:
    # ``id IN (SELECT run_id ... WHERE namespace, name, value ...)``, not a correlated EXISTS: the
    # subquery is one range of the attribute's partial (namespace, name, value) index, then runs are
    # found by primary key; a correlated EXISTS made SQLite scan every run and probe each.
    from temporalflow.models import SearchAttributeValue

    attr = cond.attribute
    rows = SearchAttributeValue.objects.filter(namespace=namespace, name=attr.name)

    def runs_in(qs: QuerySet[Any]) -> Q:
        return Q(id__in=Subquery(qs.values("run_id")))

    if cond.op == "isnull":
        has = runs_in(rows)
        return ~has if cond.values[0] else has
    lookup = _value_lookup(attr, cond.op, cond.values)
    if not negate:
        return runs_in(rows.filter(**lookup))
    if attr.kind == "keyword_list":  # set, and none of its keywords matches
        return runs_in(rows) & ~runs_in(rows.filter(**lookup))
    return runs_in(rows.exclude(**lookup))  # one row per scalar attribute: set, with another value


def filter_q(node: Node | None, namespace: str) -> Q:
    """The ``Q`` over ``WorkflowRun`` for a parsed filter (``Q()``, i.e. everything, for None)."""
    if node is None:
        return Q()
    match node:
        case Condition():
            return _custom(node, namespace, False) if node.attribute.custom else _standard(node)
        case Not(item=Condition() as cond) if cond.attribute.custom:
            return _custom(cond, namespace, True)
        case Not():
            return ~filter_q(node.item, namespace)
        case And():
            return functools.reduce(operator.and_, (filter_q(i, namespace) for i in node.items))
        case Or():
            return functools.reduce(operator.or_, (filter_q(i, namespace) for i in node.items))
    raise TypeError(f"unknown filter node {node!r}")


def order_by(queryset: QuerySet[Any], query: ListQuery, namespace: str) -> QuerySet[Any]:
    """``queryset`` ordered by the query's ``ORDER BY`` (then newest first), or newest first."""
    from temporalflow.models import SearchAttributeValue

    if not query.order_by:
        return queryset.order_by("-id")
    terms: list[Any] = []
    for i, (attr, descending) in enumerate(query.order_by):
        if attr.custom:
            alias = f"_sa_order_{i}"
            rows = SearchAttributeValue.objects.filter(run=OuterRef("pk"), namespace=namespace, name=attr.name)
            queryset = queryset.annotate(**{alias: Subquery(rows.values(_COLUMN[attr.kind])[:1])})
            expr: Any = F(alias)
        elif attr.kind == "duration":
            alias = f"_sa_order_{i}"
            queryset = queryset.annotate(**{alias: _duration()})
            expr = F(alias)
        else:
            assert attr.field is not None
            expr = F(attr.field)
        # Runs without a value come last either way (as Temporal's Elasticsearch sort does).
        terms.append(expr.desc(nulls_last=True) if descending else expr.asc(nulls_last=True))
    return queryset.order_by(*terms, "-id")


# --- the store's part ------------------------------------------------------------------------


def _token(payload: dict[str, Any]) -> bytes:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())


def _untoken(token: bytes | str, fingerprint: str) -> dict[str, Any]:
    try:
        raw = token.encode() if isinstance(token, str) else bytes(token)
        payload = json.loads(base64.urlsafe_b64decode(raw))
        if not isinstance(payload, dict) or payload.get("q") != fingerprint:
            raise ValueError("the token is for another query")
        if not isinstance(payload.get("after"), int) and not isinstance(payload.get("offset"), int):
            raise ValueError("malformed")
        return payload
    except (ValueError, TypeError) as err:
        raise InvalidPageToken(f"invalid page token: {err}") from None


def _fingerprint(namespace: str, query: str | None) -> str:
    import hashlib

    return hashlib.sha256(f"{namespace}\x00{query or ''}".encode()).hexdigest()[:16]


class _VisibilityMixin:
    """Index writes (inside the store's transactions) and list/count reads (ORM, parameterised)."""

    alias: str

    # --- index writes ----------------------------------------------------------------------

    def _canonical_search_attributes(
        self, namespace: str, attributes: Mapping[str, Any] | None, allow_unset: bool = False,
    ) -> dict[str, Any]:
        """``attributes`` in the canonical form the registry gives them (as they came when it refuses them).

        Clients and workers validate before they write (and report Temporal's errors); this
        only normalises, so a setting changed in between never loses a run's attributes.
        """
        if not attributes:
            return {}
        try:
            return sa.validate(attributes, registry(namespace), allow_unset=allow_unset, allow_system=True)
        except sa.SearchAttributeError:
            return dict(attributes)

    def _index_search_attributes(
        self, cur: Any, namespace: str, run_pk: int, attributes: Mapping[str, PayloadJSON],
        replace: Iterable[str] = (),
    ) -> None:
        """Write index rows for ``attributes`` (canonical payloads); first drop those of ``replace``."""
        names = sorted(set(replace))
        if names:
            cur.execute(f"DELETE FROM {SA_TABLE} WHERE run_id = %s AND name IN ({_marks(names)})",
                        [run_pk, *names])
        rows: list[list[Any]] = []
        ops = connections[self.alias].ops
        for name, payload in attributes.items():
            if sa.is_null(payload):
                continue
            try:
                type_name, values = sa.index_values(payload)
            except (ValueError, TypeError):
                continue  # not a payload this engine wrote: shown by describe, not indexed
            column = _COLUMN_OF_TYPE.get(type_name or "")
            if column is None:
                continue
            kind = int(sa.TYPE_NAMES[type_name or ""])
            for value in values:
                cells: dict[str, Any] = dict.fromkeys(_COLUMN_OF_TYPE.values())
                if column == "datetime_value":
                    value = ops.adapt_datetimefield_value(value.astimezone(UTC))
                cells[column] = value
                rows.append([namespace, run_pk, name, kind, cells["keyword"], cells["text"], cells["int_value"],
                             cells["double_value"], cells["bool_value"], cells["datetime_value"]])
        if rows:
            cur.execute(
                f"INSERT INTO {SA_TABLE} (namespace, run_id, name, value_type, keyword, text, int_value, "
                "double_value, bool_value, datetime_value) VALUES "
                + ",".join(["(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"] * len(rows)),
                [cell for row in rows for cell in row],
            )

    def _upsert_search_attributes(
        self, cur: Any, run: dict[str, Any], changes: list[Mapping[str, PayloadJSON]],
    ) -> dict[str, PayloadJSON]:
        """Apply upserts to the run row's attributes and their index rows; returns the new attributes."""
        current = _loads(run["search_attributes"]) or {}
        changed: set[str] = set()
        for change in changes:
            change = self._canonical_search_attributes(run["namespace"], change, allow_unset=True)
            current = sa.merged(current, change)
            changed.update(change)
        json_sql = "%s::jsonb" if connections[self.alias].vendor == "postgresql" else "%s"
        cur.execute(f"UPDATE temporalflow_run SET search_attributes = {json_sql} WHERE id = %s",
                    [_dumps(current), run["id"]])
        self._index_search_attributes(cur, run["namespace"], run["id"],
                                      {k: v for k, v in current.items() if k in changed}, replace=changed)
        run["search_attributes"] = _dumps(current)
        return current

    # --- reads -------------------------------------------------------------------------------

    def _runs(self, namespace: str) -> QuerySet[Any]:
        from temporalflow.models import WorkflowRun

        return WorkflowRun.objects.using(self.alias).filter(namespace=namespace)

    def list_runs(
        self, namespace: str, query: str | None, *, page_size: int = 1000, next_page_token: bytes | None = None,
    ) -> tuple[list[RunInfo], bytes | None]:
        """One page of the runs matching ``query`` and the token of the next page (None: the last).

        Raises:
            ListFilterError: The query is invalid (or has GROUP BY, which only counts take).
            InvalidPageToken: ``next_page_token`` is not one this query handed out.
        """
        parsed = parse_query(query, namespace)
        if parsed.group_by:
            raise ListFilterError("GROUP BY is only supported by count_workflows", parsed.group_position)
        page_size = max(1, min(int(page_size), 1000))
        fingerprint = _fingerprint(namespace, query)
        position = _untoken(next_page_token, fingerprint) if next_page_token else {}
        qs = self._runs(namespace).filter(filter_q(parsed.where, namespace))
        if parsed.order_by:
            offset = int(position.get("offset") or 0)
            rows = list(order_by(qs, parsed, namespace)[offset:offset + page_size + 1])
            more = len(rows) > page_size
            token = _token({"q": fingerprint, "offset": offset + page_size}) if more else None
        else:
            if "after" in position:
                qs = qs.filter(id__lt=int(position["after"]))
            rows = list(qs.order_by("-id")[:page_size + 1])
            more = len(rows) > page_size
            token = _token({"q": fingerprint, "after": rows[page_size - 1].pk}) if more else None
        return [self._run_info(r) for r in rows[:page_size]], token

    def count_runs(self, namespace: str, query: str | None) -> tuple[int, list[tuple[list[Any], int]]]:
        """How many runs match ``query``; with ``GROUP BY ExecutionStatus`` also ``([status name], count)`` groups.

        Raises:
            ListFilterError: The query is invalid, or has ORDER BY (counts are not ordered).
        """
        parsed = parse_query(query, namespace)
        if parsed.order_by:
            raise ListFilterError("ORDER BY is not supported by count_workflows", parsed.order_position)
        qs = self._runs(namespace).filter(filter_q(parsed.where, namespace))
        if not parsed.group_by:
            return qs.count(), []
        groups = [([_STATUS_BY_VALUE.get(row["status"], str(row["status"]))], row["n"])
                  for row in qs.order_by().values("status").annotate(n=Count("id")).order_by("status")]
        return sum(n for _, n in groups), groups

    @staticmethod
    def _run_info(run: Any) -> RunInfo:
        return RunInfo(
            pk=run.pk, namespace=run.namespace, workflow_id=run.workflow_id, run_id=run.run_id,
            workflow_type=run.workflow_type, task_queue=run.task_queue, status=RunStatus(run.status),
            start_time=run.start_ts, close_time=run.close_ts, execution_time=run.execution_ts,
            history_length=run.next_event_id - 1, first_run_id=run.first_run_id, memo=run.memo or {},
            search_attributes=run.search_attributes or {}, parent_workflow_id=run.parent_workflow_id,
            parent_run_id=run.parent_run_id,
        )
