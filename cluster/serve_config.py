"""Read `cluster/cluster.yaml` and turn its serveConfigV2 into a local deployment."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from core.settings import Settings

CLUSTER_YAML = Path(__file__).with_name("cluster.yaml")


def load_ray_service(path: Path = CLUSTER_YAML) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def serve_config(path: Path = CLUSTER_YAML) -> dict[str, Any]:
    """The parsed `spec.serveConfigV2` (KubeRay keeps it as a YAML string)."""
    return yaml.safe_load(load_ray_service(path)["spec"]["serveConfigV2"])


def localise(
    config: dict[str, Any], settings: Settings, http_port: int = 8000, max_replicas: int = 2
) -> dict[str, Any]:
    """The same applications with local env values, loopback HTTP and laptop-sized scaling."""
    local = copy.deepcopy(config)
    local["proxy_location"] = "HeadOnly"
    local["http_options"] = {"host": "127.0.0.1", "port": http_port}
    for app in local["applications"]:
        app.setdefault("runtime_env", {})["env_vars"] = settings.as_env()
        for deployment in app.get("deployments", []):
            scaling = deployment.get("autoscaling_config")
            if scaling:
                scaling["max_replicas"] = min(scaling.get("max_replicas", 1), max_replicas)
                scaling["min_replicas"] = min(scaling.get("min_replicas", 1),
                                              scaling["max_replicas"])
            options = deployment.setdefault("ray_actor_options", {})
            options["num_cpus"] = min(options.get("num_cpus", 0.1), 0.1)
    return local


def app_routes(config: dict[str, Any]) -> dict[str, str]:
    """Application name -> route prefix."""
    return {app["name"]: app["route_prefix"] for app in config["applications"]}
