"""A locust burst of pledges on one challenge of the real local stack, counted and notified once,
with the stream lag of the three public counts (bench.stream_lag says what each one measures)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import requests

from bench.stream_lag import READS, LagWatcher, Observation, gaps, pledge_lags
from chalicelib.local.embedded_aws import fetch_sent_emails
from chalicelib.local.tokens import mint_local_token
from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
ROLES = ("sponsor", "beneficiary")
READY_PREFIX = "ready: "
# urllib3's warning when more connections are opened than a pool keeps: a sign of a client
# pool smaller than the threads sharing it (each such connection is opened, used, discarded).
POOL_FULL = "Connection pool is full"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0
HTTP_TIMEOUT_SECONDS = 30.0
# No new pledge starts after this; those in flight are still answered and counted.
BURST_DEADLINE_SECONDS = 240
# locust's own --run-time (which kills users mid-request) comes only after this grace, and the
# locust process is killed only after that grace again.
LOCUST_GRACE_SECONDS = 60
# moto's /moto-api/data.json dumps every object moto ever tracked: slow after a big burst.
SES_READ_TIMEOUT_SECONDS = 120.0
SETTLE_TIMEOUT_SECONDS = 60.0  # after the burst: until counted and both e-mails sent
# After the burst, until every public count shows every 201: longer, as a trigger that falls
# behind during the burst (the campaign's) catches up after it, and its lag is the figure.
LAG_SETTLE_TIMEOUT_SECONDS = 120.0
# Then a pause for late stream records or redeliveries to show up as a second message.
REDELIVERY_WATCH_SECONDS = 3.0
POLL_SECONDS = 0.2
OUTPUT_TAIL_CHARS = 4000

Progress = Callable[[str], None]


@dataclass(frozen=True)
class LocalBurstResult:
    """One burst; `seconds` runs from the first pledge sent to the last one answered."""

    pledges: int  # requests made
    errors: int  # answers other than 201, no answer included
    exact_count: bool  # published count == successful (unique) pledges, after the stream settled
    notifications_per_recipient: dict[str, int]  # role -> sent challenge.reached e-mails
    throughput_per_s: float
    p50_ms: float
    p99_ms: float
    users: int
    seconds: float
    pool_warnings: int  # "Connection pool is full" lines in the stack's output, burst included
    # From each 201 to the first read showing it, per read (bench.stream_lag.READS): p50, p99
    # and max in ms over the pledges seen; those never seen before the settling's deadline are
    # in lag_missing, not in these figures.
    stream_lag_ms: dict[str, dict[str, float]]
    lag_poll_seconds: float  # the watcher's wait after each round of the three reads
    lag_resolution_ms: dict[str, dict[str, float]]  # p50 and max time between two reads
    lag_read_ms: dict[str, dict[str, float]]  # p50 and p99 of a read's own time (overstatement)
    lag_observations: dict[str, int]  # answers read, per read
    lag_missing: dict[str, int]  # 201s that no observation of the read showed
    lag_read_errors: dict[str, int]  # reads that gave no count (error or no answer)
    # The stack process's CPU time (user + system) while locust ran, per request: the stack
    # is one interpreter, so the rate it can reach is about 1000 / this, all cores aside.
    # None where /proc is not there to read it.
    stack_cpu_ms_per_pledge: float | None = None


class LocalBurstError(RuntimeError):
    """The stack or locust failed, or the delivery log and SES disagree."""


@dataclass(frozen=True)
class BurstOutcome:
    """What the locust process saw: one status and latency per pledge request."""

    statuses: list[int]
    latencies_ms: list[float]
    created_at: list[float]  # time.time() at each 201's answer, in the locust process
    seconds: float
    cut_short: bool  # the deadline came before the quota was used
    unanswered: int  # requests locust abandoned (only if its --run-time struck)
    error_samples: list[str]

    @classmethod
    def load(cls, path: Path) -> BurstOutcome:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            [int(status) for status in data["statuses"]],
            [float(ms) for ms in data["latencies_ms"]],
            [float(at) for at in data["created_at"]],
            float(data["seconds"]),
            bool(data["cut_short"]),
            int(data["unanswered"]),
            [str(sample) for sample in data["error_samples"]],
        )

    @property
    def created(self) -> int:
        return sum(1 for status in self.statuses if status == 201)


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all held open together, so none is handed out twice)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def percentile(values: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def count_pool_warnings(output: str) -> int:
    """Lines of the output with urllib3's pool-full warning (the target is none)."""
    return sum(1 for line in output.splitlines() if POOL_FULL in line)


