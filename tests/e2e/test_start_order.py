"""The order of the start: nothing is ready before the stream records are delivered, and a
start that fails stops everything it had started.

The first test holds the stack's start at the delivery of its stream records (see
`held_start.py`): for as long as it is held, `/health` answers 503 "starting", however many
times it is asked; once released, it answers 200. No clock decides anything here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import REPO_ROOT, free_port, health

pytestmark = pytest.mark.e2e
TIMEOUT_SECONDS = 60.0
POLLS_WHILE_HELD = 20


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "CROWDACT_STAGE": "local", "PYTHONUNBUFFERED": "1", **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def health_of(port: int) -> tuple[int, Any] | None:
    return health(f"http://127.0.0.1:{port}")


def wait_for(port: int, status: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, "the stack exited"
        answer = health_of(port)
        if answer is not None and answer[0] == status:
            return
        time.sleep(0.05)
    pytest.fail(f"/health never answered {status}")


def test_health_says_starting_while_the_stream_records_wait(tmp_path: Path) -> None:
    port = free_port()
    release = tmp_path / "release"
    process = start(["tests.e2e.held_start", str(port), str(release)])
    try:
        wait_for(port, 503, process)
        # However often it is asked while the start is held: starting.
        answers = [health_of(port) for _ in range(POLLS_WHILE_HELD)]
        assert answers == [(503, {"status": "starting"})] * POLLS_WHILE_HELD
        release.touch()
        wait_for(port, 200, process)
        assert health_of(port) == (200, {"status": "ok"})
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=TIMEOUT_SECONDS)
    assert process.returncode == 0, output
    assert output.index("held: delivering") < output.index("ready: ")


def test_a_start_that_fails_stops_what_it_started_and_says_why() -> None:
    port = free_port()
    # An interval the contract does not allow: start() refuses it after the port is open.
    process = start(
        ["chalicelib.local", "--port", str(port), "--no-demo"],
        env={"CROWDACT_LOCAL_SCHEDULE_SECONDS": "99"},
    )
    output, _ = process.communicate(timeout=TIMEOUT_SECONDS)
    assert process.returncode == 1, output
    assert "could not start" in output
    assert "CROWDACT_LOCAL_SCHEDULE_SECONDS" in output
    assert "ready: " not in output
    assert health_of(port) is None  # the port is closed again
