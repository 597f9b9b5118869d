"""URLs of the demo/dev project."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("temporalflow.api.urls")),
]
if settings.PROMETHEUS:  # /metrics: HTTP, database and temporalflow engine metrics
    urlpatterns.append(path("", include("django_prometheus.urls")))
if settings.SERVE_STATIC:  # collectstatic's output, e.g. the admin's CSS and scripts (the Docker image's web role)
    urlpatterns.append(re_path(r"^" + settings.STATIC_URL.lstrip("/") + r"(?P<path>.*)$", serve,
                               {"document_root": settings.STATIC_ROOT}))
