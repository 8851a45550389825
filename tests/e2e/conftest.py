"""The real local stack in a subprocess on free ports, driven over HTTP by the e2e tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from chalicelib.local.embedded_aws import SentEmail, fetch_sent_emails
from chalicelib.local.tokens import mint_local_token
from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
HTTP_TIMEOUT_SECONDS = 30.0
POLL_INTERVAL_SECONDS = 0.05
READY_PREFIX = "ready: "
STOPPED_LINE = "crowdact local stack stopped"
OUTPUT_TAIL_LINES = 200
PROBLEM_JSON = "application/problem+json"

T = TypeVar("T")

# Timings measured by the tests, printed in the terminal summary (they are not assertions).
TIMINGS_KEY = pytest.StashKey[dict[str, float]]()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def two_free_ports() -> tuple[int, int]:
    api = free_port()
    aws = free_port()
    while aws == api:
        aws = free_port()
    return api, aws


def health(base_url: str) -> tuple[int, Any] | None:
    """What GET /health answered, (status, body); None while the port is not open."""
    try:
        response = requests.get(f"{base_url}/health", timeout=5)
    except requests.ConnectionError:
        return None
    return response.status_code, response.json()


def local_jwt_secret() -> str:
    # The subprocess inherits our environment, so it reads the same secret.
    return os.environ.get("CROWDACT_LOCAL_JWT_SECRET") or LOCAL_JWT_SECRET_DEFAULT


class StackProcess:
    """`python -m chalicelib.local` as a child process, its output collected as it comes.

    With `via_make`, the command a user types instead: `make run` (`DEMO=0` without the
    demo), in its own process group so that stopping it reaches the stack as Ctrl-C would.
    """

    def __init__(self, *, demo: bool, via_make: bool = False) -> None:
        self.port, self.aws_port = two_free_ports()
        self.via_make = via_make
        if via_make:
            self.args = ["make", "-s", "run", f"PORT={self.port}"]
            if not demo:
                self.args.append("DEMO=0")
        else:
            self.args = [
                sys.executable,
                "-m",
                "chalicelib.local",
                "--port",
                str(self.port),
                "--aws-port",
                str(self.aws_port),
            ]
            if not demo:
                self.args.append("--no-demo")
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def aws_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    def output(self, tail: int | None = None) -> str:
        with self._lock:
            lines = self._lines if tail is None else self._lines[-tail:]
            return "".join(lines)

    def state(self) -> str:
        if self._process is None:
            return "not started"
        returncode = self._process.poll()
        return "running" if returncode is None else f"exited with {returncode}"

    def start(self) -> None:
        env = {**os.environ, "CROWDACT_STAGE": "local", "PYTHONUNBUFFERED": "1"}
        if self.via_make:
            env["AWS_PORT"] = str(self.aws_port)
            # Not the make of `make test` that runs these tests: a make of its own.
            for variable in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS"):
                env.pop(variable, None)
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, or make
            self.args,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            start_new_session=self.via_make,
        )
        self._reader = threading.Thread(target=self._read, name="stack-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        for line in self._process.stdout:
            with self._lock:
                self._lines.append(line)
            if line.startswith(READY_PREFIX):
                self._ready.set()

    def wait_ready(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._join_reader()
                pytest.fail(
                    f"the local stack exited with {self._process.returncode} before it was "
                    f"ready:\n{self.output()}"
                )
            if self._ready.is_set() or self._healthy():
                return
            time.sleep(POLL_INTERVAL_SECONDS)
        self.kill()
        pytest.fail(f"the local stack was not ready within {timeout:.0f} s:\n{self.output()}")

    def _healthy(self) -> bool:
        try:
            response = requests.get(f"{self.base_url}/health", timeout=1)
        except requests.RequestException:
            return False
        return response.status_code == 200

    def stop(self) -> None:
        """SIGINT, as Ctrl-C would; the stack must exit cleanly by itself."""
        process = self._process
        if process is None or process.poll() is not None:
            returncode = None if process is None else process.returncode
            pytest.fail(f"the local stack died during the tests ({returncode}):\n{self.output()}")
        self._signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(
                f"the local stack did not exit within {STOP_TIMEOUT_SECONDS:.0f} s of SIGINT "
                f"and was killed:\n{self.output(OUTPUT_TAIL_LINES)}"
            )
        self._join_reader()
        if self.via_make:
            # make reports the interrupt with a status of its own: the stack says it stopped.
            assert STOPPED_LINE in self.output(), self.output(OUTPUT_TAIL_LINES)
            return
        assert process.returncode == 0, (
            f"the local stack exited with {process.returncode} after SIGINT:\n"
            f"{self.output(OUTPUT_TAIL_LINES)}"
        )

    def _signal(self, signum: int) -> None:
        assert self._process is not None
        if self.via_make:
            os.killpg(self._process.pid, signum)  # make and the stack, as Ctrl-C in a terminal
        else:
            self._process.send_signal(signum)

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._signal(signal.SIGKILL)
            self._process.wait(timeout=STOP_TIMEOUT_SECONDS)
        self._join_reader()

    def _join_reader(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)


@dataclass
class Stack:
    """What a test needs to drive one running local stack over HTTP."""

    process: StackProcess
    secret: str = field(default_factory=local_jwt_secret)

    @property
    def base_url(self) -> str:
        return self.process.base_url

    @property
    def aws_endpoint(self) -> str:
        return self.process.aws_endpoint

    # --- tokens ----------------------------------------------------------------------------

    def admin_token(self, sub: str = "e2e-admin") -> str:
        return mint_local_token(self.secret, sub, groups=["admin"], name="E2E admin")

    def participant_token(self, sub: str, **claims: Any) -> str:
        return mint_local_token(self.secret, sub, **claims)

    def employee_token(self, sub: str, org_id: str, **claims: Any) -> str:
        return mint_local_token(self.secret, sub, org_id=org_id, **claims)

    # --- HTTP ------------------------------------------------------------------------------

    def request(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        timeout = kwargs.pop("timeout", HTTP_TIMEOUT_SECONDS)
        return requests.request(
            method, self.base_url + path, headers=headers, timeout=timeout, **kwargs
        )

    def create_challenge(self, **fields: Any) -> dict[str, Any]:
        """POST /admin/challenges, published, with contacts unique to this challenge."""
        tag = uuid.uuid4().hex[:10]
        body: dict[str, Any] = {
            "title": f"E2E challenge {tag}",
            "action": "I cycle to work at least once a week",
            "target": {"metric": "participants", "value": 10},
            "sponsor": {"name": "Ville de Test", "email": f"sponsor-{tag}@sponsor.example"},
            "beneficiary": {"name": "Asso Test", "email": f"asso-{tag}@beneficiary.example"},
            "reward": "€1,000 to teach pupils bike repair",
            "publish": True,
            **fields,
        }
        response = self.request("POST", "/admin/challenges", token=self.admin_token(), json=body)
        assert response.status_code == 201, response.text
        challenge: dict[str, Any] = response.json()
        return challenge

    def create_campaign(self, title: str, **fields: Any) -> str:
        """POST /admin/campaigns; its id."""
        body = {"title": title, **fields}
        response = self.request("POST", "/admin/campaigns", token=self.admin_token(), json=body)
        assert response.status_code == 201, response.text
        campaign_id: str = response.json()["id"]
        return campaign_id

    def challenge(self, challenge_id: str, *, token: str | None = None) -> dict[str, Any]:
        response = self.request("GET", f"/challenges/{challenge_id}", token=token)
        assert response.status_code == 200, response.text
        challenge: dict[str, Any] = response.json()
        return challenge

    def notifications(
        self, challenge_id: str, recipient_role: str | None = None
    ) -> list[dict[str, Any]]:
        """The whole delivery log (every page), or one recipient role's entries."""
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 100}
        if recipient_role is not None:
            params["recipient_role"] = recipient_role
        while True:
            response = self.request(
                "GET",
                f"/admin/challenges/{challenge_id}/notifications",
                token=self.admin_token(),
                params=params,
            )
            assert response.status_code == 200, response.text
            page = response.json()
            items.extend(page["items"])
            if not page.get("next_cursor"):
                return items
            params["cursor"] = page["next_cursor"]

    def sent_emails(self) -> list[SentEmail]:
        return fetch_sent_emails(self.aws_endpoint)

    # --- waiting ---------------------------------------------------------------------------

    def wait_until(
        self,
        predicate: Callable[[], T | None],
        timeout: float,
        *,
        message: str = "condition",
        interval: float = POLL_INTERVAL_SECONDS,
    ) -> T:
        """Poll until `predicate()` is truthy and return it; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                pytest.fail(f"{message} not met within {timeout} s; last value: {value!r}")
            time.sleep(interval)


def start_stack(config: pytest.Config, *, demo: bool) -> Iterator[Stack]:
    process = StackProcess(demo=demo)
    started = time.monotonic()
    process.start()
    try:
        process.wait_ready()
    except BaseException:
        process.kill()
        raise
    name = "demo stack" if demo else "stack"
    measured = config.stash.setdefault(TIMINGS_KEY, {})
    measured[f"{name}: start -> ready"] = time.monotonic() - started
    yield Stack(process)
    stopping = time.monotonic()
    process.stop()
    measured[f"{name}: SIGINT -> exit"] = time.monotonic() - stopping


@pytest.fixture(scope="session")
def stack(pytestconfig: pytest.Config) -> Iterator[Stack]:
    """One empty local stack (`--no-demo`) shared by the whole e2e session."""
    yield from start_stack(pytestconfig, demo=False)


@pytest.fixture(scope="session")
def demo_stack(pytestconfig: pytest.Config) -> Iterator[Stack]:
    """A second local stack with the product brief's demo data; only the demo tests use it."""
    yield from start_stack(pytestconfig, demo=True)


@pytest.fixture
def timings(request: pytest.FixtureRequest) -> dict[str, float]:
    return request.config.stash.setdefault(TIMINGS_KEY, {})


def assert_problem(response: requests.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem with the contract's keys, and nothing that looks like a stack trace."""
    assert response.status_code == status, response.text
    assert response.headers.get("Content-Type", "").startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys(), body
    assert body["status"] == status
    assert all(isinstance(body[key], str) for key in ("type", "title", "detail")), body
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    return body


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        for name, value in funcargs.items():
            if isinstance(value, Stack):
                report.sections.append(
                    (f"local stack output ({name}, {value.process.state()}, "
                     f"last {OUTPUT_TAIL_LINES} lines)", value.process.output(OUTPUT_TAIL_LINES))
                )  # fmt: skip
    return report


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    measured = config.stash.get(TIMINGS_KEY, {})
    if measured:
        terminalreporter.section("e2e timings (measured, not asserted)")
        for name, seconds in sorted(measured.items()):
            terminalreporter.write_line(f"{name}: {seconds:.3f} s")
