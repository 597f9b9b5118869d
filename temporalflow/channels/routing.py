"""WebSocket routes of temporalflow: mount them in the project's ASGI ``ProtocolTypeRouter``.

.. code-block:: python

    application = ProtocolTypeRouter({
        "http": get_asgi_application(),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    })
"""

from __future__ import annotations

from django.urls import path

from temporalflow.channels.consumers import RunHistoryConsumer

__all__ = ["websocket_urlpatterns"]

websocket_urlpatterns = [
    path("ws/temporalflow/runs/<int:pk>/", RunHistoryConsumer.as_asgi(), name="temporalflow-run-history"),
]
