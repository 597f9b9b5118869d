"""System checks flag unsafe configuration with stable ids."""

from __future__ import annotations

import pytest
from django.test import override_settings

from temporalflow.checks import check_command_order, check_settings, database_problems, runworker_problems


def test_unknown_setting_key_is_an_error() -> None:
    with override_settings(TEMPORALFLOW={"NOPE": 1}):
        errors = check_settings()
    assert [e.id for e in errors] == ["temporalflow.E001"] and "NOPE" in errors[0].msg


def test_unknown_database_alias_is_an_error() -> None:
    with override_settings(TEMPORALFLOW={"DATABASE_ALIAS": "other"}):
        assert [e.id for e in check_settings()] == ["temporalflow.E001"]


def test_data_converter_that_does_not_import_is_an_error() -> None:
    with override_settings(TEMPORALFLOW={"DATA_CONVERTER": "myproject.nowhere.data_converter"}):
        errors = check_settings()
    assert [e.id for e in errors] == ["temporalflow.E001"] and "cannot be imported" in errors[0].msg
    with override_settings(TEMPORALFLOW={"DATA_CONVERTER": "temporalflow.contrib.pydantic.pydantic_data_converter"}):
        assert check_settings() == []


@pytest.mark.parametrize(("database", "expected"), [
    ({"ENGINE": "django.db.backends.sqlite3", "NAME": "x"}, ["temporalflow.W001"]),
    ({"ENGINE": "django.db.backends.sqlite3", "NAME": "x", "OPTIONS": {"transaction_mode": "IMMEDIATE"}}, []),
    ({"ENGINE": "django.db.backends.postgresql", "NAME": "x"}, []),
    ({"ENGINE": "django.db.backends.mysql", "NAME": "x"}, ["temporalflow.E002"]),
])
def test_database_checks(database: dict, expected: list[str]) -> None:
    assert [e.id for e in database_problems("default", database)] == expected


@pytest.mark.parametrize(("apps", "expected"), [
    (["daphne", "temporalflow", "channels"], []),
    (["channels", "temporalflow"], ["temporalflow.W002"]),
    (["channels", "temporalflow.apps.TemporalflowConfig"], ["temporalflow.W002"]),
    (["channels_redis", "temporalflow"], []),  # not Channels itself
    (["temporalflow"], []),
])
def test_channels_must_not_shadow_runworker(apps: list[str], expected: list[str]) -> None:
    assert [e.id for e in runworker_problems(apps)] == expected


def test_the_demo_project_lists_temporalflow_before_channels() -> None:
    assert check_command_order() == []
