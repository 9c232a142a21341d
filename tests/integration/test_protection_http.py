"""Protection over real HTTP on Serve: 401, 403, 429 with headers, limits shared via Redis."""

from pathlib import Path

import httpx
import pytest
from ray import serve

from core.api_keys import hash_key
from tests.integration.edited_configs import edited_configs
from tests.integration.protected_app import ProtectedAPI

pytestmark = pytest.mark.slow


@pytest.fixture
def limited_configs(tmp_path: Path) -> Path:
    """The repo's configs plus a pricing-manager key allowed 3 requests per hour."""
    return edited_configs(tmp_path / "configs", "api_keys", lambda keys: keys["keys"].append(
        {"name": "tiny", "sha256": hash_key("tiny-key"), "roles": ["pricing-manager"],
         "requests_per_hour": 3}))


def test_401_403_429(settings, serve_port, limited_configs, redis_client):
    import dataclasses

    settings = dataclasses.replace(settings, configs_dir=limited_configs)
    name = f"protected-{settings.namespace}"
    serve.run(ProtectedAPI.options(num_replicas=2).bind(settings, name), name=name,
              route_prefix=f"/{name}")
    url = f"http://127.0.0.1:{serve_port}/{name}"
    try:
        with httpx.Client(timeout=30) as client:
            missing = client.get(f"{url}/managers-only")
            assert missing.status_code == 401 and missing.json()["error"] == "unauthorized"
            unknown = client.get(f"{url}/managers-only", headers={"X-API-Key": "bogus"})
            assert unknown.status_code == 401
            wrong_role = client.get(f"{url}/managers-only",
                                    headers={"X-API-Key": "demo-analyst"})
            assert wrong_role.status_code == 403 and wrong_role.json()["error"] == "forbidden"
            answers = [client.get(f"{url}/managers-only", headers={"X-API-Key": "tiny-key"})
                       for _ in range(5)]  # two replicas: only a shared count stops at 3
            assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
            assert answers[0].json() == {"name": "tiny"}
            assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0", "0"]
            refused = answers[-1]
            assert refused.json()["error"] == "rate_limited"
            assert refused.headers["RateLimit-Limit"] == "3"
            assert 3500 < int(refused.headers["Retry-After"]) <= 3600
            other = client.get(f"{url}/managers-only",
                               headers={"X-API-Key": "demo-pricing-manager"})
            assert other.status_code == 200 and other.headers["RateLimit-Limit"] == "1000"
            assert client.get(f"{url}/health").json() == {"redis": "ok"}
    finally:
        serve.delete(name)
        keys = list(redis_client.scan_iter(match=f"dynaprice:ratelimit:{name}:*"))
        if keys:
            redis_client.delete(*keys)
