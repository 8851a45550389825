"""Logs and metrics: Powertools JSON logs and EMF metrics in AWS, readable logs locally.

Every log line goes through `redact`: e-mail addresses, bearer tokens, JWTs and webhook
secrets never reach a log, whatever a message or an exception's text carries.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from typing import IO, Any, Protocol

from chalicelib.settings import LOCAL_STAGE, Settings

SERVICE = "crowdact"
NAMESPACE = "crowdact"
APP_LOGGERS = "chalicelib"

_REDACTIONS = (
    (re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer [token]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[jwt]"),
    (re.compile(r"whsec_[A-Za-z0-9_-]+"), "[webhook-secret]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), "[email]"),
)


def redact(text: str) -> str:
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class ReadableFormatter(logging.Formatter):
    """The local stack's lines: time, level, logger, message (and traceback), redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _json_formatter() -> Any:
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    class RedactingJsonFormatter(LambdaPowertoolsFormatter):
        def format(self, record: logging.LogRecord) -> str:
            # The replacements hold no quote or backslash: the JSON stays valid.
            return redact(super().format(record))

    return RedactingJsonFormatter()


class Metrics:
    """Counters for CloudWatch, as EMF lines flushed at the end of each invocation."""

    def __init__(self, stage: str, *, stream: IO[str] | None = None) -> None:
        from aws_lambda_powertools import Metrics as PowertoolsMetrics
        from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
            AmazonCloudWatchEMFProvider,
        )

        self._provider = AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service=SERVICE)
        self._metrics = PowertoolsMetrics(provider=self._provider)
        self._metrics.set_default_dimensions(stage=stage)
        self._stream = stream
        self._lock = threading.Lock()

    def count(self, name: str, value: int = 1) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        with self._lock:
            self._metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

    def flush(self) -> None:
        with self._lock:
            if not self._provider.metric_set:
                return
            if self._stream is None:
                self._metrics.flush_metrics()
                return
            import json

            self._stream.write(json.dumps(self._metrics.serialize_metric_set()) + "\n")
            self._metrics.clear_metrics()


class LoggedMetrics:
    """The local stage's counters: a debug line each, nothing to flush."""

    def __init__(self) -> None:
        self._logger = logging.getLogger(f"{APP_LOGGERS}.metrics")

    def count(self, name: str, value: int = 1) -> None:
        self._logger.debug("metric %s +%d", name, value)

    def flush(self) -> None:
        return None


class ContainerMetrics(Protocol):
    def count(self, name: str, value: int = 1) -> None: ...

    def flush(self) -> None: ...


def build_metrics(settings: Settings) -> ContainerMetrics:
    """EMF counters in AWS; debug lines locally (no EMF noise in the local stack's output)."""
    if settings.stage == LOCAL_STAGE:
        return LoggedMetrics()
    return Metrics(settings.stage)


_configured: list[Any] = []
_lock = threading.Lock()


def configure_logging(settings: Settings, *, stream: IO[str] | None = None) -> Any:
    """Once per container in AWS: the app's loggers (`chalicelib.*`) write Powertools JSON
    lines with a correlation id, redacted. Returns that Powertools Logger.

    The local stage leaves logging to its host: the local stack prints readable, redacted
    lines (`local_log_handler`), and the tests keep pytest's capture.
    """
    if settings.stage == LOCAL_STAGE:
        return None
    with _lock:
        if _configured:
            return _configured[0]
        from aws_lambda_powertools import Logger

        powertools_logger = Logger(
            service=SERVICE, stream=stream, logger_formatter=_json_formatter()
        )
        app_logger = logging.getLogger(APP_LOGGERS)
        app_logger.setLevel(logging.INFO)
        app_logger.propagate = False  # Lambda's own root handler would print each line again
        for old in list(app_logger.handlers):
            app_logger.removeHandler(old)
        app_logger.addHandler(powertools_logger.registered_handler)
        _configured.append(powertools_logger)
        return powertools_logger


def configure_tracing(settings: Settings) -> Any:
    """Once per container in AWS: Powertools Tracer, which patches botocore so every AWS call
    is a subsegment of the invocation's X-Ray trace (functions run with `Tracing: Active`).
    Outside Lambda (the local stack, the tests) the Tracer disables itself; locally it is
    not even built. Returns it, or None."""
    if settings.stage == LOCAL_STAGE:
        return None
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)


def local_log_handler(stream: IO[str] | None = None) -> logging.Handler:
    """The local stack's root handler: readable lines, redacted."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(ReadableFormatter())
    return handler


def set_correlation_id(value: str | None) -> None:
    """Tag this invocation's log lines (AWS: the API Gateway request id or a stream batch's
    first event id). Locally a no-op: one process serves every request."""
    if _configured and _configured[0] is not None:
        _configured[0].set_correlation_id(value)


def reset_for_tests() -> None:
    """Forget the configuration (Powertools keeps its logger, by service name, configured)."""
    with _lock:
        _configured.clear()
        powertools_logger = logging.getLogger(SERVICE)
        for old in list(powertools_logger.handlers):
            powertools_logger.removeHandler(old)
        for marker in ("init", "powertools_handler"):
            if hasattr(powertools_logger, marker):
                delattr(powertools_logger, marker)
        app_logger = logging.getLogger(APP_LOGGERS)
        for old in list(app_logger.handlers):
            app_logger.removeHandler(old)
        app_logger.propagate = True
