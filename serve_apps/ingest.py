"""The `ingest` application at /api/ingest: price points in, dead letters out."""

import asyncio
import time
from typing import Annotated, Any

import ray
from fastapi import FastAPI, Path, Query, Request
from ray import serve

from actors.camera_stream import camera_actor_name
from actors.routing import IngestRouter
from core.config_files import load_config
from core.ingest.body import BodyShapeError, MalformedBody, parse_body
from core.ingest.dead_letters import read_dead_letters
from core.ingest.pipeline import IngestConfig
from core.ingest.records import PricePoint, Reason
from core.lake import Lake
from core.settings import Settings
from core.vision.cameras import FRAME_CONTENT_TYPES, MAX_FRAME_BYTES
from core.vision.decode import DecodeFailure
from serve_apps.errors import ApiError, install_error_handlers

app = FastAPI(
    title="dynaprice ingest",
    description="Stream retail price points into the lake; bad records go to the DLQ.",
)
install_error_handlers(app)


async def read_limited_body(request: Request, limit: int, what: str) -> bytes:
    """The request body, or 413 when it (or its declared length) is over `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "payload_too_large", f"{what} over {limit} bytes")
    body = await request.body()
    if len(body) > limit:
        raise ApiError(413, "payload_too_large", f"{what} over {limit} bytes")
    return body


@serve.deployment(max_ongoing_requests=64)
@serve.ingress(app)
class IngestAPI:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.config = load_config("ingest", IngestConfig, self.settings.configs_dir)
        self.lake = Lake.open(self.settings.lake_uri, self.settings.aws_endpoint_url)
        self.router = IngestRouter(self.settings)

    @app.post(
        "/price-points",
        summary="Ingest price points (JSON array, {\"records\": [...]} or NDJSON)",
        openapi_extra={"requestBody": {"content": {
            "application/json": {"schema": {"type": "array",
                                            "items": PricePoint.model_json_schema()}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        }, "required": True}},
    )
    async def price_points(self, request: Request) -> dict[str, Any]:
        body = await read_limited_body(request, self.config.max_body_bytes, "body")
        try:
            records = await asyncio.to_thread(  # Arrow parses outside the GIL
                parse_body, body, request.headers.get("content-type", ""))
        except MalformedBody as exc:
            raise ApiError(400, "malformed_json", str(exc)) from exc
        except BodyShapeError as exc:
            raise ApiError(422, "invalid_body", [{"field": exc.field, "message": exc.message}]
                           ) from exc
        if len(records) > self.config.max_records_per_request:
            raise ApiError(413, "payload_too_large",
                           f"more than {self.config.max_records_per_request} records")
        return await self.router.route(records, "http")

    @app.get("/dead-letters", summary="Rejected records with their reasons, newest first")
    async def dead_letters(
        self,
        reason: Annotated[Reason | None, Query()] = None,
        region: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        total, items = read_dead_letters(
            self.lake, reason=reason.value if reason else None, region=region, limit=limit,
            offset=offset)
        return {"total": total, "limit": limit, "offset": offset, "items": items}

    @app.post(
        "/cameras/{camera_id}/frames",
        summary="Push one JPEG or PNG frame to a camera's actor; only its numbers are kept",
        openapi_extra={"requestBody": {"content": {
            kind: {"schema": {"type": "string", "format": "binary"}}
            for kind in FRAME_CONTENT_TYPES}, "required": True}},
    )
    async def camera_frame(
        self, request: Request,
        camera_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")],
    ) -> dict[str, Any]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in FRAME_CONTENT_TYPES:
            raise ApiError(415, "unsupported_media_type",
                           f"send {' or '.join(FRAME_CONTENT_TYPES)}, not {content_type!r}")
        body = await read_limited_body(request, MAX_FRAME_BYTES, "frame")
        try:
            camera = ray.get_actor(camera_actor_name(camera_id), namespace=self.settings.namespace)
        except ValueError as exc:
            raise ApiError(404, "not_found", f"no camera {camera_id!r}") from exc
        ts = request.headers.get("x-frame-ts")
        try:
            frame_ts = float(ts) if ts else time.time()
        except ValueError as exc:
            raise ApiError(400, "bad_request", "X-Frame-Ts must be unix seconds") from exc
        ack = await camera.submit_frame.remote(body, frame_ts)
        if ack.get("reason") in set(DecodeFailure):
            raise ApiError(422, "undecodable_image", ack)
        return {"camera_id": camera_id, **ack}

    @app.get("/health")
    async def health(self) -> dict[str, Any]:
        return {"status": "ok", "regions": sorted(self.router.ingestors)}


def build_app(args: dict[str, str] | None = None) -> serve.Application:
    """Application builder named by cluster/cluster.yaml (settings come from the env)."""
    return IngestAPI.bind()
