"""URLs of the REST API; mount with ``path("api/", include("temporalflow.api.urls"))``."""

from __future__ import annotations

from django.urls import path, re_path
from drf_spectacular.utils import extend_schema, extend_schema_view
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from temporalflow.api import views

app_name = "temporalflow_api"

_SCHEMA_SETTINGS = {
    "TITLE": "temporalflow API",
    "DESCRIPTION": "Start, list, inspect and drive durable workflows. Errors: "
                   '{"error": {"code": ..., "message": ..., "details": {...}}}.',
    "VERSION": "1",
    "COMPONENT_SPLIT_REQUEST": True,
}



@extend_schema_view(get=extend_schema(exclude=True))
class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 schema (not listed in itself)."""


urlpatterns = [
    path("schema/", SchemaView.as_view(custom_settings=_SCHEMA_SETTINGS, permission_classes=[AllowAny]),
         name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="temporalflow_api:schema", permission_classes=[AllowAny]),
         name="docs"),
    path("workflows/", views.WorkflowListView.as_view(), name="workflows"),
    # Workflow ids may contain "/" (e.g. "order/42"): the action routes come first, so an id that itself ends
    # in "/history", "/signal", ... cannot be described by path.
    path("workflows/<path:workflow_id>/history/", views.HistoryView.as_view(), name="history"),
    path("workflows/<path:workflow_id>/signal/", views.SignalView.as_view(), name="signal"),
    path("workflows/<path:workflow_id>/query/", views.QueryView.as_view(), name="query"),
    path("workflows/<path:workflow_id>/update/", views.UpdateView.as_view(), name="update"),
    path("workflows/<path:workflow_id>/cancel/", views.CancelView.as_view(), name="cancel"),
    path("workflows/<path:workflow_id>/terminate/", views.TerminateView.as_view(), name="terminate"),
    path("workflows/<path:workflow_id>/result/", views.ResultView.as_view(), name="result"),
    path("workflows/<path:workflow_id>/", views.WorkflowDetailView.as_view(), name="workflow"),
    path("task-queues/", views.TaskQueueListView.as_view(), name="task-queues"),
    path("task-queues/<str:name>/", views.TaskQueueDetailView.as_view(), name="task-queue"),
    re_path(r"^.*$", views.NotFoundView.as_view(), name="not-found"),
]
