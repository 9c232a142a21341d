"""API keys: the shipped config loads, demo keys resolve, bad configs fail with the key named."""

from pathlib import Path

import pytest
import yaml

from core.api_keys import ApiKeyBook, hash_key
from core.config_files import ConfigError

REPO_CONFIGS = Path(__file__).resolve().parents[3] / "configs"


def test_demo_keys_resolve_to_principals():
    book = ApiKeyBook.load(REPO_CONFIGS)
    manager = book.lookup("demo-pricing-manager")
    assert manager is not None and manager.roles == {"pricing-manager"}
    assert manager.requests_per_hour == 1000
    advertiser = book.lookup("demo-advertiser-2")
    assert advertiser is not None and advertiser.advertiser_id == "adv-2"
    assert book.lookup("demo-admin").requests_per_hour == 10000


@pytest.mark.parametrize("key", [None, "", "demo-analyst ", "nope", hash_key("demo-analyst")])
def test_unknown_or_missing_keys_resolve_to_none(key):
    assert ApiKeyBook.load(REPO_CONFIGS).lookup(key) is None


def test_role_check():
    analyst = ApiKeyBook.load(REPO_CONFIGS).lookup("demo-analyst")
    assert analyst.has_any(("analyst", "admin"))
    assert not analyst.has_any(("pricing-manager",))


def _write(tmp_path: Path, keys: list[dict]) -> Path:
    (tmp_path / "api_keys.yaml").write_text(yaml.safe_dump({"keys": keys}))
    return tmp_path


@pytest.mark.parametrize(("keys", "message"), [
    ([{"name": "a", "sha256": "XYZ", "roles": ["admin"]}], "keys.0.sha256"),
    ([{"name": "a", "sha256": hash_key("a"), "roles": ["boss"]}], "keys.0.roles.0"),
    ([{"name": "a", "sha256": hash_key("a"), "roles": ["advertiser"]}], "advertiser_id"),
    ([{"name": "a", "sha256": hash_key("a"), "roles": ["admin"]},
      {"name": "b", "sha256": hash_key("a"), "roles": ["admin"]}], "duplicate key sha256"),
    ([{"name": "a", "sha256": hash_key("a"), "roles": []}], "keys.0.roles"),
])
def test_bad_config_names_the_problem(tmp_path, keys, message):
    with pytest.raises(ConfigError, match=message):
        ApiKeyBook.load(_write(tmp_path, keys))
