r"""Temporal's list-filter syntax, parsed into a small tree the store turns into ORM filters.

A tokenizer and a recursive-descent parser; values are typed here (per the attribute's
type) and only ever become ORM lookup arguments (bound parameters), never SQL text, so
``WorkflowId = 'x'' OR 1=1 --'`` filters for the literal workflow id ``x' OR 1=1 --``.

Grammar (keywords are case-insensitive)::

    query      := [ or_expr ] [ ORDER BY order ( "," order )* ] [ GROUP BY attribute ]
    or_expr    := and_expr ( OR and_expr )*
    and_expr   := primary ( AND primary )*
    primary    := "(" or_expr ")" | condition
    condition  := attribute ( "=" | "!=" | "<>" | ">" | ">=" | "<" | "<=" ) value
                | attribute [ NOT ] IN "(" value ( "," value )* ")"
                | attribute [ NOT ] BETWEEN value AND value
                | attribute STARTS_WITH string
                | attribute IS [ NOT ] NULL
    order      := attribute [ ASC | DESC ]
    value      := 'single-quoted' | "double-quoted" | integer | decimal | true | false

Strings escape a quote by doubling it (``'it''s'``) or with a backslash (``'it\'s'``); an
attribute may be quoted with backticks. Attributes are the standard ones (``WorkflowId``,
``WorkflowType``, ``RunId``, ``TaskQueue``, ``ExecutionStatus``, ``StartTime``,
``CloseTime``, ``ExecutionTime``, ``ExecutionDuration``, ``HistoryLength``,
``ParentWorkflowId``, ``ParentRunId``) and the custom ones registered for the namespace
(``TEMPORALFLOW["SEARCH_ATTRIBUTES"]``). Times are ISO 8601 (naive times are UTC);
``ExecutionDuration`` takes nanoseconds or a duration such as ``'1h30m'``, ``'90s'``.

Pure: standard library and ``temporalflow.common`` only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalflow.common import SearchAttributeIndexedValueType
from temporalflow.core.search_attributes import ENGINE_SET_ATTRIBUTES

__all__ = [
    "STANDARD_ATTRIBUTES",
    "STATUS_NAMES",
    "And",
    "Attribute",
    "Condition",
    "InvalidPageToken",
    "ListFilterError",
    "ListQuery",
    "Not",
    "Or",
    "Token",
    "parse_list_query",
    "tokenize",
]

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
"""Temporal's ``ExecutionStatus`` names and the run status values they stand for."""

_STATUS_BY_LOWER = {name.lower(): value for name, value in STATUS_NAMES.items()}


@dataclass(frozen=True)
class Attribute:
    """An attribute a filter may name.

    Attributes:
        name: Its Temporal name.
        kind: ``keyword``, ``text``, ``int``, ``double``, ``bool``, ``datetime``, ``keyword_list``,
            ``status`` (ExecutionStatus) or ``duration`` (ExecutionDuration).
        field: The run row's field for a standard attribute; None for a custom one.
        nullable: Whether ``IS [NOT] NULL`` applies (every custom attribute may be unset).
        offset: Added to integer values (``HistoryLength`` is ``next_event_id - 1``).
    """

    name: str
    kind: str
    field: str | None = None
    nullable: bool = False
    offset: int = 0

    @property
    def custom(self) -> bool:
        """True for a registered (custom) search attribute."""
        return self.field is None


STANDARD_ATTRIBUTES: dict[str, Attribute] = {a.name: a for a in (
    Attribute("WorkflowId", "keyword", "workflow_id"),
    Attribute("WorkflowType", "keyword", "workflow_type"),
    Attribute("RunId", "keyword", "run_id"),
    Attribute("TaskQueue", "keyword", "task_queue"),
    Attribute("ExecutionStatus", "status", "status"),
    Attribute("StartTime", "datetime", "start_time"),
    Attribute("CloseTime", "datetime", "close_time", nullable=True),
    Attribute("ExecutionTime", "datetime", "execution_time"),
    Attribute("ExecutionDuration", "duration", "close_ts", nullable=True),
    Attribute("HistoryLength", "int", "next_event_id", offset=1),
    Attribute("ParentWorkflowId", "keyword", "parent_workflow_id", nullable=True),
    Attribute("ParentRunId", "keyword", "parent_run_id", nullable=True),
)}
"""The standard attributes, kept on the run row."""

