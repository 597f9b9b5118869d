"""URLs of the demo/dev project."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("temporalflow.api.urls")),
]
if settings.PROMETHEUS:  # /metrics: HTTP, database and temporalflow engine metrics
    urlpatterns.append(path("", include("django_prometheus.urls")))
