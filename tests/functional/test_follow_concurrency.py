"""Follows and update e-mails under concurrency, on the real repositories and the embedded
(moto) DynamoDB, which serialises each request as DynamoDB decides races: concurrent follows
make one follow each, and concurrent, repeated deliveries of an update's outbox records send
one e-mail per person."""

from __future__ import annotations

import copy
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import app as app_module
from chalicelib.domain.access import PLATFORM
from chalicelib.domain.follows import FollowKind, FollowTarget, is_update_chunk_key
from chalicelib.domain.model import Metric, Party, Principal, Target
from chalicelib.local.embedded_aws import EmbeddedAws, sent_emails
from chalicelib.local.stream_poller import LocalLambdaContext
from chalicelib.services.challenges import ChallengeDraft
from chalicelib.services.follows import UpdateDraft
from chalicelib.services.pledges import PledgeRequest
from chalicelib.storage.follow_tables import FollowItem
from chalicelib.storage.tables import ChallengeEventItem
from chalicelib.wiring import Container
from tests.functional.conftest import served_container


def invocation() -> LocalLambdaContext:
    """A fresh Lambda context: its remaining time counts from now, as each invocation's."""
    return LocalLambdaContext(
        function_name="test",
        invoked_function_arn="arn:aws:lambda:eu-west-3:123456789012:function:t",
    )


CHUNK = 4


@pytest.fixture
def container(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Container]:
    # Small chunks, so an update's recipients span several chunk records.
    monkeypatch.setenv("CROWDACT_PARTICIPANT_EMAIL_CHUNK", str(CHUNK))
    yield from served_container(aws, monkeypatch)


def _person(sub: str, domain: str) -> Principal:
    return Principal(sub=sub, email=f"{sub}@{domain}", email_verified=True)


def _records(challenge_id: str) -> list[dict[str, Any]]:
    """The outbox's update chunk items as the stream delivers them (one record each)."""
    records = []
    for n, item in enumerate(ChallengeEventItem.query(challenge_id, consistent_read=True)):
        if not is_update_chunk_key(str(item.event)):
            continue
        image = item.serialize()
        records.append(
            {
                "Records": [
                    {
                        "eventID": f"e{n}",
                        "eventName": "INSERT",
                        "eventSource": "aws:dynamodb",
                        "awsRegion": "eu-west-3",
                        "dynamodb": {
                            "Keys": {
                                "challenge_id": image["challenge_id"],
                                "event": image["event"],
                            },
                            "NewImage": image,
                            "SequenceNumber": str(1000 + n),
                            "StreamViewType": "NEW_IMAGE",
                        },
                    }
                ]
            }
        )
    return records


def _deliver(event: dict[str, Any]) -> list[Any]:
    answer = app_module.notify_milestones(copy.deepcopy(event), invocation())
    failures: list[Any] = answer["batchItemFailures"]
    return failures


def test_concurrent_follows_and_deliveries_send_one_email_per_person(
    container: Container,
) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example"
    challenge = container.challenges.create(
        ChallengeDraft(
            title="Trees",
            action="I plant",
            target=Target(Metric.PARTICIPANTS, 1000),
            sponsor=Party("Sponsor", f"sponsor@{domain}"),
            beneficiary=Party("Beneficiary", f"beneficiary@{domain}"),
            reward="€1,000",
            publish=True,
        )
    )
    target = FollowTarget(FollowKind.CHALLENGE, challenge.id)
    followers = [f"f{n:02d}" for n in range(20)]
    pledgers = [f"f{n:02d}" for n in range(10, 30)]  # ten of them also follow
    calls = [("follow", sub) for sub in followers * 3] + [("pledge", sub) for sub in pledgers]
    random.Random(11).shuffle(calls)

    def run(call: tuple[str, str]) -> None:
        kind, sub = call
        if kind == "follow":
            container.follows.follow(_person(sub, domain), target)
        else:
            container.pledges.pledge(_person(sub, domain), challenge.id, PledgeRequest())

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(run, calls))
    assert len(list(FollowItem.query(target.key))) == len(followers)

    container.follows.post_update(challenge.id, UpdateDraft("News", "Body", "en"), PLATFORM)
    # Each chunk record delivered four times, all at once; successors as they are written.
    delivered: set[str] = set()
    for _ in range(10):
        fresh = [
            r for r in _records(challenge.id)
            if r["Records"][0]["dynamodb"]["NewImage"]["event"]["S"] not in delivered
        ]  # fmt: skip
        if not fresh:
            break
        delivered.update(r["Records"][0]["dynamodb"]["NewImage"]["event"]["S"] for r in fresh)
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(_deliver, fresh * 4))
        # A record that met another invocation's claim (held) fails, to be delivered again.
        retried = [event for event, answer in zip(fresh * 4, answers, strict=True) if answer]
        assert all(_deliver(event) == [] for event in retried)
    else:
        pytest.fail("the update's chunks kept coming")

    received = Counter(
        address
        for email in sent_emails(container.settings.region)
        for address in email.to
        if address.endswith(f"@{domain}")
    )
    everyone = set(followers) | set(pledgers)
    assert received == Counter({f"{sub}@{domain}": 1 for sub in everyone})
