"""One contract for the follow ports, run on the in-memory fakes and on DynamoDB (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from chalicelib.domain.follows import (
    ChallengeUpdate,
    Follow,
    FollowKind,
    FollowTarget,
    UpdateSource,
    first_chunks,
)
from chalicelib.local import moto_fixes
from chalicelib.notify.update_email import SecretsManagerSecret
from chalicelib.services.follow_ports import (
    FollowRepository,
    UpdateClaim,
    UpdateClaimRefused,
    UpdateDeliveryRepository,
    UpdateRepository,
)
from chalicelib.settings import Settings
from chalicelib.storage.follows import (
    DynamoFollowRepository,
    DynamoUpdateDeliveryRepository,
    DynamoUpdateRepository,
)
from chalicelib.storage.tables import create_tables
from chalicelib.wiring import build_container
from tests.unit.fake_follows import (
    FakeFollowRepository,
    FakeUpdateDeliveryRepository,
    FakeUpdateRepository,
)

NOW = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
LEASE = timedelta(seconds=45)
CHALLENGE = FollowTarget(FollowKind.CHALLENGE, "ch_1")
CAMPAIGN = FollowTarget(FollowKind.CAMPAIGN, "cmp_1")


@dataclass
class FollowStore:
    follows: FollowRepository
    updates: UpdateRepository
    deliveries: UpdateDeliveryRepository


@pytest.fixture(params=["fakes", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Iterator[FollowStore]:
    if request.param == "fakes":
        yield FollowStore(
            FakeFollowRepository(), FakeUpdateRepository(), FakeUpdateDeliveryRepository()
        )
        return
    settings: Settings = request.getfixturevalue("env")
    moto_fixes.apply()
    with mock_aws():
        build_container(settings)
        create_tables()
        yield FollowStore(
            DynamoFollowRepository(), DynamoUpdateRepository(), DynamoUpdateDeliveryRepository()
        )


def update(n: int, challenge_id: str = "ch_1") -> ChallengeUpdate:
    return ChallengeUpdate(
        f"upd_{n:04d}", challenge_id, f"News {n}", "Body", "fr", NOW + timedelta(minutes=n)
    )


def test_a_follow_is_one_item_per_person_and_target(store: FollowStore) -> None:
    store.follows.put(Follow(CHALLENGE, "p1", True, NOW, "p1@x.example", "fr"))
    store.follows.put(Follow(CHALLENGE, "p1", True, NOW, "p1@x.example", "fr"))
    store.follows.put(Follow(CAMPAIGN, "p1", False, NOW))
    store.follows.put(Follow(CHALLENGE, "p2", True, NOW))
    assert len(store.follows.followers(CHALLENGE, after=None, limit=None).items) == 2
    mine = store.follows.get_many("p1", [CHALLENGE, CAMPAIGN])
    assert mine[CHALLENGE].email == "p1@x.example"
    assert mine[CAMPAIGN].following is False
    assert store.follows.get_many("p3", [CHALLENGE]) == {}
    assert {f.target for f in store.follows.of_participant("p1")} == {CHALLENGE, CAMPAIGN}
    store.follows.put(Follow(CHALLENGE, "p1", False, NOW))
    assert store.follows.get_many("p1", [CHALLENGE])[CHALLENGE].email is None
    for follow in store.follows.of_participant("p1"):
        store.follows.delete(follow)
    assert store.follows.of_participant("p1") == []


def test_followers_are_paged_by_participant_id(store: FollowStore) -> None:
    for n in range(7):
        store.follows.put(Follow(CHALLENGE, f"p{n}", True, NOW))
    first = store.follows.followers(CHALLENGE, after=None, limit=3)
    assert [f.participant_id for f in first.items] == ["p0", "p1", "p2"]
    assert first.next_cursor == "p2"
    rest = store.follows.followers(CHALLENGE, after="p2", limit=None, until="p5")
    assert [f.participant_id for f in rest.items] == ["p3", "p4", "p5"]
    assert rest.next_cursor is None


def test_updates_are_listed_newest_first_and_chunks_written_once(store: FollowStore) -> None:
    for n in range(4):
        chunks = first_chunks(update(n), campaign=n == 0, buckets=2)
        store.updates.add(update(n), chunks)
    store.updates.add(update(9, "ch_2"), [])
    listed = store.updates.list_for_challenge("ch_1", limit=3, before=None)
    assert [u.id for u in listed] == ["upd_0003", "upd_0002", "upd_0001"]
    below = store.updates.list_for_challenge("ch_1", limit=3, before=listed[-1].created_key)
    assert [u.id for u in below] == ["upd_0000"]
    assert store.updates.get("ch_1", update(2).created_key) == update(2)
    assert store.updates.get("ch_1", "2020-01-01T00:00:00+00:00#upd_x") is None

    [first, campaign, *_pledgers] = first_chunks(update(0), campaign=True, buckets=2)
    assert campaign.source is UpdateSource.CAMPAIGN_FOLLOWERS
    assert store.updates.get_chunk("ch_1", first.key) == first
    assert store.updates.get_chunk("ch_1", first.key) is not None
    successor = first.successor("p9")
    assert store.updates.add_chunk(successor)
    assert not store.updates.add_chunk(successor)
    assert store.updates.get_chunk("ch_1", successor.key) == successor
    assert first.update_key == update(0).created_key


def test_a_claim_makes_one_sender_until_its_lease_ends(store: FollowStore) -> None:
    news = update(1)
    store.updates.add(news, [])
    claim = store.deliveries.claim(news, "p1", now=NOW, lease=LEASE)
    assert isinstance(claim, UpdateClaim)
    assert claim.attempts == 1
    assert store.deliveries.claim(news, "p1", now=NOW, lease=LEASE) is UpdateClaimRefused.HELD
    later = NOW + LEASE + timedelta(seconds=1)
    retaken = store.deliveries.claim(news, "p1", now=later, lease=LEASE)
    assert isinstance(retaken, UpdateClaim)
    assert retaken.attempts == 2
    store.deliveries.mark_sent(claim, now=NOW)  # the old lease: records nothing
    assert store.deliveries.claim(news, "p1", now=later, lease=LEASE) is UpdateClaimRefused.HELD
    store.deliveries.mark_sent(retaken, now=later)
    settled = store.deliveries.claim(news, "p1", now=later + LEASE * 2, lease=LEASE)
    assert settled is UpdateClaimRefused.SETTLED
    [record] = store.deliveries.of_participant("p1")
    assert (record.update_id, record.status, record.attempts) == (news.id, "sent", 2)


def test_a_failed_claim_is_retried_or_settled(store: FollowStore) -> None:
    news = update(1)
    first = store.deliveries.claim(news, "p1", now=NOW, lease=LEASE)
    assert isinstance(first, UpdateClaim)
    store.deliveries.mark_failed(first, error="throttled", final=False)
    again = store.deliveries.claim(news, "p1", now=NOW, lease=LEASE)
    assert isinstance(again, UpdateClaim)
    store.deliveries.mark_failed(again, error="rejected", final=True)
    assert store.deliveries.claim(news, "p1", now=NOW, lease=LEASE) is UpdateClaimRefused.SETTLED
    other = store.deliveries.claim(news, "p2", now=NOW, lease=LEASE)
    assert isinstance(other, UpdateClaim)
    assert store.deliveries.delete_for_participant("p1") == 1
    assert store.deliveries.of_participant("p1") == []
    assert len(store.deliveries.of_participant("p2")) == 1


def test_the_deployed_key_is_read_once_from_secrets_manager(env: Settings) -> None:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name=env.region)
        arn = client.create_secret(Name="crowdact-dev-unsubscribe-links", SecretString="k" * 64)[
            "ARN"
        ]
        secret = SecretsManagerSecret(env, arn)
        assert secret.get() == b"k" * 64
        client.put_secret_value(SecretId=arn, SecretString="changed")
        assert secret.get() == b"k" * 64  # kept by the container
