from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx
import pytest

from core.alerts import (
    SIGNATURE_HEADER,
    Alert,
    AlertDispatcher,
    AlertKind,
    AlertsConfig,
    CoolDown,
    LogSink,
    Severity,
    SinkError,
    SuggestedAction,
    WebhookSink,
    build_dispatcher,
    sign_body,
    signature_matches,
)
from core.config_files import load_config


def sample_alert(key: str = "price_move:P1:S1:up") -> Alert:
    source_ts = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    return Alert(
        id=Alert.make_id(key, source_ts), kind=AlertKind.PRICE_MOVE, severity=Severity.WARNING,
        product_id="P1", location="S1", category="grocery", region="midwest",
        evidence={"change_pct": 20.0}, suggested_action=SuggestedAction(text="check"),
        dedup_key=key, created_at=source_ts, source_ts=source_ts,
    )


def test_cool_down_admits_once_per_period_and_survives_a_round_trip() -> None:
    cooldown = CoolDown(60)
    assert cooldown.admit("k", 1000.0)
    assert not cooldown.admit("k", 1059.0)
    resumed = CoolDown(60, cooldown.state_dict())
    assert not resumed.admit("k", 1030.0)
    assert resumed.admit("other", 1030.0)
    assert resumed.admit("k", 1060.0)
    resumed.prune(2000.0)
    assert resumed.state_dict() == {}


def test_signature_is_hmac_sha256_of_the_body() -> None:
    body = b'{"a": 1}'
    header = sign_body("s3cret", body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert signature_matches("s3cret", body, header)
    assert not signature_matches("s3cret", body + b" ", header)
    assert not signature_matches("other", body, header)


def scripted_webhook(statuses: list[int]) -> tuple[WebhookSink, list[httpx.Request], list[float]]:
    requests: list[httpx.Request] = []
    sleeps: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(statuses[min(len(requests), len(statuses)) - 1])

    client = httpx.Client(transport=httpx.MockTransport(answer))
    sink = WebhookSink("http://hook.test/alerts", "s3cret", max_attempts=4, backoff_s=0.5,
                       client=client, sleep=sleeps.append)
    return sink, requests, sleeps


def test_webhook_retries_server_errors_with_exponential_back_off() -> None:
    sink, requests, sleeps = scripted_webhook([503, 500, 200])
    sink.send([sample_alert()])
    assert len(requests) == 3
    assert sleeps == [0.5, 1.0]
    assert signature_matches("s3cret", requests[-1].content, requests[-1].headers[SIGNATURE_HEADER])


def test_webhook_gives_up_at_once_on_a_client_error_and_after_max_attempts() -> None:
    sink, requests, _ = scripted_webhook([400])
    with pytest.raises(SinkError):
        sink.send([sample_alert()])
    assert len(requests) == 1
    sink, requests, sleeps = scripted_webhook([500])
    with pytest.raises(SinkError) as raised:
        sink.send([sample_alert("a"), sample_alert("b")])
    assert raised.value.failed == 2
    assert len(requests) == 8 and sleeps[:3] == [0.5, 1.0, 2.0]


class RecordingSink:
    def __init__(self, name: str, error: Exception | None = None) -> None:
        self.name = name
        self.error = error
        self.received: list[Alert] = []

    def send(self, alerts: Sequence[Alert]) -> None:
        if self.error is not None:
            raise self.error
        self.received.extend(alerts)


def test_a_failing_sink_loses_nothing_for_the_others_and_is_counted() -> None:
    good, broken, partly = (RecordingSink("good"), RecordingSink("broken", RuntimeError("down")),
                            RecordingSink("partly", SinkError(1, "one lost")))
    dispatcher = AlertDispatcher([broken, good, partly])
    alerts = [sample_alert("a"), sample_alert("b")]
    dispatcher.dispatch(alerts)
    assert dispatcher.flush(timeout_s=5)
    assert good.received == alerts
    assert dispatcher.counters() == {
        "broken": {"sent": 0, "failed": 2, "dropped": 0},
        "good": {"sent": 2, "failed": 0, "dropped": 0},
        "partly": {"sent": 1, "failed": 1, "dropped": 0},
    }
    dispatcher.close()


def test_a_stuck_sink_does_not_block_dispatch_and_its_backlog_is_bounded() -> None:
    release = threading.Event()

    class StuckSink(RecordingSink):
        def send(self, alerts: Sequence[Alert]) -> None:
            release.wait(10)
            super().send(alerts)

    stuck, good = StuckSink("stuck"), RecordingSink("good")
    dispatcher = AlertDispatcher([stuck, good], max_pending_per_sink=2)
    dispatcher.dispatch([sample_alert("a")])
    dispatcher.dispatch([sample_alert("b")])  # returns although "stuck" is still waiting
    assert dispatcher.flush(timeout_s=0.05) is False
    deadline = time.monotonic() + 5
    while len(good.received) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [a.dedup_key for a in good.received] == ["a", "b"]
    dispatcher.dispatch([sample_alert("c")])  # two already pending for "stuck": dropped there
    release.set()
    assert dispatcher.flush(timeout_s=5)
    assert [a.dedup_key for a in good.received] == ["a", "b", "c"]
    assert [a.dedup_key for a in stuck.received] == ["a", "b"]
    assert dispatcher.counters()["stuck"] == {"sent": 2, "failed": 0, "dropped": 1}
    dispatcher.close()


def test_shipped_alerts_config_builds_log_and_stream_sinks(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config("alerts", AlertsConfig)
    assert [s.name for s in build_dispatcher(config, redis_client=None).sinks] == ["log"]
    with_hook = AlertsConfig.model_validate(
        {**config.model_dump(), "webhook": {"url": "http://x.test"}}
    )
    monkeypatch.delenv("DYNAPRICE_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ValueError, match="secret"):
        build_dispatcher(with_hook, redis_client=None)
    monkeypatch.setenv("DYNAPRICE_WEBHOOK_SECRET", "s")
    assert [s.name for s in build_dispatcher(with_hook, None).sinks] == ["log", "webhook"]


def test_log_sink_writes_one_json_line_per_alert_at_its_severity(
    caplog: pytest.LogCaptureFixture,
) -> None:
    critical = sample_alert("c").model_copy(update={"severity": Severity.CRITICAL})
    with caplog.at_level(logging.INFO, logger="dynaprice.alerts"):
        LogSink().send([sample_alert("w"), critical])
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.CRITICAL]
    logged = caplog.records[1].getMessage().removeprefix("alert ")
    assert Alert.model_validate_json(logged) == critical
