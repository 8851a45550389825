"""Logs carry no e-mail, token or secret; AWS logs are JSON with a correlation id; EMF metrics."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from collections.abc import Iterator

import pytest

from chalicelib import observability
from chalicelib.observability import (
    Metrics,
    configure_logging,
    local_log_handler,
    redact,
    reset_for_tests,
    set_correlation_id,
)
from chalicelib.settings import Settings

LOCAL = Settings.from_env({"CROWDACT_STAGE": "local"})
DEV = dataclasses.replace(LOCAL, stage="dev")
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsZWEifQ.c2lnbmF0dXJl"


@pytest.fixture(autouse=True)
def fresh_logging() -> Iterator[None]:
    reset_for_tests()
    yield
    reset_for_tests()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("to lea.martin+cycle@mail.example.org now", "to [email] now"),
        (f"Authorization: Bearer {JWT}", "Authorization: Bearer [token]"),
        (f"token={JWT}", "token=[jwt]"),
        ("secret whsec_Zm9vYmFyYmF6-_", "secret [webhook-secret]"),
        (
            "challenge ch_0123 reached at 57 participants",
            "challenge ch_0123 reached at 57 participants",
        ),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_aws_logs_are_json_with_a_correlation_id_and_nothing_private() -> None:
    stream = io.StringIO()
    configure_logging(DEV, stream=stream)
    set_correlation_id("req-42")
    log = logging.getLogger("chalicelib.services.example")
    log.warning("sending to %s with %s", "anna@asso.example.fr", f"Bearer {JWT}")
    try:
        raise RuntimeError("SES refused anna@asso.example.fr")
    except RuntimeError:
        log.exception("delivery failed")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["level"] for line in lines] == ["WARNING", "ERROR"]
    assert all(line["correlation_id"] == "req-42" for line in lines)
    assert all(line["service"] == "crowdact" for line in lines)
    assert lines[0]["message"] == "sending to [email] with Bearer [token]"
    assert "[email]" in lines[1]["exception"]
    assert "anna@" not in stream.getvalue()
    assert JWT not in stream.getvalue()


def test_local_logs_are_readable_lines_and_redacted() -> None:
    assert configure_logging(LOCAL) is None  # the local stack and pytest keep their handlers
    stream = io.StringIO()
    logger = logging.getLogger("chalicelib.x")
    handler = local_log_handler(stream)
    logger.addHandler(handler)
    try:
        set_correlation_id("ignored locally")
        logger.warning("welcome lea@example.org")
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue().strip()
    assert line.endswith("WARNING chalicelib.x: welcome [email]")
    assert not line.startswith("{")


def test_logging_is_configured_once_per_container() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(DEV, stream=first)
    configure_logging(DEV, stream=second)
    logging.getLogger("chalicelib.y").warning("once")
    assert len(first.getvalue().splitlines()) == 1
    assert second.getvalue() == ""
    assert len(logging.getLogger(observability.APP_LOGGERS).handlers) == 1


def test_metrics_are_flushed_as_one_emf_document_then_cleared() -> None:
    stream = io.StringIO()
    metrics = Metrics("prod", stream=stream)
    metrics.flush()
    assert stream.getvalue() == ""  # nothing counted, nothing written
    metrics.count("PledgesCreated")
    metrics.count("PledgesCreated")
    metrics.count("NotificationsSent", 3)
    metrics.flush()
    (document,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "crowdact"
    assert {m["Name"] for m in directive["Metrics"]} == {"PledgesCreated", "NotificationsSent"}
    assert sum(document["PledgesCreated"]) == 2
    assert document["NotificationsSent"] == [3.0]
    assert document["stage"] == "prod"
    metrics.flush()
    assert len(stream.getvalue().splitlines()) == 1


def test_tracing_is_off_locally_and_self_disabled_outside_lambda() -> None:
    from chalicelib.observability import configure_tracing

    assert configure_tracing(LOCAL) is None
    tracer = configure_tracing(DEV)  # not in a Lambda here: Powertools disables it itself
    assert tracer is not None
    assert tracer.disabled is True
