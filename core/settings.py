"""Process-wide settings taken from the environment (the cluster YAML's runtime env sets them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# The public data sets beside the checkout (../shared/data), or where DYNAPRICE_SHARED_DATA says
SHARED_DATA = Path(os.environ.get("DYNAPRICE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@dataclass(frozen=True)
class Settings:
    """Where the lake, Redis, MQTT and configs live; read once from the environment."""

    lake_uri: str = "./lake"
    redis_url: str | None = None
    mqtt_url: str | None = None
    configs_dir: Path = field(default=REPO_ROOT / "configs")
    aws_endpoint_url: str | None = None
    namespace: str = "dynaprice"

    def as_env(self) -> dict[str, str]:
        """The environment variables that reproduce these settings in another process."""
        env = {"LAKE_URI": self.lake_uri, "DYNAPRICE_CONFIGS": str(self.configs_dir),
               "DYNAPRICE_NAMESPACE": self.namespace}
        optional = {"REDIS_URL": self.redis_url, "MQTT_URL": self.mqtt_url,
                    "AWS_ENDPOINT_URL": self.aws_endpoint_url}
        return env | {key: value for key, value in optional.items() if value}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """From `env` (default: this process's environment)."""
        env = os.environ if env is None else env
        return cls(
            lake_uri=env.get("LAKE_URI", "./lake"),
            redis_url=env.get("REDIS_URL") or None,
            mqtt_url=env.get("MQTT_URL") or None,
            configs_dir=Path(env.get("DYNAPRICE_CONFIGS", REPO_ROOT / "configs")),
            aws_endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            namespace=env.get("DYNAPRICE_NAMESPACE", "dynaprice"),
        )
