"""When a challenge takes pledges and when its figures are final, by status and dates."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.model import ChallengeStatus
from tests.unit.support import build_backend

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("status", "starts_at", "ends_at", "accepts", "frozen"),
    [
        (ChallengeStatus.LIVE, None, None, True, False),
        (ChallengeStatus.LIVE, NOW - HOUR, NOW + HOUR, True, False),
        (ChallengeStatus.LIVE, NOW + HOUR, None, False, False),  # not started: nothing final
        (ChallengeStatus.LIVE, None, NOW, False, True),  # the deadline is exclusive
        (ChallengeStatus.LIVE, None, NOW - HOUR, False, True),  # past it, not yet marked ended
        (ChallengeStatus.DRAFT, None, None, False, True),
        (ChallengeStatus.CLOSED, None, None, False, True),
        (ChallengeStatus.ENDED, None, None, False, True),
    ],
)
def test_pledges_accepted_and_figures_frozen(
    status: ChallengeStatus,
    starts_at: datetime | None,
    ends_at: datetime | None,
    accepts: bool,
    frozen: bool,
) -> None:
    challenge = replace(
        build_backend().live_challenge(), status=status, starts_at=starts_at, ends_at=ends_at
    )
    assert challenge.accepts_pledges_at(NOW) is accepts
    assert challenge.figures_frozen_at(NOW) is frozen
    # Never both: a challenge that takes pledges has figures that can still move.
    assert not (accepts and frozen)
