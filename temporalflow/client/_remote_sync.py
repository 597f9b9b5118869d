"""The synchronous twin of :class:`RemoteClient` (``SyncClient.connect("https://host/api/", ...)``).

It runs the async client's coroutines on a private event loop thread, so it works from plain
scripts, Django views and threads alike.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

from temporalflow.client._ops import (
    MISSING,
    HandleBase,
    seconds,
)
from temporalflow.client._remote import (
    RemoteClient,
    RemoteUpdateHandle,
    RemoteWorkflowHandle,
    WorkflowExecutionCount,
)
from temporalflow.client._types import (
    WorkflowExecutionDescription,
    WorkflowHistory,
)
from temporalflow.core.converter import DataConverter

__all__ = ["SyncRemoteClient", "SyncRemoteUpdateHandle", "SyncRemoteWorkflowHandle"]


class _LoopThread:
    """A private event loop in a daemon thread: the sync twin runs the async client's coroutines there."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="temporalflow-remote-loop", daemon=True).start()
                self._loop = loop
            return self._loop

    def run(self, coro: Any) -> Any:
        """Run ``coro`` on the private loop and block until it is done."""
        return asyncio.run_coroutine_threadsafe(coro, self._ensure()).result()

    def iterate(self, agen: AsyncIterator[Any]) -> Any:
        """Iterate an async iterator from synchronous code."""
        while True:
            try:
                yield self.run(agen.__anext__())
            except StopAsyncIteration:
                return


class SyncRemoteClient:
    """Synchronous twin of :class:`RemoteClient` (``SyncClient.connect("https://host/api/", api_key=...)``).

    Same arguments as :class:`RemoteClient`. Calls block the calling thread; the HTTP requests
    run on a private event loop thread, so this works from plain scripts, Django views and
    threads alike. A remote call never joins the caller's database transaction.
    """

    def __init__(self, target_host: str, **kwargs: Any) -> None:
        self._async = RemoteClient(target_host, **kwargs)
        self._runner = _LoopThread()

    @classmethod
    def connect(cls, target_host: str, *, lazy: bool = False, **kwargs: Any) -> SyncRemoteClient:
        """A client of the API at ``target_host``; unless ``lazy``, checks first that it answers."""
        kwargs.pop("store", None)
        kwargs.pop("database", None)
        known = ("api_key", "namespace", "data_converter", "identity", "rpc_metadata", "tls", "rpc_timeout")
        client = cls(target_host, **{k: v for k, v in kwargs.items() if k in known})
        if not lazy:
            client._runner.run(client._async._check_reachable())
        return client

    @property
    def namespace(self) -> str:
        """See :attr:`RemoteClient.namespace`."""
        return self._async.namespace

    @property
    def identity(self) -> str:
        """This client's identity."""
        return self._async.identity

    @property
    def data_converter(self) -> DataConverter:
        """The data converter."""
        return self._async.data_converter

    @property
    def target_host(self) -> str:
        """The API's base URL."""
        return self._async.target_host

    def _wrap(self, handle: RemoteWorkflowHandle) -> SyncRemoteWorkflowHandle:
        return SyncRemoteWorkflowHandle(self, handle)

    def start_workflow(self, workflow: Callable[..., Any] | str, arg: Any = MISSING, **kwargs: Any
                       ) -> SyncRemoteWorkflowHandle:
        """See :meth:`RemoteClient.start_workflow`."""
        return self._wrap(self._runner.run(self._async.start_workflow(workflow, arg, **kwargs)))

    def execute_workflow(self, workflow: Callable[..., Any] | str, arg: Any = MISSING, **kwargs: Any) -> Any:
        """Start a workflow and block until its result."""
        return self.start_workflow(workflow, arg, **kwargs).result()

    def get_workflow_handle(self, workflow_id: str, **kwargs: Any) -> SyncRemoteWorkflowHandle:
        """See :meth:`RemoteClient.get_workflow_handle`."""
        return self._wrap(self._async.get_workflow_handle(workflow_id, **kwargs))

    def get_workflow_handle_for(self, workflow: Callable[..., Any], workflow_id: str, **kwargs: Any
                                ) -> SyncRemoteWorkflowHandle:
        """See :meth:`RemoteClient.get_workflow_handle_for`."""
        return self._wrap(self._async.get_workflow_handle_for(workflow, workflow_id, **kwargs))

    def list_workflows(self, query: str | None = None, **kwargs: Any) -> Any:
        """Iterate over runs matching a list filter (pages are fetched as the iteration goes)."""
        return self._runner.iterate(self._async.list_workflows(query, **kwargs))

    def count_workflows(self, query: str | None = None, **kwargs: Any) -> WorkflowExecutionCount:
        """See :meth:`RemoteClient.count_workflows`."""
        return self._runner.run(self._async.count_workflows(query, **kwargs))


