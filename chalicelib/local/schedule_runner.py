"""Run the Chalice app's `@app.schedule` handlers on a timer, as EventBridge would in AWS."""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalice.app import Chalice, ScheduledEventConfig, ScheduleExpression

from chalicelib.local.embedded_aws import MOTO_ACCOUNT_ID
from chalicelib.local.stream_poller import LocalLambdaContext

logger = logging.getLogger(__name__)

SCHEDULE_SECONDS_VARIABLE = "CROWDACT_LOCAL_SCHEDULE_SECONDS"
DEFAULT_SCHEDULE_SECONDS = 5.0
# The contract: "the local stage checks at least every 10 seconds".
MAX_SCHEDULE_SECONDS = 10.0

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class ScheduleBinding:
    """One scheduled function of the app: its name, its AWS expression, its Lambda handler."""

    name: str
    expression: str
    handler: Handler


def schedule_bindings(app: Chalice) -> list[ScheduleBinding]:
    """Every `@app.schedule` of the app, with the handler Lambda would invoke."""
    return [
        ScheduleBinding(source.name, _expression(source.schedule_expression),
                        app.handler_map[source.name])
        for source in app.event_sources
        if isinstance(source, ScheduledEventConfig)
    ]  # fmt: skip


def _expression(expression: str | ScheduleExpression) -> str:
    return expression if isinstance(expression, str) else expression.to_string()


def schedule_interval(environ: Mapping[str, str] = os.environ) -> float:
    """Seconds between two local runs of every schedule (CROWDACT_LOCAL_SCHEDULE_SECONDS)."""
    raw = environ.get(SCHEDULE_SECONDS_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_SCHEDULE_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= MAX_SCHEDULE_SECONDS:
        raise ValueError(
            f"{SCHEDULE_SECONDS_VARIABLE} must be a number of seconds in (0, "
            f"{MAX_SCHEDULE_SECONDS:g}]: {raw!r}"
        )
    return seconds


def scheduled_event(binding: ScheduleBinding, region: str, now: datetime) -> dict[str, Any]:
    """The event EventBridge sends a scheduled function."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": MOTO_ACCOUNT_ID,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{MOTO_ACCOUNT_ID}:rule/crowdact-{binding.name}"],
        "detail": {},
    }


class ScheduleRunner:
    """Invokes every scheduled handler once per `interval`, one after the other, on one
    thread; a handler's error is logged and the next run goes on, as the next rule firing
    would in AWS."""

    def __init__(
        self,
        bindings: Sequence[ScheduleBinding],
        *,
        interval: float,
        region: str,
        timeout_seconds: float = 60.0,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive: {interval}")
        self._bindings = tuple(bindings)
        self._interval = interval
        self._region = region
        self._timeout_seconds = timeout_seconds
        # Set once every schedule has run once: the local stack is not ready before that.
        self.ran_once = threading.Event()

    @property
    def names(self) -> list[str]:
        return [binding.name for binding in self._bindings]

    def run_once(self) -> int:
        """Invoke each handler once; returns how many raised."""
        failures = 0
        for binding in self._bindings:
            context = LocalLambdaContext(
                function_name=f"crowdact-local-{binding.name}",
                invoked_function_arn=(
                    f"arn:aws:lambda:{self._region}:{MOTO_ACCOUNT_ID}:function:"
                    f"crowdact-local-{binding.name}"
                ),
                timeout_seconds=self._timeout_seconds,
            )
            try:
                binding.handler(scheduled_event(binding, self._region, datetime.now(UTC)), context)
            except Exception:
                failures += 1
                logger.exception("schedule %s failed; it runs again in %gs",
                                 binding.name, self._interval)  # fmt: skip
        return failures

    def run(self, stop: threading.Event) -> None:
        """Run every `interval` until `stop` is set (the first run right away)."""
        while not stop.is_set():
            self.run_once()
            self.ran_once.set()
            if stop.wait(self._interval):
                return
