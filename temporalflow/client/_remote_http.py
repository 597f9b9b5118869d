"""HTTP transport of the remote client: one blocking JSON request, errors mapped to ``RPCError``.

``RemoteClient`` (``temporalflow.client._remote``) runs these calls in daemon threads of
their own (``in_daemon_thread``), so a cancelled long poll is abandoned rather than joined.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import http.client
import json
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from temporalflow import __version__
from temporalflow.service import RPCError, RPCStatusCode

__all__ = ["ApiError", "Answer", "Http", "in_daemon_thread", "is_api_url", "rpc_error"]


_HTTP_STATUS: dict[int, RPCStatusCode] = {
    400: RPCStatusCode.INVALID_ARGUMENT,
    401: RPCStatusCode.UNAUTHENTICATED,
    403: RPCStatusCode.PERMISSION_DENIED,
    404: RPCStatusCode.NOT_FOUND,
    405: RPCStatusCode.UNIMPLEMENTED,
    409: RPCStatusCode.FAILED_PRECONDITION,
    415: RPCStatusCode.INVALID_ARGUMENT,
    422: RPCStatusCode.FAILED_PRECONDITION,
    429: RPCStatusCode.RESOURCE_EXHAUSTED,
    500: RPCStatusCode.INTERNAL,
    501: RPCStatusCode.UNIMPLEMENTED,
    502: RPCStatusCode.UNAVAILABLE,
    503: RPCStatusCode.UNAVAILABLE,
    504: RPCStatusCode.DEADLINE_EXCEEDED,
}


def is_api_url(target: Any) -> bool:
    """True when ``target`` is an ``http://`` or ``https://`` URL (a REST API, not a database)."""
    return isinstance(target, str) and target.strip().lower().startswith(("http://", "https://"))


@dataclasses.dataclass
class Answer:
    status: int
    body: Any


class ApiError(Exception):
    """An error answer of the API, before it is mapped to the client's exceptions."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


class Http:
    """Blocking JSON-over-HTTP calls to the API (run in a thread by the async client)."""

    def __init__(self, base_url: str, api_key: str | None, headers: Mapping[str, str], tls: Any) -> None:
        parts = urllib.parse.urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        self.base_url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        self._headers = {"Accept": "application/json", "User-Agent": f"temporalflow-remote-client/{__version__}",
                         **dict(headers)}
        if api_key:
            self._headers["Authorization"] = f"Token {api_key}"
        self._context = tls if isinstance(tls, ssl.SSLContext) else None

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        return self.base_url + path + ("?" + urllib.parse.urlencode(query) if query else "")

    def call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
             body: Any = None, timeout: float) -> Answer:
        """One request; 2xx answers return, error answers raise ``ApiError``, no answer raises RPCError."""
        url = self.url(path, params)
        data = None
        headers = dict(self._headers)
        if body is not None:
            data = json.dumps(body, allow_nan=False).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self._context) as response:
                return Answer(response.status, self._parse(response.read(), response.status, url))
        except urllib.error.HTTPError as err:
            raw = err.read() if err.fp is not None else b""
            err.close()
            raise self._error(err.code, raw, url) from None
        except urllib.error.URLError as err:
            reason = err.reason
            if isinstance(reason, builtins.TimeoutError):
                raise RPCError(f"{method} {url}: no answer within {timeout:g} s", RPCStatusCode.DEADLINE_EXCEEDED
                               ) from None
            raise RPCError(f"cannot reach the temporalflow API at {url}: {reason}", RPCStatusCode.UNAVAILABLE
                           ) from None
        except builtins.TimeoutError:
            raise RPCError(f"{method} {url}: no answer within {timeout:g} s", RPCStatusCode.DEADLINE_EXCEEDED
                           ) from None
        except (ConnectionError, http.client.HTTPException, OSError) as err:
            raise RPCError(f"connection to the temporalflow API at {url} failed: {err!r}",
                           RPCStatusCode.UNAVAILABLE) from None

    @staticmethod
    def _parse(raw: bytes, status: int, url: str) -> Any:
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise RPCError(f"{url} answered {status} with a body that is not JSON (is this a temporalflow API?): "
                           f"{raw[:200]!r}", RPCStatusCode.UNAVAILABLE) from None

    @staticmethod
    def _error(status: int, raw: bytes, url: str) -> Exception:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            text = raw[:200].decode(errors="replace")
            code = _HTTP_STATUS.get(status, RPCStatusCode.UNKNOWN)
            if status == 404:  # not even the API's own JSON 404: the URL is not a temporalflow API
                code = RPCStatusCode.UNAVAILABLE
            return RPCError(f"{url} answered HTTP {status} (not a temporalflow API error): {text}", code)
        details = error.get("details") if isinstance(error.get("details"), dict) else {}
        return ApiError(status, str(error.get("code") or ""), str(error.get("message") or ""), details)


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():  # the caller stopped waiting (cancelled)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


async def in_daemon_thread(fn: Callable[[], Any]) -> Any:
    """``await fn()`` run in a daemon thread of its own.

    Not ``asyncio.to_thread``: a cancelled long poll would keep a default-executor thread busy
    and ``asyncio.run`` joins those at exit; a daemon thread is simply abandoned (its socket
    timeout ends it).
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def run() -> None:
        value: Any = None
        error: BaseException | None = None
        try:
            value = fn()
        except BaseException as err:  # handed to the awaiting coroutine
            error = err
        try:
            loop.call_soon_threadsafe(_settle, future, value, error)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    threading.Thread(target=run, name="temporalflow-remote-call", daemon=True).start()
    return await future


def rpc_error(err: ApiError) -> RPCError:
    """An API error answer as the ``RPCError`` the in-process client raises."""
    name = err.details.get("rpc_status")
    status = RPCStatusCode.__members__.get(name) if isinstance(name, str) else None
    if status is None:
        status = _HTTP_STATUS.get(err.status, RPCStatusCode.UNKNOWN)
    if err.code == "workflow_closed":  # the in-process client says NOT_FOUND for closed runs, as Temporal
        return RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND)
    message = f"{err.message} ({err.code})" if err.code else err.message
    if err.code == "validation_error" and err.details.get("fields"):
        message += f": {json.dumps(err.details['fields'])}"
    return RPCError(message, status)
