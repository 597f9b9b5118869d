r"""Temporal's list-filter syntax (the basics) parsed into a Django ``Q`` object.

A small tokenizer and a recursive-descent parser; values only ever become ORM
lookup arguments (bound parameters), never SQL text, so a query such as
``WorkflowId = 'x'' OR 1=1 --'`` filters for the literal workflow id
``x' OR 1=1 --``.

Grammar (keywords are case-insensitive)::

    query      := [ or_expr ]
    or_expr    := and_expr ( OR and_expr )*
    and_expr   := primary ( AND primary )*
    primary    := "(" or_expr ")" | condition
    condition  := attribute ( "=" | "!=" | "<>" | ">" | ">=" | "<" | "<=" ) value
                | attribute [ NOT ] IN "(" value ( "," value )* ")"
                | attribute [ NOT ] BETWEEN value AND value
                | attribute STARTS_WITH string
                | attribute IS [ NOT ] NULL
    value      := 'single-quoted' | "double-quoted" | integer

Strings escape a quote by doubling it (``'it''s'``) or with a backslash
(``'it\'s'``). Attributes: ``WorkflowId``, ``WorkflowType``, ``RunId``,
``TaskQueue``, ``ExecutionStatus`` (``Running``, ``Completed``, ``Failed``,
``Canceled``, ``Terminated``, ``ContinuedAsNew``, ``TimedOut``), ``StartTime``,
``CloseTime``, ``ExecutionTime`` (ISO 8601, e.g. ``'2026-01-01T00:00:00Z'``;
naive times are UTC), ``HistoryLength`` (integer), ``ParentWorkflowId``.

Only ``django.db.models.Q`` is imported from Django; the module needs no database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import Q

__all__ = ["ATTRIBUTES", "STATUS_NAMES", "ListFilterError", "Token", "parse_list_filter", "tokenize"]

MAX_QUERY_LENGTH = 4096
"""Longer queries are refused (a list filter is short; this bounds parsing work)."""

MAX_DEPTH = 32
"""Deepest parenthesis nesting accepted."""

MAX_IN_VALUES = 1000
"""Most values in one ``IN (...)`` list."""

STATUS_NAMES: dict[str, int] = {
    "Running": 1,
    "Completed": 2,
    "Failed": 3,
    "Canceled": 4,
    "Terminated": 5,
    "ContinuedAsNew": 6,
    "TimedOut": 7,
}
"""Temporal's ``ExecutionStatus`` names and the ``WorkflowRun.status`` values they stand for."""

_STATUS_BY_LOWER = {name.lower(): value for name, value in STATUS_NAMES.items()}


@dataclass(frozen=True)
class _Attribute:
    field: str
    kind: str  # "string", "status", "datetime", "int"
    nullable: bool = False
    offset: int = 0  # added to integer values (HistoryLength is next_event_id - 1)


ATTRIBUTES: dict[str, _Attribute] = {
    "WorkflowId": _Attribute("workflow_id", "string"),
    "WorkflowType": _Attribute("workflow_type", "string"),
    "RunId": _Attribute("run_id", "string"),
    "TaskQueue": _Attribute("task_queue", "string"),
    "ExecutionStatus": _Attribute("status", "status"),
    "StartTime": _Attribute("start_time", "datetime"),
    "CloseTime": _Attribute("close_time", "datetime", nullable=True),
    "ExecutionTime": _Attribute("execution_time", "datetime"),
    "HistoryLength": _Attribute("next_event_id", "int", offset=1),
    "ParentWorkflowId": _Attribute("parent_workflow_id", "string", nullable=True),
}
"""The attributes a filter may name, keyed by their Temporal names."""

_ATTR_BY_LOWER = {name.lower(): name for name in ATTRIBUTES}
_KEYWORDS = {"AND", "OR", "NOT", "IN", "BETWEEN", "IS", "NULL", "STARTS_WITH"}
_COMPARISONS = {"=": "exact", "!=": "ne", "<>": "ne", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
_ALLOWED_OPS = {
    "string": {"exact", "ne"},
    "status": {"exact", "ne"},
    "datetime": {"exact", "ne", "gt", "gte", "lt", "lte"},
    "int": {"exact", "ne", "gt", "gte", "lt", "lte"},
}


class ListFilterError(ValueError):
    """A list filter that does not parse or names something unknown.

    Args:
        message: What is wrong, for a human.
        position: 0-based character offset in the query where the problem is.
    """

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position})")
        self.message = message
        self.position = position


@dataclass(frozen=True)
class Token:
    """One token: ``kind`` is ``ident``, ``keyword``, ``string``, ``int``, ``op``, ``(``, ``)``, ``,`` or ``end``."""

    kind: str
    value: Any
    position: int


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT = re.compile(r"-?[0-9]+")


