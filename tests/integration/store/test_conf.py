"""temporalflow.conf: defaults, live reads under override_settings, unknown keys."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from temporalflow.conf import settings


def test_defaults_and_overrides():
    with override_settings(TEMPORALFLOW={}):
        assert settings.POLL_INTERVAL == 0.5
        assert settings.PAYLOAD_SIZE_LIMIT == 2 * 1024 * 1024
        assert settings.AUTODISCOVER_MODULE_NAMES == ("workflows", "activities")
    with override_settings(TEMPORALFLOW={"POLL_INTERVAL": 0.1}):
        assert settings.POLL_INTERVAL == 0.1


def test_unknown_key_is_an_error():
    with (
        override_settings(TEMPORALFLOW={"POLL_INTERVALL": 1}),
        pytest.raises(ImproperlyConfigured, match="POLL_INTERVAL"),
    ):
        settings.POLL_INTERVAL  # noqa: B018


def test_unknown_attribute():
    with pytest.raises(AttributeError):
        settings.NO_SUCH_SETTING  # noqa: B018


def test_list_defaults_are_not_shared():
    with override_settings(TEMPORALFLOW={}):
        settings.WORKFLOW_MODULES.append("x")
        assert settings.WORKFLOW_MODULES == []
