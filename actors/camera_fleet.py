"""The camera fleet supervisor: one `CameraStream` per configured camera, kept alive."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ray
import redis

from actors.camera_stream import CameraStream, camera_actor_name
from core.settings import Settings
from core.vision.cameras import CameraConfig, load_fleet

log = logging.getLogger(__name__)

FLEET_NAME = "camera-fleet"
SUPERVISE_EVERY_S = 15.0
STATUS_TIMEOUT_S = 10.0


def fleet_key(settings: Settings) -> str:
    """Redis key of the fleet's camera list (survives a fleet restart)."""
    return f"dynaprice:{settings.namespace}:camera-fleet"


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class CameraFleet:
    """Adds, replaces and removes camera actors to match a list; reports their status."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis = redis.Redis.from_url(settings.redis_url) if settings.redis_url else None
        self.cameras: dict[str, CameraConfig] = {}
        if self.redis is not None and (raw := self.redis.hgetall(fleet_key(settings))):
            self.cameras = {k.decode(): CameraConfig.model_validate_json(v)
                            for k, v in raw.items()}
        self._supervisor: asyncio.Task | None = None

    def _handle(self, camera: CameraConfig) -> ray.actor.ActorHandle:
        return CameraStream.options(
            name=camera_actor_name(camera.id), namespace=self.settings.namespace,
            lifetime="detached", get_if_exists=True,
        ).remote(camera, self.settings)

    async def reconcile(self, cameras: list[CameraConfig]) -> dict[str, list[str]]:
        """Make the running actors match `cameras` (a changed camera's actor is replaced)."""
        wanted = {camera.id: camera for camera in cameras}
        removed = [cid for cid in self.cameras if cid not in wanted]
        changed = [cid for cid, old in self.cameras.items() if cid in wanted and wanted[cid] != old]
        added = [cid for cid in wanted if cid not in self.cameras]
        for cid in removed + changed:
            await self._remove(cid)
        self.cameras = wanted
        if self.redis is not None:
            key = fleet_key(self.settings)
            pipe = self.redis.pipeline()
            pipe.delete(key)
            if wanted:
                pipe.hset(key, mapping={cid: c.model_dump_json() for cid, c in wanted.items()})
            pipe.execute()
        await self._start_all()
        if self._supervisor is None or self._supervisor.done():
            self._supervisor = asyncio.ensure_future(self._supervise())
        return {"added": sorted(added), "replaced": sorted(changed), "removed": sorted(removed),
                "kept": sorted(set(wanted) - set(added) - set(changed))}

    async def _remove(self, camera_id: str) -> None:
        try:
            handle = ray.get_actor(camera_actor_name(camera_id), namespace=self.settings.namespace)
        except ValueError:
            return
        try:
            await asyncio.wait_for(handle.stop.remote(), STATUS_TIMEOUT_S)
        except Exception as exc:  # it is going away anyway; its checkpoint stays in Redis
            log.warning("camera %s did not stop cleanly: %r", camera_id, exc)
        ray.kill(handle, no_restart=True)

    async def _start_all(self) -> None:
        calls = [self._handle(camera).start.remote() for camera in self.cameras.values()]
        results = await asyncio.gather(*calls, return_exceptions=True)
        for camera_id, result in zip(self.cameras, results, strict=True):
            if isinstance(result, Exception):
                log.warning("camera %s did not start: %r", camera_id, result)

    async def _supervise(self) -> None:
        """Restart loops of actors that Ray restarted (a new actor starts idle)."""
        while True:
            await asyncio.sleep(SUPERVISE_EVERY_S)
            await self._start_all()

    async def status(self) -> list[dict[str, Any]]:
        """One row per camera (an unreachable camera shows its error)."""
        handles = {cid: self._handle(camera) for cid, camera in self.cameras.items()}
        rows = []
        for cid, handle in handles.items():
            try:
                rows.append(await asyncio.wait_for(handle.stats.remote(), STATUS_TIMEOUT_S))
            except Exception as exc:  # a dead or busy camera is a status, not a failure
                rows.append({"camera_id": cid, "status": "unreachable", "last_error": repr(exc)})
        return sorted(rows, key=lambda row: row["camera_id"])


def ensure_camera_fleet(settings: Settings, demo: bool = False) -> ray.actor.ActorHandle:
    """The detached fleet actor, reconciled with configs/cameras.yaml (plus its demo cameras)."""
    fleet_config = load_fleet(settings.configs_dir)
    cameras = fleet_config.cameras + (fleet_config.demo if demo else [])
    fleet = CameraFleet.options(name=FLEET_NAME, namespace=settings.namespace,
                                lifetime="detached", get_if_exists=True).remote(settings)
    ray.get(fleet.reconcile.remote(cameras))
    return fleet