def _read_string(query: str, start: int) -> tuple[str, int]:
    quote = query[start]
    out: list[str] = []
    i = start + 1
    while i < len(query):
        ch = query[i]
        if ch == "\\":
            if i + 1 >= len(query):
                break
            out.append(query[i + 1])
            i += 2
        elif ch == quote:
            if i + 1 < len(query) and query[i + 1] == quote:  # doubled quote: a literal quote
                out.append(quote)
                i += 2
            else:
                return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise ListFilterError("unterminated string literal", start)


def tokenize(query: str) -> list[Token]:
    """Split ``query`` into tokens (ending with an ``end`` token); ``ListFilterError`` on bad input."""
    if len(query) > MAX_QUERY_LENGTH:
        raise ListFilterError(f"query is longer than {MAX_QUERY_LENGTH} characters", MAX_QUERY_LENGTH)
    if (nul := query.find("\x00")) >= 0:
        raise ListFilterError("NUL characters are not allowed in a query", nul)
    tokens: list[Token] = []
    i = 0
    while i < len(query):
        ch = query[i]
        if ch.isspace():
            i += 1
        elif ch in "'\"":
            value, end = _read_string(query, i)
            tokens.append(Token("string", value, i))
            i = end
        elif ch == "`":
            end = query.find("`", i + 1)
            if end < 0:
                raise ListFilterError("unterminated `quoted` attribute name", i)
            tokens.append(Token("ident", query[i + 1:end], i))
            i = end + 1
        elif ch in "(),":
            tokens.append(Token(ch, ch, i))
            i += 1
        elif query.startswith(("!=", "<>", ">=", "<="), i):
            tokens.append(Token("op", query[i:i + 2], i))
            i += 2
        elif ch in "=<>":
            tokens.append(Token("op", ch, i))
            i += 1
        elif match := _INT.match(query, i):
            if (after := match.end()) < len(query) and (query[after].isalnum() or query[after] == "_"):
                raise ListFilterError(f"unexpected character {query[after]!r}", after)
            tokens.append(Token("int", int(match.group()), i))
            i = match.end()
        elif match := _IDENT.match(query, i):
            word = match.group()
            if word.upper() in _KEYWORDS:
                tokens.append(Token("keyword", word.upper(), i))
            else:
                tokens.append(Token("ident", word, i))
            i = match.end()
        else:
            raise ListFilterError(f"unexpected character {ch!r}", i)
    tokens.append(Token("end", None, len(query)))
    return tokens


