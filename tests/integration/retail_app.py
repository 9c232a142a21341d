"""Start the retail app for one test on the session's Serve, under a route of its own."""

from collections.abc import Iterator
from contextlib import contextmanager

from core.settings import Settings
from serve_apps.retail import RetailPricingAPI
from tests.integration.serve_route import running_app


@contextmanager
def running_retail_app(settings: Settings, port: int) -> Iterator[str]:
    """Yield the app's base URL; remove the app afterwards."""
    with running_app(RetailPricingAPI.bind(settings), f"retail-{settings.namespace}",
                     port) as url:
        yield url
