"""Deadlines on moto: the schedule ends due challenges once, and `challenge.ended` is sent once."""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import app as app_module
from chalicelib.domain.model import (
    Challenge,
    ChallengeStatus,
    EventType,
    Metric,
    Milestone,
    Party,
    Principal,
    Target,
)
from chalicelib.local.embedded_aws import EmbeddedAws, sent_emails
from chalicelib.local.pledge_count import count_pledges_now
from chalicelib.local.stack import stream_bindings, streams_client
from chalicelib.local.stream_poller import LocalLambdaContext, StreamPoller
from chalicelib.services.challenges import ChallengeDraft
from chalicelib.services.deadlines import DeadlineRunError, DeadlineService
from chalicelib.services.pledges import PledgeRequest
from chalicelib.services.ports import ChallengeChanges, SystemClock
from chalicelib.storage.challenges import DynamoChallengeRepository
from chalicelib.wiring import Container, set_container
from tests.functional.conftest import ADMIN, Api, bearer, load_event, served_container
from tests.functional.test_public_api import assert_problem


def context() -> LocalLambdaContext:
    """A fresh invocation's context (its remaining time counts from now)."""
    return LocalLambdaContext(
        function_name="end_due_challenges",
        invoked_function_arn="arn:aws:lambda:eu-west-3:123456789012:function:end_due_challenges",
    )


def scheduled_event() -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "eu-west-3",
        "resources": ["arn:aws:events:eu-west-3:123456789012:rule/end-due-challenges"],
        "detail": {},
    }


def run_schedule() -> dict[str, Any]:
    """What EventBridge does once a minute: invoke the function with a scheduled event."""
    result: dict[str, Any] = app_module.end_due_challenges(scheduled_event(), context())
    return result


def contacts() -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    return {
        "sponsor": {"name": "Ville de Clichy", "email": f"sponsor-{tag}@clichy.example"},
        "beneficiary": {"name": "Solicycle", "email": f"asso-{tag}@solicycle.example"},
    }


def due_challenge(api: Api, *, pledges: int, target: int = 3, **fields: Any) -> dict[str, Any]:
    """A live challenge with `pledges` pledges whose deadline has just passed. Pledges are
    taken while it is open, then an admin moves `ends_at` into the past (a PATCH)."""
    challenge = api.create(
        target={"metric": "participants", "value": target},
        ends_at=(datetime.now(UTC) + timedelta(days=1)).isoformat(),
        **contacts(),
        **fields,
    )
    for number in range(pledges):
        assert api.pledge(challenge["id"], f"p{number}").status_code == 201
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    response = api.request(
        "PATCH", f"/admin/challenges/{challenge['id']}", {"ends_at": past}, ADMIN
    )
    assert response.status_code == 200, response.body
    return challenge


def ended_log(api: Api, challenge_id: str) -> list[tuple[str, str, str, int]]:
    return sorted(
        (n["recipient_role"], n["channel"], n["status"], n["attempts"])
        for n in api.notifications(challenge_id)
        if n["event"] == "challenge.ended"
    )


def emails_to(api: Api, address: str) -> list[Any]:
    return [email for email in api.emails() if address in email.to]