def tail(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-OUTPUT_TAIL_CHARS:]
    except OSError:
        return ""


def child_env() -> dict[str, str]:
    # The repo root on the path, whatever the caller's working directory.
    pythonpath = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "CROWDACT_STAGE": "local", "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": pythonpath}  # fmt: skip


class LocalStack:
    """`python -m chalicelib.local --no-demo` on free loopback ports, its output in a file."""

    def __init__(self, log_path: Path) -> None:
        self.port, self.aws_port = free_ports(2)
        self.log_path = log_path
        self._log: IO[str] | None = None
        self._process: subprocess.Popen[str] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def aws_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    @property
    def pid(self) -> int:
        return self._require_process().pid

    def start(self) -> None:
        args = [sys.executable, "-m", "chalicelib.local", "--port", str(self.port),
                "--aws-port", str(self.aws_port), "--no-demo"]  # fmt: skip
        self._log = self.log_path.open("w", encoding="utf-8")
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            args,
            cwd=REPO_ROOT,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_ready(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Until the `ready: ` line: the stack prints it once /health answers 200, after the
        tables, stream pollers, schedules and routes are up. The port opens earlier, with a
        `starting: ` line, and answers 503 until then: neither counts as ready here."""
        process = self._require_process()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise LocalBurstError(
                    f"the local stack exited with {process.returncode} before it was ready:\n"
                    f"{tail(self.log_path)}"
                )
            log = self.log_path.read_text(encoding="utf-8", errors="replace")
            if any(line.startswith(READY_PREFIX) for line in log.splitlines()):
                return
            time.sleep(POLL_SECONDS)
        raise LocalBurstError(
            f"the local stack was not ready within {timeout:.0f} s:\n{tail(self.log_path)}"
        )

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the stack process has used so far (Linux), or None."""
        if self._process is None:
            return None
        try:
            stat = Path(f"/proc/{self._process.pid}/stat").read_text(encoding="utf-8")
        except OSError:
            return None
        fields = stat.rpartition(")")[2].split()  # after the command, which may hold spaces
        # utime and stime: the 14th and 15th fields of the line, in clock ticks.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory(self) -> str:
        """The stack process's resident and peak memory (Linux), for the progress log."""
        if self._process is None:
            return "unknown"
        try:
            status = Path(f"/proc/{self._process.pid}/status").read_text(encoding="utf-8")
        except OSError:
            return "unknown"
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return f"RSS {fields.get('VmRSS', '?').strip()}, peak {fields.get('VmHWM', '?').strip()}"

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> int | None:
        """SIGINT, as Ctrl-C would, then the exit code; killed if it does not exit in time."""
        process = self._process
        try:
            if process is None:
                return None
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=STOP_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=STOP_TIMEOUT_SECONDS)
            return process.returncode
        finally:
            if self._log is not None:
                self._log.close()

    def _require_process(self) -> subprocess.Popen[str]:
        if self._process is None:
            raise LocalBurstError("the local stack was not started")
        return self._process


