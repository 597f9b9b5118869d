"""Django app configuration for temporalflow."""

from django.apps import AppConfig


class TemporalflowConfig(AppConfig):
    """temporalflow's app config: registers system checks; touches no database."""

    name = "temporalflow"
    verbose_name = "Temporal workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the system checks, and the engine metrics (a no-op without prometheus_client)."""
        # Both register on import (metrics: its collectors, in prometheus_client's default registry).
        from temporalflow import checks, metrics  # noqa: F401
