"""The local stack's schedule runner: finds the app's schedules, runs them, survives errors."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from chalice.app import Chalice, CloudWatchEvent, Cron, Rate

from chalicelib.local.schedule_runner import (
    DEFAULT_SCHEDULE_SECONDS,
    ScheduleBinding,
    ScheduleRunner,
    schedule_bindings,
    schedule_interval,
)


def test_the_apps_schedules_are_found_on_the_app_object() -> None:
    import app as app_module

    bindings = schedule_bindings(app_module.app)

    assert [(b.name, b.expression) for b in bindings] == [("end_due_challenges", "rate(1 minute)")]
    assert bindings[0].handler is app_module.app.handler_map["end_due_challenges"]


def test_every_schedule_is_found_and_called_with_a_scheduled_event() -> None:
    app = Chalice(app_name="scratch")
    seen: list[tuple[str, CloudWatchEvent]] = []

    @app.schedule(Rate(5, unit=Rate.MINUTES))
    def every_five(event: CloudWatchEvent) -> None:
        seen.append(("every_five", event))

    @app.schedule(Cron(0, 9, "*", "*", "?", "*"))
    def daily(event: CloudWatchEvent) -> None:
        seen.append(("daily", event))

    @app.on_sns_message(topic="unrelated")
    def not_a_schedule(event: Any) -> None:
        raise AssertionError("only schedules run")

    bindings = schedule_bindings(app)
    assert [(b.name, b.expression) for b in bindings] == [
        ("every_five", "rate(5 minutes)"),
        ("daily", "cron(0 9 * * ? *)"),
    ]
    assert ScheduleRunner(bindings, interval=1, region="eu-west-3").run_once() == 0
    assert [name for name, _ in seen] == ["every_five", "daily"]
    event = seen[0][1]
    assert event.detail_type == "Scheduled Event"
    assert event.source == "aws.events"
    assert event.region == "eu-west-3"
    context: Any = event.context
    assert context.get_remaining_time_in_millis() > 0


def test_a_failing_schedule_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[str] = []

    def broken(event: dict[str, Any], context: Any) -> None:
        raise RuntimeError("boom")

    bindings = [
        ScheduleBinding("broken", "rate(1 minute)", broken),
        ScheduleBinding("fine", "rate(1 minute)", lambda e, c: ran.append("fine")),
    ]
    runner = ScheduleRunner(bindings, interval=1, region="eu-west-3")

    assert runner.run_once() == 1
    assert runner.run_once() == 1
    assert ran == ["fine", "fine"]
    assert "schedule broken failed" in caplog.text


def test_the_runner_runs_until_stopped() -> None:
    stop = threading.Event()
    runs = threading.Semaphore(0)

    def handler(event: dict[str, Any], context: Any) -> None:
        runs.release()

    runner = ScheduleRunner(
        [ScheduleBinding("tick", "rate(1 minute)", handler)], interval=0.01, region="eu-west-3"
    )
    thread = threading.Thread(target=runner.run, args=(stop,))
    thread.start()
    assert all(runs.acquire(timeout=5) for _ in range(3))  # it keeps running
    stop.set()
    thread.join(timeout=5)

    assert not thread.is_alive()


def test_ran_once_is_set_after_the_first_round_and_not_before() -> None:
    stop = threading.Event()
    entered = threading.Event()
    release = threading.Event()
    seen_by_the_last: list[bool] = []

    def blocking(event: dict[str, Any], context: Any) -> None:
        entered.set()
        release.wait(timeout=30)

    bindings = [
        ScheduleBinding("blocking", "rate(1 minute)", blocking),
        ScheduleBinding("last", "rate(1 minute)",
                        lambda e, c: seen_by_the_last.append(runner.ran_once.is_set())),
    ]  # fmt: skip
    runner = ScheduleRunner(bindings, interval=60, region="eu-west-3")
    assert not runner.ran_once.is_set()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert entered.wait(timeout=10)
        assert not runner.ran_once.is_set()  # the first handler has not returned yet
        release.set()
        assert runner.ran_once.wait(timeout=10)
        assert seen_by_the_last == [False]  # the round's last handler ran before it was set
    finally:
        release.set()
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_ran_once_is_set_even_when_a_handler_raised(caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()

    def broken(event: dict[str, Any], context: Any) -> None:
        raise RuntimeError("boom")

    runner = ScheduleRunner(
        [ScheduleBinding("broken", "rate(1 minute)", broken)], interval=60, region="eu-west-3"
    )
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert runner.ran_once.wait(timeout=10)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert "schedule broken failed" in caplog.text


def test_a_runner_stopped_before_it_starts_never_runs() -> None:
    stop = threading.Event()
    stop.set()
    ran: list[str] = []
    runner = ScheduleRunner(
        [ScheduleBinding("tick", "rate(1 minute)", lambda e, c: ran.append("tick"))],
        interval=60,
        region="eu-west-3",
    )

    runner.run(stop)

    assert ran == []
    assert not runner.ran_once.is_set()


@pytest.mark.parametrize(
    ("value", "expected"), [(None, DEFAULT_SCHEDULE_SECONDS), ("", 5.0), ("0.5", 0.5), ("10", 10)]
)
def test_the_interval_comes_from_the_environment(value: str | None, expected: float) -> None:
    environ = {} if value is None else {"CROWDACT_LOCAL_SCHEDULE_SECONDS": value}

    assert schedule_interval(environ) == expected


@pytest.mark.parametrize("value", ["0", "-1", "11", "soon", "nan"])
def test_an_interval_the_contract_does_not_allow_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="CROWDACT_LOCAL_SCHEDULE_SECONDS"):
        schedule_interval({"CROWDACT_LOCAL_SCHEDULE_SECONDS": value})
