"""The beneficiary vote on the real local stack: 200 concurrent votes and changes give exact
tallies, the vote closes when the target is reached and only the winner is told as the
beneficiary, and bad votes get problem+json."""

from __future__ import annotations

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.e2e.conftest import Stack, assert_problem

VOTERS = 100  # each votes, then changes their vote: 200 votes


def candidates(tag: str) -> list[dict[str, str]]:
    return [
        {"id": "solicycle", "name": "Solicycle", "email": f"solicycle-{tag}@asso.example"},
        {"id": "emmaus", "name": "Emmaüs Connect", "email": f"emmaus-{tag}@asso.example"},
        {"id": "rejoue", "name": "Rejoué", "email": f"rejoue-{tag}@asso.example"},
    ]


def voting_challenge(stack: Stack, tag: str, target: int) -> dict[str, Any]:
    return stack.create_challenge(
        target={"metric": "participants", "value": target},
        beneficiary=None,
        beneficiary_choice={"candidates": candidates(tag)},
    )


def vote(stack: Stack, challenge_id: str, token: str, candidate: str) -> Any:
    return stack.request(
        "PUT", f"/challenges/{challenge_id}/vote", token=token, json={"candidate_id": candidate}
    )


def test_200_concurrent_votes_and_changes_give_exact_tallies(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:8]
    challenge_id = voting_challenge(stack, tag, target=10_000)["id"]
    tokens = [stack.participant_token(f"voter-{tag}-{n}") for n in range(VOTERS)]
    ids = [c["id"] for c in candidates(tag)]
    final = {n: ids[(n * 7) % 3] for n in range(VOTERS)}

    def take_part(n: int) -> tuple[int, int, int]:
        pledged = stack.request("POST", f"/challenges/{challenge_id}/pledges", token=tokens[n])
        first = vote(stack, challenge_id, tokens[n], ids[n % 3])
        second = vote(stack, challenge_id, tokens[n], final[n])
        return pledged.status_code, first.status_code, second.status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(take_part, range(VOTERS)))
    assert set(statuses) == {(201, 200, 200)}
    tallies = stack.request("GET", f"/challenges/{challenge_id}/votes").json()
    expected = Counter(final.values())
    assert {c["id"]: c["votes"] for c in tallies["candidates"]} == {i: expected[i] for i in ids}
    assert tallies["total"] == VOTERS
    assert tallies["status"] == "open"


def test_reaching_the_target_closes_the_vote_and_only_the_winner_is_told(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:8]
    challenge = voting_challenge(stack, tag, target=5)
    challenge_id = challenge["id"]
    stranger = stack.participant_token(f"stranger-{tag}")
    assert_problem(vote(stack, challenge_id, stranger, "emmaus"), 409)
    choices = ["rejoue", "emmaus", "rejoue", "solicycle", "rejoue"]
    for n, candidate in enumerate(choices):
        token = stack.participant_token(f"voter-{tag}-{n}")
        assert stack.request("POST", f"/challenges/{challenge_id}/pledges", token=token).ok
        if n == 0:
            assert_problem(vote(stack, challenge_id, token, "nobody"), 400)
        assert vote(stack, challenge_id, token, candidate).status_code == 200

    def closed() -> dict[str, Any] | None:
        result: dict[str, Any] = stack.request("GET", f"/challenges/{challenge_id}/votes").json()
        return result if result["status"] == "closed" else None

    result = stack.wait_until(closed, 30, message="the vote closed on reaching the target")
    assert result["winner_id"] == "rejoue"
    assert {c["id"]: c["votes"] for c in result["candidates"]} == {
        "solicycle": 1,
        "emmaus": 1,
        "rejoue": 3,
    }
    late = stack.participant_token(f"voter-{tag}-0")
    assert_problem(vote(stack, challenge_id, late, "emmaus"), 409)

    def settled() -> list[dict[str, Any]] | None:
        log = stack.notifications(challenge_id)
        sent = Counter((e["event"], e["recipient_role"]) for e in log if e["status"] == "sent")
        wanted = {
            ("challenge.reached", "sponsor"): 1,
            ("challenge.reached", "beneficiary"): 1,
            ("vote.closed", "sponsor"): 1,
            ("vote.closed", "candidate"): 3,
        }
        return log if all(sent[key] == count for key, count in wanted.items()) else None

    log = stack.wait_until(settled, 30, message="the reached and vote.closed e-mails sent")
    [beneficiary] = [
        e for e in log if e["event"] == "challenge.reached" and e["recipient_role"] == "beneficiary"
    ]
    assert beneficiary["to"] == f"rejoue-{tag}@asso.example"
    mails = Counter(to for email in stack.sent_emails() for to in email.to if tag in to)
    # The winner: vote.closed and challenge.reached; the others: vote.closed only.
    assert mails[f"rejoue-{tag}@asso.example"] == 2
    assert mails[f"emmaus-{tag}@asso.example"] == 1
    assert mails[f"solicycle-{tag}@asso.example"] == 1
    assert stack.challenge(challenge_id)["beneficiary"]["name"] == "Rejoué"