class Api:
    """The few HTTP calls the burst needs besides the pledges themselves."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        secret = os.environ.get("CROWDACT_LOCAL_JWT_SECRET") or LOCAL_JWT_SECRET_DEFAULT
        admin = mint_local_token(secret, "bench-admin", groups=["admin"], name="Bench admin")
        self.admin_headers = {"Authorization": f"Bearer {admin}"}

    def _json(self, method: str, path: str, expected: int, **kwargs: Any) -> dict[str, Any]:
        response = self.session.request(
            method, self.base_url + path, timeout=HTTP_TIMEOUT_SECONDS, **kwargs
        )
        if response.status_code != expected:
            raise LocalBurstError(
                f"{method} {path}: {response.status_code} (expected {expected}) {response.text}"
            )
        body: dict[str, Any] = response.json()
        return body

    def create_campaign(self) -> dict[str, Any]:
        """A public campaign for the burst's challenge, so its totals are measured too."""
        body = {"title": f"Local burst campaign {uuid.uuid4().hex[:10]}"}
        return self._json("POST", "/admin/campaigns", 201, json=body, headers=self.admin_headers)

    def create_live_challenge(
        self, target: int, *, campaign_id: str | None = None
    ) -> dict[str, Any]:
        tag = uuid.uuid4().hex[:10]
        body: dict[str, Any] = {
            "title": f"Local burst {tag}",
            "action": "I cycle to work at least once a week",
            "target": {"metric": "participants", "value": target},
            "sponsor": {"name": "Ville de Bench", "email": f"sponsor-{tag}@sponsor.example"},
            "beneficiary": {"name": "Asso Bench", "email": f"asso-{tag}@beneficiary.example"},
            "reward": "€1,000 to teach pupils bike repair",
            "publish": True,
        }
        if campaign_id is not None:
            body["campaign_id"] = campaign_id
        challenge = self._json(
            "POST", "/admin/challenges", 201, json=body, headers=self.admin_headers
        )
        if challenge.get("status") != "live":
            raise LocalBurstError(f"the new challenge is not live: {challenge}")
        return challenge

    def progress(self, challenge_id: str) -> dict[str, Any]:
        progress: dict[str, Any] = self._json("GET", f"/challenges/{challenge_id}", 200)["progress"]
        return progress

    def sent_reached_emails(self, challenge: dict[str, Any]) -> dict[str, int]:
        """Sent challenge.reached e-mails in the delivery log, by role, to that role's address."""
        path = f"/admin/challenges/{challenge['id']}/notifications"
        # One role at a time: participants' entries (one each) would page the log.
        items: list[dict[str, Any]] = [
            item
            for role in ROLES
            for item in self._json(
                "GET",
                path,
                200,
                headers=self.admin_headers,
                params={"recipient_role": role, "limit": 100},
            )["items"]
        ]
        sent = {role: 0 for role in ROLES}
        for item in items:
            role = item["recipient_role"]
            if (
                role in sent
                and item["event"] == "challenge.reached"
                and item["channel"] == "email"
                and item["status"] == "sent"
                and item["to"] == challenge[role]["email"]
            ):
                sent[role] += 1
        return sent


def run_locust(
    base_url: str, challenge_id: str, *, pledges: int, users: int, workdir: Path
) -> BurstOutcome:
    """Locust in its own process (gevent's monkey-patching stays out of this one)."""
    results = workdir / "locust-outcomes.json"
    log_path = workdir / "locust.log"
    args = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "--users", str(users), "--spawn-rate", str(users), "--host", base_url,
        "--run-time", f"{BURST_DEADLINE_SECONDS + LOCUST_GRACE_SECONDS}s", "--stop-timeout", "10",
        "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0",
        "--burst-challenge", challenge_id, "--burst-pledges", str(pledges),
        "--burst-results", str(results), "--burst-deadline", str(BURST_DEADLINE_SECONDS),
    ]  # fmt: skip
    with log_path.open("w", encoding="utf-8") as log:
        try:
            completed = subprocess.run(  # noqa: S603 - our own interpreter and locustfile
                args,
                cwd=REPO_ROOT,
                env=child_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=BURST_DEADLINE_SECONDS + 2 * LOCUST_GRACE_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise LocalBurstError(f"locust did not exit in time:\n{tail(log_path)}") from error
    if completed.returncode != 0 or not results.exists():
        raise LocalBurstError(
            f"locust exited with {completed.returncode} (outcomes written: {results.exists()}):\n"
            f"{tail(log_path)}"
        )
    return BurstOutcome.load(results)


def wait_until_settled(
    api: Api, challenge: dict[str, Any], created: int, progress: Progress
) -> tuple[int, dict[str, int]]:
    """Poll until the count shows every created pledge and both e-mails are sent (bounded)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    started = time.monotonic()
    counted = -1
    sent = {role: 0 for role in ROLES}
    while True:
        if counted != created:
            counted = api.progress(challenge["id"])["participants"]
            if counted == created:
                progress(f"count shows {counted} after {time.monotonic() - started:.1f} s")
        if any(count < 1 for count in sent.values()):
            sent = api.sent_reached_emails(challenge)
        settled = counted == created and all(count >= 1 for count in sent.values())
        if settled or time.monotonic() >= deadline:
            if not settled:
                progress(f"not settled within {SETTLE_TIMEOUT_SECONDS:.0f} s: count {counted} "
                         f"of {created}, sent e-mails {sent}")  # fmt: skip
            return counted, sent
        time.sleep(POLL_SECONDS)


def ses_messages(aws_endpoint: str, challenge: dict[str, Any]) -> dict[str, int]:
    emails = fetch_sent_emails(aws_endpoint, timeout=SES_READ_TIMEOUT_SECONDS)
    return {
        role: sum(1 for email in emails if challenge[role]["email"] in email.to) for role in ROLES
    }


@dataclass(frozen=True)
class StreamLag:
    """Per read (bench.stream_lag.READS): the lag figures of LocalBurstResult."""

    ms: dict[str, dict[str, float]]  # p50, p99 and max over the pledges seen
    resolution_ms: dict[str, dict[str, float]]  # p50 and max gap between two observations
    read_ms: dict[str, dict[str, float]]  # p50 and p99 of the reads' own durations
    observations: dict[str, int]
    missing: dict[str, int]


def stream_lag(
    created_at: Sequence[float], observations: Mapping[str, Sequence[Observation]]
) -> StreamLag:
    """Each read's lag percentiles over the 201s it showed; the others are counted missing."""
    ms: dict[str, dict[str, float]] = {}
    resolution: dict[str, dict[str, float]] = {}
    read_ms: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}
    missing: dict[str, int] = {}
    for name, seen in observations.items():
        lags = pledge_lags(created_at, seen)
        values = [1000 * seconds for seconds in lags.seconds]
        ms[name] = {
            "p50": percentile(values, 50),
            "p99": percentile(values, 99),
            "max": max(values, default=0.0),
        }
        between = [1000 * seconds for seconds in gaps(seen)]
        resolution[name] = {"p50": percentile(between, 50), "max": max(between, default=0.0)}
        took = [1000 * observation.took for observation in seen]
        read_ms[name] = {"p50": percentile(took, 50), "p99": percentile(took, 99)}
        counts[name] = len(seen)
        missing[name] = lags.missing
    return StreamLag(ms, resolution, read_ms, counts, missing)