def test_the_schedule_ends_a_due_challenge_and_tells_sponsor_and_beneficiary_once(
    api: Api,
) -> None:
    challenge = due_challenge(api, pledges=2)
    api.drain()
    challenge_id = challenge["id"]

    result = run_schedule()

    assert result["ended"] == [challenge_id]
    shown = api.challenge(challenge_id)
    assert shown["status"] == "ended"
    assert shown["progress"]["participants"] == 2
    assert shown["progress"]["reached"] is False
    listed = json.loads(api.request("GET", "/challenges?status=ended").body)["items"]
    assert [item["id"] for item in listed] == [challenge_id]
    live = json.loads(api.request("GET", "/challenges?status=live").body)["items"]
    assert challenge_id not in [item["id"] for item in live]
    # Final figures are frozen: no pledge, no withdrawal.
    assert "ended" in str(assert_problem(api.pledge(challenge_id, "late"), 409)["detail"])
    withdrawal = api.request("DELETE", f"/challenges/{challenge_id}/pledges/me", None, bearer("p0"))
    assert_problem(withdrawal, 409)

    api.drain()  # the notifier reads the outbox

    assert ended_log(api, challenge_id) == [
        ("beneficiary", "email", "sent", 1),
        ("sponsor", "email", "sent", 1),
    ]
    [to_sponsor] = emails_to(api, challenge["sponsor"]["email"])
    [to_beneficiary] = emails_to(api, challenge["beneficiary"]["email"])
    for email in (to_sponsor, to_beneficiary):
        assert "objectif non atteint" in email.subject
        body = email.html or email.text or ""  # moto keeps one body: the HTML part
        assert "<strong>2 participants</strong>, soit 66,7\u202f% de l'objectif" in body
        assert "n'est pas due" in body
    # A second run finds nothing to do.
    assert run_schedule()["ended"] == []


def test_a_target_met_by_the_last_pledges_reaches_then_ends(api: Api) -> None:
    # The last pledges are in the counter shards (counted from the pledges stream), not yet
    # published by the aggregator.
    challenge = due_challenge(api, pledges=2, target=2)
    count_pledges_now(api.container)

    assert run_schedule()["ended"] == [challenge["id"]]
    shown = api.challenge(challenge["id"])
    assert shown["status"] == "ended"
    assert shown["progress"]["reached"] is True

    api.drain()
    events = sorted(
        (n["event"], n["recipient_role"], n["status"]) for n in api.notifications(challenge["id"])
    )
    assert events == [
        ("challenge.ended", "beneficiary", "sent"),
        ("challenge.ended", "sponsor", "sent"),
        ("challenge.reached", "beneficiary", "sent"),
        ("challenge.reached", "sponsor", "sent"),
    ]
    [ended] = [
        email
        for email in emails_to(api, challenge["sponsor"]["email"])
        if "terminé" in email.subject
    ]
    assert "objectif atteint" in ended.subject
    body = ended.html or ended.text or ""
    assert "L'objectif a été atteint" in body
    assert "<strong>2 participants</strong>, soit 100\u202f% de l'objectif" in body


@pytest.fixture
def served(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Container]:
    """A container on the embedded AWS, which serialises requests as DynamoDB does its
    writes (moto under `mock_aws` is not thread-safe), on tables of its own."""
    yield from served_container(aws, monkeypatch)


def test_overlapping_runs_end_each_challenge_once(served: Container) -> None:
    tag = uuid.uuid4().hex[:8]
    past = datetime.now(UTC) - timedelta(minutes=1)
    challenges = []
    for number in range(3):
        created = served.challenges.create(
            ChallengeDraft(
                title=f"Overlap {number}", action="I act",
                target=Target(Metric.PARTICIPANTS, 5),
                sponsor=Party("Sponsor", f"sponsor-{number}-{tag}@overlap.example"),
                beneficiary=Party("Asso", f"asso-{number}-{tag}@overlap.example"),
                reward="€1,000", publish=True,
                ends_at=datetime.now(UTC) + timedelta(days=1),
            )
        )  # fmt: skip
        served.pledges.pledge(Principal(sub=f"p-{tag}"), created.id, PledgeRequest())
        challenges.append(served.challenges.update(created.id, ChallengeChanges(ends_at=past)))
    start = threading.Barrier(4)

    def run(_: int) -> dict[str, Any]:
        start.wait()
        return run_schedule()

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, range(4)))

    ended = sorted(cid for result in results for cid in result["ended"])
    assert ended == sorted(c.id for c in challenges)
    StreamPoller(streams_client(served.settings), stream_bindings(app_module)).drain()
    mail = [address for email in sent_emails(served.settings.region) for address in email.to]
    for challenge in challenges:
        stored = served.challenges.get_for_admin(challenge.id)
        assert stored.status is ChallengeStatus.ENDED
        assert stored.totals.participants == 1
        log = [d for d in served.notifications.log(challenge.id) if d.event is EventType.ENDED]
        assert sorted((d.recipient_role.value, d.status.value, d.attempts) for d in log) == [
            ("beneficiary", "sent", 1),
            ("sponsor", "sent", 1),
        ]
        assert mail.count(challenge.sponsor.email) == 1
        assert mail.count(challenge.beneficiary.email) == 1


