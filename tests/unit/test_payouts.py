"""Payouts on the fakes: the amount, currency, recipient and date rules, recorded once a
challenge is reached, once per Idempotency-Key, and the trail's exact totals."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.access import AdminScope
from chalicelib.domain.errors import (
    ChallengeNotFoundError,
    ChallengeNotReachedError,
    IdempotencyKeyReusedError,
    InvalidFieldsError,
)
from chalicelib.domain.model import Challenge, Metric, Principal, Target
from chalicelib.domain.payouts import (
    BENEFICIARY,
    MINOR_UNITS,
    Payout,
    check_amount,
    check_currency,
    format_amount,
    parse_amount,
    payout_recipients,
    recipient_name,
    totals,
)
from chalicelib.services.payouts import PayoutRequest, PayoutService
from tests.unit.fake_payouts import FakePayoutRepository
from tests.unit.support import Backend, build_backend

ADMIN = Principal(sub="admin-1", groups=frozenset({"admin"}))
TODAY = date(2026, 6, 1)  # the fake clock's day


def request(**changes: object) -> PayoutRequest:
    base = PayoutRequest(amount=Decimal("5000.00"), currency="EUR", paid_on=TODAY, to=BENEFICIARY)
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def backend() -> Backend:
    return build_backend()


@pytest.fixture
def service(backend: Backend) -> PayoutService:
    return PayoutService(backend.challenges, FakePayoutRepository(), backend.clock)


def reached(backend: Backend, **overrides: object) -> Challenge:
    """A challenge of target 1, reached by one pledge (as its progress trigger counts it)."""
    challenge = backend.live_challenge(target=Target(Metric.PARTICIPANTS, 1), **overrides)
    backend.pledge_many(challenge.id, 1)
    refreshed = backend.progress.refresh(challenge.id)
    assert refreshed is not None
    assert refreshed.reached
    return refreshed


# --- the rules ------------------------------------------------------------------------------


def test_the_currency_table_holds_active_codes_with_their_minor_units() -> None:
    assert (MINOR_UNITS["EUR"], MINOR_UNITS["JPY"], MINOR_UNITS["KWD"], MINOR_UNITS["CLF"]) == (
        2,
        0,
        3,
        4,
    )
    assert len(MINOR_UNITS) > 150
    assert all(len(code) == 3 and code.isalpha() and code.isupper() for code in MINOR_UNITS)
    for withdrawn_or_not_money in ("FRF", "DEM", "HRK", "XXX", "XAU", "ABC", "eur"):
        with pytest.raises(InvalidFieldsError) as caught:
            check_currency(withdrawn_or_not_money)
        assert set(caught.value.fields) == {"currency"}


@pytest.mark.parametrize(
    ("text", "currency"),
    [("0", "EUR"), ("-1", "EUR"), ("0.001", "EUR"), ("1.5", "JPY"), ("1e13", "EUR")],
)
def test_an_amount_must_be_positive_in_the_currencys_minor_units(text: str, currency: str) -> None:
    with pytest.raises(InvalidFieldsError) as caught:
        check_amount(parse_amount(text), currency)
    assert set(caught.value.fields) == {"amount"}


def test_trailing_zeros_beyond_the_minor_units_are_the_same_amount() -> None:
    assert check_amount(Decimal("1500.000"), "JPY") == Decimal(1500)
    assert format_amount(Decimal("1500.000"), "JPY") == "1500"
    assert format_amount(Decimal("5000"), "EUR") == "5000.00"


@settings(max_examples=200, deadline=None)
@given(
    currency=st.sampled_from(sorted(MINOR_UNITS)),
    minor=st.integers(min_value=1, max_value=10**11),
)
def test_any_positive_amount_in_minor_units_is_kept_exactly(currency: str, minor: int) -> None:
    digits = MINOR_UNITS[currency]
    amount = Decimal(minor).scaleb(-digits)
    assert check_amount(amount, currency) == amount
    assert parse_amount(format_amount(amount, currency)) == amount


def test_totals_are_exact_decimal_sums_per_currency() -> None:
    def payout(amount: str, currency: str) -> Payout:
        return Payout(
            id=f"po_{amount}",
            challenge_id="ch_1",
            amount=Decimal(amount),
            currency=currency,
            paid_on=TODAY,
            to=BENEFICIARY,
            recorded_at=datetime(2026, 6, 1, tzinfo=UTC),
        )

    summed = totals([payout("0.1", "EUR"), payout("0.2", "EUR"), payout("3", "JPY")])
    assert [(t.currency, t.amount) for t in summed] == [
        ("EUR", Decimal("0.3")),
        ("JPY", Decimal(3)),
    ]


def test_the_beneficiary_is_the_one_recipient_for_now(backend: Backend) -> None:
    challenge = backend.live_challenge()
    assert payout_recipients(challenge) == frozenset({"beneficiary"})
    assert recipient_name(challenge, "beneficiary") == challenge.beneficiary.name
    assert recipient_name(challenge, "cand_1") is None


# --- the service ----------------------------------------------------------------------------


def test_nothing_is_paid_out_before_the_target_is_reached(
    backend: Backend, service: PayoutService
) -> None:
    challenge = backend.live_challenge()
    with pytest.raises(ChallengeNotReachedError):
        service.record(ADMIN, challenge.id, request())
    assert service.trail(challenge.id, None, limit=10, cursor=None).page.items == []


def test_a_reached_challenges_payout_is_recorded_and_in_its_trail(
    backend: Backend, service: PayoutService
) -> None:
    challenge = reached(backend)
    outcome = service.record(ADMIN, challenge.id, request(note="first"))
    assert outcome.created
    assert outcome.payout.recorded_at == backend.clock.now()
    trail = service.trail(challenge.id, None, limit=10, cursor=None)
    assert trail.page.items == [outcome.payout]
    assert [(t.currency, t.amount) for t in trail.totals] == [("EUR", Decimal("5000.00"))]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"to": "cand_1"}, "to"),
        ({"paid_on": TODAY + timedelta(days=2)}, "paid_on"),
        ({"paid_on": TODAY - timedelta(days=2)}, "paid_on"),  # before the challenge
        ({"currency": "ABC"}, "currency"),
        ({"amount": Decimal("-1")}, "amount"),
    ],
)
def test_bad_values_name_their_field(
    backend: Backend, service: PayoutService, change: dict[str, object], field: str
) -> None:
    challenge = reached(backend)
    with pytest.raises(InvalidFieldsError) as caught:
        service.record(ADMIN, challenge.id, request(**change))
    assert field in caught.value.fields


def test_paid_on_allows_the_payers_own_date_ahead_of_utc(
    backend: Backend, service: PayoutService
) -> None:
    challenge = reached(backend)
    backend.later(hours=3)  # 12:00 UTC: already tomorrow in UTC+13 and UTC+14
    tomorrow = TODAY + timedelta(days=1)
    assert service.record(ADMIN, challenge.id, request(paid_on=tomorrow)).created


def test_an_idempotency_key_names_one_payout(backend: Backend, service: PayoutService) -> None:
    challenge = reached(backend)
    first = service.record(ADMIN, challenge.id, request(idempotency_key="k1"))
    backend.later(minutes=5)
    again = service.record(ADMIN, challenge.id, request(idempotency_key="k1"))
    assert (first.created, again.created) == (True, False)
    assert again.payout == first.payout
    with pytest.raises(IdempotencyKeyReusedError):
        service.record(ADMIN, challenge.id, request(idempotency_key="k1", amount=Decimal("1.00")))
    # Another key, or none, is another payout.
    assert service.record(ADMIN, challenge.id, request(idempotency_key="k2")).created
    assert service.record(ADMIN, challenge.id, request()).created
    trail = service.trail(challenge.id, None, limit=10, cursor=None)
    assert len(trail.page.items) == 3
    assert [t.amount for t in trail.totals] == [Decimal("15000.00")]


def test_an_org_admin_records_only_for_its_organisations_challenges(
    backend: Backend, service: PayoutService
) -> None:
    challenge = reached(backend, organization_id="org_a")
    with pytest.raises(ChallengeNotFoundError):
        service.record(ADMIN, challenge.id, request(), AdminScope("org_b"))
    assert service.record(ADMIN, challenge.id, request(), AdminScope("org_a")).created


def test_the_trail_pages_newest_first_with_totals_of_every_page(
    backend: Backend, service: PayoutService
) -> None:
    challenge = reached(backend)
    for number in range(5):
        service.record(ADMIN, challenge.id, request(amount=Decimal(number + 1), note=str(number)))
        backend.later(seconds=1)
    first = service.trail(challenge.id, None, limit=2, cursor=None)
    second = service.trail(challenge.id, None, limit=2, cursor=first.page.next_cursor)
    third = service.trail(challenge.id, None, limit=2, cursor=second.page.next_cursor)
    notes = [p.note for page in (first, second, third) for p in page.page.items]
    assert notes == ["4", "3", "2", "1", "0"]
    assert third.page.next_cursor is None
    assert [t.amount for t in first.totals] == [Decimal(15)]


def test_every_refused_field_is_reported_at_once(backend: Backend, service: PayoutService) -> None:
    challenge = reached(backend)
    with pytest.raises(InvalidFieldsError) as caught:
        service.record(
            ADMIN, challenge.id, request(amount=Decimal(-5), currency="ABC", to="cand_9")
        )
    assert set(caught.value.fields) == {"amount", "currency", "to"}
