"""Payouts: the money a reached challenge paid, to whom, when, and with what proof."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from chalicelib.domain.errors import InvalidFieldsError
from chalicelib.domain.model import Challenge

PAYOUT_ID_PREFIX = "po_"
PAYOUT_ID_HEX_DIGITS = 20
# Whoever received the reward named as the challenge's beneficiary.
BENEFICIARY = "beneficiary"
# A typo guard, far below DynamoDB's 38 significant digits.
MAX_AMOUNT = Decimal("999999999999")
MAX_NOTE_LENGTH = 500
# Calendar dates are the payer's own (as a report's occurred_on): a date is in the future only
# once it has begun nowhere yet.
LATEST_UTC_OFFSET = timedelta(hours=14)
EARLIEST_UTC_OFFSET = timedelta(hours=-12)

# Active ISO 4217 alphabetic codes and their minor units (digits after the decimal point), as
# published by the maintenance agency (SIX) in 2025. Funds codes with no minor unit (XAU,
# XDR, XXX…) are left out: nothing is paid in them. Update by hand when the list changes.
_MINOR_UNITS_0 = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_MINOR_UNITS_3 = "BHD IQD JOD KWD LYD OMR TND"
_MINOR_UNITS_4 = "CLF UYW"
_MINOR_UNITS_2 = (
    "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR "
    "FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR "
    "KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV "
    "MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR "
    "SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH "
    "USD USN UZS VED VES WST XCD XCG YER ZAR ZMW ZWG"
)
MINOR_UNITS: dict[str, int] = {
    code: digits
    for digits, codes in (
        (0, _MINOR_UNITS_0),
        (2, _MINOR_UNITS_2),
        (3, _MINOR_UNITS_3),
        (4, _MINOR_UNITS_4),
    )
    for code in codes.split()
}


@dataclass(frozen=True)
class Payout:
    """One payment made for a reached challenge; `to` is `beneficiary` or a candidate's id."""

    id: str
    challenge_id: str
    amount: Decimal
    currency: str
    paid_on: date
    to: str
    recorded_at: datetime
    proof_url: str | None = None
    note: str | None = None
    # The Idempotency-Key that recorded it, if any: a retry names the same payout.
    idempotency_key: str | None = field(default=None, repr=False)

    def same_payment(self, other: Payout) -> bool:
        """Whether two records describe the same payment (an Idempotency-Key's retry)."""
        return (
            self.challenge_id,
            self.amount,
            self.currency,
            self.paid_on,
            self.to,
            self.proof_url,
            self.note,
        ) == (
            other.challenge_id,
            other.amount,
            other.currency,
            other.paid_on,
            other.to,
            other.proof_url,
            other.note,
        )


@dataclass(frozen=True)
class PayoutTotal:
    currency: str
    amount: Decimal


def payout_id(admin_id: str, challenge_id: str, idempotency_key: str | None) -> str:
    """A new payout's id: derived from the Idempotency-Key when there is one, so a retry,
    whatever became of the first attempt, names the same payout (written once); else random."""
    if idempotency_key is None:
        return PAYOUT_ID_PREFIX + secrets.token_hex(PAYOUT_ID_HEX_DIGITS // 2)
    name = json.dumps([admin_id, challenge_id, "payout", idempotency_key])
    return PAYOUT_ID_PREFIX + hashlib.sha256(name.encode()).hexdigest()[:PAYOUT_ID_HEX_DIGITS]


def payout_recipients(challenge: Challenge) -> frozenset[str]:
    """Who a challenge's payouts may go to (`to`): its beneficiary (a vote's winner, once
    chosen), or one of its beneficiary vote's candidates by id."""
    choice = challenge.beneficiary_choice
    candidates = {c.id for c in choice.candidates} if choice is not None else set()
    return frozenset({BENEFICIARY, *candidates})


def recipient_name(challenge: Challenge, to: str) -> str | None:
    """The public name of a payout's recipient (None for one the challenge no longer names)."""
    if to == BENEFICIARY:
        return challenge.beneficiary.name
    choice = challenge.beneficiary_choice
    candidate = choice.candidate(to) if choice is not None else None
    return candidate.name if candidate is not None else None


def _invalid(name: str, message: str) -> InvalidFieldsError:
    return InvalidFieldsError(message, {name: message})


def check_currency(currency: str) -> int:
    """The currency's minor units; a 400 for a code that is not an active ISO 4217 one."""
    digits = MINOR_UNITS.get(currency)
    if digits is None:
        raise _invalid("currency", f"{currency[:8]!r} is not an active ISO 4217 currency code")
    return digits


def check_amount(amount: Decimal, currency: str) -> Decimal:
    """The amount if it is a positive number of the currency's minor units (of any number of
    decimals for a code that is not a currency: `check_currency` says what is wrong there)."""
    digits = MINOR_UNITS.get(currency)
    if not amount.is_finite() or amount <= 0:
        raise _invalid("amount", "the amount must be greater than 0")
    if amount > MAX_AMOUNT:
        raise _invalid("amount", f"the amount is at most {MAX_AMOUNT}")
    exponent = amount.normalize().as_tuple().exponent
    if digits is not None and isinstance(exponent, int) and -exponent > digits:
        raise _invalid("amount", f"{currency} amounts have at most {digits} decimals")
    return amount


def parse_amount(text: str) -> Decimal:
    """A decimal from its text, exactly (no binary floating point on the way)."""
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise _invalid("amount", "the amount must be a decimal number") from exc


def check_recipient(challenge: Challenge, to: str) -> str:
    recipients = payout_recipients(challenge)
    if to not in recipients:
        raise _invalid("to", f"a payout goes to one of: {', '.join(sorted(recipients))}")
    return to


def check_paid_on(paid_on: date, challenge: Challenge, now: datetime) -> date:
    """A date that has begun somewhere, and had not ended everywhere when the challenge was
    created."""
    if paid_on > (now + LATEST_UTC_OFFSET).date():
        raise _invalid("paid_on", "paid_on is in the future")
    earliest = (challenge.created_at + EARLIEST_UTC_OFFSET).date()
    if paid_on < earliest:
        raise _invalid(
            "paid_on", f"paid_on is before the challenge was created ({earliest.isoformat()})"
        )
    return paid_on


def format_amount(amount: Decimal, currency: str) -> str:
    """The amount as text with the currency's minor units: `5000.00` EUR, `5000` JPY."""
    digits = MINOR_UNITS.get(currency, 2)
    return format(amount.quantize(Decimal(1).scaleb(-digits)), "f")


def totals(payouts: Iterable[Payout]) -> list[PayoutTotal]:
    """What was paid, per currency (currencies in alphabetical order); exact decimal sums."""
    sums: dict[str, Decimal] = {}
    for payout in payouts:
        sums[payout.currency] = sums.get(payout.currency, Decimal(0)) + payout.amount
    return [PayoutTotal(currency, sums[currency]) for currency in sorted(sums)]
