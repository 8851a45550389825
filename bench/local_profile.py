"""Where a `make run` burst's time goes: py-spy samples the local stack's process during a
locust burst (the one `bench.local_burst` runs), and each sample is put in one component.

py-spy runs outside the stack's process (`--nonblocking`: it reads the interpreter's memory
without pausing it) and samples only the thread that holds the GIL (`--gil`), so the samples
say where the process's one interpreter spends its time; their count over the samples the
run could have taken says how busy that interpreter was (near 100%: the stack is bound by
its GIL, and more threads cannot make it faster).

A sample's component is the first of these found walking its stack from the innermost frame
outwards: moto (the DynamoDB and SES emulation), the AWS SDK (botocore, PynamoDB, boto3,
urllib3), JWT verification (PyJWT, cryptography), pydantic, Chalice (its local server's
request and event translation, routing), the HTTP server (http.server, socketserver), the
logging, crowdact's own code, else the rest of the standard library. Its role is the thread's:
an API request, a stream trigger's poller, or another thread.

`python -m bench.local_profile --label before` writes bench/local_profile.json (one entry per
label, with the command that produced it); `make bench` renders the entries in
docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.local_burst import Api, LocalStack, Progress, percentile, run_locust

REPO_ROOT = Path(__file__).resolve().parents[1]
PROFILES = REPO_ROOT / "bench" / "local_profile.json"
RATE_HZ = 200
STOP_TIMEOUT_SECONDS = 30.0

# (component, path prefixes of a frame's file as py-spy writes it: relative to its
# sys.path entry), checked in this order for each frame from the innermost outwards: the
# first frame that matches decides.
COMPONENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("moto (AWS emulation)", ("moto/", "responses/", "werkzeug/", "jsonpath_ng/", "xmltodict")),
    ("AWS SDK (botocore, PynamoDB)", ("botocore/", "boto3/", "pynamodb/", "urllib3/",
                                      "s3transfer/", "dateutil/")),
    ("JWT verification", ("jwt/", "cryptography/", "chalicelib/auth.py")),
    ("pydantic", ("pydantic/", "pydantic_core/")),
    ("Chalice (local server, event translation, routing)", ("chalice/",)),
    ("HTTP server (http.server, socketserver)", ("http/server.py", "socketserver.py",
                                                 "http/client.py", "email/")),
    ("logging", ("logging/", "aws_lambda_powertools/logging")),
    ("local stack plumbing (in-process AWS, pollers)", ("chalicelib/local/",)),
    ("crowdact code", ("chalicelib/", "app.py", "aws_lambda_powertools/")),
)  # fmt: skip
OTHER = "standard library, other"
ROLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("stream triggers", ("stream_poller.py",)),
    ("schedules", ("schedule_runner.py",)),
    ("API requests", ("process_request_thread", "http_server.py", "/chalice/local.py")),
)
OTHER_ROLE = "other threads"
# What a sample was doing, by the frames anywhere in its stack: (step, markers), in order.
STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("pledge: Idempotency-Key record written as in progress", ("save_inprogress",)),
    ("pledge: Idempotency-Key record updated with the answer", ("save_success",)),
    ("pledge: the pledge's transaction", ("DynamoPledgeRepository.add",)),
    ("request: JWT verification", ("Authenticator.",)),
    ("request: the rest of the pledge route", ("chalicelib/api/",)),
    ("request: HTTP server and Chalice", ("process_request_thread",)),
    ("streams: reading records", ("StreamPoller._fetch", "StreamPoller._discover_shards")),
    ("streams: the triggers", ("stream_poller.py",)),
)
OTHER_STEP = "other"


def frame_file(frame: str) -> str:
    """`function (path/file.py:123)` → `path/file.py`."""
    inside = frame.rpartition(" (")[2].rstrip(")")
    return inside.rpartition(":")[0] or inside


def component(frames: Sequence[str]) -> str:
    """The component of one sample (`frames`: outermost first, as py-spy writes them)."""
    return deciding(frames)[0]


def deciding(frames: Sequence[str]) -> tuple[str, str]:
    """The sample's component and the frame that decided it (the innermost matching one)."""
    for frame in reversed(frames):
        path = frame_file(frame)
        for name, prefixes in COMPONENTS:
            if path.startswith(prefixes):
                return name, frame
    return OTHER, frames[-1] if frames else ""


def step(frames: Sequence[str]) -> str:
    for name, markers in STEPS:
        if any(marker in frame for frame in frames for marker in markers):
            return name
    return OTHER_STEP


def role(frames: Sequence[str]) -> str:
    for name, markers in ROLES:
        if any(marker in frame for frame in frames for marker in markers):
            return name
    return OTHER_ROLE


@dataclass
class Profile:
    label: str
    command: str
    measured_at: str
    pledges: int
    users: int
    seconds: float  # the burst's, first pledge sent to last answered
    throughput_per_s: float
    p50_ms: float
    p99_ms: float
    samples: int  # samples in which a thread held the GIL
    possible_samples: int  # what the sampling rate allowed over the profiled span
    by_component: dict[str, int] = field(default_factory=dict)
    by_role: dict[str, int] = field(default_factory=dict)
    by_role_and_component: dict[str, dict[str, int]] = field(default_factory=dict)
    # The innermost crowdact, local-stack or Chalice frames, with their samples.
    top_frames: dict[str, int] = field(default_factory=dict)
    by_step: dict[str, int] = field(default_factory=dict)

    @property
    def gil_busy(self) -> float:
        return self.samples / self.possible_samples if self.possible_samples else 0.0


