"""The campaign trigger's service, a stream batch at a time: records grouped by campaign,
each group applied together, and what fails reported from its first record on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from chalicelib.domain.model import Challenge
from chalicelib.services.campaigns import (
    CampaignDraft,
    CampaignService,
    MemberChange,
    PledgeRecord,
)
from chalicelib.services.challenges import ChallengeService
from tests.unit.fakes import FakeCampaignMembers, FakeCampaignRepository, FakeChallengeRepository
from tests.unit.support import SequentialIds, build_backend, challenge_draft


class FlakyChallenges(FakeChallengeRepository):
    """The challenges, except that reading one of `failing` times out."""

    failing: frozenset[str] = frozenset()

    def get(self, challenge_id: str, *, consistent: bool = False) -> Challenge | None:
        if challenge_id in self.failing:
            raise TimeoutError(f"reading {challenge_id} timed out")
        return super().get(challenge_id, consistent=consistent)


class FlakyMembers(FakeCampaignMembers):
    """The members, except that a batch of one of `failing` campaigns fails; each batch
    applied is logged."""

    def __init__(self) -> None:
        super().__init__()
        self.failing: set[str] = set()
        self.batches: list[tuple[str, list[str]]] = []

    def apply(self, campaign_id: str, changes: Sequence[MemberChange]) -> int:
        if campaign_id in self.failing:
            raise TimeoutError(f"writing the members of {campaign_id} timed out")
        self.batches.append((campaign_id, [change.participant_id for change in changes]))
        return super().apply(campaign_id, changes)


@dataclass
class Trigger:
    service: CampaignService
    members: FlakyMembers
    reads: FlakyChallenges
    week: str
    other: str
    walk: str
    bike: str
    swim: str
    outside: str
    _receipts: int = 0

    def records(self, *changes: tuple[str, str, bool]) -> list[PledgeRecord]:
        made = []
        for challenge_id, person, live in changes:
            self._receipts += 1
            made.append(PledgeRecord(str(self._receipts), challenge_id, person, live))
        return made

    def participants(self, campaign_id: str) -> int:
        return self.service.counted(campaign_id)[1]


@pytest.fixture
def trigger() -> Trigger:
    backend = build_backend()
    campaign_repository = FakeCampaignRepository()
    challenges = ChallengeService(
        backend.challenge_repository,
        backend.progress,
        backend.clock,
        counter_shards=4,
        id_factory=SequentialIds(),
        campaigns=campaign_repository,
    )
    members = FlakyMembers()
    reads = FlakyChallenges(backend.db)
    service = CampaignService(
        campaign_repository, members, members, challenges, reads, backend.clock, counter_shards=4
    )
    week = service.create(CampaignDraft(title="Week")).id
    other = service.create(CampaignDraft(title="Other week")).id

    def challenge(campaign_id: str | None) -> str:
        return challenges.create(challenge_draft(publish=True, campaign_id=campaign_id)).id

    walk, bike, swim = challenge(week), challenge(week), challenge(other)
    return Trigger(service, members, reads, week, other, walk, bike, swim, challenge(None))


def test_a_batch_is_applied_once_per_campaign_in_stream_order(trigger: Trigger) -> None:
    records = trigger.records(
        (trigger.walk, "ana", True),
        (trigger.swim, "ana", True),
        (trigger.outside, "ben", True),  # in no campaign
        (trigger.bike, "ana", True),
        (trigger.walk, "chloe", True),
        (trigger.swim, "ben", True),
        (trigger.walk, "chloe", False),
        ("ch_missing", "dan", True),
    )
    assert trigger.service.record_pledges(records) == []
    assert trigger.members.batches == [
        (trigger.week, ["ana", "ana", "chloe", "chloe"]),
        (trigger.other, ["ana", "ben"]),
    ]
    assert trigger.participants(trigger.week) == 1
    assert trigger.participants(trigger.other) == 2

    assert trigger.service.record_pledges(records) == []  # delivered again
    assert (trigger.participants(trigger.week), trigger.participants(trigger.other)) == (1, 2)


def test_a_campaign_that_fails_fails_from_its_first_record_on(trigger: Trigger) -> None:
    records = trigger.records(
        (trigger.walk, "ana", True),
        (trigger.swim, "ben", True),  # the first of the failing campaign's
        (trigger.walk, "chloe", True),
        (trigger.swim, "dan", True),
    )
    trigger.members.failing = {trigger.other}
    failed = trigger.service.record_pledges(records)
    assert [record for record, _ in failed] == records[1:]
    assert all(isinstance(error, TimeoutError) for _, error in failed)
    assert trigger.participants(trigger.week) == 2  # the other campaign's went ahead

    # The stream brings back the failed record and the ones after it: each counted once.
    trigger.members.failing = set()
    assert trigger.service.record_pledges(records[1:]) == []
    assert (trigger.participants(trigger.week), trigger.participants(trigger.other)) == (2, 2)


def test_a_record_whose_campaign_cannot_be_read_holds_back_the_ones_after_it(
    trigger: Trigger,
) -> None:
    records = trigger.records(
        (trigger.walk, "ana", True),
        (trigger.bike, "ben", True),  # its challenge cannot be read
        (trigger.walk, "ben", False),  # must not be applied before the record above
        (trigger.swim, "chloe", True),
    )
    trigger.reads.failing = frozenset({trigger.bike})
    failed = trigger.service.record_pledges(records)
    assert [record for record, _ in failed] == records[1:]
    assert trigger.members.batches == [(trigger.week, ["ana"])]

    trigger.reads.failing = frozenset()
    assert trigger.service.record_pledges(records[1:]) == []
    assert (trigger.participants(trigger.week), trigger.participants(trigger.other)) == (2, 1)
