"""`make run` as a user starts it: time to ready, to the first /health 200, to a counted pledge."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import requests

from bench.local_burst import (
    READY_PREFIX,
    REPO_ROOT,
    Api,
    LocalBurstError,
    count_pool_warnings,
    free_ports,
    tail,
)
from chalicelib.local.tokens import mint_local_token
from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT

MIN_RUNS = 3
COMMAND = "make -s run PORT=<free port>"  # as the doc shows it; AWS_PORT=<free port> in the env
# The stack's own summary: `started in 6.37 s (embedded AWS 0.26, tables 0.55, ...)`.
STARTED_LINE = re.compile(r"started in (?P<total>\d+(?:\.\d+)?) s \((?P<steps>[^)]*)\)")
STEP = re.compile(r"^(?P<name>.+?) (?P<seconds>\d+(?:\.\d+)?)$")
COUNT_WITHIN_SECONDS = 2.0  # the contract: a pledge is counted within 2 s of its 201
START_TIMEOUT_SECONDS = 120.0  # well past the 10 s target: a slow start is a figure, not a crash
HEALTH_AFTER_READY_SECONDS = 10.0  # ready is printed after /health turns 200, so this is slack
COUNT_TIMEOUT_SECONDS = 30.0  # then the pledge is recorded as not counted
STOP_TIMEOUT_SECONDS = 15.0  # after SIGINT, before SIGKILL
HEALTH_POLL_SECONDS = 0.05
COUNT_POLL_SECONDS = 0.02
HEALTH_HTTP_TIMEOUT_SECONDS = 1.0
HTTP_TIMEOUT_SECONDS = 30.0
# A parent make (make bench) passes its jobserver and level; a user's shell does not.
PARENT_MAKE_VARIABLES = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")

Progress = Callable[[str], None]


class StartupError(RuntimeError):
    """The stack did not start, or answered a setup request wrongly: no figure to report."""


@dataclass(frozen=True)
class StartupRun:
    """One `make run`, every time in seconds from just before the process was started."""

    ready_s: float  # the `ready: ` line read from its output
    health_200_s: float  # the first 200 from GET /health
    pledge_to_count_s: float | None  # the pledge's 201 to the first read counting it; None: never
    ready_to_count_s: float | None  # the ready line to that read; None: never counted
    pool_warnings: int  # "Connection pool is full" lines in the whole output
    steps: dict[str, float]  # from the stack's `started in` line; empty if it has none


@dataclass(frozen=True)
class StartupResult:
    """N runs, per-run lists in run order, and the figures the report states (medians)."""

    runs: int
    ready_s: list[float]
    health_200_s: list[float]
    pledge_to_count_s: list[float | None]
    ready_to_count_s: list[float | None]
    pool_warnings: list[int]
    steps: list[dict[str, float]]
    startup_s: float  # median of ready_s
    ready_to_first_count_s: float | None  # median over the counted runs; None if none was
    pledge_to_count_max_s: float | None  # None if no pledge was counted
    all_within_2s: bool  # every run's pledge counted within 2 s of its 201
    median_steps: dict[str, float]  # step -> median over the runs that logged it, in order
    outside_steps_s: float | None  # median of ready_s minus the steps' sum: make, Python, imports


def parse_steps(output: str) -> dict[str, float]:
    """The steps of the last `started in` line of the output, in order; {} if there is none
    (an older stack, or one that did not finish starting): the timings are then ready_s only."""
    matches = list(STARTED_LINE.finditer(output))
    if not matches:
        return {}
    steps: dict[str, float] = {}
    for part in matches[-1].group("steps").split(","):
        step = STEP.match(part.strip())
        if step is not None:
            steps[step.group("name")] = float(step.group("seconds"))
    return steps


def _counted(values: Iterable[float | None]) -> list[float]:
    return [value for value in values if value is not None]


def median_steps(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    """Each step's median over the runs that logged it, in the order the stack runs them."""
    names = list(dict.fromkeys(name for steps in runs for name in steps))
    return {
        name: statistics.median(steps[name] for steps in runs if name in steps) for name in names
    }


