"""Pledging and withdrawing: one pledge per participant and challenge, counted exactly."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.errors import (
    ChallengeNotOpenError,
    ContentionError,
    InvalidFieldsError,
    PledgeNotFoundError,
)
from chalicelib.domain.idempotency import KeyedAnswer
from chalicelib.domain.locale import language_for
from chalicelib.domain.model import (
    MAX_REPORT_QUANTITY,
    QUANTITY_DECIMALS,
    Challenge,
    ChallengeStatus,
    Pledge,
    Principal,
    counter_shard_for,
    tidy_quantity,
)
from chalicelib.domain.votes import HeldVote
from chalicelib.services.challenges import ChallengeService
from chalicelib.services.ports import (
    NO_METRICS,
    Clock,
    MetricName,
    MetricsRecorder,
    Page,
    PledgeRepository,
)

# A pledge that is withdrawn between our failed insert and our read is retried this often.
PLEDGE_ATTEMPTS = 3
# Names the request tokens derived from an Idempotency-Key (a UUID5 namespace; never change it,
# or retries straddling a deployment would no longer match).
REQUEST_TOKEN_NAMESPACE = uuid.UUID("5b0f3c1e-8a47-4a51-9a0e-6c2f1d2b7e90")


@dataclass(frozen=True)
class Offer:
    """What a pledge promises: a quantity in the challenge's unit (None: the challenge's)."""

    quantity: float
    unit: str | None = None


@dataclass(frozen=True)
class PledgeRequest:
    display_name: str | None = None
    area: str | None = None
    notify: bool = True
    offer: Offer | None = None
    # The client's Idempotency-Key, when it sent one: the same key makes the same write token.
    idempotency_key: str | None = None
    # The answer to store with a new pledge, made from its outcome before it is written (the
    # API's answer for the key): stored in the pledge's own write, or not at all.
    answer: Callable[[PledgeOutcome], KeyedAnswer] | None = None


def request_token(
    participant_id: str, challenge_id: str, operation: str, idempotency_key: str | None
) -> str:
    """The token naming one logical write to storage, carried by every retry of it (DynamoDB
    applies a transaction once per token, for 10 minutes; 36 characters at most).

    With an Idempotency-Key it is derived from the key, the caller, the challenge and the
    operation, so the client's own retry of the request carries it too. Without one it is
    random: pledging, withdrawing and pledging again within minutes are identical requests
    that must each be applied.
    """
    if idempotency_key is None:
        return str(uuid.uuid4())
    name = json.dumps([participant_id, challenge_id, operation, idempotency_key])
    return str(uuid.uuid5(REQUEST_TOKEN_NAMESPACE, name))


@dataclass(frozen=True)
class PledgeOutcome:
    pledge: Pledge
    challenge: Challenge
    created: bool


class PledgeService:
    def __init__(
        self,
        challenges: ChallengeService,
        pledges: PledgeRepository,
        clock: Clock,
        *,
        metrics: MetricsRecorder = NO_METRICS,
    ) -> None:
        self._challenges = challenges
        self._pledges = pledges
        self._clock = clock
        self._metrics = metrics

    def pledge(
        self, principal: Principal, challenge_id: str, request: PledgeRequest
    ) -> PledgeOutcome:
        # A warm container may accept pledges for up to the cache's TTL after a close made
        # elsewhere: those pledges are real and counted exactly (docs/decisions.md).
        challenge = self._challenges.get_visible(challenge_id, principal, cached=True)
        offered = check_offer(request.offer, challenge)
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
            # Only an address the identity provider verified: an unverified one may be
            # someone else's. Two more attributes on the same item: no extra call.
            email=principal.email if principal.email_verified else None,
            locale=language_for(principal.locale),
            idempotency_key=request.idempotency_key,
            offered=offered,
        )
        shard = counter_shard_for(principal.sub, challenge.counter_shards)
        token = request_token(principal.sub, challenge.id, "pledge", request.idempotency_key)
        created = PledgeOutcome(pledge, challenge, created=True)
        answer = request.answer(created) if request.answer is not None else None
        for _ in range(PLEDGE_ATTEMPTS):
            if self._pledges.add(pledge, shard, request_token=token, answer=answer):
                self._metrics.count(MetricName.PLEDGES_CREATED)
                return created
            existing = self._pledges.get(challenge.id, principal.sub)
            if existing is not None:
                return PledgeOutcome(existing, challenge, created=False)
        raise ContentionError("your pledge raced with your own withdrawal; try again")

    def withdraw(self, principal: Principal, challenge_id: str) -> None:
        # Not cached: once a challenge is closed or ended its figures are final, and a
        # withdrawal is rare enough to pay for a read of its own.
        challenge = self._challenges.get_visible(challenge_id, principal)
        now = self._clock.now()
        if challenge.figures_frozen_at(now):
            raise ChallengeNotOpenError(f"{_closed_reason(challenge, now)}: its figures are final")
        if challenge.beneficiary_choice is None and challenge.target.unit is None:
            token = request_token(principal.sub, challenge.id, "withdraw", None)
            if not self._pledges.remove(challenge.id, principal.sub, request_token=token):
                raise PledgeNotFoundError(challenge.id)
        else:
            self._withdraw_read_first(challenge, principal.sub)
        self._metrics.count(MetricName.PLEDGES_WITHDRAWN)

    def _withdraw_read_first(self, challenge: Challenge, participant_id: str) -> None:
        """A pledge that may carry a vote or an offer is read first: withdrawing it counts
        its offer out, and its vote unless the vote's result is fixed (or the vote's shards
        were frozen meanwhile, by a closer about to fix it)."""
        choice = challenge.beneficiary_choice
        count_out = not (choice and choice.closed)
        for _ in range(PLEDGE_ATTEMPTS):
            pledge = self._pledges.get(challenge.id, participant_id)
            if pledge is None:
                raise PledgeNotFoundError(challenge.id)
            vote = None
            if choice is not None:
                vote = HeldVote(pledge.candidate_id, pledge.vote_shard, count_out=count_out)
            token = request_token(participant_id, challenge.id, "withdraw", None)
            if self._pledges.remove(
                challenge.id,
                participant_id,
                request_token=token,
                vote=vote,
                offered=pledge.offered,
            ):
                return
            current = self._pledges.get(challenge.id, participant_id)
            if current is not None and current.candidate_id == pledge.candidate_id:
                count_out = False  # same vote, still there: its shard was closed
        raise ContentionError("your withdrawal raced with your own vote; try again")

    def list_mine(self, principal: Principal, *, limit: int, cursor: str | None) -> Page[Pledge]:
        return self._pledges.list_for_participant(principal.sub, limit=limit, cursor=cursor)


def check_offer(offer: Offer | None, challenge: Challenge) -> int | float:
    """What a pledge offers, in the challenge's unit (0: no offer); a 400 naming `offer`."""
    if offer is None:
        return 0
    unit = challenge.target.unit
    problem = None
    if unit is None:
        problem = "this challenge counts participants only and declares no unit: no offer"
    elif offer.unit is not None and offer.unit != unit:
        problem = f"this challenge counts {unit!r}, not {offer.unit!r}"
    elif not math.isfinite(offer.quantity) or not 0 < offer.quantity <= MAX_REPORT_QUANTITY:
        problem = f"an offer is a quantity greater than 0 and at most {MAX_REPORT_QUANTITY}"
    elif round(offer.quantity, QUANTITY_DECIMALS) != offer.quantity:
        problem = f"an offer has at most {QUANTITY_DECIMALS} decimals"
    if problem is not None:
        raise InvalidFieldsError(problem, {"offer": problem})
    return tidy_quantity(offer.quantity)


def _closed_reason(challenge: Challenge, now: datetime) -> str:
    if challenge.status is not ChallengeStatus.LIVE:
        return f"this challenge is {challenge.status}"
    if challenge.starts_at is not None and now < challenge.starts_at:
        return "this challenge has not started yet"
    # Live but past its end: the deadline schedule has not marked it ended yet.
    return "this challenge has ended"
