"""Django app configuration for temporalflow."""

from django.apps import AppConfig


class TemporalflowConfig(AppConfig):
    """temporalflow's app config: registers system checks; touches no database."""

    name = "temporalflow"
    verbose_name = "Temporal workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the system checks."""
        from temporalflow import checks  # noqa: F401  (registers on import)