def report_outcome(outcome: BurstOutcome, progress: Progress) -> None:
    errors = len(outcome.statuses) - outcome.created
    progress(f"burst: {len(outcome.statuses)} answered in {outcome.seconds:.1f} s, "
             f"{outcome.created} created, {errors} errors")  # fmt: skip
    if outcome.cut_short:
        progress(f"burst cut short by its {BURST_DEADLINE_SECONDS} s deadline")
    if outcome.unanswered:
        progress(f"{outcome.unanswered} requests abandoned by locust: the count may exceed 201s")
    for sample in outcome.error_samples:
        progress(f"  error: {sample}")


def report_lag(lag: StreamLag, watcher: LagWatcher, progress: Progress) -> None:
    for name in READS:
        figures, gap, took = lag.ms[name], lag.resolution_ms[name], lag.read_ms[name]
        progress(f"stream lag {name}: p50 {figures['p50']:.0f} ms, p99 {figures['p99']:.0f} ms, "
                 f"max {figures['max']:.0f} ms; {lag.missing[name]} never seen; "
                 f"{lag.observations[name]} reads, one every {gap['p50']:.0f} ms (median, "
                 f"longest gap {gap['max']:.0f} ms), each taking {took['p50']:.0f} ms (p50, "
                 f"p99 {took['p99']:.0f} ms), {watcher.errors[name]} failed")  # fmt: skip
    for sample in watcher.error_samples:
        progress(f"  read error: {sample}")


def run_watched_burst(
    api: Api,
    stack: LocalStack,
    challenge: dict[str, Any],
    campaign_id: str,
    *,
    pledges: int,
    users: int,
    workdir: Path,
    progress: Progress,
) -> tuple[BurstOutcome, LagWatcher, float | None]:
    """Locust's burst, with the counts read from before its first pledge until each read
    shows every 201, or the settling's deadline passes; and the stack's CPU time per pledge
    request while locust ran (ms; None where it cannot be read)."""
    watcher = LagWatcher(stack.base_url, challenge["id"], campaign_id)
    watcher.start()
    try:
        cpu_before = stack.cpu_seconds()
        outcome = run_locust(
            stack.base_url, challenge["id"], pledges=pledges, users=users, workdir=workdir
        )
        cpu_after = stack.cpu_seconds()
        deadline = time.monotonic() + LAG_SETTLE_TIMEOUT_SECONDS
        report_outcome(outcome, progress)
        wait_until_settled(api, challenge, outcome.created, progress)
        if not watcher.wait_until_counted(outcome.created, deadline):
            shown = {name: watcher.latest(name) for name in READS}
            progress(f"the reads did not all show {outcome.created} within "
                     f"{LAG_SETTLE_TIMEOUT_SECONDS:.0f} s of the burst: {shown}")  # fmt: skip
    finally:
        watcher.stop()
    cpu_ms = (
        None
        if cpu_before is None or cpu_after is None or not outcome.statuses
        else round(1000 * (cpu_after - cpu_before) / len(outcome.statuses), 2)
    )
    return outcome, watcher, cpu_ms


