"""The `make run` start-up bench: its parsing and verdicts (bench/startup.py), its report rows
and section (bench/report.py), and that results written before it still render."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bench import report
from bench.__main__ import main as bench_main
from bench.local_burst import count_pool_warnings
from bench.startup import (
    HealthPoller,
    OutputReader,
    StartupResult,
    StartupRun,
    parse_steps,
    stop_group,
    summarise,
)

STARTED = (
    "13:14:48 INFO    chalicelib.local.stack: started in 6.37 s (embedded AWS 0.26, tables 0.55, "
    "demo 1.50, stream records 3.88, schedules 0.01, routes 0.19); 1459 stream records delivered"
)
POOL_FULL = (
    "13:15:01 WARNING urllib3.connectionpool: Connection pool is full, discarding connection: "
    "127.0.0.1. Connection pool size: 10"
)
WAIT_SECONDS = 10.0  # bounds a wait on an event, not a figure under test


def run(
    ready_s: float = 6.0,
    pledge_to_count_s: float | None = 0.1,
    ready_to_count_s: float | None = 0.3,
    steps: dict[str, float] | None = None,
    pool_warnings: int = 0,
) -> StartupRun:
    return StartupRun(
        ready_s=ready_s,
        health_200_s=ready_s + 0.01,
        pledge_to_count_s=pledge_to_count_s,
        ready_to_count_s=ready_to_count_s,
        pool_warnings=pool_warnings,
        steps={"embedded AWS": 0.3, "demo": 2.0} if steps is None else steps,
    )


# --- bench/startup.py -----------------------------------------------------------------------


def test_the_started_in_line_gives_every_step_in_order() -> None:
    output = f"starting: http://127.0.0.1:8000 (503 until ready)\n{STARTED}\n\nready: http://x\n"
    assert parse_steps(output) == {
        "embedded AWS": 0.26,
        "tables": 0.55,
        "demo": 1.50,
        "stream records": 3.88,
        "schedules": 0.01,
        "routes": 0.19,
    }
    assert list(parse_steps(output)) == [
        "embedded AWS",
        "tables",
        "demo",
        "stream records",
        "schedules",
        "routes",
    ]


def test_no_started_in_line_gives_no_steps() -> None:
    assert parse_steps("starting: http://127.0.0.1:8000 (503 until ready)\nready: x\n") == {}
    assert parse_steps("") == {}


def test_a_step_without_seconds_is_left_out() -> None:
    assert parse_steps("started in 1.00 s (tables 0.50, odd, routes 0.50)") == {
        "tables": 0.5,
        "routes": 0.5,
    }


def test_pool_warnings_are_counted_per_line() -> None:
    assert count_pool_warnings(f"{STARTED}\n{POOL_FULL}\nready: x\n{POOL_FULL}\n") == 2
    assert count_pool_warnings(STARTED) == 0


def test_medians_and_the_slowest_pledge() -> None:
    result = summarise(
        [
            run(ready_s=6.0, pledge_to_count_s=0.2, ready_to_count_s=0.5),
            run(ready_s=9.0, pledge_to_count_s=0.1, ready_to_count_s=0.4),
            run(ready_s=7.0, pledge_to_count_s=1.9, ready_to_count_s=2.1),
        ]
    )
    assert result.runs == 3
    assert result.startup_s == 7.0
    assert result.ready_to_first_count_s == 0.5
    assert result.pledge_to_count_max_s == 1.9
    assert result.all_within_2s is True
    assert result.ready_s == [6.0, 9.0, 7.0]  # run order, not sorted


def test_exactly_2_s_is_within_the_contract_and_just_over_is_not() -> None:
    assert summarise([run(), run(pledge_to_count_s=2.0), run()]).all_within_2s is True
    assert summarise([run(), run(pledge_to_count_s=2.001), run()]).all_within_2s is False


def test_a_pledge_never_counted_fails_the_contract_but_not_the_medians() -> None:
    result = summarise(
        [
            run(ready_to_count_s=0.4),
            run(pledge_to_count_s=None, ready_to_count_s=None),
            run(ready_to_count_s=0.6),
        ]
    )
    assert result.all_within_2s is False
    assert result.ready_to_first_count_s == 0.5
    assert result.pledge_to_count_max_s == 0.1
    assert result.pledge_to_count_s == [0.1, None, 0.1]


def test_no_pledge_counted_leaves_no_figure() -> None:
    never = run(pledge_to_count_s=None, ready_to_count_s=None)
    result = summarise([never, never, never])
    assert result.ready_to_first_count_s is None
    assert result.pledge_to_count_max_s is None
    assert result.all_within_2s is False


def test_step_medians_skip_runs_that_did_not_log_them() -> None:
    result = summarise(
        [
            run(ready_s=5.0, steps={"embedded AWS": 0.2, "demo": 1.0}),
            run(ready_s=7.0, steps={"embedded AWS": 0.4, "demo": 3.0, "routes": 0.2}),
            run(ready_s=9.0, steps={}),
        ]
    )
    assert result.median_steps == pytest.approx({"embedded AWS": 0.3, "demo": 2.0, "routes": 0.2})
    assert list(result.median_steps) == ["embedded AWS", "demo", "routes"]
    # ready minus the steps' sum, over the runs with steps: 3.8 and 3.4.
    assert result.outside_steps_s == pytest.approx(3.6)


def test_runs_without_steps_give_no_breakdown() -> None:
    result = summarise([run(steps={}), run(steps={}), run(steps={})])
    assert result.median_steps == {}
    assert result.outside_steps_s is None


def test_no_runs_is_an_error() -> None:
    with pytest.raises(ValueError, match="no runs"):
        summarise([])


@pytest.mark.parametrize("runs", ["0", "2", "-1"])
def test_fewer_than_3_startup_runs_are_refused_before_anything_runs(runs: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench_main(["--startup-runs", runs])
    assert exit_info.value.code == 2


def test_the_output_is_copied_and_only_the_ready_line_counts_as_ready(tmp_path: Path) -> None:
    lines = [
        "starting: http://127.0.0.1:8000 (503 until ready)\n",
        f"{STARTED}\n",
        "  API:               http://127.0.0.1:8000   (try: curl ...)\n",
    ]
    log = tmp_path / "out.log"
    reader = OutputReader(io.StringIO("".join(lines)), log)
    reader.join(WAIT_SECONDS)
    assert reader.ready_at is None
    assert not reader.ready.is_set()
    assert log.read_text(encoding="utf-8") == "".join(lines)

    reader = OutputReader(io.StringIO("".join([*lines, "ready: http://127.0.0.1:8000\n"])), log)
    reader.join(WAIT_SECONDS)
    assert reader.ready.is_set()
    assert reader.ready_at is not None


class _Health(BaseHTTPRequestHandler):
    """503 `starting` for the first requests, then 200, as the stack's gate does."""

    answers: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        status = self.answers.pop(0) if self.answers else 200
        body = json.dumps({"status": "ok" if status == 200 else "starting"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    _Health.answers = [503, 503, 503]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_health_503_is_not_yet_and_the_first_200_is_noted(
    health_server: ThreadingHTTPServer,
) -> None:
    poller = HealthPoller(f"http://127.0.0.1:{health_server.server_address[1]}")
    try:
        assert poller.ok.wait(WAIT_SECONDS)
    finally:
        poller.stop()
    assert poller.ok_at is not None
    assert _Health.answers == []  # every 503 was seen before the 200 counted


def test_a_refused_connection_is_not_yet() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    port = server.server_address[1]
    server.server_close()  # nothing listens there now
    poller = HealthPoller(f"http://127.0.0.1:{port}")
    try:
        assert not poller.ok.wait(0.3)
    finally:
        poller.stop()
    assert poller.ok_at is None


# A parent that, like make, waits for its child when interrupted; "up" once the child runs,
# so that SIGINT never lands while either is still starting. It takes SIGINT back first: a
# process started in the background by a non-interactive shell (a CI runner, `cmd &`)
# inherits SIGINT ignored, as would the child, and only SIGKILL would end them.
_PARENT = """
import signal, subprocess, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
child = subprocess.Popen(["sleep", "60"])
print("up", flush=True)
try:
    child.wait()
except KeyboardInterrupt:
    sys.exit(child.wait())
"""


def test_the_whole_process_group_is_stopped_with_sigint() -> None:
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", _PARENT],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "up\n"
    assert stop_group(process) != -signal.SIGKILL  # stopped by SIGINT, not killed
    process.stdout.close()
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)  # nothing of the group is left


# --- bench/report.py ------------------------------------------------------------------------


def startup_result(**changes: Any) -> StartupResult:
    fields: dict[str, Any] = {
        "runs": 3,
        "ready_s": [6.4012, 7.1, 6.2],
        "health_200_s": [6.45, 7.15, 6.25],
        "pledge_to_count_s": [0.08, 0.12, 0.05],
        "ready_to_count_s": [0.3, 0.35, 0.25],
        "pool_warnings": [0, 0, 0],
        "steps": [{"embedded AWS": 0.26, "demo": 1.5}] * 3,
        "startup_s": 6.4012,
        "ready_to_first_count_s": 0.3,
        "pledge_to_count_max_s": 0.12,
        "all_within_2s": True,
        "median_steps": {"embedded AWS": 0.26, "demo": 1.5},
        "outside_steps_s": 4.6,
    }
    fields.update(changes)
    return StartupResult(**fields)


def old_results() -> dict[str, Any]:
    """bench/results.json as a run before the start-up bench wrote it."""
    data: dict[str, Any] = json.loads(report.RESULTS.read_text(encoding="utf-8"))
    for key in ("startup", "startup_s", "ready_to_first_count_s"):
        data.pop(key, None)
    for key in ("startup_s", "pledge_to_count_s"):
        data["targets"].pop(key, None)
    if data["local_burst"] is not None:
        data["local_burst"].pop("pool_warnings", None)
    return data


def with_startup(startup: StartupResult) -> dict[str, Any]:
    data = old_results()
    summary = report._startup(startup)
    assert summary is not None
    data.update(
        startup=summary,
        startup_s=summary["startup_s"],
        ready_to_first_count_s=summary["ready_to_first_count_s"],
    )
    data["targets"].update(report._startup_targets(startup))
    return data


def test_the_results_keep_every_run_rounded_to_the_millisecond() -> None:
    summary = report._startup(startup_result(pledge_to_count_s=[0.08, None, 0.05]))
    assert summary is not None
    assert summary["startup_s"] == 6.401
    assert summary["ready_s"] == [6.401, 7.1, 6.2]
    assert summary["pledge_to_count_s"] == [0.08, None, 0.05]
    assert summary["command"] == "make -s run PORT=<free port>"
    assert report._startup(None) is None


def test_the_targets_are_10_s_to_ready_and_2_s_to_count_in_every_run() -> None:
    targets = report._startup_targets(startup_result())
    assert targets["startup_s"] == {"target": "<= 10", "value": 6.401, "met": True}
    assert targets["pledge_to_count_s"]["met"] is True
    slow = report._startup_targets(startup_result(startup_s=10.5, all_within_2s=False))
    assert slow["startup_s"]["met"] is False
    assert slow["pledge_to_count_s"]["met"] is False
    assert report._startup_targets(None) == {}


def test_the_doc_shows_the_startup_rows_runs_and_steps() -> None:
    doc = report.render_doc(with_startup(startup_result()))
    assert "| `startup_s` (`make run` to `ready:`, with the demo, median of 3) | 6.40 s | " in doc
    assert "≤ 10: met |" in doc
    assert "(slowest 0.12 s) | 0.30 s | ≤ 2 s in every run: met |" in doc
    assert "## Start-up (`make run` to ready, with the demo)" in doc
    assert "`make -s run PORT=<free port>`" in doc
    assert "3 runs:" in doc
    assert "| 2 | 7.10 s | 7.15 s | 0.12 s | 0.35 s | 0 |" in doc
    assert "| stream records |" not in doc
    assert "| demo | 1.50 s |" in doc
    assert "(ready − the steps' sum) | 4.60 s |" in doc
    assert "start-up" not in report._blockers(with_startup(startup_result()))


def test_a_slow_start_or_a_late_count_is_not_met_and_blocks() -> None:
    late = startup_result(
        startup_s=12.0,
        pledge_to_count_s=[0.08, None, 2.5],
        ready_to_count_s=[0.3, None, 2.8],
        pledge_to_count_max_s=2.5,
        all_within_2s=False,
        pool_warnings=[0, 3, 0],
    )
    data = with_startup(late)
    doc = report.render_doc(data)
    assert "≤ 10: **not met** |" in doc
    assert "≤ 2 s in every run: **not met** |" in doc
    assert "| 2 | 7.10 s | 7.15 s | never (30 s) | never (30 s) | 3 |" in doc
    blockers = report._blockers(data)
    assert "the start-up time of `make run`" in blockers
    assert "a pledge counted more than 2 s after its 201" in blockers
    assert "warnings during the start-up" in blockers
    printed = report.table(data)
    assert "NOT MET" in printed.split("startup_s", 1)[1]


def test_no_started_in_line_says_there_is_no_breakdown() -> None:
    doc = report.render_doc(
        with_startup(startup_result(steps=[{}, {}, {}], median_steps={}, outside_steps_s=None))
    )
    assert "The stack logged no `started in` line" in doc


def test_the_printed_table_has_the_startup_rows() -> None:
    printed = report.table(with_startup(startup_result()))
    startup_line, count_line = (
        line
        for line in printed.splitlines()
        if line.startswith(("startup_s", "ready_to_first_count_s"))
    )
    assert "6.40" in startup_line
    assert startup_line.endswith("met")
    assert "0.30" in count_line
    assert "pledge→count max 0.12" in count_line
    assert count_line.endswith("met")


def test_results_written_before_the_startup_bench_still_render() -> None:
    data = old_results()
    doc = report.render_doc(data)
    assert "| `startup_s` (`make run` to ready) | not measured | ≤ 10: **not run** |" in doc
    assert "## Start-up (`make run` to ready, with the demo)" in doc
    assert "Not measured in this run: no figures." in doc
    assert "## Local burst" in doc
    assert "the start-up of `make run`, which this run did not measure" in report._blockers(data)
    assert "startup_s" in report.table(data)
    assert "not measured" in report.table(data)
    if data["local_burst"] is not None:
        assert "not counted" in doc
