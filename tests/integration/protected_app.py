"""A minimal Serve app behind Protection, to test 401/403/429 over real HTTP."""

from typing import Annotated, Any

from fastapi import FastAPI
from ray import serve

from core.api_keys import Principal
from core.settings import Settings
from serve_apps.errors import install_error_handlers
from serve_apps.protection import Protection

app = FastAPI()
install_error_handlers(app)


@serve.deployment
@serve.ingress(app)
class ProtectedAPI:
    def __init__(self, settings: Settings, app_name: str) -> None:
        self.protection = Protection(settings, app_name)

    @app.get("/managers-only")
    async def managers_only(
        self, principal: Annotated[Principal, Protection.require("pricing-manager", "admin")],
    ) -> dict[str, Any]:
        return {"name": principal.name}

    @app.get("/health")
    async def health(self) -> dict[str, Any]:
        return self.protection.health()
