r"""Temporal's list-filter syntax for the REST API: a ``Q`` object over ``WorkflowRun``.

The parser is ``temporalflow.core.visibility`` (shared with the clients and the store) and the
translation to the ORM is ``temporalflow.store._visibility``; this module keeps the API's
filter-only entry point. Values only ever become ORM lookup arguments (bound parameters),
never SQL text, so ``WorkflowId = 'x'' OR 1=1 --'`` filters for the literal workflow id
``x' OR 1=1 --``. Custom search attributes registered for the namespace
(``TEMPORALFLOW["SEARCH_ATTRIBUTES"]``) may be named too.
"""

from __future__ import annotations

from django.db.models import Q

from temporalflow.conf import settings
from temporalflow.core.visibility import STANDARD_ATTRIBUTES as ATTRIBUTES
from temporalflow.core.visibility import STATUS_NAMES, ListFilterError, Token, tokenize
from temporalflow.store._visibility import filter_q, parse_query

__all__ = ["ATTRIBUTES", "STATUS_NAMES", "ListFilterError", "Token", "parse_list_filter", "tokenize"]


def parse_list_filter(query: str, namespace: str | None = None) -> Q:
    """Parse a Temporal list filter (no ``ORDER BY`` / ``GROUP BY``) into a ``Q`` over ``WorkflowRun`` fields.

    Args:
        query: e.g. ``WorkflowType = 'Order' AND ExecutionStatus = 'Running'``; empty means every run.
        namespace: Whose registered custom attributes the query may name (default: ``NAMESPACE``).

    Returns:
        The equivalent ``Q`` object (an empty ``Q()`` for an empty query).

    Raises:
        ListFilterError: The query does not parse, names an unknown attribute or status, a value
            has the wrong type, or it orders or groups; ``position`` says where.
    """
    ns = namespace or settings.NAMESPACE
    parsed = parse_query(query or "", ns)
    if parsed.order_by or parsed.group_by:
        at = parsed.order_position if parsed.order_by else parsed.group_position
        raise ListFilterError("expected AND, OR or the end of the query: ORDER BY and GROUP BY are not supported "
                              "in a filter", at)
    return filter_q(parsed.where, ns)
