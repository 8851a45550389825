"""ReportService: reports need a pledge and a live challenge with a unit, and count once."""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.errors import (
    ChallengeNotFoundError,
    ChallengeNotOpenError,
    IdempotencyKeyReusedError,
    InvalidFieldsError,
    InvalidRequestError,
    NotPledgedError,
    ReportsNotAcceptedError,
)
from chalicelib.domain.model import (
    Challenge,
    Metric,
    Target,
    Visibility,
    counter_shard_for,
    tidy_quantity,
)
from chalicelib.services.pledges import PledgeRequest, request_token
from chalicelib.services.ports import ReportWrite
from chalicelib.services.reports import ReportRequest, ReportService, report_id
from tests.unit.fakes import FakeReportRepository
from tests.unit.support import Backend, build_backend, challenge_draft, participant

LEA = participant("lea")
KM = Target(Metric.PARTICIPANTS, 3, "km")
KG = Target(Metric.QUANTITY, 100, "kg")


class Reporting:
    """The unit layer's backend with a report service on the same fake tables."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.repository = FakeReportRepository(backend.db)
        self.service = ReportService(backend.challenges, self.repository, backend.clock)

    def pledged(self, **overrides: Any) -> Challenge:
        challenge = self.backend.live_challenge(**{"target": KM, **overrides})
        self.backend.pledges.pledge(LEA, challenge.id, PledgeRequest())
        return challenge

    def counted(self, challenge_id: str) -> int | float:
        challenge = self.backend.stored(challenge_id)
        totals = self.backend.counter_repository.totals(challenge_id, challenge.counter_shards)
        return totals.quantity

    def reported(self, challenge_id: str) -> int | float:
        pledge = self.backend.pledge_repository.get(challenge_id, LEA.sub)
        assert pledge is not None
        return pledge.quantity_reported


@pytest.fixture
def reporting(backend: Backend) -> Reporting:
    return Reporting(backend)


def _loc(error: pytest.ExceptionInfo[InvalidRequestError]) -> list[object]:
    """Where the API reports each refused field: in the body."""
    assert isinstance(error.value, InvalidFieldsError)
    return [["body", name] for name in error.value.fields]


def test_a_report_is_stored_and_counted_in_the_pledge_and_the_shards(
    reporting: Reporting,
) -> None:
    challenge = reporting.pledged()

    outcome = reporting.service.report(LEA, challenge.id, ReportRequest(quantity=12.5))

    assert outcome.created
    report = outcome.report
    assert report.id.startswith("rpt_")
    assert (report.challenge_id, report.participant_id) == (challenge.id, LEA.sub)
    assert (report.quantity, report.unit) == (12.5, "km")
    assert report.occurred_on == date(2026, 6, 1)  # the fake clock's today
    assert report.created_at == reporting.backend.clock.now()
    assert reporting.counted(challenge.id) == 12.5
    assert reporting.reported(challenge.id) == 12.5
    refreshed = reporting.backend.progress.refresh(challenge.id)
    assert refreshed is not None
    assert refreshed.totals.quantity == 12.5
    assert refreshed.totals.participants == 1


def test_whole_quantities_are_integers_and_decimals_add_up_exactly(reporting: Reporting) -> None:
    challenge = reporting.pledged()
    for quantity in (0.1, 0.2, 3.0):
        reporting.service.report(LEA, challenge.id, ReportRequest(quantity=quantity))

    assert reporting.counted(challenge.id) == 3.3
    assert reporting.reported(challenge.id) == 3.3
    whole = reporting.service.report(LEA, challenge.id, ReportRequest(quantity=2.0)).report
    assert whole.quantity == 2
    assert isinstance(whole.quantity, int)


def test_the_unit_defaults_to_the_challenge_s_and_must_match_it(reporting: Reporting) -> None:
    challenge = reporting.pledged()

    assert reporting.service.report(LEA, challenge.id, ReportRequest(5, unit="km")).created
    with pytest.raises(InvalidRequestError) as error:
        reporting.service.report(LEA, challenge.id, ReportRequest(5, unit="mi"))
    assert _loc(error) == [["body", "unit"]]
    with pytest.raises(InvalidRequestError):
        reporting.service.report(LEA, challenge.id, ReportRequest(5, unit="KM"))
    assert reporting.counted(challenge.id) == 5


def test_a_headcount_challenge_without_a_unit_takes_no_reports(reporting: Reporting) -> None:
    challenge = reporting.pledged(target=Target(Metric.PARTICIPANTS, 3))

    with pytest.raises(ReportsNotAcceptedError):
        reporting.service.report(LEA, challenge.id, ReportRequest(5))


@pytest.mark.parametrize(
    "quantity",
    [0, -1, -0.5, float("nan"), float("inf"), 1_000_000.5, 2_000_000, 1.0005],
)
def test_quantities_must_be_positive_finite_bounded_with_three_decimals(
    reporting: Reporting, quantity: float
) -> None:
    challenge = reporting.pledged()

    with pytest.raises(InvalidRequestError) as error:
        reporting.service.report(LEA, challenge.id, ReportRequest(quantity))
    assert _loc(error) == [["body", "quantity"]]
    assert reporting.counted(challenge.id) == 0


def test_report_cap_bounds_one_report(reporting: Reporting) -> None:
    challenge = reporting.pledged(report_cap=50)

    assert reporting.service.report(LEA, challenge.id, ReportRequest(50)).created
    with pytest.raises(InvalidRequestError) as error:
        reporting.service.report(LEA, challenge.id, ReportRequest(50.001))
    assert _loc(error) == [["body", "quantity"]]
    assert "50" in str(error.value)
    assert reporting.counted(challenge.id) == 50


def test_the_absolute_bound_holds_without_a_cap(reporting: Reporting) -> None:
    challenge = reporting.pledged()

    assert reporting.service.report(LEA, challenge.id, ReportRequest(1_000_000)).created
    with pytest.raises(InvalidRequestError):
        reporting.service.report(LEA, challenge.id, ReportRequest(1_000_000.001))


def test_a_date_that_has_begun_in_utc_plus_14_is_not_in_the_future(
    reporting: Reporting,
) -> None:
    challenge = reporting.pledged()
    clock = reporting.backend.clock
    tomorrow = date(2026, 6, 2)

    clock.set(datetime(2026, 6, 1, 9, 59, 59, tzinfo=UTC))  # 23:59:59 in UTC+14
    with pytest.raises(InvalidRequestError) as error:
        reporting.service.report(LEA, challenge.id, ReportRequest(5, occurred_on=tomorrow))
    assert _loc(error) == [["body", "occurred_on"]]

    clock.set(datetime(2026, 6, 1, 10, 0, tzinfo=UTC))  # midnight of June 2nd in UTC+14
    outcome = reporting.service.report(LEA, challenge.id, ReportRequest(5, occurred_on=tomorrow))
    assert outcome.report.occurred_on == tomorrow
    with pytest.raises(InvalidRequestError):
        reporting.service.report(LEA, challenge.id, ReportRequest(5, occurred_on=date(2026, 6, 3)))
    assert reporting.counted(challenge.id) == 5


def test_a_date_before_the_challenge_started_is_refused(reporting: Reporting) -> None:
    # Created 2026-06-01T09:00Z: already June 1st everywhere but in UTC-12 (May 31st, 21:00).
    challenge = reporting.pledged()
    reporting.backend.later(days=3)

    for day in (date(2026, 5, 31), date(2026, 6, 1), date(2026, 6, 4)):
        assert reporting.service.report(LEA, challenge.id, ReportRequest(1, occurred_on=day))
    with pytest.raises(InvalidRequestError) as error:
        reporting.service.report(LEA, challenge.id, ReportRequest(1, occurred_on=date(2026, 5, 30)))
    assert _loc(error) == [["body", "occurred_on"]]
    assert "2026-05-31" in str(error.value)


def test_starts_at_rather_than_creation_bounds_the_dates(reporting: Reporting) -> None:
    starts = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)  # June 3rd, 00:00 in UTC-12
    challenge = reporting.backend.live_challenge(target=KM, starts_at=starts)
    reporting.backend.clock.set(starts + timedelta(days=1))
    reporting.backend.pledges.pledge(LEA, challenge.id, PledgeRequest())

    assert reporting.service.report(LEA, challenge.id, ReportRequest(1, occurred_on=starts.date()))
    with pytest.raises(InvalidRequestError):
        reporting.service.report(LEA, challenge.id, ReportRequest(1, occurred_on=date(2026, 6, 2)))


def test_a_report_needs_a_current_pledge(reporting: Reporting) -> None:
    challenge = reporting.backend.live_challenge(target=KM)
    other = participant("other")

    with pytest.raises(NotPledgedError):
        reporting.service.report(other, challenge.id, ReportRequest(5))

    reporting.backend.pledges.pledge(other, challenge.id, PledgeRequest())
    reporting.service.report(other, challenge.id, ReportRequest(5))
    reporting.backend.pledges.withdraw(other, challenge.id)
    with pytest.raises(NotPledgedError):
        reporting.service.report(other, challenge.id, ReportRequest(7))
    # What was done was done: the withdrawn pledge's report stays counted.
    assert reporting.counted(challenge.id) == 5
    kept = reporting.service.list_mine(other, challenge_id=challenge.id, limit=10, cursor=None)
    assert [r.quantity for r in kept.items] == [5]


def test_a_report_needs_a_live_challenge_it_may_see(reporting: Reporting) -> None:
    backend = reporting.backend
    closed = reporting.pledged()
    backend.challenges.close(closed.id)
    with pytest.raises(ChallengeNotOpenError):
        reporting.service.report(LEA, closed.id, ReportRequest(5))

    ended = reporting.pledged(ends_at=backend.clock.now() + timedelta(hours=1))
    backend.later(hours=2)  # past its end, not yet marked ended by the schedule
    with pytest.raises(ChallengeNotOpenError):
        reporting.service.report(LEA, ended.id, ReportRequest(5))

    draft = backend.challenges.create(challenge_draft(target=KM))
    with pytest.raises(ChallengeNotFoundError):
        reporting.service.report(LEA, draft.id, ReportRequest(5))

    staff = backend.live_challenge(
        target=KM, visibility=Visibility.ORGANIZATION, organization_id="org_acme"
    )
    with pytest.raises(ChallengeNotFoundError):
        reporting.service.report(LEA, staff.id, ReportRequest(5))
    assert reporting.counted(closed.id) == reporting.counted(ended.id) == 0


def test_reached_fires_once_on_the_quantity(reporting: Reporting) -> None:
    backend = reporting.backend
    challenge = reporting.pledged(target=KG)
    reporting.service.report(LEA, challenge.id, ReportRequest(60))
    refreshed = backend.progress.refresh(challenge.id)
    assert refreshed is not None
    assert not refreshed.reached

    reporting.service.report(LEA, challenge.id, ReportRequest(45.5))
    reporting.service.report(LEA, challenge.id, ReportRequest(10))
    for _ in range(3):  # redelivered stream batches refresh again
        backend.progress.refresh(challenge.id)

    stored = backend.stored(challenge.id)
    assert stored.reached
    assert stored.totals.quantity == 115.5
    assert stored.percent() == 115.5
    milestones = backend.db.milestones_for(challenge.id)
    assert len(milestones) == 1
    assert milestones[0].totals.quantity == 115.5


def test_quantities_never_reach_a_headcount_challenge(reporting: Reporting) -> None:
    challenge = reporting.pledged(target=Target(Metric.PARTICIPANTS, 2, "km"))
    reporting.service.report(LEA, challenge.id, ReportRequest(500))

    refreshed = reporting.backend.progress.refresh(challenge.id)

    assert refreshed is not None
    assert refreshed.totals.quantity == 500
    assert not refreshed.reached


def test_the_same_idempotency_key_makes_one_report(reporting: Reporting) -> None:
    challenge = reporting.pledged()
    first = reporting.service.report(LEA, challenge.id, ReportRequest(5, idempotency_key="k-1"))
    reporting.backend.later(minutes=20)  # past DynamoDB's 10 minutes for a request token

    again = reporting.service.report(LEA, challenge.id, ReportRequest(5, idempotency_key="k-1"))

    assert first.created
    assert not again.created
    assert again.report == first.report
    assert first.report.id == report_id(LEA.sub, challenge.id, "k-1")
    assert reporting.counted(challenge.id) == 5
    assert reporting.reported(challenge.id) == 5
    assert reporting.repository.request_tokens[0] == request_token(
        LEA.sub, challenge.id, "report", "k-1"
    )
    with pytest.raises(IdempotencyKeyReusedError):
        reporting.service.report(LEA, challenge.id, ReportRequest(6, idempotency_key="k-1"))
    other_day = date(2026, 6, 1) - timedelta(days=1)
    with pytest.raises(IdempotencyKeyReusedError):
        reporting.service.report(
            LEA, challenge.id, ReportRequest(5, occurred_on=other_day, idempotency_key="k-1")
        )
    # The key names a report per challenge, and keyless reports are each new.
    second = reporting.pledged()
    assert reporting.service.report(LEA, second.id, ReportRequest(5, idempotency_key="k-1"))
    reporting.service.report(LEA, challenge.id, ReportRequest(5))
    reporting.service.report(LEA, challenge.id, ReportRequest(5))
    assert reporting.counted(challenge.id) == 15
    assert reporting.counted(second.id) == 5


def test_a_retried_write_with_the_same_request_token_counts_once(reporting: Reporting) -> None:
    challenge = reporting.pledged()
    report = reporting.service.report(LEA, challenge.id, ReportRequest(5, idempotency_key="k"))
    token = reporting.repository.request_tokens[0]
    shard = counter_shard_for(LEA.sub, challenge.counter_shards)

    # The storage layer's own retry after a lost answer: same token, same write.
    written = reporting.repository.add(report.report, shard, request_token=token)

    assert written is ReportWrite.ADDED
    assert reporting.counted(challenge.id) == 5
    assert len(reporting.repository.reports) == 1


def test_concurrent_requests_with_one_key_make_one_report(reporting: Reporting) -> None:
    challenge = reporting.pledged()

    def send(_: int) -> str:
        request = ReportRequest(2.5, idempotency_key="same")
        return reporting.service.report(LEA, challenge.id, request).report.id

    with ThreadPoolExecutor(max_workers=8) as pool:
        answered = set(pool.map(send, range(16)))

    # Identical writes under one request token are applied once, as DynamoDB does; each
    # caller is told about the one report.
    assert answered == {report_id(LEA.sub, challenge.id, "same")}
    assert len(reporting.repository.reports) == 1
    assert reporting.counted(challenge.id) == 2.5
    assert reporting.reported(challenge.id) == 2.5


def test_my_reports_newest_first_by_page_and_by_challenge(reporting: Reporting) -> None:
    backend = reporting.backend
    cycling = reporting.pledged()
    coffee = reporting.pledged(target=KG)
    made = []
    for number in range(5):
        challenge = cycling if number % 2 == 0 else coffee
        made.append(reporting.service.report(LEA, challenge.id, ReportRequest(number + 1)).report)
        backend.later(minutes=1)

    pages, cursor = [], None
    while True:
        page = reporting.service.list_mine(LEA, limit=2, cursor=cursor)
        pages.append(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [r.id for items in pages for r in items] == [r.id for r in reversed(made)]
    assert [len(items) for items in pages] == [2, 2, 1]

    only_coffee = reporting.service.list_mine(LEA, challenge_id=coffee.id, limit=10, cursor=None)
    assert [r.quantity for r in only_coffee.items] == [4, 2]
    assert reporting.service.list_mine(participant("x"), limit=10, cursor=None).items == []


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([None, "a", "b", "c", "d"]),
            st.integers(min_value=1, max_value=999_999).map(lambda n: n / 1000),
        ),
        max_size=25,
    )
)
def test_total_quantity_is_the_sum_of_unique_reports(
    requests: list[tuple[str | None, float]],
) -> None:
    reporting = Reporting(build_backend())
    challenge = reporting.pledged()
    expected: float = 0
    first_by_key: dict[str, float] = {}
    for key, quantity in requests:
        with contextlib.suppress(IdempotencyKeyReusedError):
            reporting.service.report(
                LEA, challenge.id, ReportRequest(quantity, idempotency_key=key)
            )
        if key is None:
            expected += quantity
        elif key not in first_by_key:
            first_by_key[key] = quantity
            expected += quantity

    assert reporting.counted(challenge.id) == tidy_quantity(expected)
    assert reporting.reported(challenge.id) == tidy_quantity(expected)
    unique = len(first_by_key) + sum(1 for key, _ in requests if key is None)
    assert len(reporting.repository.reports) == unique
