"""One contract for the campaign members port, run on the in-memory fake and on DynamoDB
(moto): a stream batch's changes applied at once end where the same changes applied one by
one end, and a batch delivered again counts nothing."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from moto import mock_aws

from chalicelib.domain.model import counter_shard_for
from chalicelib.local import moto_fixes
from chalicelib.services.campaigns import AudienceCounts, CampaignMembers, MemberChange
from chalicelib.settings import Settings
from chalicelib.storage.campaigns import DynamoAudienceCounts, DynamoCampaignMembers
from chalicelib.storage.counters import DynamoCounterRepository
from chalicelib.storage.tables import create_tables
from chalicelib.wiring import build_container
from tests.unit.fakes import FakeCampaignMembers

SHARDS = 4
PUBLIC, HUMANIS, GRDF = "public", "org_humanis", "org_grdf"


@dataclass
class MemberStore:
    members: CampaignMembers
    counts: AudienceCounts

    def unique(self, campaign_id: str, seen: set[str], audiences: set[str] | None = None) -> int:
        every = audiences or {PUBLIC, HUMANIS, GRDF}
        return self.counts.unique_participants(campaign_id, every, seen, SHARDS)

    def every_count(self, campaign_id: str) -> list[int]:
        """The unique participants each caller sees, for every set of audiences seen."""
        views = [{PUBLIC}, {HUMANIS}, {GRDF}, {PUBLIC, HUMANIS}, {PUBLIC, HUMANIS, GRDF}]
        return [self.unique(campaign_id, seen) for seen in views]

    def one_by_one(self, campaign_id: str, changes: list[MemberChange]) -> None:
        for change in changes:
            self.members.change(
                campaign_id,
                change.participant_id,
                challenge_id=change.challenge_id,
                audience=change.audience,
                live=change.live,
                shard=change.shard,
            )


@pytest.fixture(params=["fakes", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Iterator[MemberStore]:
    if request.param == "fakes":
        fake = FakeCampaignMembers()
        yield MemberStore(fake, fake)
        return
    settings: Settings = request.getfixturevalue("env")
    moto_fixes.apply()
    with mock_aws():
        build_container(settings)
        create_tables()
        yield MemberStore(
            DynamoCampaignMembers(settings), DynamoAudienceCounts(DynamoCounterRepository())
        )


def pledge(person: str, challenge: str, audience: str = PUBLIC) -> MemberChange:
    return MemberChange(person, challenge, audience, True, counter_shard_for(person, SHARDS))


def withdraw(person: str, challenge: str, audience: str = PUBLIC) -> MemberChange:
    return MemberChange(person, challenge, audience, False, counter_shard_for(person, SHARDS))


def test_a_batch_folds_each_participants_changes_in_stream_order(store: MemberStore) -> None:
    batch = [
        pledge("ana", "ch_1"),
        pledge("ben", "ch_1"),
        pledge("ana", "ch_2"),  # a second challenge: still one person
        pledge("ben", "ch_hum", HUMANIS),
        withdraw("ben", "ch_1"),  # now seen by Humanis employees only
        pledge("chloe", "ch_hum", HUMANIS),
        withdraw("chloe", "ch_hum", HUMANIS),
        pledge("chloe", "ch_hum", HUMANIS),  # pledged again: the last record stands
    ]
    assert store.members.apply("cmp_a", batch) == 3
    assert store.unique("cmp_a", {PUBLIC}) == 1
    assert store.unique("cmp_a", {HUMANIS}) == 2
    assert store.unique("cmp_a", {PUBLIC, HUMANIS}) == 3
    # The same changes one record at a time count the same.
    store.one_by_one("cmp_b", batch)
    assert store.every_count("cmp_b") == store.every_count("cmp_a")


def test_changes_that_undo_each_other_in_a_batch_count_nothing(store: MemberStore) -> None:
    assert store.members.apply("cmp_a", [pledge("dan", "ch_1")]) == 1
    batch = [
        pledge("ana", "ch_1"),
        withdraw("ana", "ch_1"),  # made and withdrawn within the batch
        withdraw("dan", "ch_1"),
        pledge("dan", "ch_1"),  # withdrawn and made again
    ]
    assert store.members.apply("cmp_a", batch) == 0
    assert store.every_count("cmp_a") == [1, 0, 0, 1, 1]
    # Ana was never recorded: withdrawing again finds nothing to change.
    assert not store.members.change(
        "cmp_a", "ana", challenge_id="ch_1", audience=PUBLIC, live=False, shard=0
    )


def test_a_redelivered_batch_counts_nothing(store: MemberStore) -> None:
    first = [
        pledge("ana", "ch_1"),
        pledge("ben", "ch_1"),
        pledge("ben", "ch_hum", HUMANIS),
        pledge("chloe", "ch_1"),
    ]
    assert store.members.apply("cmp_a", first) == 3
    assert store.members.apply("cmp_a", first) == 0  # the same batch again
    assert store.every_count("cmp_a") == [3, 1, 0, 3, 3]
    second = [withdraw("ben", "ch_1"), withdraw("chloe", "ch_1"), pledge("dan", "ch_1")]
    assert store.members.apply("cmp_a", second) == 3
    counts = store.every_count("cmp_a")
    assert counts == [2, 1, 0, 3, 3]  # ana and dan; ben for Humanis only; chloe gone
    # The stream resumes from a failed record with every record after it, applied or not.
    assert store.members.apply("cmp_a", first[2:] + second) == 0
    assert store.members.apply("cmp_a", second) == 0
    assert store.every_count("cmp_a") == counts


def test_two_campaigns_batches_keep_to_their_campaign(store: MemberStore) -> None:
    assert store.members.apply("cmp_a", [pledge("ana", "ch_a1"), pledge("ben", "ch_a1")]) == 2
    assert store.members.apply("cmp_b", [pledge("ana", "ch_b1"), pledge("ana", "ch_b2")]) == 1
    assert store.members.apply("cmp_b", [withdraw("ana", "ch_b1"), withdraw("ana", "ch_b2")]) == 1
    assert store.unique("cmp_a", {PUBLIC}) == 2
    assert store.unique("cmp_b", {PUBLIC}) == 0
    # A change naming another campaign's challenge changes nothing here.
    assert store.members.apply("cmp_a", [withdraw("ana", "ch_b1")]) == 0
    assert store.unique("cmp_a", {PUBLIC}) == 2


def test_a_batch_larger_than_one_transaction_counts_everyone_once(store: MemberStore) -> None:
    rng = random.Random(7)
    challenges = [("ch_pub", PUBLIC), ("ch_hum", HUMANIS), ("ch_grdf", GRDF)]
    people = [f"p{n:03d}" for n in range(150)]
    # Each person pledges on one to three challenges: seven signatures over four shards,
    # more members and counter shards than one transaction holds.
    joined = {person: rng.sample(challenges, rng.randint(1, 3)) for person in people}
    batch = [pledge(p, c, a) for p in people for c, a in joined[p]]
    rng.shuffle(batch)  # one person's records keep their order; they are all pledges here
    assert store.members.apply("cmp_a", batch) == len(people)

    leaving = {person: rng.choice(joined[person]) for person in people[::2]}
    withdrawals = [withdraw(p, c, a) for p, (c, a) in leaving.items()]
    live = {p: {a for c, a in joined[p] if (c, a) != leaving.get(p)} for p in people}
    moved = sum(1 for p in people if live[p] != {a for _, a in joined[p]})
    # Delivered after the end of the first batch again, as a resumed stream brings it.
    assert store.members.apply("cmp_a", batch[-40:] + withdrawals) == moved
    assert store.members.apply("cmp_a", withdrawals) == 0  # delivered again
    for seen in ({PUBLIC}, {HUMANIS}, {GRDF}, {PUBLIC, GRDF}, {PUBLIC, HUMANIS, GRDF}):
        expected = sum(1 for audiences in live.values() if audiences & seen)
        assert store.unique("cmp_a", seen) == expected, seen
