"""The PayoutRepository contract, run on the in-memory fake and on DynamoDB (moto), as
tests/functional/test_repository_contract.py does for the other ports."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from moto import mock_aws

from chalicelib.domain.errors import InvalidRequestError
from chalicelib.domain.payouts import BENEFICIARY, Payout
from chalicelib.local import moto_fixes
from chalicelib.services.payout_ports import PayoutRepository, PayoutWrite
from chalicelib.settings import Settings
from chalicelib.storage.payouts import DynamoPayoutRepository
from chalicelib.storage.tables import create_tables
from chalicelib.wiring import build_container
from tests.unit.fake_payouts import FakePayoutRepository

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["fakes", "dynamodb"])
def payouts(request: pytest.FixtureRequest) -> Iterator[PayoutRepository]:
    if request.param == "fakes":
        yield FakePayoutRepository()
        return
    settings: Settings = request.getfixturevalue("env")
    moto_fixes.apply()
    with mock_aws():
        build_container(settings)  # points the models at this stage's tables
        create_tables()
        yield DynamoPayoutRepository()


def payout(
    number: int, amount: str = "10.00", challenge_id: str = "ch_1", **fields: object
) -> Payout:
    values: dict[str, object] = {
        "id": f"po_{number:04d}",
        "challenge_id": challenge_id,
        "amount": Decimal(amount),
        "currency": "EUR",
        "paid_on": date(2026, 6, 1),
        "to": BENEFICIARY,
        "recorded_at": START + timedelta(seconds=number),
    }
    values.update(fields)
    return Payout(**values)  # type: ignore[arg-type]


def test_a_payout_is_stored_once_per_id_with_its_exact_amount(payouts: PayoutRepository) -> None:
    first = payout(
        1,
        "999999999999.9999",
        currency="CLF",
        proof_url="https://example.org/receipt",
        note="Virement n°1",
        idempotency_key="k-1",
    )
    assert payouts.add(first) is PayoutWrite.ADDED
    assert payouts.add(payout(1, "1.00")) is PayoutWrite.EXISTS
    stored = payouts.get("ch_1", first.id)
    assert stored == first
    assert stored is not None
    assert str(stored.amount) == "999999999999.9999"
    assert payouts.get("ch_1", "po_nope") is None
    assert payouts.get("ch_2", first.id) is None


def test_the_list_pages_newest_first_and_all_returns_every_payout(
    payouts: PayoutRepository,
) -> None:
    for number in range(5):
        payouts.add(payout(number, f"0.{number + 1}0"))
    payouts.add(payout(9, challenge_id="ch_other"))
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        page = payouts.list("ch_1", limit=2, cursor=cursor)
        seen.extend(p.id for p in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [f"po_{n:04d}" for n in (4, 3, 2, 1, 0)]
    everything = payouts.all("ch_1")
    assert sorted(p.id for p in everything) == sorted(seen)
    assert sum((p.amount for p in everything), Decimal(0)) == Decimal("1.5")
    assert payouts.list("ch_none", limit=10, cursor=None).items == []


@pytest.mark.parametrize("cursor", ["not a cursor", "eyJrIjogMX0"])
def test_a_cursor_that_is_not_ours_is_refused(payouts: PayoutRepository, cursor: str) -> None:
    payouts.add(payout(1))
    with pytest.raises(InvalidRequestError):
        payouts.list("ch_1", limit=10, cursor=cursor)