def summarise(runs: Sequence[StartupRun]) -> StartupResult:
    """Medians rather than means: one run slowed by the machine should not move the figure."""
    if not runs:
        raise ValueError("no runs to summarise")
    pledge_to_count = [run.pledge_to_count_s for run in runs]
    ready_to_count = [run.ready_to_count_s for run in runs]
    counted = _counted(ready_to_count)
    outside = [run.ready_s - sum(run.steps.values()) for run in runs if run.steps]
    return StartupResult(
        runs=len(runs),
        ready_s=[run.ready_s for run in runs],
        health_200_s=[run.health_200_s for run in runs],
        pledge_to_count_s=pledge_to_count,
        ready_to_count_s=ready_to_count,
        pool_warnings=[run.pool_warnings for run in runs],
        steps=[run.steps for run in runs],
        startup_s=statistics.median(run.ready_s for run in runs),
        ready_to_first_count_s=statistics.median(counted) if counted else None,
        pledge_to_count_max_s=max(_counted(pledge_to_count), default=None),
        all_within_2s=all(
            seconds is not None and seconds <= COUNT_WITHIN_SECONDS for seconds in pledge_to_count
        ),
        median_steps=median_steps([run.steps for run in runs]),
        outside_steps_s=statistics.median(outside) if outside else None,
    )


class OutputReader:
    """Copies the stack's output to a log file line by line, and notes when `ready: ` comes.

    Reading as it comes (not polling the file) times the line to within a read; reading to
    the end keeps the pipe drained, so the stack never blocks on a full pipe."""

    def __init__(self, stream: IO[str], log_path: Path) -> None:
        self._stream = stream
        self.log_path = log_path
        self.ready = threading.Event()
        self.ready_at: float | None = None
        self._thread = threading.Thread(target=self._copy, name="make-run-output", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        with self.log_path.open("w", encoding="utf-8") as log:
            for line in self._stream:
                if self.ready_at is None and line.startswith(READY_PREFIX):
                    self.ready_at = time.monotonic()
                    self.ready.set()
                log.write(line)
                log.flush()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class HealthPoller:
    """GET /health every 50 ms until the first 200; a refused connection or a 503 is "not yet"."""

    def __init__(self, base_url: str) -> None:
        self._url = f"{base_url}/health"
        self._stop = threading.Event()
        self.ok = threading.Event()
        self.ok_at: float | None = None
        self._thread = threading.Thread(target=self._poll, name="health-poller", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                try:
                    status = session.get(self._url, timeout=HEALTH_HTTP_TIMEOUT_SECONDS).status_code
                except requests.RequestException:
                    status = 0
                if status == 200:
                    self.ok_at = time.monotonic()
                    self.ok.set()
                    return
                self._stop.wait(HEALTH_POLL_SECONDS)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(HEALTH_HTTP_TIMEOUT_SECONDS + 1)


def make_env(aws_port: int) -> dict[str, str]:
    """The caller's environment, as a user's shell would pass it, with the AWS port chosen."""
    env = {k: v for k, v in os.environ.items() if k not in PARENT_MAKE_VARIABLES}
    return {**env, "AWS_PORT": str(aws_port)}


def start_make_run(port: int, aws_port: int) -> subprocess.Popen[str]:
    """`make -s run` in a session of its own: SIGINT reaches make and the stack together."""
    make = shutil.which("make")
    if make is None:
        raise StartupError("make is not installed")
    return subprocess.Popen(  # noqa: S603 - make from PATH, our own Makefile
        [make, "-s", "run", f"PORT={port}"],
        cwd=REPO_ROOT,
        env=make_env(aws_port),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,
    )


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member we may not signal still exists
        return True
    return True


def stop_group(process: subprocess.Popen[str]) -> int | None:
    """SIGINT to the whole group, as Ctrl-C in a terminal; SIGKILL if it is not gone in time."""
    pgid = process.pid  # start_new_session: make leads its own group
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):  # gone meanwhile
            os.killpg(pgid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=max(0.0, deadline - time.monotonic()))
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)  # make has exited; its child may still be stopping
    if _group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    return process.wait(timeout=STOP_TIMEOUT_SECONDS)