def measure(
    api: Api,
    stack: LocalStack,
    *,
    pledges: int,
    users: int,
    workdir: Path,
    progress: Progress,
) -> LocalBurstResult:
    target = max(1, pledges // 2)
    campaign = api.create_campaign()
    challenge = api.create_live_challenge(target, campaign_id=campaign["id"])
    progress(f"challenge {challenge['id']} live in campaign {campaign['id']}, target {target} "
             f"participants; locust: {pledges} pledges by {users} users")  # fmt: skip
    outcome, watcher, cpu_ms = run_watched_burst(
        api, stack, challenge, campaign["id"], pledges=pledges, users=users, workdir=workdir,
        progress=progress,
    )  # fmt: skip
    lag = stream_lag(outcome.created_at, watcher.observations)
    report_lag(lag, watcher, progress)
    time.sleep(REDELIVERY_WATCH_SECONDS)
    counted = api.progress(challenge["id"])["participants"]
    sent = api.sent_reached_emails(challenge)
    reading = time.monotonic()
    received = ses_messages(stack.aws_endpoint, challenge)
    progress(f"SES messages read in {time.monotonic() - reading:.1f} s; "
             f"stack memory {stack.memory()}")  # fmt: skip
    progress(f"final: count {counted}, delivery log {sent}, SES {received}")
    if received != sent:
        raise LocalBurstError(f"the delivery log ({sent}) and SES ({received}) disagree")
    # After the burst, the settling and the SES read: every request of the run is in the log.
    pool_warnings = count_pool_warnings(
        stack.log_path.read_text(encoding="utf-8", errors="replace")
    )
    progress(f"stack output: {pool_warnings} {POOL_FULL!r} warnings")
    seconds = outcome.seconds
    return LocalBurstResult(
        pledges=len(outcome.statuses),
        errors=len(outcome.statuses) - outcome.created,
        # Each pledge is a new participant, so every 201 is one unique pledge.
        exact_count=counted == outcome.created,
        notifications_per_recipient=sent,
        throughput_per_s=len(outcome.statuses) / seconds if seconds > 0 else 0.0,
        p50_ms=percentile(outcome.latencies_ms, 50),
        p99_ms=percentile(outcome.latencies_ms, 99),
        users=users,
        seconds=seconds,
        pool_warnings=pool_warnings,
        stack_cpu_ms_per_pledge=cpu_ms,
        stream_lag_ms=lag.ms,
        lag_poll_seconds=watcher.interval,
        lag_resolution_ms=lag.resolution_ms,
        lag_read_ms=lag.read_ms,
        lag_observations=lag.observations,
        lag_missing=lag.missing,
        lag_read_errors=dict(watcher.errors),
    )


def run_local_burst(
    *, pledges: int = 5000, users: int = 50, progress: Progress
) -> LocalBurstResult:
    """Start the local stack, burst pledges on one challenge with locust, check the outcome."""
    if pledges < 1 or users < 1:
        raise ValueError("pledges and users must be positive")
    with tempfile.TemporaryDirectory(prefix="crowdact-local-burst-") as directory:
        workdir = Path(directory)
        stack = LocalStack(workdir / "stack.log")
        progress(f"local stack: starting on {stack.base_url}")
        stack.start()
        try:
            stack.wait_ready()
            progress("local stack: ready")
            result = measure(
                Api(stack.base_url), stack, pledges=pledges, users=users, workdir=workdir,
                progress=progress,
            )  # fmt: skip
            if not stack.alive():
                raise LocalBurstError(f"the local stack died:\n{tail(stack.log_path)}")
        finally:
            code = stack.stop()
            progress(f"local stack: stopped (exit code {code})")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.local_burst", description=__doc__)
    parser.add_argument("--pledges", type=int, default=5000, help="pledge requests (default 5000)")
    parser.add_argument("--users", type=int, default=50, help="locust users (default 50)")
    args = parser.parse_args(argv)
    if args.pledges < 1 or args.users < 1:
        parser.error("--pledges and --users must be positive")
    t0 = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s] {message}", file=sys.stderr, flush=True)

    result = run_local_burst(pledges=args.pledges, users=args.users, progress=progress)
    print(json.dumps(dataclasses.asdict(result), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
