"""ASGI entry point of the demo/dev project: HTTP (Django) and the temporalflow WebSockets.

Serve it with ``daphne project.asgi:application`` (or ``manage.py runserver``, which
runs daphne because ``"daphne"`` is in ``INSTALLED_APPS``).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# Django first: the routes below import models, which needs the app registry ready.
django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from temporalflow.channels.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_application,
    # Sessions identify the user (the admin's login); a page from another origin is refused.
    "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
})
