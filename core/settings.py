"""Process-wide settings taken from the environment (the cluster YAML's runtime env sets them)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


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
    def from_env(cls) -> Settings:
        return cls(
            lake_uri=os.environ.get("LAKE_URI", "./lake"),
            redis_url=os.environ.get("REDIS_URL") or None,
            mqtt_url=os.environ.get("MQTT_URL") or None,
            configs_dir=Path(os.environ.get("DYNAPRICE_CONFIGS", REPO_ROOT / "configs")),
            aws_endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
            namespace=os.environ.get("DYNAPRICE_NAMESPACE", "dynaprice"),
        )
