"""Payouts: the admin's payout request, and the public trail of a challenge's payouts."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chalicelib.api.schemas.common import Text, Timestamp, _Body
from chalicelib.api.schemas.organizations import HttpsUrl
from chalicelib.domain.model import Challenge
from chalicelib.domain.payouts import (
    MAX_NOTE_LENGTH,
    Payout,
    PayoutTotal,
    format_amount,
    recipient_name,
)

# The amount is a JSON string, so no client or parser turns it into a binary float on the way;
# the domain then checks its sign and its decimals against the currency's minor units.
Amount = Annotated[
    str,
    StringConstraints(pattern=r"^-?[0-9]{1,15}(?:\.[0-9]{1,6})?$"),
    Field(
        description='a decimal as a JSON string ("5000.00"), greater than 0, with at most '
        "the currency's minor-unit decimals (2 for EUR, 0 for JPY); a JSON number is refused",
        examples=["5000.00"],
    ),
]
Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    Field(description="an active ISO 4217 alphabetic code", examples=["EUR"]),
]
Recipient = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$"),
    Field(description="`beneficiary`, or the id of one of the challenge's candidates"),
]
Note = Annotated[Text, StringConstraints(max_length=MAX_NOTE_LENGTH)]


class PayoutIn(_Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "amount": "5000.00",
                    "currency": "EUR",
                    "paid_on": "2026-12-01",
                    "to": "beneficiary",
                    "proof_url": "https://solicycle.example/receipts/2026-12",
                }
            ]
        }
    )

    amount: Amount
    currency: Currency
    paid_on: date = Field(description="YYYY-MM-DD: the day it was paid (not in the future)")
    to: Recipient
    proof_url: HttpsUrl | None = None
    note: Note | None = None


class PayoutOut(BaseModel):
    id: str
    challenge_id: str
    amount: str = Field(description="a decimal as a string, with the currency's minor units")
    currency: str
    paid_on: date
    to: str
    recipient_name: str | None
    proof_url: str | None
    note: str | None
    recorded_at: Timestamp

    @classmethod
    def from_payout(cls, payout: Payout, challenge: Challenge) -> PayoutOut:
        return cls(
            id=payout.id,
            challenge_id=payout.challenge_id,
            amount=format_amount(payout.amount, payout.currency),
            currency=payout.currency,
            paid_on=payout.paid_on,
            to=payout.to,
            recipient_name=recipient_name(challenge, payout.to),
            proof_url=payout.proof_url,
            note=payout.note,
            recorded_at=payout.recorded_at,
        )


class PayoutTotalOut(BaseModel):
    currency: str
    amount: str

    @classmethod
    def from_total(cls, total: PayoutTotal) -> PayoutTotalOut:
        return cls(currency=total.currency, amount=format_amount(total.amount, total.currency))


class PayoutList(BaseModel):
    """A page of a challenge's payouts, newest first, and what was paid in all, per currency."""

    items: list[PayoutOut]
    next_cursor: str | None = None
    totals: list[PayoutTotalOut]
