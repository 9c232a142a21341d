"""Start the ingest app for one test on the session's Serve, under a route of its own."""

from collections.abc import Iterator
from contextlib import contextmanager

import ray
from ray import serve

from actors.routing import ingestor_name
from core.ingest.reference import Reference
from core.settings import Settings
from serve_apps.ingest import IngestAPI


def kill_ingestors(settings: Settings) -> None:
    for region in Reference.load(settings.configs_dir).region_names:
        try:
            ray.kill(ray.get_actor(ingestor_name(region), namespace=settings.namespace))
        except ValueError:
            pass


@contextmanager
def running_ingest_app(settings: Settings, port: int) -> Iterator[str]:
    """Yield the app's base URL; remove the app and its actors afterwards."""
    name = f"ingest-{settings.namespace}"
    serve.run(IngestAPI.bind(settings), name=name, route_prefix=f"/{name}")
    try:
        yield f"http://127.0.0.1:{port}/{name}"
    finally:
        serve.delete(name)
        kill_ingestors(settings)