@dataclass
class Tally:
    components: Counter[str] = field(default_factory=Counter)
    roles: Counter[str] = field(default_factory=Counter)
    both: dict[str, Counter[str]] = field(default_factory=dict)
    frames: Counter[str] = field(default_factory=Counter)
    steps: Counter[str] = field(default_factory=Counter)


OWN_PREFIXES = ("chalicelib/", "app.py", "chalice/")


def tally(lines: Iterable[str]) -> Tally:
    """Samples per component, per role, and per role and component, from py-spy's raw
    (collapsed) output: `frame;frame;... count` per line; and the innermost of our own
    frames in each sample."""
    result = Tally()
    for line in lines:
        stack, _, count_text = line.rstrip("\n").rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        count = int(count_text)
        where, who = component(frames), role(frames)
        result.components[where] += count
        result.roles[who] += count
        result.both.setdefault(who, Counter())[where] += count
        result.steps[step(frames)] += count
        own = next((f for f in reversed(frames) if frame_file(f).startswith(OWN_PREFIXES)), None)
        if own is not None:
            result.frames[f"{where}: {own}"] += count
    return result


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise RuntimeError("py-spy is not installed: it is in requirements-dev.txt")
    return found


def profile_burst(
    *,
    label: str,
    pledges: int,
    users: int,
    command: str,
    progress: Progress,
    keep_raw: Path | None = None,
) -> Profile:
    with tempfile.TemporaryDirectory(prefix="crowdact-local-profile-") as directory:
        workdir = Path(directory)
        stack = LocalStack(workdir / "stack.log")
        stack.start()
        try:
            stack.wait_ready()
            api = Api(stack.base_url)
            challenge = api.create_live_challenge(max(1, pledges // 2))
            raw = workdir / "samples.txt"
            spy = subprocess.Popen(  # noqa: S603 - py-spy from this venv, on our own child
                [_py_spy(), "record", "--pid", str(stack.pid), "--format", "raw", "--gil",
                 "--nonblocking", "--threads", "--rate", str(RATE_HZ), "--output", str(raw)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            started = time.monotonic()
            progress(f"profiling {pledges} pledges by {users} users (py-spy at {RATE_HZ} Hz)")
            outcome = run_locust(
                stack.base_url, challenge["id"], pledges=pledges, users=users, workdir=workdir
            )
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=STOP_TIMEOUT_SECONDS)
            span = time.monotonic() - started
            lines = raw.read_text(encoding="utf-8", errors="replace").splitlines()
            if keep_raw is not None:
                shutil.copyfile(raw, keep_raw)
        finally:
            stack.stop()
    counted = tally(lines)
    samples = sum(counted.components.values())
    return Profile(
        label=label,
        command=command,
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        pledges=len(outcome.statuses),
        users=users,
        seconds=round(outcome.seconds, 2),
        throughput_per_s=round(len(outcome.statuses) / outcome.seconds, 1),
        p50_ms=round(percentile(outcome.latencies_ms, 50), 1),
        p99_ms=round(percentile(outcome.latencies_ms, 99), 1),
        samples=samples,
        possible_samples=int(span * RATE_HZ),
        by_component=dict(counted.components.most_common()),
        by_role=dict(counted.roles.most_common()),
        by_role_and_component={k: dict(v.most_common()) for k, v in counted.both.items()},
        top_frames=dict(counted.frames.most_common(25)),
        by_step=dict(counted.steps.most_common()),
    )


def load_profiles(path: Path = PROFILES) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    loaded: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def save(profile: Profile, path: Path = PROFILES) -> None:
    profiles = load_profiles(path)
    profiles[profile.label] = {**asdict(profile), "gil_busy": round(profile.gil_busy, 3)}
    path.write_text(json.dumps(profiles, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.local_profile", description=__doc__)
    parser.add_argument("--label", default="current", help="the entry's name (before, after…)")
    parser.add_argument("--pledges", type=int, default=3000, help="pledges (default 3000)")
    parser.add_argument("--users", type=int, default=50, help="locust users (default 50)")
    parser.add_argument("--keep-raw", type=Path, help="keep py-spy's raw samples in this file")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s] {message}", file=sys.stderr, flush=True)

    command = shlex.join(["python", "-m", "bench.local_profile", *(argv or sys.argv[1:])])
    profile = profile_burst(
        label=args.label, pledges=args.pledges, users=args.users, command=command,
        progress=progress, keep_raw=args.keep_raw,
    )  # fmt: skip
    save(profile)
    # docs/performance.md shows the entries: rendered again from the last bench run's figures.
    from bench import report

    if report.RESULTS.exists():
        report.write_doc(json.loads(report.RESULTS.read_text(encoding="utf-8")))
    print(json.dumps({**asdict(profile), "gil_busy": round(profile.gil_busy, 3)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
