"""Services wired onto the in-memory fakes, and builders for the objects tests need."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from chalicelib.domain.model import Challenge, Metric, Party, Principal, Target
from chalicelib.notify.email import JinjaEmailRenderer
from chalicelib.services.campaigns import CampaignService
from chalicelib.services.challenges import ChallengeDraft, ChallengeService
from chalicelib.services.moderation import ModerationService
from chalicelib.services.notifications import NotificationService
from chalicelib.services.pledges import PledgeRequest, PledgeService
from chalicelib.services.progress import ProgressService
from chalicelib.services.votes import VoteService
from tests.unit.fake_moderation import FakeModeration
from tests.unit.fake_votes import FakeVoteRepository
from tests.unit.fakes import (
    FakeChallengeRepository,
    FakeClock,
    FakeCounterRepository,
    FakeDatabase,
    FakeDeliveryRepository,
    FakeMailer,
    FakePledgeRepository,
)

SPONSOR = Party(name="Ville de Clichy", email="sponsor@clichy.example")
BENEFICIARY = Party(name="Solicycle", email="contact@solicycle.example")
REWARD = "€5,000 to teach 500 pupils bike repair"


class SequentialIds:
    """Readable, unique ids (`ch_0001`, …); `next` on a count is safe across threads."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)

    def __call__(self, prefix: str) -> str:
        return f"{prefix}_{next(self._numbers):04d}"


def challenge_draft(**overrides: Any) -> ChallengeDraft:
    fields: dict[str, Any] = {
        "title": "Cycle to work",
        "action": "I cycle to work at least once a week",
        "target": Target(Metric.PARTICIPANTS, 3),
        "sponsor": SPONSOR,
        "beneficiary": BENEFICIARY,
        "reward": REWARD,
    }
    fields.update(overrides)
    return ChallengeDraft(**fields)


def participant(number: int | str, **claims: Any) -> Principal:
    return Principal(sub=f"participant-{number}", **claims)


@dataclass
class Backend:
    db: FakeDatabase
    clock: FakeClock
    mailer: FakeMailer
    challenge_repository: FakeChallengeRepository
    pledge_repository: FakePledgeRepository
    counter_repository: FakeCounterRepository
    delivery_repository: FakeDeliveryRepository
    progress: ProgressService
    challenges: ChallengeService
    pledges: PledgeService
    notifications: NotificationService
    moderation_repository: FakeModeration
    moderation: ModerationService
    votes: VoteService

    def live_challenge(self, **overrides: Any) -> Challenge:
        return self.challenges.create(challenge_draft(publish=True, **overrides))

    def pledge_many(self, challenge_id: str, count: int, first: int = 0) -> None:
        for number in range(first, first + count):
            self.pledges.pledge(participant(number), challenge_id, PledgeRequest())

    def counted(self, challenge_id: str) -> int:
        """Participants in the counter shards, summed as the aggregator sums them."""
        challenge = self.challenge_repository.get(challenge_id)
        assert challenge is not None
        return self.counter_repository.totals(challenge_id, challenge.counter_shards).participants

    def stored(self, challenge_id: str) -> Challenge:
        challenge = self.challenge_repository.get(challenge_id)
        assert challenge is not None
        return challenge

    def later(self, **parts: float) -> None:
        self.clock.advance(timedelta(**parts))


def build_backend(*, counter_shards: int = 4, max_attempts: int = 5) -> Backend:
    db = FakeDatabase()
    clock = FakeClock()
    mailer = FakeMailer()
    challenge_repository = FakeChallengeRepository(db)
    pledge_repository = FakePledgeRepository(db)
    counter_repository = FakeCounterRepository(db)
    delivery_repository = FakeDeliveryRepository(db)
    moderation_repository = FakeModeration(db)
    progress = ProgressService(challenge_repository, counter_repository, clock)
    challenges = ChallengeService(
        challenge_repository,
        progress,
        clock,
        counter_shards=counter_shards,
        id_factory=SequentialIds(),
    )
    votes = VoteService(
        challenges, challenge_repository, pledge_repository, FakeVoteRepository(db), clock
    )
    return Backend(
        db=db,
        clock=clock,
        mailer=mailer,
        challenge_repository=challenge_repository,
        pledge_repository=pledge_repository,
        counter_repository=counter_repository,
        delivery_repository=delivery_repository,
        progress=progress,
        challenges=challenges,
        pledges=PledgeService(challenges, pledge_repository, clock),
        notifications=NotificationService(
            challenge_repository,
            delivery_repository,
            mailer,
            JinjaEmailRenderer(),
            clock,
            max_attempts=max_attempts,
            votes=votes,
        ),
        moderation_repository=moderation_repository,
        moderation=ModerationService(challenges, moderation_repository, clock),
        votes=votes,
    )


def tenant_services(
    backend: Backend, organizations: Any
) -> tuple[ChallengeService, CampaignService, Any]:
    """The challenge and campaign services of one container on the fakes, checking
    references against `organizations` and a fresh campaign store (returned third)."""
    from tests.unit.fakes import FakeCampaignMembers, FakeCampaignRepository

    campaign_repository = FakeCampaignRepository()
    challenges = ChallengeService(
        backend.challenge_repository,
        backend.progress,
        backend.clock,
        counter_shards=4,
        id_factory=SequentialIds(),
        organizations=organizations,
        campaigns=campaign_repository,
    )
    members = FakeCampaignMembers()
    campaigns = CampaignService(
        campaign_repository,
        members,
        members,
        challenges,
        backend.challenge_repository,
        backend.clock,
        counter_shards=4,
        organizations=organizations,
    )
    return challenges, campaigns, campaign_repository
