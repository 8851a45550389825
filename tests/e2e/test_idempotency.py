"""A client retrying one pledge concurrently with one Idempotency-Key is counted once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

RETRIES = 16


def test_concurrent_retries_with_one_key_count_once_and_replay_one_answer(stack: Stack) -> None:
    challenge = stack.create_challenge(target={"metric": "participants", "value": 100})
    token = stack.participant_token("retrying-client")
    go = threading.Barrier(RETRIES)

    def attempt(_: int) -> Any:
        go.wait(timeout=10)
        return pledge_with_key(stack, challenge["id"], token)

    with ThreadPoolExecutor(RETRIES) as pool:
        responses = list(pool.map(attempt, range(RETRIES)))
    statuses = [r.status_code for r in responses]
    # One writes the pledge and its answer in one transaction; each other one finds both
    # written and replays the answer (never a 409 request-in-progress: no answer is ever
    # half-stored for a new keyed pledge).
    assert statuses == [201] * RETRIES, statuses
    produced = [r for r in responses if "Idempotent-Replayed" not in r.headers]
    assert len(produced) == 1
    answers = {r.text for r in responses}
    assert len(answers) == 1
    retried = pledge_with_key(stack, challenge["id"], token)
    assert retried.status_code == 201
    assert retried.text in answers
    assert retried.headers["Idempotent-Replayed"] == "true"
    stack.wait_until(
        lambda: stack.challenge(challenge["id"])["progress"]["participants"] == 1,
        10.0,
        message="the pledge counted",
    )
    assert stack.challenge(challenge["id"])["progress"]["participants"] == 1


def pledge_with_key(stack: Stack, challenge_id: str, token: str) -> Any:
    return stack.request(
        "POST",
        f"/challenges/{challenge_id}/pledges",
        token=token,
        json={"display_name": "Léa"},
        headers={"Idempotency-Key": "pledge-attempt-1"},
    )
