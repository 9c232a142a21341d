"""API keys (stored as SHA-256 digests in configs/api_keys.yaml) and the principal they name."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.config_files import load_config

Role = Literal["pricing-manager", "analyst", "admin", "advertiser", "sales"]
RETAIL_ROLES: tuple[Role, ...] = ("pricing-manager", "analyst", "admin")
ADS_ROLES: tuple[Role, ...] = ("advertiser", "sales", "admin")
DEFAULT_REQUESTS_PER_HOUR = 1000


def hash_key(key: str) -> str:
    """The SHA-256 hex digest under which `key` is stored."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who a valid key speaks for."""

    name: str
    roles: frozenset[str]
    advertiser_id: str | None = None
    requests_per_hour: int = DEFAULT_REQUESTS_PER_HOUR

    def has_any(self, roles: tuple[str, ...] | frozenset[str]) -> bool:
        return not roles or bool(self.roles & set(roles))


class ApiKeyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    roles: list[Role] = Field(min_length=1)
    advertiser_id: str | None = Field(default=None, min_length=1, max_length=64)
    requests_per_hour: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _advertiser_has_id(self) -> ApiKeyEntry:
        if "advertiser" in self.roles and self.advertiser_id is None:
            raise ValueError(f"key {self.name!r} has role advertiser but no advertiser_id")
        return self


class ApiKeysConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_requests_per_hour: int = Field(default=DEFAULT_REQUESTS_PER_HOUR, gt=0)
    keys: list[ApiKeyEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> ApiKeysConfig:
        for field in ("name", "sha256"):
            values = [getattr(entry, field) for entry in self.keys]
            duplicates = sorted({v for v in values if values.count(v) > 1})
            if duplicates:
                raise ValueError(f"duplicate key {field}: {', '.join(duplicates)}")
        return self


class ApiKeyBook:
    """Look a presented key up by its digest (timing reveals nothing: only digests are compared)."""

    def __init__(self, config: ApiKeysConfig) -> None:
        self._by_digest = {
            entry.sha256: Principal(
                name=entry.name, roles=frozenset(entry.roles), advertiser_id=entry.advertiser_id,
                requests_per_hour=entry.requests_per_hour or config.default_requests_per_hour)
            for entry in config.keys
        }

    @classmethod
    def load(cls, configs_dir: Path | None = None) -> ApiKeyBook:
        return cls(load_config("api_keys", ApiKeysConfig, configs_dir))

    def lookup(self, key: str | None) -> Principal | None:
        """The principal of `key`, or None when it is missing or unknown."""
        return self._by_digest.get(hash_key(key)) if key else None
