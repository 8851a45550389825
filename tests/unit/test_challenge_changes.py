"""An admin's PATCH as a typed changes object: unset, cleared and set are three things."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from chalicelib.api.schemas import ChallengePatch
from chalicelib.domain.model import Metric, Target
from chalicelib.services.ports import PLAIN_CHANGES, UNSET, ChallengeChanges


def test_only_the_changes_asked_for_are_fields() -> None:
    assert ChallengeChanges().fields == {}
    when = datetime(2026, 6, 30, 18, tzinfo=UTC)
    changes = ChallengeChanges(ends_at=when, report_cap=None)
    assert changes.fields == {"ends_at": when, "report_cap": None}  # None clears, UNSET keeps
    assert changes.title is UNSET
    assert not changes.changes_target
    assert ChallengeChanges(target=Target(Metric.PARTICIPANTS, 5)).changes_target


def test_the_patch_schema_and_the_changes_name_the_same_fields() -> None:
    changes = {change.name for change in dataclasses.fields(ChallengeChanges)}
    assert set(ChallengePatch.model_fields) == changes
    # The plain ones are stored as attributes; the others are maps.
    assert changes - PLAIN_CHANGES == {"target", "sponsor", "beneficiary"}