def ended_event(challenge_id: str, participants: int, sequence_number: str) -> dict[str, Any]:
    event = load_event(
        "milestone_inserted",
        challenge_id=challenge_id,
        participants=str(participants),
        sequence_number=sequence_number,
    )
    record = event["Records"][0]["dynamodb"]
    record["Keys"]["event"]["S"] = record["NewImage"]["event"]["S"] = "challenge.ended"
    record["NewImage"]["reached"]["BOOL"] = False
    return event


def test_the_ended_milestone_delivered_twice_still_sends_one_email_each(api: Api) -> None:
    challenge = due_challenge(api, pledges=1)
    run_schedule()
    api.drain()
    event = ended_event(challenge["id"], 1, "4242")

    for _ in range(2):  # Lambda delivers the stream batch again
        assert app_module.notify_milestones(copy.deepcopy(event), context()) == {
            "batchItemFailures": []
        }

    assert ended_log(api, challenge["id"]) == [
        ("beneficiary", "email", "sent", 1),
        ("sponsor", "email", "sent", 1),
    ]
    assert len(emails_to(api, challenge["sponsor"]["email"])) == 1
    assert len(emails_to(api, challenge["beneficiary"]["email"])) == 1


class CrashingOnce(DynamoChallengeRepository):
    """The function dies after the final figures were read, before the ending write."""

    crashed = False

    def record_milestone(self, challenge: Challenge, milestone: Milestone) -> bool:
        if not self.crashed:
            self.crashed = True
            raise TimeoutError("the Lambda timed out here")
        return super().record_milestone(challenge, milestone)


def test_a_run_that_crashes_half_way_is_finished_by_the_next_one(api: Api) -> None:
    first, second = due_challenge(api, pledges=1), due_challenge(api, pledges=0)
    container = api.container
    crashing = DeadlineService(CrashingOnce(container.settings), container.progress, SystemClock())
    set_container(replace(container, deadlines=crashing))
    try:
        with pytest.raises(DeadlineRunError):
            run_schedule()
        # The challenge it was ending is still live; the other one was not held back.
        statuses = {c["id"]: api.challenge(c["id"])["status"] for c in (first, second)}
        assert sorted(statuses.values()) == ["ended", "live"]
        [left] = [cid for cid, status in statuses.items() if status == "live"]
        assert run_schedule()["ended"] == [left]
        assert run_schedule()["ended"] == []
    finally:
        set_container(container)
    api.drain()
    for challenge in (first, second):
        assert api.challenge(challenge["id"])["status"] == "ended"
        assert ended_log(api, challenge["id"]) == [
            ("beneficiary", "email", "sent", 1),
            ("sponsor", "email", "sent", 1),
        ]


def test_a_challenge_closed_before_its_deadline_stays_closed(api: Api) -> None:
    challenge = due_challenge(api, pledges=1)
    closed = api.request("POST", f"/admin/challenges/{challenge['id']}/close", None, ADMIN)
    assert closed.status_code == 200, closed.body

    assert run_schedule()["ended"] == []
    api.drain()

    assert (
        json.loads(api.request("GET", f"/admin/challenges/{challenge['id']}", None, ADMIN).body)[
            "status"
        ]
        == "closed"
    )
    assert ended_log(api, challenge["id"]) == []


def test_challenges_not_yet_due_are_left_alone(api: Api) -> None:
    soon = api.create(ends_at=(datetime.now(UTC) + timedelta(minutes=5)).isoformat())
    open_ended = api.create()

    assert run_schedule()["ended"] == []
    assert api.challenge(soon["id"])["status"] == "live"
    assert api.challenge(open_ended["id"])["status"] == "live"
