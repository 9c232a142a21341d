"""Start the retail app for one test on the session's Serve, under a route of its own."""

from collections.abc import Iterator
from contextlib import contextmanager

from ray import serve

from core.settings import Settings
from serve_apps.retail import RetailPricingAPI


@contextmanager
def running_retail_app(settings: Settings, port: int) -> Iterator[str]:
    """Yield the app's base URL; remove the app afterwards."""
    name = f"retail-{settings.namespace}"
    serve.run(RetailPricingAPI.bind(settings), name=name, route_prefix=f"/{name}")
    try:
        yield f"http://127.0.0.1:{port}/{name}"
    finally:
        serve.delete(name)
