"""Pledging and withdrawing: one pledge per participant and challenge, counted exactly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.errors import ChallengeNotOpenError, ContentionError, PledgeNotFoundError
from chalicelib.domain.model import (
    Challenge,
    ChallengeStatus,
    Pledge,
    Principal,
    counter_shard_for,
)
from chalicelib.services.challenges import ChallengeService
from chalicelib.services.ports import Clock, Page, PledgeRepository

# A pledge that is withdrawn between our failed insert and our read is retried this often.
PLEDGE_ATTEMPTS = 3


@dataclass(frozen=True)
class PledgeRequest:
    display_name: str | None = None
    area: str | None = None
    notify: bool = True


@dataclass(frozen=True)
class PledgeOutcome:
    pledge: Pledge
    challenge: Challenge
    created: bool


class PledgeService:
    def __init__(
        self, challenges: ChallengeService, pledges: PledgeRepository, clock: Clock
    ) -> None:
        self._challenges = challenges
        self._pledges = pledges
        self._clock = clock

    def pledge(
        self, principal: Principal, challenge_id: str, request: PledgeRequest
    ) -> PledgeOutcome:
        challenge = self._challenges.get_visible(challenge_id, principal)
        now = self._clock.now()
        if not challenge.accepts_pledges_at(now):
            raise ChallengeNotOpenError(_closed_reason(challenge, now))
        pledge = Pledge(
            challenge_id=challenge.id,
            participant_id=principal.sub,
            created_at=now,
            display_name=request.display_name,
            area=request.area,
            notify=request.notify,
        )
        shard = counter_shard_for(principal.sub, challenge.counter_shards)
        for _ in range(PLEDGE_ATTEMPTS):
            if self._pledges.add(pledge, shard):
                return PledgeOutcome(pledge, challenge, created=True)
            existing = self._pledges.get(challenge.id, principal.sub)
            if existing is not None:
                return PledgeOutcome(existing, challenge, created=False)
        raise ContentionError("your pledge raced with your own withdrawal; try again")

    def withdraw(self, principal: Principal, challenge_id: str) -> None:
        challenge = self._challenges.get_visible(challenge_id, principal)
        now = self._clock.now()
        if challenge.status is not ChallengeStatus.LIVE or (
            challenge.ends_at is not None and now >= challenge.ends_at
        ):
            raise ChallengeNotOpenError(f"{_closed_reason(challenge, now)}: its figures are final")
        shard = counter_shard_for(principal.sub, challenge.counter_shards)
        if not self._pledges.remove(challenge.id, principal.sub, shard):
            raise PledgeNotFoundError(challenge.id)

    def list_mine(self, principal: Principal, *, limit: int, cursor: str | None) -> Page[Pledge]:
        return self._pledges.list_for_participant(principal.sub, limit=limit, cursor=cursor)


def _closed_reason(challenge: Challenge, now: datetime) -> str:
    if challenge.status is not ChallengeStatus.LIVE:
        return f"this challenge is {challenge.status}"
    if challenge.starts_at is not None and now < challenge.starts_at:
        return "this challenge has not started yet"
    # Live but past its end: the deadline schedule has not marked it ended yet.
    return "this challenge has ended"
