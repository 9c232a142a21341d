"""Routes written as methods of a mixin of an app's Serve ingress class, kept in modules of
their own (serve_apps/retail_pricing.py, serve_apps/retail_review.py):

    router = APIRouter()

    class SomeRoutes:
        @router.get("/thing")
        async def thing(self, ...) -> ...: ...

    bind_to_replica(router)          # at import, after the routes are declared
    include_routes(app, router)      # in the ingress module, before @serve.ingress(app)
"""

import inspect
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from ray import serve


def include_routes(app: FastAPI, router: APIRouter) -> None:
    """Add the routes to `app` itself. Not `app.include_router(router)`: FastAPI >= 0.137
    keeps included routes on the shared router, and Serve's class-based-view rewrite then
    misses them in the replica (requests answer 422 "self: field required")."""
    app.router.routes.extend(router.routes)


async def _serving_replica() -> Any:
    return serve.get_replica_context().servable_object


def bind_to_replica(router: APIRouter) -> None:
    """Give each route's `self` the replica as a dependency, in every process importing the
    routes' module, as Serve's class-based-view rewrite does for the ingress module (replicas
    import route modules by reference, so the rewrite done in the driver is not carried)."""
    for route in router.routes:
        signature = inspect.signature(route.endpoint)
        first, *rest = signature.parameters.values()
        route.endpoint.__signature__ = signature.replace(parameters=[
            first.replace(default=Depends(_serving_replica)),
            *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in rest)])
