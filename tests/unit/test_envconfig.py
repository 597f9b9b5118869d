"""``temporalflow.envconfig`` reads profiles and environment as temporalio's does."""

from __future__ import annotations

from pathlib import Path

import pytest

from temporalflow.envconfig import ClientConfig


def test_defaults_without_file_or_env(tmp_path: Path) -> None:
    config = ClientConfig.load_client_connect_config(config_file=None, override_env_vars={
        "TEMPORAL_CONFIG_FILE": str(tmp_path / "missing.toml")})
    assert config == {"target_host": "localhost:7233", "namespace": "default"}


def test_profile_then_environment_overrides(tmp_path: Path) -> None:
    path = tmp_path / "temporal.toml"
    path.write_text('[profile.default]\naddress = "prod:7233"\nnamespace = "orders"\n'
                    '[profile.staging]\naddress = "staging:7233"\napi_key = "k"\n')
    assert ClientConfig.load_client_connect_config(config_file=path, override_env_vars={}) == {
        "target_host": "prod:7233", "namespace": "orders"}
    staging = ClientConfig.load_client_connect_config("staging", config_file=path, override_env_vars={})
    assert staging["api_key"] == "k" and staging["namespace"] == "default"
    env = ClientConfig.load_client_connect_config(config_file=path, override_env_vars={"TEMPORAL_NAMESPACE": "x"})
    assert env["namespace"] == "x" and env["target_host"] == "prod:7233"
    with pytest.raises(ValueError, match="staging"):
        ClientConfig.load_client_connect_config("nope", config_file=path, override_env_vars={})


def test_bad_toml_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "temporal.toml"
    path.write_text("[profile.default\n")
    with pytest.raises(ValueError, match="invalid TOML"):
        ClientConfig.load(path)


def test_config_file_strict_refuses_unknown_profile_keys(tmp_path: Path) -> None:
    path = tmp_path / "temporal.toml"
    path.write_text('[profile.default]\naddress = "localhost:7233"\nadress_typo = "x"\n')
    assert ClientConfig.load_client_connect_config(config_file=str(path), disable_env=True)["target_host"] == \
        "localhost:7233"
    with pytest.raises(ValueError, match="unknown key\\(s\\) adress_typo"):
        ClientConfig.load_client_connect_config(config_file=str(path), disable_env=True, config_file_strict=True)
