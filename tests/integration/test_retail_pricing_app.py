"""An ingress with the pricing routes for the integration tests (importable by Serve's
replicas as tests.integration.test_retail_pricing_app, as serve_apps.retail is in prod)."""

from fastapi import FastAPI
from ray import serve

from core.settings import Settings
from serve_apps.errors import install_error_handlers
from serve_apps.protection import Protection
from serve_apps.retail_pricing import PricingRoutes, include_pricing_routes

app = FastAPI(title="retail pricing (test)")
install_error_handlers(app)
include_pricing_routes(app)


@serve.deployment
@serve.ingress(app)
class PricingTestAPI(PricingRoutes):
    def __init__(self, settings: Settings, app_name: str, demand_model) -> None:
        self.protection = Protection(settings, app_name)
        self.setup_pricing(settings, demand_model, refresh_s=0.5)