_KIND_OF_TYPE = {
    SearchAttributeIndexedValueType.TEXT: "text",
    SearchAttributeIndexedValueType.KEYWORD: "keyword",
    SearchAttributeIndexedValueType.INT: "int",
    SearchAttributeIndexedValueType.DOUBLE: "double",
    SearchAttributeIndexedValueType.BOOL: "bool",
    SearchAttributeIndexedValueType.DATETIME: "datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "keyword_list",
}

_ORDERED = {"int", "double", "datetime", "duration"}
_ALLOWED_OPS = {
    "keyword": {"exact", "ne"},
    "status": {"exact", "ne"},
    "text": {"exact", "ne"},
    "keyword_list": {"exact", "ne"},
    "bool": {"exact", "ne"},
    **{kind: {"exact", "ne", "gt", "gte", "lt", "lte"} for kind in _ORDERED},
}
_IN_KINDS = {"keyword", "status", "keyword_list", "int", "double", "datetime", "duration"}
_SORTABLE = {"keyword", "status", "int", "double", "bool", "datetime", "duration"}
_GROUPABLE = {"ExecutionStatus"}

_KEYWORDS = {"AND", "OR", "NOT", "IN", "BETWEEN", "IS", "NULL", "STARTS_WITH", "ORDER", "GROUP", "BY", "ASC",
             "DESC"}
_COMPARISONS = {"=": "exact", "!=": "ne", "<>": "ne", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}


class ListFilterError(ValueError):
    """A list filter that does not parse, names something unknown, or has a value of the wrong type.

    Args:
        message: What is wrong, for a human.
        position: 0-based character offset in the query where the problem is.
    """

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position})")
        self.message = message
        self.position = position


class InvalidPageToken(ValueError):
    """A ``next_page_token`` the store did not hand out for this query."""


