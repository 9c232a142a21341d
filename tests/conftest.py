"""Shared services for the whole test session: Redis, MQTT, a fake AWS and one local Ray.

Redis and MQTT are settled when pytest configures, before any test module is imported and
before Ray starts, and are exported as REDIS_URL / MQTT_URL so Ray workers inherit them: the
URL from the environment if given, else the server on 127.0.0.1's default port if it answers,
else one started for this run. Fake AWS credentials are set for the whole run so nothing can
reach real AWS. Ray itself starts only when a test asks for `ray_session`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from cluster.local_services import EmbeddedService, ensure_mqtt, ensure_redis, free_port
from core.settings import Settings

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

_started_services: list[EmbeddedService] = []


def pytest_configure(config: pytest.Config) -> None:
    """Fake AWS credentials, then a Redis and an MQTT broker that answer, all in os.environ."""
    os.environ.update(FAKE_AWS_ENV)
    os.environ.pop("AWS_PROFILE", None)
    for variable, ensure in (("REDIS_URL", ensure_redis), ("MQTT_URL", ensure_mqtt)):
        url, service = ensure(os.environ.get(variable))
        os.environ[variable] = url
        if service is not None:
            _started_services.append(service)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop whatever servers this run started."""
    while _started_services:
        _started_services.pop().stop()


def pytest_report_header(config: pytest.Config) -> str:
    started = ", ".join(service.name for service in _started_services) or "none"
    return (
        f"REDIS_URL={os.environ['REDIS_URL']} MQTT_URL={os.environ['MQTT_URL']} "
        f"(started for this run: {started})"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the session's Ray carries the `ray` mark."""
    for item in items:
        if "ray_session" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.ray)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ["REDIS_URL"]


@pytest.fixture(scope="session")
def mqtt_url() -> str:
    return os.environ["MQTT_URL"]


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A bytes-level client; the server is shared, so keep to your `key_prefix`."""
    client = redis.Redis.from_url(redis_url, decode_responses=False)
    yield client
    client.close()


@pytest.fixture
def key_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A Redis key prefix unique to this test; its keys are deleted afterwards."""
    prefix = f"test:{uuid.uuid4().hex}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Endpoint URL of a local moto server (S3, Kinesis, SNS, ...) shared by the session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The moto endpoint, also exported as AWS_ENDPOINT_URL for this test only."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return moto_server


@pytest.fixture(scope="session")
def ray_session(redis_url: str, mqtt_url: str) -> Iterator[None]:
    """One fresh local Ray for the session (never an already running cluster)."""
    import ray

    env_vars = {"REDIS_URL": redis_url, "MQTT_URL": mqtt_url, **FAKE_AWS_ENV}
    ray.init(
        address="local",
        num_cpus=2,
        namespace="dynaprice-test",
        include_dashboard=False,
        ignore_reinit_error=True,
        runtime_env={"env_vars": env_vars},
    )
    yield
    ray.shutdown()


@pytest.fixture
def lake_dir(tmp_path: Path) -> Path:
    """An empty local lake directory for one test."""
    lake = tmp_path / "lake"
    lake.mkdir()
    return lake


@pytest.fixture
def lake_uri(lake_dir: Path) -> str:
    """The same lake as a URI string, the form `LAKE_URI` takes."""
    return str(lake_dir)


@pytest.fixture(scope="session")
def serve_port(ray_session: None) -> Iterator[int]:
    """Ray Serve's HTTP proxy on a free loopback port, once per session."""
    from ray import serve

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    yield port
    serve.shutdown()


@pytest.fixture
def settings(lake_uri: str, redis_url: str, mqtt_url: str) -> Settings:
    """Settings with this test's own lake and a namespace of its own (actors don't collide)."""
    return Settings(lake_uri=lake_uri, redis_url=redis_url, mqtt_url=mqtt_url,
                    namespace=f"test-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def review_keys():  # -> tests.integration.review_app.ReviewKeys
    """The test module's own Redis keys for the review workflow."""
    from tests.integration.review_app import ReviewKeys

    return ReviewKeys.fresh()


@pytest.fixture(scope="module")
def review_env(tmp_path_factory: pytest.TempPathFactory, redis_url: str,
               review_keys) -> Iterator[Settings]:
    """A seeded lake with a promoted demand model and review configs, one per test module
    (tests/integration/review_app.py; imported here only when a test asks)."""
    from tests.integration.review_app import review_settings

    with review_settings(tmp_path_factory.mktemp("review"), redis_url, review_keys) as env:
        yield env
