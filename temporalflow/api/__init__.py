"""temporalflow's REST API (Django REST framework + drf-spectacular), an optional surface.

Install the ``api`` extra, add ``"rest_framework"``, ``"rest_framework.authtoken"`` and
``"drf_spectacular"`` to ``INSTALLED_APPS``, and mount it::

    path("api/", include("temporalflow.api.urls"))

Endpoints, permissions and the error format: README.md, "REST API".
"""