# --- the tree -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """One comparison.

    ``op`` is ``exact``, ``ne``, ``gt``, ``gte``, ``lt``, ``lte``, ``in``, ``between``,
    ``startswith`` or ``isnull``; ``values`` holds its typed operands (one, the ``IN`` list, the
    two bounds, or ``(True,)``/``(False,)`` for ``IS NULL``/``IS NOT NULL``).
    """

    attribute: Attribute
    op: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class And:
    """All of ``items``."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """Any of ``items``."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """Not ``item`` (``!=``, ``NOT IN``, ``NOT BETWEEN``)."""

    item: Node


Node = Condition | And | Or | Not


@dataclass(frozen=True)
class ListQuery:
    """A parsed query: the filter (None: every run), the ``ORDER BY`` and the ``GROUP BY`` attributes."""

    where: Node | None
    order_by: tuple[tuple[Attribute, bool], ...] = ()
    """``(attribute, descending)`` pairs."""
    group_by: tuple[Attribute, ...] = ()
    order_position: int = -1
    """Where ``ORDER BY`` starts in the query (for error messages), -1 when absent."""
    group_position: int = -1
    """Where ``GROUP BY`` starts, -1 when absent."""


# --- tokens ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """One token: ``ident``, ``keyword``, ``string``, ``int``, ``float``, ``op``, ``(``, ``)``, ``,`` or ``end``."""

    kind: str
    value: Any
    position: int


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")


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
        elif match := _NUMBER.match(query, i):
            if (after := match.end()) < len(query) and (query[after].isalnum() or query[after] in "_."):
                raise ListFilterError(f"unexpected character {query[after]!r}", after)
            text = match.group()
            if match.group(1) or match.group(2):
                tokens.append(Token("float", float(text), i))
            else:
                tokens.append(Token("int", int(text), i))
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


# --- values ---------------------------------------------------------------------------------


def _parse_datetime(text: str, position: int) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ListFilterError(f"{text!r} is not an ISO 8601 time (e.g. '2026-01-01T00:00:00Z')", position) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _parse_duration(text: str, position: int) -> float:
    """A Go-style duration (``'1h30m'``, ``'250ms'``) or a number of nanoseconds → seconds."""
    stripped = text.strip()
    if re.fullmatch(r"[0-9]+", stripped):
        return int(stripped) / 1e9
    pos, total = 0, 0.0
    while pos < len(stripped):
        match = _DURATION_PART.match(stripped, pos)
        if match is None:
            raise ListFilterError(f"{text!r} is not a duration (e.g. '1h30m', '90s', '250ms', or nanoseconds)",
                                  position)
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not stripped:
        raise ListFilterError("an empty duration", position)
    return total


# --- the parser -----------------------------------------------------------------------------


class _Parser:
    def __init__(self, query: str, custom: Mapping[str, SearchAttributeIndexedValueType]) -> None:
        self.tokens = tokenize(query)
        self.pos = 0
        self.depth = 0
        self.attributes: dict[str, Attribute] = dict(STANDARD_ATTRIBUTES)
        # Attributes the engine sets itself (a schedule's TemporalScheduledById, ...), then the registered ones.
        for name, kind in {**ENGINE_SET_ATTRIBUTES, **custom}.items():
            if name not in self.attributes:
                self.attributes[name] = Attribute(name, _KIND_OF_TYPE[SearchAttributeIndexedValueType(kind)],
                                                  nullable=True)
        self.by_lower = {name.lower(): name for name in self.attributes}
        for name in self.attributes:  # an exact name wins over a case-insensitive clash
            self.by_lower.setdefault(name, name)

    # --- token helpers ---------------------------------------------------------------------

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

    # --- grammar -----------------------------------------------------------------------------

    def parse(self) -> ListQuery:
        where = None
        if self.tok.kind != "end" and not self.at_keyword("ORDER", "GROUP"):
            where = self.or_expr()
        order: list[tuple[Attribute, bool]] = []
        group: list[Attribute] = []
        order_at = group_at = -1
        if self.at_keyword("ORDER"):
            order_at = self.advance().position
            self.expect_keyword("BY")
            order.append(self.order_item())
            while self.tok.kind == ",":
                self.advance()
                order.append(self.order_item())
        if self.at_keyword("GROUP"):
            group_at = self.advance().position
            self.expect_keyword("BY")
            group.append(self.group_item())
            while self.tok.kind == ",":
                self.advance()
                group.append(self.group_item())
        if self.tok.kind != "end":
            raise ListFilterError(f"expected AND, OR or the end of the query, found {self._describe(self.tok)}",
                                  self.tok.position)
        return ListQuery(where, tuple(order), tuple(group), order_at, group_at)

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.at_keyword("OR"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.primary()]
        while self.at_keyword("AND"):
            self.advance()
            items.append(self.primary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def primary(self) -> Node:
        if self.tok.kind == "(":
            start = self.advance()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ListFilterError(f"parentheses nested deeper than {MAX_DEPTH}", start.position)
            node = self.or_expr()
            self.expect(")", "')'")
            self.depth -= 1
            return node
        return self.condition()

    def attribute(self) -> Attribute:
        tok = self.tok
        if tok.kind != "ident":
            raise ListFilterError(f"expected an attribute name, found {self._describe(tok)}", tok.position)
        self.advance()
        canonical = self.by_lower.get(tok.value) or self.by_lower.get(tok.value.lower())
        if canonical is None:
            raise ListFilterError(
                f"unknown attribute {tok.value!r}; known attributes: {', '.join(self.attributes)}", tok.position)
        return self.attributes[canonical]

    def order_item(self) -> tuple[Attribute, bool]:
        position = self.tok.position
        attr = self.attribute()
        if attr.kind not in _SORTABLE:
            raise ListFilterError(f"cannot ORDER BY {attr.name} (a {attr.kind.replace('_', ' ')} attribute)",
                                  position)
        descending = False
        if self.at_keyword("ASC", "DESC"):
            descending = self.advance().value == "DESC"
        return attr, descending

    def group_item(self) -> Attribute:
        position = self.tok.position
        attr = self.attribute()
        if attr.name not in _GROUPABLE:
            raise ListFilterError(f"GROUP BY is supported for {', '.join(sorted(_GROUPABLE))} only, not {attr.name}",
                                  position)
        return attr

    def condition(self) -> Node:
        attr = self.attribute()
        name = attr.name
        if self.tok.kind == "op":
            op_tok = self.advance()
            op = _COMPARISONS[op_tok.value]
            if op not in _ALLOWED_OPS[attr.kind]:
                raise ListFilterError(f"operator {op_tok.value} is not supported for {name}", op_tok.position)
            value = self.value(attr)
            if op == "ne":
                return Not(Condition(attr, "exact", (value,)))
            return Condition(attr, op, (value,))

        negate = False
        if self.at_keyword("NOT"):
            negate = True
            self.advance()
            if not self.at_keyword("IN", "BETWEEN"):
                raise ListFilterError(f"expected IN or BETWEEN after NOT, found {self._describe(self.tok)}",
                                      self.tok.position)
        node: Node
        if self.at_keyword("IN"):
            op_tok = self.advance()
            if attr.kind not in _IN_KINDS:
                raise ListFilterError(f"IN is not supported for {name}", op_tok.position)
            self.expect("(", "'(' after IN")
            values = [self.value(attr)]
            while self.tok.kind == ",":
                self.advance()
                values.append(self.value(attr))
                if len(values) > MAX_IN_VALUES:
                    raise ListFilterError(f"more than {MAX_IN_VALUES} values in IN (...)", self.tok.position)
            self.expect(")", "',' or ')'")
            node = Condition(attr, "in", tuple(values))
            return Not(node) if negate else node
        if self.at_keyword("BETWEEN"):
            op_tok = self.advance()
            if attr.kind not in _ORDERED:
                raise ListFilterError(f"BETWEEN is not supported for {name}", op_tok.position)
            low = self.value(attr)
            self.expect_keyword("AND")
            high = self.value(attr)
            node = Condition(attr, "between", (low, high))
            return Not(node) if negate else node
        if self.at_keyword("STARTS_WITH"):
            op_tok = self.advance()
            if attr.kind != "keyword":
                raise ListFilterError(f"STARTS_WITH is not supported for {name}", op_tok.position)
            return Condition(attr, "startswith", (self.value(attr),))
        if self.at_keyword("IS"):
            self.advance()
            is_not = False
            if self.at_keyword("NOT"):
                is_not = True
                self.advance()
            null_tok = self.expect_keyword("NULL")
            if not attr.nullable:
                raise ListFilterError(f"{name} is never null; IS [NOT] NULL is not supported for it",
                                      null_tok.position)
            return Condition(attr, "isnull", (not is_not,))
        raise ListFilterError(f"expected an operator after {name}, found {self._describe(self.tok)}",
                              self.tok.position)

    def value(self, attr: Attribute) -> Any:
        tok = self.tok
        name = attr.name
        is_bool_word = tok.kind == "ident" and tok.value.lower() in ("true", "false")
        if tok.kind not in ("string", "int", "float") and not (attr.kind == "bool" and is_bool_word):
            raise ListFilterError(f"expected a value for {name}, found {self._describe(tok)}", tok.position)
        self.advance()
        kind = attr.kind
        if kind == "int":
            if tok.kind != "int":
                raise ListFilterError(f"{name} takes an integer, got {self._describe(tok)}", tok.position)
            if not -(2**63) <= tok.value < 2**63:
                raise ListFilterError(f"{name}: {tok.value} is out of the 64-bit integer range", tok.position)
            return tok.value + attr.offset
        if kind == "double":
            if tok.kind not in ("int", "float"):
                raise ListFilterError(f"{name} takes a number, got {self._describe(tok)}", tok.position)
            return float(tok.value)
        if kind == "bool":
            text = str(tok.value).lower() if tok.kind in ("ident", "string") else ""
            if text not in ("true", "false"):
                raise ListFilterError(f"{name} takes true or false, got {self._describe(tok)}", tok.position)
            return text == "true"
        if kind == "duration":
            if tok.kind == "int":
                return tok.value / 1e9
            if tok.kind != "string":
                raise ListFilterError(f"{name} takes a duration such as '1h30m' or nanoseconds, got "
                                      f"{self._describe(tok)}", tok.position)
            return _parse_duration(tok.value, tok.position)
        if tok.kind != "string":
            raise ListFilterError(f"{name} takes a quoted string, got {tok.value!r}", tok.position)
        if kind == "status":
            status = _STATUS_BY_LOWER.get(tok.value.lower())
            if status is None:
                raise ListFilterError(
                    f"unknown ExecutionStatus {tok.value!r}; one of: {', '.join(STATUS_NAMES)}", tok.position)
            return status
        if kind == "datetime":
            return _parse_datetime(tok.value, tok.position)
        return tok.value


def parse_list_query(query: str | None, custom: Mapping[str, SearchAttributeIndexedValueType] | None = None
                     ) -> ListQuery:
    """Parse a Temporal list filter (with ``ORDER BY`` / ``GROUP BY``).

    Args:
        query: e.g. ``WorkflowType = 'Order' AND CustomerId = 'c-1' ORDER BY StartTime DESC``;
            empty means every run.
        custom: The custom attributes registered for the namespace: name → indexed type.

    Returns:
        The parsed query.

    Raises:
        ListFilterError: The query does not parse, names an unknown attribute or status, or a
            value has the wrong type; ``position`` says where.
    """
    return _Parser(query or "", custom or {}).parse()
