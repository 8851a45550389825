"""Payouts: admins record what a reached challenge paid; anyone who sees it reads the trail."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TypeVar

from chalicelib.domain.access import PLATFORM, AdminScope
from chalicelib.domain.errors import (
    ChallengeNotReachedError,
    IdempotencyKeyReusedError,
    InvalidFieldsError,
)
from chalicelib.domain.model import Challenge, Principal
from chalicelib.domain.payouts import (
    Payout,
    PayoutTotal,
    check_amount,
    check_currency,
    check_paid_on,
    check_recipient,
    payout_id,
    totals,
)
from chalicelib.services.challenges import ChallengeService
from chalicelib.services.payout_ports import PayoutRepository, PayoutWrite
from chalicelib.services.ports import Clock, Page

T = TypeVar("T")


@dataclass(frozen=True)
class PayoutRequest:
    amount: Decimal
    currency: str
    paid_on: date
    to: str
    proof_url: str | None = None
    note: str | None = None
    # The client's Idempotency-Key, when it sent one: it names the payout for good.
    idempotency_key: str | None = None


@dataclass(frozen=True)
class PayoutOutcome:
    payout: Payout
    challenge: Challenge
    created: bool  # False: the payout this Idempotency-Key had already recorded


@dataclass(frozen=True)
class PayoutTrail:
    challenge: Challenge
    page: Page[Payout]
    totals: list[PayoutTotal]  # of every payout, not only this page's


class _FieldChecks:
    """Runs each field's check and reports every refused field at once (a form then shows
    each error next to its field), not only the first."""

    def __init__(self) -> None:
        self._fields: dict[str, str] = {}

    def run(self, check: Callable[[], T]) -> T | None:
        try:
            return check()
        except InvalidFieldsError as error:
            self._fields.update(error.fields)
            return None

    def refusal(self) -> InvalidFieldsError:
        """What the refused fields were, each with its reason."""
        return InvalidFieldsError("; ".join(self._fields.values()), self._fields)


class PayoutService:
    def __init__(
        self, challenges: ChallengeService, payouts: PayoutRepository, clock: Clock
    ) -> None:
        self._challenges = challenges
        self._payouts = payouts
        self._clock = clock

    def record(
        self,
        admin: Principal,
        challenge_id: str,
        request: PayoutRequest,
        scope: AdminScope = PLATFORM,
    ) -> PayoutOutcome:
        # Another organisation's challenge is not found before anything else is said of it.
        challenge = self._challenges.get_for_admin(challenge_id, scope)
        if not challenge.reached:
            raise ChallengeNotReachedError(challenge.id)
        now = self._clock.now()
        checked = _FieldChecks()
        digits = checked.run(lambda: check_currency(request.currency))
        amount = checked.run(lambda: check_amount(request.amount, request.currency))
        paid_on = checked.run(lambda: check_paid_on(request.paid_on, challenge, now))
        to = checked.run(lambda: check_recipient(challenge, request.to))
        if digits is None or amount is None or paid_on is None or to is None:
            raise checked.refusal()
        payout = Payout(
            id=payout_id(admin.sub, challenge.id, request.idempotency_key),
            challenge_id=challenge.id,
            amount=amount,
            currency=request.currency,
            paid_on=paid_on,
            to=to,
            recorded_at=now,
            proof_url=request.proof_url,
            note=request.note,
            idempotency_key=request.idempotency_key,
        )
        if self._payouts.add(payout) is PayoutWrite.ADDED:
            return PayoutOutcome(payout, challenge, created=True)
        stored = self._payouts.get(challenge.id, payout.id)
        if stored is None:  # pragma: no cover - payouts are never deleted
            raise AssertionError(f"payout {payout.id} exists and cannot be read")
        if not stored.same_payment(payout):
            raise IdempotencyKeyReusedError(
                "this Idempotency-Key already recorded another payout on this challenge"
            )
        return PayoutOutcome(stored, challenge, created=False)

    def trail(
        self, challenge_id: str, principal: Principal | None, *, limit: int, cursor: str | None
    ) -> PayoutTrail:
        """The payouts of a challenge the caller may see, newest first, with the totals."""
        challenge = self._challenges.get_visible(challenge_id, principal)
        page = self._payouts.list(challenge.id, limit=limit, cursor=cursor)
        return PayoutTrail(challenge, page, totals(self._payouts.all(challenge.id)))
