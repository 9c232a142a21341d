"""Device security: MQTT over TLS with X.509 client certificates against a Mosquitto of our own."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cluster.local_services import EmbeddedService, free_port, port_open
from core.edge import MqttFrameSender, MqttTls, broker_port, mqtt_client
from core.vision.cameras import camera_topic

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto"
                                          if Path("/usr/sbin/mosquitto").exists() else None)
pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed here")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(subject: str, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
           folder: Path, stem: str, *, ca: bool = False, server: bool = False
           ) -> tuple[x509.Name, ec.EllipticCurvePrivateKey]:
    """Write STEM.pem / STEM.key: a CA (self-signed when `issuer` is None) or a leaf cert."""
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_name, issuer_key = issuer or (_name(subject), key)
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
    cert = builder.sign(issuer_key, hashes.SHA256())
    (folder / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{stem}.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return _name(subject), key


@pytest.fixture(scope="module")
def tls_broker() -> Iterator[tuple[str, Path]]:
    """Mosquitto on a free port that requires a client certificate from our test CA."""
    folder = Path(tempfile.mkdtemp(prefix="dynaprice-mqtt-tls-"))
    ca = _issue("dynaprice test CA", None, folder, "ca", ca=True)
    _issue("127.0.0.1", ca, folder, "server", server=True)
    _issue("cam-ok", ca, folder, "device")
    _issue("cam-ok-subscriber", ca, folder, "subscriber")
    rogue_ca = _issue("rogue CA", None, folder, "rogue-ca", ca=True)
    _issue("cam-rogue", rogue_ca, folder, "rogue")
    folder.chmod(0o755)  # mosquitto started as root reads its files as the `mosquitto` user
    for path in folder.iterdir():
        path.chmod(0o644)
    port = free_port()
    config = folder / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\n"
        f"cafile {folder / 'ca.pem'}\ncertfile {folder / 'server.pem'}\n"
        f"keyfile {folder / 'server.key'}\n"
        "require_certificate true\nuse_identity_as_username true\n"
        "allow_anonymous false\npersistence false\n")
    with (folder / "mosquitto.log").open("wb") as log:
        process = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    service = EmbeddedService("mosquitto-tls", f"mqtts://127.0.0.1:{port}", process, folder)
    deadline = time.monotonic() + 10
    while not port_open("127.0.0.1", port):
        assert process.poll() is None and time.monotonic() < deadline, \
            (folder / "mosquitto.log").read_text()
        time.sleep(0.05)
    yield service.url, folder
    service.stop()


def _tls(folder: Path, stem: str | None) -> MqttTls:
    if stem is None:
        return MqttTls(str(folder / "ca.pem"))
    return MqttTls(str(folder / "ca.pem"), str(folder / f"{stem}.pem"), str(folder / f"{stem}.key"))


def _connects(url: str, tls: MqttTls, timeout_s: float = 3.0) -> bool:
    client = mqtt_client(url, f"probe-{uuid.uuid4().hex[:8]}", tls)
    try:
        client.connect(*broker_port(url), keepalive=10)
        deadline = time.monotonic() + timeout_s
        while not client.is_connected() and time.monotonic() < deadline:
            client.loop(timeout=0.1)
        return client.is_connected()
    except OSError:  # ssl.SSLError is an OSError: the handshake was refused
        return False
    finally:
        client.disconnect()


def test_device_with_valid_certificate_sends_frames(tls_broker):
    url, folder = tls_broker
    topic = camera_topic("loc", "cam-ok", "frames")
    received: list[bytes] = []
    got = threading.Event()
    subscriber = mqtt_client(url, "subscriber", _tls(folder, "subscriber"))
    subscriber.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
    subscriber.on_message = lambda _c, _u, message: (received.append(message.payload), got.set())
    subscriber.connect(*broker_port(url))
    subscriber.loop_start()
    try:
        time.sleep(0.5)
        sender = MqttFrameSender(url, "loc", "cam-ok", _tls(folder, "device"))
        sender.send(b"\xff\xd8\xff frame bytes \xff\xd9", time.time())
        sender.close()
        assert got.wait(10)
        assert received == [b"\xff\xd8\xff frame bytes \xff\xd9"]
    finally:
        subscriber.disconnect()
        subscriber.loop_stop()


def test_device_without_a_valid_certificate_is_refused(tls_broker):
    url, folder = tls_broker
    assert _connects(url, _tls(folder, "device"))
    assert not _connects(url, _tls(folder, None))  # no client certificate
    assert not _connects(url, _tls(folder, "rogue"))  # signed by another CA
