"""The audit trail's service: an entry appended once per request, action and target, a
failed append retried and then logged (never raised), and each admin's view of the trail."""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import timedelta

import pytest

from chalicelib.domain.access import PLATFORM, AdminScope
from chalicelib.domain.audit import (
    MAX_DETAIL_VALUE_LENGTH,
    MAX_DETAILS,
    ActorRole,
    AuditEntry,
    AuditTarget,
    entry_id,
)
from chalicelib.domain.model import Principal
from chalicelib.services.audit import AuditService, as_json, from_dict
from chalicelib.services.ports import MetricName
from chalicelib.services.retry import RetryPolicy
from tests.unit.fakes import FakeAuditRepository, FakeClock

ADMIN = Principal(sub="admin-1", groups=frozenset({"admin"}))
CSR = Principal(sub="csr-1", groups=frozenset({"org-admin"}), org_id="org_a")
CHALLENGE = AuditTarget("challenge", "ch_0001")


class RecordingMetrics:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def count(self, name: str, value: int = 1) -> None:
        self.counts[name] += value


class Trail:
    def __init__(self, attempts: int = 3) -> None:
        self.repository = FakeAuditRepository()
        self.clock = FakeClock()
        self.metrics = RecordingMetrics()
        self.waits: list[float] = []
        self.service = AuditService(
            self.repository,
            self.clock,
            metrics=self.metrics,
            retry=RetryPolicy(attempts=attempts, sleep=self.waits.append),
        )

    def record(
        self,
        action: str = "challenge.publish",
        *,
        actor: Principal = ADMIN,
        target: AuditTarget = CHALLENGE,
        request_id: str | None = "req-1",
        organization_id: str | None = "org_a",
        details: dict[str, object] | None = None,
    ) -> AuditEntry:
        return self.service.record(
            actor=actor,
            action=action,
            target=target,
            request_id=request_id,
            organization_id=organization_id,
            details=details,
        )


def test_an_entry_holds_who_did_what_to_what_when_and_in_which_request() -> None:
    trail = Trail()

    entry = trail.record(details={"fields": "title,ends_at"})

    assert trail.repository.entries == {entry.id: entry}
    assert entry == AuditEntry(
        id=entry_id("req-1", "challenge.publish", CHALLENGE),
        at=trail.clock.now(),
        actor_sub="admin-1",
        actor_role=ActorRole.ADMIN,
        organization_id="org_a",
        action="challenge.publish",
        target=CHALLENGE,
        request_id="req-1",
        details={"fields": "title,ends_at"},
    )
    assert entry.id.startswith("aud_")


def test_the_same_request_action_and_target_is_appended_once() -> None:
    trail = Trail()
    first = trail.record()
    trail.clock.advance(timedelta(seconds=3))

    again = trail.record()  # the same request, run again (a retried invocation)

    assert again.id == first.id
    assert list(trail.repository.entries.values()) == [first]  # the first one's time kept
    # Another action, or another target, in the same request is another entry.
    trail.record("challenge.close")
    trail.record(target=AuditTarget("challenge", "ch_0002"))
    trail.record(request_id="req-2")
    assert len(trail.repository.entries) == 4


def test_a_failed_append_is_retried_on_the_spot() -> None:
    trail = Trail()
    trail.repository.fail_next(2)

    entry = trail.record()

    assert trail.repository.attempts == 3
    assert trail.repository.entries == {entry.id: entry}
    assert len(trail.waits) == 2
    assert trail.metrics.counts[MetricName.AUDIT_APPEND_FAILED] == 0


def test_an_append_whose_answer_was_lost_is_not_stored_twice() -> None:
    trail = Trail()
    trail.repository.fail_next(1, after_write=True)  # stored, then the answer lost

    entry = trail.record()

    assert trail.repository.attempts == 2
    assert trail.repository.entries == {entry.id: entry}
    assert trail.metrics.counts[MetricName.AUDIT_APPEND_FAILED] == 0


