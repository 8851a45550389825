"""Ready means warm: after ready, no request and no trigger loads code, and every AWS call the
stack makes itself stays in process.

`tests/e2e/first_requests.py` runs in a process of its own (its modules are what is
measured): it starts the stack with empty tables, sends one request of every route in the
route table and pledges until a challenge is reached and its e-mails are sent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.e2e.conftest import REPO_ROOT

pytestmark = pytest.mark.e2e
RUN_TIMEOUT_SECONDS = 180


@pytest.fixture(scope="module")
def first_requests() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.e2e.first_requests"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_every_route_is_exercised(first_requests: dict[str, Any]) -> None:
    assert first_requests["routes_not_exercised"] == []


def test_nothing_is_loaded_after_ready(first_requests: dict[str, Any]) -> None:
    """What a first request or a first trigger run would load is loaded before ready."""
    assert first_requests["loaded_after_ready"] == []


def test_the_stacks_own_aws_calls_never_take_http(first_requests: dict[str, Any]) -> None:
    assert first_requests["aws_calls_in_process"] > 0
    assert first_requests["aws_calls_over_http"] == 0
    assert first_requests["aws_calls_passed_on"] == 0
