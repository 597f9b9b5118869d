"""Live history over WebSockets (Django Channels): one socket per run streams its new events.

Install the ``channels`` extra, put ``"daphne"`` (first) and ``"channels"`` in
``INSTALLED_APPS`` and route ``temporalflow.channels.routing.websocket_urlpatterns``
behind ``AllowedHostsOriginValidator(AuthMiddlewareStack(...))`` in the project's
ASGI application. See :mod:`temporalflow.channels.consumers` for the protocol.
"""