def _parse_datetime(text: str, position: int) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ListFilterError(f"{text!r} is not an ISO 8601 time (e.g. '2026-01-01T00:00:00Z')", position) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class _Parser:
    def __init__(self, query: str) -> None:
        self.tokens = tokenize(query)
        self.pos = 0
        self.depth = 0

    # --- token helpers ---------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def at_keyword(self, *words: str) -> bool:
        return self.tok.kind == "keyword" and self.tok.value in words

    def expect(self, kind: str, what: str) -> Token:
        if self.tok.kind != kind:
            raise ListFilterError(f"expected {what}, found {self._describe(self.tok)}", self.tok.position)
        return self.advance()

    def expect_keyword(self, word: str) -> Token:
        if not self.at_keyword(word):
            raise ListFilterError(f"expected {word}, found {self._describe(self.tok)}", self.tok.position)
        return self.advance()

    @staticmethod
    def _describe(tok: Token) -> str:
        if tok.kind == "end":
            return "the end of the query"
        if tok.kind == "string":
            return f"string {tok.value!r}"
        return f"{tok.value!r}"

    # --- grammar -----------------------------------------------------------------

    def parse(self) -> Q:
        if self.tok.kind == "end":
            return Q()
        q = self.or_expr()
        if self.tok.kind != "end":
            raise ListFilterError(f"expected AND, OR or the end of the query, found {self._describe(self.tok)}",
                                  self.tok.position)
        return q

    def or_expr(self) -> Q:
        q = self.and_expr()
        while self.at_keyword("OR"):
            self.advance()
            q = q | self.and_expr()
        return q

    def and_expr(self) -> Q:
        q = self.primary()
        while self.at_keyword("AND"):
            self.advance()
            q = q & self.primary()
        return q

    def primary(self) -> Q:
        if self.tok.kind == "(":
            start = self.advance()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ListFilterError(f"parentheses nested deeper than {MAX_DEPTH}", start.position)
            q = self.or_expr()
            self.expect(")", "')'")
            self.depth -= 1
            return q
        return self.condition()

    def condition(self) -> Q:
        tok = self.tok
        if tok.kind != "ident":
            raise ListFilterError(f"expected an attribute name, found {self._describe(tok)}", tok.position)
        self.advance()
        canonical = _ATTR_BY_LOWER.get(tok.value.lower())
        if canonical is None:
            raise ListFilterError(
                f"unknown attribute {tok.value!r}; known attributes: {', '.join(ATTRIBUTES)}", tok.position)
        attr = ATTRIBUTES[canonical]

        if self.tok.kind == "op":
            op_tok = self.advance()
            op = _COMPARISONS[op_tok.value]
            if op not in _ALLOWED_OPS[attr.kind]:
                raise ListFilterError(f"operator {op_tok.value} is not supported for {canonical}", op_tok.position)
            value = self.value(canonical, attr)
            if op == "ne":
                return ~Q(**{attr.field: value})
            if op == "exact":
                return Q(**{attr.field: value})
            return Q(**{f"{attr.field}__{op}": value})

        negate = False
        if self.at_keyword("NOT"):
            negate = True
            self.advance()
            if not self.at_keyword("IN", "BETWEEN"):
                raise ListFilterError(f"expected IN or BETWEEN after NOT, found {self._describe(self.tok)}",
                                      self.tok.position)
        if self.at_keyword("IN"):
            self.advance()
            self.expect("(", "'(' after IN")
            values = [self.value(canonical, attr)]
            while self.tok.kind == ",":
                self.advance()
                values.append(self.value(canonical, attr))
                if len(values) > MAX_IN_VALUES:
                    raise ListFilterError(f"more than {MAX_IN_VALUES} values in IN (...)", self.tok.position)
            self.expect(")", "',' or ')'")
            q = Q(**{f"{attr.field}__in": values})
            return ~q if negate else q
        if self.at_keyword("BETWEEN"):
            op_tok = self.advance()
            if attr.kind not in ("datetime", "int"):
                raise ListFilterError(f"BETWEEN is not supported for {canonical}", op_tok.position)
            low = self.value(canonical, attr)
            self.expect_keyword("AND")
            high = self.value(canonical, attr)
            q = Q(**{f"{attr.field}__gte": low, f"{attr.field}__lte": high})
            return ~q if negate else q
        if self.at_keyword("STARTS_WITH"):
            op_tok = self.advance()
            if attr.kind != "string":
                raise ListFilterError(f"STARTS_WITH is not supported for {canonical}", op_tok.position)
            prefix = self.value(canonical, attr)
            return Q(**{f"{attr.field}__startswith": prefix})
        if self.at_keyword("IS"):
            self.advance()
            is_not = False
            if self.at_keyword("NOT"):
                is_not = True
                self.advance()
            null_tok = self.expect_keyword("NULL")
            if not attr.nullable:
                raise ListFilterError(f"{canonical} is never null; IS [NOT] NULL is not supported for it",
                                      null_tok.position)
            return Q(**{f"{attr.field}__isnull": not is_not})
        raise ListFilterError(f"expected an operator after {canonical}, found {self._describe(self.tok)}",
                              self.tok.position)

    def value(self, name: str, attr: _Attribute) -> Any:
        tok = self.tok
        if tok.kind not in ("string", "int"):
            raise ListFilterError(f"expected a value for {name}, found {self._describe(tok)}", tok.position)
        self.advance()
        if attr.kind == "int":
            if tok.kind != "int":
                raise ListFilterError(f"{name} takes an integer, got {self._describe(tok)}", tok.position)
            return tok.value + attr.offset
        if tok.kind != "string":
            raise ListFilterError(f"{name} takes a quoted string, got {tok.value!r}", tok.position)
        if attr.kind == "status":
            status = _STATUS_BY_LOWER.get(tok.value.lower())
            if status is None:
                raise ListFilterError(
                    f"unknown ExecutionStatus {tok.value!r}; one of: {', '.join(STATUS_NAMES)}", tok.position)
            return status
        if attr.kind == "datetime":
            return _parse_datetime(tok.value, tok.position)
        return tok.value


def parse_list_filter(query: str) -> Q:
    """Parse a Temporal list filter into a ``Q`` over ``WorkflowRun`` fields.

    Args:
        query: e.g. ``WorkflowType = 'Order' AND ExecutionStatus = 'Running'``; empty means every run.

    Returns:
        The equivalent ``Q`` object (an empty ``Q()`` for an empty query).

    Raises:
        ListFilterError: The query does not parse, names an unknown attribute or status, or a value
            has the wrong type; ``position`` says where.
    """
    return _Parser(query or "").parse()
