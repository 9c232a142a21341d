"""Start the ingest app for one test on the session's Serve, under a route of its own."""

from collections.abc import Iterator
from contextlib import contextmanager

import ray

from actors.routing import ingestor_name
from core.ingest.reference import Reference
from core.settings import Settings
from serve_apps.ingest import IngestAPI
from tests.integration.serve_route import running_app


def kill_ingestors(settings: Settings) -> None:
    for region in Reference.load(settings.configs_dir).region_names:
        try:
            ray.kill(ray.get_actor(ingestor_name(region), namespace=settings.namespace))
        except ValueError:
            pass


@contextmanager
def running_ingest_app(settings: Settings, port: int) -> Iterator[str]:
    """Yield the app's base URL; remove the app and its actors afterwards."""
    try:
        with running_app(IngestAPI.bind(settings), f"ingest-{settings.namespace}", port) as url:
            yield url
    finally:
        kill_ingestors(settings)