def test_an_append_that_keeps_failing_is_logged_whole_and_counted_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    trail = Trail(attempts=3)
    trail.repository.fail_next(10)

    with caplog.at_level(logging.ERROR, logger="chalicelib.services.audit"):
        entry = trail.record(details={"reason": "spam"})

    assert trail.repository.entries == {}
    assert trail.repository.attempts == 3
    assert trail.metrics.counts[MetricName.AUDIT_APPEND_FAILED] == 1
    (line,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    logged = json.loads(line.getMessage().split("the entry: ", 1)[1])
    assert logged == {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor_sub": "admin-1",
        "actor_role": "admin",
        "organization_id": "org_a",
        "action": "challenge.publish",
        "target": {"type": "challenge", "id": "ch_0001"},
        "request_id": "req-1",
        "details": {"reason": "spam"},
    }
    assert line.__dict__["audit_entry"] == logged  # the JSON log's own field, in AWS


@pytest.mark.parametrize(
    ("principal", "role"),
    [
        (ADMIN, ActorRole.ADMIN),
        (Principal("both", groups=frozenset({"admin", "org-admin"}), org_id="o"), ActorRole.ADMIN),
        (CSR, ActorRole.ORG_ADMIN),
        (Principal("p"), ActorRole.PARTICIPANT),
        # The group without the organisation it administers is no org-admin.
        (Principal("half", groups=frozenset({"org-admin"})), ActorRole.PARTICIPANT),
    ],
)
def test_the_actors_role(principal: Principal, role: ActorRole) -> None:
    assert Trail().record(actor=principal).actor_role is role


@pytest.mark.parametrize(
    "action", ["publish", "Challenge.publish", "challenge.", "challenge publish", "a.b.c.d", ""]
)
def test_a_malformed_action_is_a_programming_error(action: str) -> None:
    trail = Trail()
    with pytest.raises(ValueError, match="invalid audit action"):
        trail.record(action)
    assert trail.repository.attempts == 0


@pytest.mark.parametrize(("kind", "target_id"), [("Challenge", "ch_1"), ("challenge", "")])
def test_a_malformed_target_is_a_programming_error(kind: str, target_id: str) -> None:
    with pytest.raises(ValueError, match="invalid audit target"):
        AuditTarget(kind, target_id)


def test_details_stay_small_strings() -> None:
    many = {f"k{n:02d}": n for n in range(MAX_DETAILS + 5)}
    entry = Trail().record(details={**many, "reason": "x" * 2000})

    assert len(entry.details) == MAX_DETAILS
    assert all(isinstance(value, str) for value in entry.details.values())
    assert entry.details["k00"] == "0"
    long = Trail().record(details={"reason": "x" * 2000})
    assert long.details["reason"] == "x" * MAX_DETAIL_VALUE_LENGTH


def test_a_call_outside_any_request_gets_a_request_id_of_its_own() -> None:
    trail = Trail()
    first, second = trail.record(request_id=None), trail.record(request_id=None)

    assert first.request_id.startswith("none-")
    assert first.request_id != second.request_id
    assert len(trail.repository.entries) == 2


def test_a_platform_admin_reads_every_entry_an_org_admin_its_organisations() -> None:
    trail = Trail()
    made = []
    for number, organization_id in enumerate(["org_a", None, "org_b", "org_a"]):
        made.append(
            trail.record(request_id=f"req-{number}", actor=ADMIN, organization_id=organization_id)
        )
        trail.clock.advance(timedelta(minutes=1))

    everything = trail.service.list(scope=PLATFORM, since=None, limit=10, cursor=None)
    own = trail.service.list(scope=AdminScope("org_a"), since=None, limit=10, cursor=None)

    assert everything.items == made
    assert own.items == [made[0], made[3]]
    none = trail.service.list(scope=AdminScope("org_c"), since=None, limit=10, cursor=None)
    assert none.items == []


def test_the_trail_is_read_oldest_first_from_since_a_page_at_a_time() -> None:
    trail = Trail()
    made = []
    for number in range(5):
        made.append(trail.record(request_id=f"req-{number}"))
        trail.clock.advance(timedelta(minutes=1))

    first = trail.service.list(since=made[1].at, limit=2, cursor=None)
    assert first.items == made[1:3]  # `since` is inclusive
    second = trail.service.list(since=made[1].at, limit=2, cursor=first.next_cursor)
    assert second.items == made[3:5]
    last = trail.service.list(since=made[1].at, limit=2, cursor=second.next_cursor)
    assert last.items == []
    assert last.next_cursor is None


def test_a_logged_entry_reads_back_as_the_entry() -> None:
    entry = Trail().record(details={"reason": "spam"}, organization_id=None)

    assert from_dict(json.loads(as_json(entry))) == entry
