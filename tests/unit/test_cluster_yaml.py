"""cluster/cluster.yaml is a valid RayService whose Serve config Ray itself accepts."""

import importlib

from ray.serve.schema import ServeDeploySchema

from cluster.serve_config import load_ray_service, localise, serve_config
from core.settings import Settings


def test_rayservice_shape():
    service = load_ray_service()
    assert service["apiVersion"] == "ray.io/v1" and service["kind"] == "RayService"
    cluster = service["spec"]["rayClusterConfig"]
    assert cluster["enableInTreeAutoscaling"] is True
    head = cluster["headGroupSpec"]["rayStartParams"]
    assert head["dashboard-port"] == "8265" and head["num-cpus"] == "0"
    groups = {g["groupName"]: (g["minReplicas"], g["maxReplicas"])
              for g in cluster["workerGroupSpecs"]}
    assert groups == {"cpu": (1, 20), "vision": (1, 10)}


def test_serve_config_validates_and_imports():
    config = serve_config()
    ServeDeploySchema.model_validate(config)
    for app in config["applications"]:
        assert app["route_prefix"].startswith("/api/")
        assert {"LAKE_URI", "REDIS_URL", "MQTT_URL"} <= set(app["runtime_env"]["env_vars"])
        for deployment in app["deployments"]:
            scaling = deployment["autoscaling_config"]
            assert {"min_replicas", "max_replicas", "target_ongoing_requests"} <= set(scaling)
            assert deployment["max_ongoing_requests"] > 0
        module, attribute = app["import_path"].split(":")
        assert callable(getattr(importlib.import_module(module), attribute))


def test_localised_config_keeps_apps_and_uses_local_values():
    settings = Settings(lake_uri="/tmp/lake", redis_url="redis://127.0.0.1:1/0")
    local = localise(serve_config(), settings, http_port=8123, max_replicas=2)
    ServeDeploySchema.model_validate(local)
    assert local["http_options"] == {"host": "127.0.0.1", "port": 8123}
    for app in local["applications"]:
        assert app["runtime_env"]["env_vars"]["LAKE_URI"] == "/tmp/lake"
        for deployment in app["deployments"]:
            assert deployment["autoscaling_config"]["max_replicas"] <= 2
    assert [a["name"] for a in local["applications"]] == [
        a["name"] for a in serve_config()["applications"]]