def wait_ready(process: subprocess.Popen[str], output: OutputReader) -> float:
    """The monotonic time the `ready: ` line was read; an error if the stack exited first."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not output.ready.wait(0.05):
        if process.poll() is not None:
            output.join(1.0)
            if output.ready_at is not None:
                break
            raise StartupError(
                f"make run exited with {process.returncode} before ready:\n{tail(output.log_path)}"
            )
        if time.monotonic() >= deadline:
            raise StartupError(
                f"make run was not ready within {START_TIMEOUT_SECONDS:.0f} s:\n"
                f"{tail(output.log_path)}"
            )
    if output.ready_at is None:  # set before the event: cannot happen, but typed
        raise StartupError("ready without a time")
    return output.ready_at


def pledge_and_wait_for_count(base_url: str) -> tuple[float, float | None]:
    """A new challenge, one pledge by a new participant, then reads until it is counted.

    Returns the monotonic times of the pledge's 201 and of the first read counting it (None
    after COUNT_TIMEOUT_SECONDS). The 2 s contract starts at the 201, as a user sees it."""
    api = Api(base_url)
    try:
        challenge_id = str(api.create_live_challenge(target=10)["id"])
    except LocalBurstError as error:
        raise StartupError(str(error)) from error
    secret = os.environ.get("CROWDACT_LOCAL_JWT_SECRET") or LOCAL_JWT_SECRET_DEFAULT
    token = mint_local_token(secret, f"startup-{uuid.uuid4().hex[:12]}")
    response = api.session.post(
        f"{base_url}/challenges/{challenge_id}/pledges",
        json={},
        headers={"Authorization": f"Bearer {token}"},
        timeout=HTTP_TIMEOUT_SECONDS,
    )
    pledged_at = time.monotonic()
    if response.status_code != 201:
        raise StartupError(f"pledge: {response.status_code} (expected 201) {response.text}")
    deadline = pledged_at + COUNT_TIMEOUT_SECONDS
    while True:
        participants = api.progress(challenge_id)["participants"]
        read_at = time.monotonic()
        if participants == 1:
            return pledged_at, read_at
        if read_at >= deadline:
            return pledged_at, None
        time.sleep(COUNT_POLL_SECONDS)


def measure_run(log_path: Path) -> StartupRun:
    """One `make run` from start to stop; the stack is stopped whatever happens."""
    port, aws_port = free_ports(2)
    base_url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    process = start_make_run(port, aws_port)
    if process.stdout is None:
        raise StartupError("make run has no output pipe")
    output = OutputReader(process.stdout, log_path)
    health = HealthPoller(base_url)
    try:
        ready_at = wait_ready(process, output)
        if not health.ok.wait(HEALTH_AFTER_READY_SECONDS) or health.ok_at is None:
            raise StartupError(f"ready, but GET /health never answered 200:\n{tail(log_path)}")
        pledged_at, counted_at = pledge_and_wait_for_count(base_url)
    finally:
        health.stop()
        stop_group(process)
        output.join(STOP_TIMEOUT_SECONDS)
        process.stdout.close()
    text = log_path.read_text(encoding="utf-8", errors="replace")
    return StartupRun(
        ready_s=ready_at - started,
        health_200_s=health.ok_at - started,
        pledge_to_count_s=None if counted_at is None else counted_at - pledged_at,
        ready_to_count_s=None if counted_at is None else counted_at - ready_at,
        pool_warnings=count_pool_warnings(text),
        steps=parse_steps(text),
    )


def _describe(index: int, runs: int, run: StartupRun) -> str:
    counted = (
        "not counted"
        if run.pledge_to_count_s is None or run.ready_to_count_s is None
        else f"pledge counted {run.pledge_to_count_s:.2f} s after its 201 "
        f"({run.ready_to_count_s:.2f} s after ready)"
    )
    return (
        f"make run {index}/{runs}: ready {run.ready_s:.2f} s, /health 200 at "
        f"{run.health_200_s:.2f} s, {counted}, {run.pool_warnings} pool warnings"
    )


def measure_startup(runs: int = 5, *, progress: Progress) -> StartupResult:
    """`make run` (with the demo) `runs` times, one after the other, each on fresh ports."""
    if runs < MIN_RUNS:
        raise ValueError(f"at least {MIN_RUNS} runs")
    measured: list[StartupRun] = []
    with tempfile.TemporaryDirectory(prefix="crowdact-startup-") as directory:
        for index in range(1, runs + 1):
            run = measure_run(Path(directory) / f"make-run-{index}.log")
            progress(_describe(index, runs, run))
            measured.append(run)
    return summarise(measured)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument(
        "--runs", type=int, default=5, help=f"starts of make run (default 5, at least {MIN_RUNS})"
    )
    args = parser.parse_args(argv)
    if args.runs < MIN_RUNS:
        parser.error(f"--runs must be at least {MIN_RUNS}")
    t0 = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s] {message}", file=sys.stderr, flush=True)

    result = measure_startup(args.runs, progress=progress)
    print(json.dumps(dataclasses.asdict(result), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
