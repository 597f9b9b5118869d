"""The project's ASGI application still serves Django over HTTP (the admin) beside the WebSocket routes."""

from __future__ import annotations

from typing import Any

import pytest
from channels.testing import HttpCommunicator, WebsocketCommunicator

pytestmark = pytest.mark.django_db(transaction=True)


async def test_http_goes_to_django(asgi_application: Any) -> None:
    comm = HttpCommunicator(asgi_application, "GET", "/admin/login/", headers=[(b"host", b"localhost")])
    response = await comm.get_response(timeout=10)
    assert response["status"] == 200
    assert b"csrfmiddlewaretoken" in response["body"]


async def test_an_unknown_websocket_path_is_not_routed(asgi_application: Any) -> None:
    comm = WebsocketCommunicator(asgi_application, "/ws/elsewhere/",
                                 headers=[(b"host", b"localhost"), (b"origin", b"http://localhost")])
    with pytest.raises(ValueError, match="No route found"):
        await comm.connect(timeout=5)


def test_runworker_is_temporalflows_not_channels() -> None:
    from django.core.management import get_commands

    assert get_commands()["runworker"] == "temporalflow"  # channels, listed after temporalflow, does not shadow it