class SyncRemoteWorkflowHandle(HandleBase):
    """Synchronous twin of :class:`RemoteWorkflowHandle`."""

    def __init__(self, client: SyncRemoteClient, handle: RemoteWorkflowHandle) -> None:
        super().__init__(handle.id, run_id=handle.run_id, result_run_id=handle.result_run_id,
                         first_execution_run_id=handle.first_execution_run_id, result_type=handle._result_type)
        self._client = client
        self._handle = handle

    def _run(self, coro: Any) -> Any:
        return self._client._runner.run(coro)

    def result(self, *, follow_runs: bool = True, timeout: timedelta | float | None = None,
               rpc_timeout: timedelta | None = None) -> Any:
        """Block until the run closes (``timeout`` as ``SyncWorkflowHandle.result``)."""
        limit = timedelta(seconds=seconds(timeout) or 0) if timeout is not None else rpc_timeout
        return self._run(self._handle.result(follow_runs=follow_runs, rpc_timeout=limit))

    def signal(self, signal: Callable[..., Any] | str, arg: Any = MISSING, **kwargs: Any) -> None:
        """Send a signal."""
        self._run(self._handle.signal(signal, arg, **kwargs))

    def query(self, query: Callable[..., Any] | str, arg: Any = MISSING, **kwargs: Any) -> Any:
        """Run a query handler on a worker."""
        return self._run(self._handle.query(query, arg, **kwargs))

    def start_update(self, update: Callable[..., Any] | str, arg: Any = MISSING, **kwargs: Any
                     ) -> SyncRemoteUpdateHandle:
        """See :meth:`RemoteWorkflowHandle.start_update`."""
        return SyncRemoteUpdateHandle(self._client, self._run(self._handle.start_update(update, arg, **kwargs)))

    def execute_update(self, update: Callable[..., Any] | str, arg: Any = MISSING, **kwargs: Any) -> Any:
        """Send an update and block until its result."""
        return self._run(self._handle.execute_update(update, arg, **kwargs))

    def cancel(self, **kwargs: Any) -> None:
        """Request cancellation."""
        self._run(self._handle.cancel(**kwargs))

    def terminate(self, *args: Any, **kwargs: Any) -> None:
        """Terminate the run."""
        self._run(self._handle.terminate(*args, **kwargs))

    def describe(self, **kwargs: Any) -> WorkflowExecutionDescription:
        """The run's current state."""
        return self._run(self._handle.describe(**kwargs))

    def fetch_history(self, **kwargs: Any) -> WorkflowHistory:
        """The run's whole history."""
        return self._run(self._handle.fetch_history(**kwargs))


class SyncRemoteUpdateHandle:
    """Synchronous twin of :class:`RemoteUpdateHandle`."""

    def __init__(self, client: SyncRemoteClient, handle: RemoteUpdateHandle) -> None:
        self._client = client
        self._handle = handle

    @property
    def id(self) -> str:
        """The update id."""
        return self._handle.id

    @property
    def workflow_id(self) -> str:
        """The workflow id."""
        return self._handle.workflow_id

    @property
    def workflow_run_id(self) -> str | None:
        """The run the update went to."""
        return self._handle.workflow_run_id

    def result(self, *, rpc_timeout: timedelta | None = None) -> Any:
        """Block until the update completes."""
        return self._client._runner.run(self._handle.result(rpc_timeout=rpc_timeout))
