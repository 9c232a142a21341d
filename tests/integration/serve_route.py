"""Run a Serve application for one test under a route of its own on the session's Serve."""

from collections.abc import Iterator
from contextlib import contextmanager

from ray import serve


@contextmanager
def running_app(application: serve.Application, name: str, port: int) -> Iterator[str]:
    """Yield the app's base URL; delete the app afterwards."""
    serve.run(application, name=name, route_prefix=f"/{name}")
    try:
        yield f"http://127.0.0.1:{port}/{name}"
    finally:
        serve.delete(name)
