"""``list_workflows`` and ``count_workflows`` of the in-process clients (``temporalio.client``'s surface).

Queries use Temporal's list-filter syntax over the standard attributes and the custom search
attributes registered for the namespace (``TEMPORALFLOW["SEARCH_ATTRIBUTES"]``); the store turns
them into indexed, parameterised queries. An invalid query raises ``RPCError`` INVALID_ARGUMENT.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

from temporalflow.client._types import WorkflowExecution, WorkflowExecutionCount

__all__ = ["SyncVisibilityClientMixin", "VisibilityClientMixin", "WorkflowExecutionAsyncIterator"]

MAX_PAGE_SIZE = 1000


def _check_page_size(page_size: int) -> int:
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}, got {page_size!r}")
    return page_size


def _check_limit(limit: int | None) -> int | None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a non-negative integer or None, got {limit!r}")
    return limit


class WorkflowExecutionAsyncIterator:
    """The runs of a list query, fetched a page at a time (``async for wf in client.list_workflows(q)``).

    Args:
        client: The client whose store is read.
        query: The list filter (None: every run of the namespace).
        limit: Stop after this many runs (None: all).
        page_size: Runs fetched per page (1 to 1000).
        next_page_token: Resume from a token an earlier iterator's :py:attr:`next_page_token` gave.
    """

    def __init__(self, client: Any, query: str | None, *, limit: int | None, page_size: int,
                 next_page_token: bytes | None) -> None:
        self._client = client
        self._query = query
        self._limit = _check_limit(limit)
        self._page_size = _check_page_size(page_size)
        self._next_page_token = next_page_token
        self._current_page: Sequence[WorkflowExecution] | None = None
        self._current_page_index = 0
        self._fetched = False
        self._yielded = 0

    @property
    def current_page_index(self) -> int:
        """Index, in :py:attr:`current_page`, of the next run the iteration returns."""
        return self._current_page_index

    @property
    def current_page(self) -> Sequence[WorkflowExecution] | None:
        """The page last fetched (None before the first fetch)."""
        return self._current_page

    @property
    def next_page_token(self) -> bytes | None:
        """Token of the page after :py:attr:`current_page` (None when it was the last)."""
        return self._next_page_token

    async def fetch_next_page(self, *, page_size: int | None = None) -> None:
        """Fetch the next page into :py:attr:`current_page` (an empty page once the runs are exhausted)."""
        size = _check_page_size(page_size) if page_size is not None else self._page_size
        if self._limit is not None:
            size = min(size, self._limit - self._yielded)
        if size <= 0 or (self._fetched and not self._next_page_token):
            self._current_page, self._current_page_index, self._next_page_token = [], 0, None
            self._fetched = True
            return
        page, token = await self._client._run(self._client._ops.list_page, self._query, size, self._next_page_token)
        self._current_page, self._current_page_index, self._next_page_token = page, 0, token
        self._fetched = True

    def __aiter__(self) -> WorkflowExecutionAsyncIterator:
        return self

    async def __anext__(self) -> WorkflowExecution:
        while True:
            if self._limit is not None and self._yielded >= self._limit:
                raise StopAsyncIteration
            page = self._current_page
            if page is not None and self._current_page_index < len(page):
                execution = page[self._current_page_index]
                self._current_page_index += 1
                self._yielded += 1
                return execution
            if self._fetched and not self._next_page_token:
                raise StopAsyncIteration
            await self.fetch_next_page()


class VisibilityClientMixin:
    """``Client.list_workflows`` and ``Client.count_workflows``."""

    _ops: Any
    _run: Any  # Client._run: a store call in a thread

    def list_workflows(
        self,
        query: str | None = None,
        *,
        limit: int | None = None,
        page_size: int = 1000,
        next_page_token: bytes | None = None,
        rpc_metadata: Mapping[str, str] | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> WorkflowExecutionAsyncIterator:
        """The runs matching a list filter, newest first unless the query has ``ORDER BY``.

        Args:
            query: e.g. ``"WorkflowType = 'Order' AND CustomerId = 'c-1'"`` (None: every run).
            limit: Stop after this many runs.
            page_size: Runs fetched per database round trip (1 to 1000).
            next_page_token: Continue a listing from an iterator's ``next_page_token``.
            rpc_metadata: Accepted for temporalio compatibility (unused in process).
            rpc_timeout: Accepted for temporalio compatibility (unused in process).

        Returns:
            An async iterator of ``WorkflowExecution``; an invalid query raises ``RPCError``
            (INVALID_ARGUMENT) on the first iteration.
        """
        return WorkflowExecutionAsyncIterator(self, query, limit=limit, page_size=page_size,
                                              next_page_token=next_page_token)

    async def count_workflows(
        self, query: str | None = None, *, rpc_metadata: Mapping[str, str] | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> WorkflowExecutionCount:
        """How many runs match a list filter; ``GROUP BY ExecutionStatus`` adds a count per status.

        Raises:
            RPCError: INVALID_ARGUMENT for an invalid query.
        """
        return await self._run(self._ops.count, query)


class SyncVisibilityClientMixin:
    """``SyncClient.list_workflows`` and ``SyncClient.count_workflows`` (on the caller's thread)."""

    _ops: Any

    def list_workflows(
        self, query: str | None = None, *, limit: int | None = None, page_size: int = 1000,
        next_page_token: bytes | None = None, **_ignored: Any,
    ) -> Iterator[WorkflowExecution]:
        """The runs matching a list filter (see :meth:`VisibilityClientMixin.list_workflows`), as an iterator."""
        _check_limit(limit)
        _check_page_size(page_size)
        return self._iterate(query, limit, page_size, next_page_token)

    def _iterate(self, query: str | None, limit: int | None, page_size: int,
                 token: bytes | None) -> Iterator[WorkflowExecution]:
        yielded = 0
        while limit is None or yielded < limit:
            size = page_size if limit is None else min(page_size, limit - yielded)
            page, token = self._ops.list_page(query, size, token)
            for execution in page:
                yielded += 1
                yield execution
            if not token:
                return

    def count_workflows(self, query: str | None = None, **_ignored: Any) -> WorkflowExecutionCount:
        """How many runs match (see :meth:`VisibilityClientMixin.count_workflows`)."""
        return self._ops.count(query)
