"""The demo app: example workflows discovered by ``runworker``."""

from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo workflows and activities."""

    name = "project.demo"
    label = "demo"
