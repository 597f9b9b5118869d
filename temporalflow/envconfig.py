"""Client configuration from a TOML profile file and environment, as ``temporalio.envconfig``.

Code that builds its client with::

    config = ClientConfig.load_client_connect_config()
    client = await Client.connect(**config)

keeps working: the values are read the way temporalio reads them (profile file
``$TEMPORAL_CONFIG_FILE`` or ``~/.config/temporalio/temporal.toml``, profile
``$TEMPORAL_PROFILE`` or ``default``, then ``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``), and ``Client.connect`` uses the
namespace and connects in-process to this project's database — or, when the address
is an ``http(s)://`` URL of the REST API, returns a ``RemoteClient`` that sends the
API key as its DRF token.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict


class ClientConnectConfig(TypedDict, total=False):
    """Keyword arguments for ``Client.connect``."""

    target_host: str
    namespace: str
    api_key: str
    tls: Any
    rpc_metadata: Mapping[str, str]


_PROFILE_KEYS = frozenset({"address", "namespace", "api_key", "tls", "grpc_meta", "codec"})
"""Keys a profile table may have in temporalio's configuration file."""


def _default_config_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "temporalio" / "temporal.toml"


@dataclass(frozen=True)
class ClientConfigProfile:
    """One profile of the configuration file."""

    address: str | None = None
    namespace: str | None = None
    api_key: str | None = None
    tls: Any = None
    grpc_meta: Mapping[str, str] = field(default_factory=dict)

    def to_client_connect_config(self) -> ClientConnectConfig:
        """The profile as ``Client.connect`` keyword arguments."""
        config: ClientConnectConfig = {"target_host": self.address or "localhost:7233",
                                       "namespace": self.namespace or "default"}
        if self.api_key:
            config["api_key"] = self.api_key
        if self.tls is not None:
            config["tls"] = self.tls
        if self.grpc_meta:
            config["rpc_metadata"] = dict(self.grpc_meta)
        return config


@dataclass(frozen=True)
class ClientConfig:
    """All profiles of a configuration file."""

    profiles: Mapping[str, ClientConfigProfile] = field(default_factory=dict)

    @staticmethod
    def load(config_file: str | os.PathLike[str] | None = None, *, config_file_strict: bool = False) -> ClientConfig:
        """Read every profile from the TOML file (empty if there is none).

        Args:
            config_file: The TOML file (default: ``$TEMPORAL_CONFIG_FILE``, then
                ``~/.config/temporalio/temporal.toml``).
            config_file_strict: Refuse keys a profile may not have (temporalio's option).

        Raises:
            FileNotFoundError: If ``config_file`` is given and does not exist.
            ValueError: If the file is not valid TOML, a profile is not a table, or (strict)
                a profile has an unknown key.
        """
        path = Path(config_file or os.environ.get("TEMPORAL_CONFIG_FILE") or _default_config_file())
        if not path.exists():
            if config_file is not None:
                raise FileNotFoundError(f"Temporal client config file not found: {path}")
            return ClientConfig()
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"invalid TOML in {path}: {err}") from None
        profiles = {}
        for name, raw in (data.get("profile") or {}).items():
            if not isinstance(raw, dict):
                raise ValueError(f"profile {name!r} in {path} must be a table")
            unknown = sorted(set(raw) - _PROFILE_KEYS)
            if config_file_strict and unknown:
                raise ValueError(f"profile {name!r} in {path} has unknown key(s) {', '.join(unknown)}; "
                                 f"known: {', '.join(sorted(_PROFILE_KEYS))}")
            profiles[name] = ClientConfigProfile(
                address=raw.get("address"), namespace=raw.get("namespace"), api_key=raw.get("api_key"),
                tls=raw.get("tls"), grpc_meta=raw.get("grpc_meta") or {},
            )
        return ClientConfig(profiles=profiles)

    @staticmethod
    def load_client_connect_config(
        profile: str | None = None, config_file: str | os.PathLike[str] | None = None, *,
        disable_file: bool = False, disable_env: bool = False, config_file_strict: bool = False,
        override_env_vars: Mapping[str, str] | None = None,
    ) -> ClientConnectConfig:
        """``Client.connect`` keyword arguments from the profile file, then the environment.

        ``config_file_strict`` refuses unknown keys in the file's profiles, as temporalio's does.
        """
        env = dict(os.environ) if override_env_vars is None else dict(override_env_vars)
        name = profile or env.get("TEMPORAL_PROFILE") or "default"
        base = ClientConfigProfile()
        if not disable_file:
            loaded = ClientConfig.load(config_file, config_file_strict=config_file_strict).profiles
            if profile is not None and profile not in loaded and loaded:
                raise ValueError(f"profile {profile!r} not found; known profiles: {', '.join(sorted(loaded))}")
            base = loaded.get(name, base)
        if not disable_env:
            base = ClientConfigProfile(
                address=env.get("TEMPORAL_ADDRESS") or base.address,
                namespace=env.get("TEMPORAL_NAMESPACE") or base.namespace,
                api_key=env.get("TEMPORAL_API_KEY") or base.api_key,
                tls=base.tls, grpc_meta=base.grpc_meta,
            )
        return base.to_client_connect_config()
