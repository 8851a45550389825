"""In-memory implementations of every port, with the DynamoDB repositories' semantics."""

from __future__ import annotations

import builtins
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.areas import AreaCount
from chalicelib.domain.audit import AuditEntry, sort_time
from chalicelib.domain.errors import ChallengeExistsError, InvalidRequestError, SlugTakenError
from chalicelib.domain.idempotency import AnswerAlreadyStoredError, KeyedAnswer
from chalicelib.domain.model import (
    Campaign,
    Challenge,
    ChallengeStatus,
    Channel,
    Delivery,
    DeliveryStatus,
    EventType,
    Milestone,
    ModerationAction,
    Organization,
    Party,
    Pledge,
    RecipientRole,
    Report,
    Target,
    Totals,
    Visibility,
    tidy_quantity,
)
from chalicelib.domain.proposals import ProposalEvent
from chalicelib.domain.series import HourCount, hour_start
from chalicelib.domain.sponsor_report import NotificationTally
from chalicelib.domain.votes import HeldVote
from chalicelib.services.campaigns import MemberChange
from chalicelib.services.ports import (
    PLAIN_CHANGES,
    ChallengeChanges,
    ClaimRefused,
    EmailMessage,
    MailerError,
    Page,
    ReportWrite,
)
from chalicelib.services.tallies import PledgeChange
from chalicelib.storage.cursors import decode_cursor, encode_cursor
from chalicelib.storage.deliveries import delivery_log_segments
from chalicelib.storage.votes import vote_shard_key


def _invalid_cursor() -> InvalidRequestError:
    return InvalidRequestError(
        "the cursor is not one this API returned",
        [{"loc": ["query", "cursor"], "msg": "invalid cursor"}],
    )


def _start_key(state: dict[str, Any] | None) -> str | None:
    """The sort key a page starts after; like DynamoDB's start key it must be a string."""
    if state is None or state.get("k") is None:
        return None
    key = state["k"]
    if not isinstance(key, str) or not key:
        raise _invalid_cursor()
    return key


def _created_key(challenge: Challenge) -> str:
    return f"{challenge.created_at.isoformat()}#{challenge.id}"


def _query(
    items: list[Challenge], after: str | None, limit: int
) -> tuple[list[Challenge], str | None]:
    """One DynamoDB query, newest first: a key to go on from whenever `limit` was hit."""
    ordered = sorted(items, key=_created_key, reverse=True)
    if after is not None:
        ordered = [item for item in ordered if _created_key(item) < after]
    page = ordered[:limit]
    last = _created_key(page[-1]) if page and len(page) == limit else None
    return page, last


@dataclass
class StoredDelivery:
    delivery: Delivery
    lease_until: datetime | None = None


@dataclass
class FakeDatabase:
    """The tables, shared by the repositories; one lock makes every conditional write atomic."""

    challenges: dict[str, Challenge] = field(default_factory=dict)
    milestones: dict[tuple[str, EventType], Milestone] = field(default_factory=dict)
    pledges: dict[tuple[str, str], Pledge] = field(default_factory=dict)
    counters: dict[tuple[str, int], Totals] = field(default_factory=dict)
    deliveries: dict[tuple[str, str], StoredDelivery] = field(default_factory=dict)
    # Pledges an erasure marked for its move, (participant, challenge) → pseudonym: they
    # cannot be withdrawn (tests/unit/fake_personal_data.py).
    erasing: dict[tuple[str, str], str] = field(default_factory=dict)
    # Moderation records, (challenge, participant, at, action) → action
    # (tests/unit/fake_moderation.py).
    moderation: dict[tuple[str, str, datetime, str], ModerationAction] = field(default_factory=dict)
    # Beneficiary votes' shards, key (storage/votes.vote_shard_key) → votes, and the closed
    # ones (tests/unit/fake_votes.py).
    vote_shards: dict[str, int] = field(default_factory=dict)
    closed_vote_shards: set[str] = field(default_factory=set)
    # Proposal outbox records, (proposal id, event) in the order written: shared by the
    # proposal fakes (tests/unit/fake_proposals.py) and a publish that announces one.
    proposal_outbox: list[tuple[str, ProposalEvent]] = field(default_factory=list)
    # Answers stored with keyed pledges, by record id (the idempotency table).
    answers: dict[str, KeyedAnswer] = field(default_factory=dict)
    # Pledges made (+1) and withdrawn (-1) not counted yet, (challenge, shard, delta,
    # offered): the pledges stream, which `count_areas` counts onto the counter shards.
    # `deliver_pledges` is that trigger; FakeCounterRepository runs it before every sum.
    pledge_stream: list[tuple[str, int, int, float]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    # With stale_reads, a non-consistent read of a challenge returns its previous version,
    # as an eventually consistent DynamoDB read may.
    stale_reads: bool = False
    previous_challenges: dict[str, Challenge] = field(default_factory=dict)

    def store_challenge(self, challenge: Challenge) -> None:
        with self.lock:
            current = self.challenges.get(challenge.id)
            if current is not None:
                self.previous_challenges[challenge.id] = current
            self.challenges[challenge.id] = challenge

    def count(
        self,
        challenge_id: str,
        shard: int,
        participants: int = 0,
        quantity: float = 0,
        promised: float = 0,
    ) -> None:
        """Add to a counter shard, as a pledge, a withdrawal or a report does."""
        with self.lock:
            current = self.counters.get((challenge_id, shard), Totals())
            change = Totals(participants, quantity, 1, promised)
            self.counters[(challenge_id, shard)] = current + change

    def stream_pledge(self, challenge_id: str, shard: int, delta: int, offered: float) -> None:
        """A pledge appeared (+1) or disappeared (-1): its record on the pledges stream."""
        with self.lock:
            self.pledge_stream.append((challenge_id, shard, delta, offered))

    def deliver_pledges(self) -> None:
        """Count the pledges stream's records onto the counter shards as `count_areas` does
        with one batch: per challenge, one change (a version) on its first record's shard."""
        with self.lock:
            groups: dict[str, list[tuple[str, int, int, float]]] = {}
            for record in self.pledge_stream:
                groups.setdefault(record[0], []).append(record)
            self.pledge_stream.clear()
            for challenge_id, records in groups.items():
                participants = sum(delta for _, _, delta, _ in records)
                promised = tidy_quantity(sum(delta * offered for _, _, delta, offered in records))
                if participants or promised:
                    self.count(challenge_id, records[0][1], participants, promised=promised)

    def vote_shard_closed(self, challenge_id: str, vote: HeldVote) -> bool:
        if vote.candidate_id is None:
            return False
        key = vote_shard_key(challenge_id, vote.candidate_id, vote.shard or 0)
        return key in self.closed_vote_shards

    def live_pledges(self, challenge_id: str) -> int:
        with self.lock:
            return sum(1 for (_, cid) in self.pledges if cid == challenge_id)

    def milestones_for(self, challenge_id: str) -> list[Milestone]:
        with self.lock:
            return [m for (cid, _), m in self.milestones.items() if cid == challenge_id]


class DuplicateItemError(Exception):
    """`add` of an id that already exists: the DynamoDB put's condition failed."""


class FakeChallengeRepository:
    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    def add(self, challenge: Challenge) -> None:
        with self._db.lock:
            if challenge.id in self._db.challenges:
                raise ChallengeExistsError(challenge.id)
            self._db.store_challenge(challenge)

    def get(self, challenge_id: str, *, consistent: bool = False) -> Challenge | None:
        with self._db.lock:
            if self._db.stale_reads and not consistent:
                stale = self._db.previous_challenges.get(challenge_id)
                if stale is not None:
                    return stale
            return self._db.challenges.get(challenge_id)

    def list(
        self,
        statuses: Sequence[ChallengeStatus],
        *,
        limit: int,
        cursor: str | None,
        campaign_id: str | None = None,
        organization_id: str | None = None,
    ) -> Page[Challenge]:
        state = decode_cursor(cursor) or {"s": 0}
        if campaign_id is not None:
            return self._list_grouped("campaign_id", campaign_id, statuses, limit, state)
        if organization_id is not None:
            return self._list_grouped("organization_id", organization_id, statuses, limit, state)
        position = state.get("s", 0)
        if not isinstance(position, int) or not 0 <= position < len(statuses):
            raise _invalid_cursor()
        after = _start_key(state)
        items: list[Challenge] = []
        # Status partitions in order (live before ended, …), newest first in each.
        while position < len(statuses) and len(items) < limit:
            found, after = _query(self._where(statuses[position]), after, limit - len(items))
            items.extend(found)
            if after is None:
                position += 1
        more = position < len(statuses)
        return Page(items, encode_cursor({"s": position, "k": after}) if more else None)

    def _where(self, status: ChallengeStatus) -> builtins.list[Challenge]:
        with self._db.lock:
            return [c for c in self._db.challenges.values() if c.status is status]

    def _list_grouped(
        self,
        key_name: str,
        group: str,
        statuses: Sequence[ChallengeStatus],
        limit: int,
        state: dict[str, Any],
    ) -> Page[Challenge]:
        with self._db.lock:
            in_group = [c for c in self._db.challenges.values() if getattr(c, key_name) == group]
        # DynamoDB applies `limit` before the status filter, so a page may come back short.
        read, last = _query(in_group, _start_key(state), limit)
        items = [c for c in read if c.status in statuses]
        return Page(items, encode_cursor({"k": last}) if last else None)

    def update(
        self,
        challenge: Challenge,
        changes: ChallengeChanges,
        *,
        allowed_statuses: Sequence[ChallengeStatus],
        now: datetime,
    ) -> Challenge | None:
        values = _changed_values(changes)
        with self._db.lock:
            current = self._db.challenges.get(challenge.id)
            if current is None or current.status not in allowed_statuses:
                return None
            if changes.changes_target and current.reached:
                return None
            updated = current.with_changes(updated_at=now, **values)
            self._db.store_challenge(updated)
            return updated

    def transition(
        self,
        challenge_id: str,
        source: ChallengeStatus,
        target: ChallengeStatus,
        now: datetime,
        *,
        proposal_live: str | None = None,
    ) -> Challenge | None:
        with self._db.lock:
            current = self._db.challenges.get(challenge_id)
            if current is None or current.status is not source:
                return None
            updated = current.with_changes(status=target, updated_at=now)
            self._db.store_challenge(updated)
            if proposal_live is not None:
                # The same outbox the proposal fakes write (tests/unit/fake_proposals.py).
                key = (proposal_live, ProposalEvent.CHALLENGE_LIVE)
                if key not in self._db.proposal_outbox:
                    self._db.proposal_outbox.append(key)
            return updated

    def save_totals(self, challenge_id: str, totals: Totals) -> bool:
        with self._db.lock:
            current = self._db.challenges.get(challenge_id)
            if current is None or current.totals.version >= totals.version:
                return False
            self._db.store_challenge(current.with_changes(totals=totals))
            return True

    def record_milestone(self, challenge: Challenge, milestone: Milestone) -> bool:
        key = (milestone.challenge_id, milestone.event)
        with self._db.lock:
            if key in self._db.milestones:
                return False
            if milestone.event is EventType.REACHED:
                current = self._db.challenges.get(challenge.id)
                # Compared with the stored target, as DynamoDB's condition on target_value is.
                if (
                    current is None
                    or current.reached
                    or current.target.value > challenge.counted_value(milestone.totals)
                ):
                    return False
                self._db.store_challenge(current.with_changes(reached_at=milestone.occurred_at))
            elif milestone.event is EventType.ENDED:
                current = self._db.challenges.get(challenge.id)
                if challenge.ends_at is None:
                    raise ValueError(f"challenge {challenge.id} has no ends_at")
                # Like DynamoDB's condition: still live, with the deadline found due.
                if (
                    current is None
                    or current.status is not ChallengeStatus.LIVE
                    or current.ends_at != challenge.ends_at
                ):
                    return False
                self._db.store_challenge(
                    current.with_changes(
                        status=ChallengeStatus.ENDED, updated_at=milestone.occurred_at
                    )
                )
            self._db.milestones[key] = milestone
            return True

    def list_due(self, now: datetime) -> builtins.list[Challenge]:
        return [
            c
            for c in self._where(ChallengeStatus.LIVE)
            if c.ends_at is not None and c.ends_at <= now
        ]


def _changed_values(changes: ChallengeChanges) -> dict[str, object]:
    values: dict[str, object] = {}
    for name, value in changes.fields.items():
        if name == "visibility" and value is not None:
            values[name] = Visibility(str(value))
        elif (
            name in PLAIN_CHANGES
            or (name == "target" and isinstance(value, Target))
            or (name in ("sponsor", "beneficiary") and isinstance(value, Party))
        ):
            values[name] = value
        else:
            raise ValueError(f"unexpected change {name}={value!r}")
    return values


class FakePledgeRepository:
    """Keeps DynamoDB's promise for request tokens (ClientRequestToken) too: a write repeated
    with the token and the parameters of one already applied succeeds and changes nothing.
    Tokens are remembered for good, not 10 minutes: stricter, so a test cannot pass by luck.
    A token reused with other parameters is applied anew, as the DynamoDB repository does
    after DynamoDB's IdempotentParameterMismatch. `request_tokens` lists every token received.
    """

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db
        self._applied: dict[str, tuple[object, ...]] = {}
        self.request_tokens: list[str] = []
        self._shards: dict[tuple[str, str], int] = {}  # the pledge item's counter_shard

    def _replayed(self, token: str | None, write: tuple[object, ...]) -> bool:
        """Under the lock: True when `token` already applied this very write."""
        if token is None:
            return False
        self.request_tokens.append(token)
        return self._applied.get(token) == write

    def _applied_as(self, token: str | None, write: tuple[object, ...]) -> None:
        if token is not None:
            self._applied[token] = write

    def add(
        self,
        pledge: Pledge,
        shard: int,
        *,
        request_token: str | None = None,
        answer: KeyedAnswer | None = None,
    ) -> bool:
        key = (pledge.participant_id, pledge.challenge_id)
        write = ("add", pledge, shard, answer)
        with self._db.lock:
            if self._replayed(request_token, write):
                return True
            if answer is not None:
                stored = self._db.answers.get(answer.record_id)
                if stored is not None and stored.expires_at >= answer.written_at:
                    raise AnswerAlreadyStoredError(answer.record_id)
            if key in self._db.pledges:
                return False
            self._db.pledges[key] = pledge
            self._shards[key] = shard
            self._db.stream_pledge(pledge.challenge_id, shard, +1, pledge.offered)
            if answer is not None:
                self._db.answers[answer.record_id] = answer
            self._applied_as(request_token, write)
            return True

    def get(self, challenge_id: str, participant_id: str) -> Pledge | None:
        with self._db.lock:
            return self._db.pledges.get((participant_id, challenge_id))

    def remove(
        self,
        challenge_id: str,
        participant_id: str,
        *,
        request_token: str | None = None,
        vote: HeldVote | None = None,
        offered: int | float | None = None,
    ) -> bool:
        write = ("remove", challenge_id, participant_id, vote, offered)
        key = (participant_id, challenge_id)
        with self._db.lock:
            if self._replayed(request_token, write):
                return True
            if key in self._db.erasing:
                return False
            pledge = self._db.pledges.get(key)
            if pledge is None:
                return False
            count_out = vote is not None and vote.count_out and vote.candidate_id is not None
            if offered is not None and pledge.offered != offered:
                return False
            if vote is not None:
                if pledge.candidate_id != vote.candidate_id:
                    return False
                if count_out and self._db.vote_shard_closed(challenge_id, vote):
                    return False
            del self._db.pledges[key]
            self._db.stream_pledge(challenge_id, self._shards.pop(key, 0), -1, pledge.offered)
            if count_out and vote is not None and vote.candidate_id is not None:
                shard_key = vote_shard_key(challenge_id, vote.candidate_id, vote.shard or 0)
                self._db.vote_shards[shard_key] = self._db.vote_shards.get(shard_key, 0) - 1
            self._applied_as(request_token, write)
            return True

    def list_for_participant(
        self, participant_id: str, *, limit: int, cursor: str | None
    ) -> Page[Pledge]:
        after = _start_key(decode_cursor(cursor))
        with self._db.lock:
            mine = sorted(
                (p for (pid, _), p in self._db.pledges.items() if pid == participant_id),
                key=lambda pledge: pledge.challenge_id,
            )
        if after is not None:
            mine = [p for p in mine if p.challenge_id > after]
        page = mine[:limit]
        last = page[-1].challenge_id if page and len(page) == limit else None
        return Page(page, encode_cursor({"k": last}) if last else None)


class FakeReportRepository:
    """Reports with the DynamoDB repository's transaction: the report, the pledge's
    quantity_reported and the counter shard change together or not at all. Request tokens
    behave as in FakePledgeRepository (a replayed token with the same write changes nothing)."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db
        self.reports: dict[tuple[str, str], Report] = {}
        self._applied: dict[str, tuple[object, ...]] = {}
        self.request_tokens: list[str] = []

    def add(self, report: Report, shard: int, *, request_token: str | None = None) -> ReportWrite:
        write = ("report", report, shard)
        with self._db.lock:
            if request_token is not None:
                self.request_tokens.append(request_token)
                if self._applied.get(request_token) == write:
                    return ReportWrite.ADDED
            if (report.participant_id, report.id) in self.reports:
                return ReportWrite.EXISTS
            pledge_key = (report.participant_id, report.challenge_id)
            pledge = self._db.pledges.get(pledge_key)
            if pledge is None:
                return ReportWrite.NOT_PLEDGED
            self.reports[(report.participant_id, report.id)] = report
            self._db.pledges[pledge_key] = replace(
                pledge, quantity_reported=tidy_quantity(pledge.quantity_reported + report.quantity)
            )
            self._db.count(report.challenge_id, shard, quantity=report.quantity)
            if request_token is not None:
                self._applied[request_token] = write
            return ReportWrite.ADDED

    def get(self, participant_id: str, report_id: str) -> Report | None:
        with self._db.lock:
            return self.reports.get((participant_id, report_id))

    def list_for_participant(
        self, participant_id: str, *, challenge_id: str | None, limit: int, cursor: str | None
    ) -> Page[Report]:
        after = _start_key(decode_cursor(cursor))
        with self._db.lock:
            mine = [
                r
                for (pid, _), r in self.reports.items()
                if pid == participant_id and challenge_id in (None, r.challenge_id)
            ]
        ordered = sorted(mine, key=_report_key, reverse=True)
        if after is not None:
            ordered = [r for r in ordered if _report_key(r) < after]
        page = ordered[:limit]
        last = _report_key(page[-1]) if page and len(page) == limit else None
        return Page(page, encode_cursor({"k": last}) if last else None)


def _report_key(report: Report) -> str:
    return f"{report.created_at.isoformat()}#{report.id}"


class FakeCounterRepository:
    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    def totals(self, challenge_id: str, shards: int) -> Totals:
        """The shards' sum, once the pledges stream is counted: the fakes have no lag."""
        with self._db.lock:
            self._db.deliver_pledges()
            total = Totals()
            for shard in range(shards):
                total += self._db.counters.get((challenge_id, shard), Totals())
            return total


class FakeDeliveryRepository:
    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    def claim(
        self, delivery: Delivery, *, now: datetime, lease: timedelta, pledged: bool = False
    ) -> Delivery | ClaimRefused:
        key = (delivery.challenge_id, delivery.key)
        with self._db.lock:
            pledge_key = (delivery.recipient_key, delivery.challenge_id)
            if pledged and (pledge_key not in self._db.pledges or pledge_key in self._db.erasing):
                return ClaimRefused.SETTLED  # withdrawn or erased: no longer owed
            stored = self._db.deliveries.get(key)
            if stored is not None and not _claimable(stored, now):
                if stored.delivery.status is DeliveryStatus.PENDING:
                    return ClaimRefused.HELD
                return ClaimRefused.SETTLED
            before = stored.delivery if stored is not None else delivery
            claimed = replace(
                delivery,
                status=DeliveryStatus.PENDING,
                attempts=(before.attempts if stored is not None else 0) + 1,
                created_at=before.created_at if stored is not None else now,
                sent_at=before.sent_at,
                last_error=before.last_error,
                lease_until=now + lease,
            )
            self._db.deliveries[key] = StoredDelivery(claimed, lease_until=now + lease)
            return claimed

    def mark_sent(self, claimed: Delivery, *, now: datetime) -> None:
        self._finish(claimed, status=DeliveryStatus.SENT, sent_at=now, last_error=None)

    def mark_failed(self, claimed: Delivery, *, error: str, final: bool) -> None:
        status = DeliveryStatus.FAILED if final else DeliveryStatus.PENDING
        self._finish(claimed, status=status, last_error=error[:500])

    def _finish(self, claimed: Delivery, **changes: Any) -> None:
        # Like the DynamoDB update: fenced by the claim's lease, and releases it.
        key = (claimed.challenge_id, claimed.key)
        with self._db.lock:
            stored = self._db.deliveries.get(key)
            if stored is None or stored.lease_until != claimed.lease_until:
                return
            updated = replace(stored.delivery, lease_until=None, **changes)
            self._db.deliveries[key] = StoredDelivery(updated)

    def list_for_challenge(self, challenge_id: str) -> list[Delivery]:
        with self._db.lock:
            return [
                stored.delivery
                for (cid, _), stored in sorted(self._db.deliveries.items())
                if cid == challenge_id
            ]

    def tally(self, challenge_id: str) -> list[NotificationTally]:
        """The log's deliveries by role, channel and status, as DynamoDeliveryRepository."""
        counts: dict[tuple[RecipientRole, Channel], Counter[DeliveryStatus]] = {}
        for delivery in self.list_for_challenge(challenge_id):
            kind = (delivery.recipient_role, delivery.channel)
            counts.setdefault(kind, Counter())[delivery.status] += 1
        return [
            NotificationTally(role, channel, dict(by_status))
            for (role, channel), by_status in counts.items()
        ]

    def list_page(
        self,
        challenge_id: str,
        *,
        role: RecipientRole | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Delivery]:
        # The DynamoDB repository's walk: one key prefix after another, by key in each.
        segments = delivery_log_segments(role)
        state = decode_cursor(cursor) or {"s": 0}
        position = state.get("s", 0)
        if not isinstance(position, int) or not 0 <= position < len(segments):
            raise _invalid_cursor()
        after = _start_key(state)
        with self._db.lock:
            keys = sorted(key for cid, key in self._db.deliveries if cid == challenge_id)
            stored = {key: self._db.deliveries[(challenge_id, key)].delivery for key in keys}
        items: list[Delivery] = []
        while position < len(segments) and len(items) < limit:
            found = [
                key
                for key in keys
                if key.startswith(segments[position]) and (after is None or key > after)
            ][: limit - len(items)]
            items.extend(stored[key] for key in found)
            after = found[-1] if found and len(items) == limit else None
            if after is None:
                position += 1
        more = position < len(segments)
        return Page(items, encode_cursor({"s": position, "k": after}) if more else None)

    def lease_until(self, delivery: Delivery) -> datetime | None:
        with self._db.lock:
            stored = self._db.deliveries.get((delivery.challenge_id, delivery.key))
            return stored.lease_until if stored is not None else None


def _claimable(stored: StoredDelivery, now: datetime) -> bool:
    if stored.delivery.status is not DeliveryStatus.PENDING:
        return False
    return stored.lease_until is None or stored.lease_until < now


class FakeClock:
    """A clock that only moves when told to; always timezone-aware UTC."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = _utc(start or datetime(2026, 6, 1, 9, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = _utc(moment)

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        self._now += delta if delta is not None else timedelta(**parts)
        return self._now


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("FakeClock only takes timezone-aware datetimes")
    return moment.astimezone(UTC)


class FakeMailer:
    """Records what it sends; can be told to fail the next sends with MailerError."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.failures = 0
        self._fail_next = 0
        self._lock = threading.Lock()
        self.on_send: Callable[[EmailMessage], None] | None = None

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._fail_next = count

    def send(self, message: EmailMessage) -> str:
        if self.on_send is not None:
            self.on_send(message)
        with self._lock:
            if self._fail_next > 0:
                self._fail_next -= 1
                self.failures += 1
                raise MailerError("the mail provider is unavailable")
            self.sent.append(message)
            return f"msg-{len(self.sent)}"

    def sent_to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [message for message in self.sent if message.to == address]


class FakePledgeTallies:
    """Area and hourly counts in memory: a change counts once, by its receipt, as
    DynamoPledgeTallies."""

    def __init__(self) -> None:
        self.by_area: Counter[tuple[str, str]] = Counter()
        self.made: Counter[tuple[str, str]] = Counter()
        self.withdrawn: Counter[tuple[str, str]] = Counter()
        self.receipts: set[str] = set()

    def apply(self, challenge_id: str, changes: Sequence[PledgeChange], *, now: datetime) -> int:
        fresh = [change for change in changes if change.receipt not in self.receipts]
        self.receipts.update(change.receipt for change in fresh)
        areas: Counter[str] = Counter()
        for change in fresh:
            if change.area:
                areas[change.area] += change.delta
            hours = self.made if change.delta > 0 else self.withdrawn
            hours[(challenge_id, change.hour)] += abs(change.delta)
        # Like the DynamoDB transaction, which writes an area only for a delta: changes
        # netting to zero leave an area never counted out of the listing.
        for area, delta in areas.items():
            if delta:
                self.by_area[(challenge_id, area)] += delta
        return len(fresh)

    def counts(self, challenge_id: str) -> builtins.list[AreaCount]:
        return [AreaCount(a, n) for (c, a), n in self.by_area.items() if c == challenge_id]

    def count(self, challenge_id: str, area: str) -> int:
        return self.by_area[(challenge_id, area)]

    def hours(self, challenge_id: str) -> builtins.list[HourCount]:
        keys = sorted({h for c, h in (*self.made, *self.withdrawn) if c == challenge_id})
        return [
            HourCount(
                hour_start(h), self.made[(challenge_id, h)], self.withdrawn[(challenge_id, h)]
            )
            for h in keys
        ]


def _newest_first_page(
    items: builtins.list[tuple[str, Any]], cursor: str | None, limit: int
) -> tuple[builtins.list[Any], str | None]:
    """One page of (sort key, item) pairs, newest (highest key) first, as a DynamoDB query
    with `scan_index_forward=False`: a key to go on from whenever `limit` was hit."""
    after = _start_key(decode_cursor(cursor))
    ordered = sorted(items, key=lambda pair: pair[0], reverse=True)
    if after is not None:
        ordered = [pair for pair in ordered if pair[0] < after]
    page = ordered[:limit]
    last = page[-1][0] if page and len(page) == limit else None
    return [item for _, item in page], encode_cursor({"k": last}) if last else None


class FakeOrganizationRepository:
    """Organisations in memory, with DynamoOrganizationRepository's slug claims: no two
    organisations ever share a slug, and a refused write writes nothing."""

    def __init__(self) -> None:
        self.items: dict[str, Organization] = {}
        self.slugs: dict[str, str] = {}  # slug -> organisation id (the claims)
        self._lock = threading.RLock()

    def add(self, organization: Organization) -> None:
        slug = organization.profile.slug
        with self._lock:
            if slug is not None and slug in self.slugs:
                raise SlugTakenError(slug)
            if organization.id in self.items:
                raise DuplicateItemError(organization.id)
            self.items[organization.id] = organization
            if slug is not None:
                self.slugs[slug] = organization.id

    def get(self, organization_id: str, *, consistent: bool = False) -> Organization | None:
        with self._lock:
            return self.items.get(organization_id)

    def get_by_slug(self, slug: str) -> Organization | None:
        with self._lock:
            owner = self.slugs.get(slug)
            organization = self.items.get(owner) if owner is not None else None
        return organization if organization and organization.profile.slug == slug else None

    def list(self, *, limit: int, cursor: str | None) -> Page[Organization]:
        with self._lock:
            keyed = [(f"{o.created_at.isoformat()}#{o.id}", o) for o in self.items.values()]
        items, next_cursor = _newest_first_page(keyed, cursor, limit)
        return Page(items, next_cursor)

    def replace(self, before: Organization, after: Organization) -> bool:
        old_slug, new_slug = before.profile.slug, after.profile.slug
        with self._lock:
            # As the DynamoDB transaction's cancellation reasons are read: the slug first.
            if new_slug != old_slug and new_slug is not None and new_slug in self.slugs:
                raise SlugTakenError(new_slug)
            stored = self.items.get(after.id)
            if stored != before:  # every field, as the DynamoDB condition checks
                return False
            self.items[after.id] = after
            if new_slug != old_slug:
                if old_slug is not None and self.slugs.get(old_slug) == after.id:
                    del self.slugs[old_slug]
                if new_slug is not None:
                    self.slugs[new_slug] = after.id
            return True


class FakeCampaignRepository:
    """Campaigns in memory, listed newest first (all, or one organisation's) as the
    DynamoDB repository's indexes list them."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[Campaign, int]] = {}
        self._lock = threading.RLock()

    def add(self, campaign: Campaign, *, counter_shards: int) -> None:
        with self._lock:
            if campaign.id in self.items:
                raise DuplicateItemError(campaign.id)
            self.items[campaign.id] = (campaign, counter_shards)

    def get(self, campaign_id: str) -> tuple[Campaign, int] | None:
        with self._lock:
            return self.items.get(campaign_id)

    def list(
        self, *, limit: int, cursor: str | None, organization_id: str | None = None
    ) -> Page[Campaign]:
        with self._lock:
            keyed = [
                (f"{c.created_at.isoformat()}#{c.id}", c)
                for c, _ in self.items.values()
                if organization_id is None or c.organization_id == organization_id
            ]
        items, next_cursor = _newest_first_page(keyed, cursor, limit)
        return Page(items, next_cursor)


class FakeCampaignMembers:
    """Who has a live pledge on which challenges of a campaign (CampaignMembers), and the
    unique participants counted from that (AudienceCounts), as DynamoCampaignMembers and
    DynamoAudienceCounts keep them (without their shards)."""

    def __init__(self) -> None:
        # (campaign, participant) -> {(audience, challenge)}
        self.pledges: dict[tuple[str, str], set[tuple[str, str]]] = {}
        self._lock = threading.RLock()

    def change(
        self,
        campaign_id: str,
        participant_id: str,
        *,
        challenge_id: str,
        audience: str,
        live: bool,
        shard: int,
    ) -> bool:
        with self._lock:
            before = self.pledges.get((campaign_id, participant_id), set())
            entry = (audience, challenge_id)
            after = before | {entry} if live else before - {entry}
            if after == before:
                return False
            if after:
                self.pledges[(campaign_id, participant_id)] = after
            else:
                self.pledges.pop((campaign_id, participant_id), None)
            return {a for a, _ in before} != {a for a, _ in after}

    def apply(self, campaign_id: str, changes: Sequence[MemberChange]) -> int:
        with self._lock:
            starts: dict[str, set[str]] = {}
            for change in changes:
                person = change.participant_id
                starts.setdefault(person, self._audiences(campaign_id, person))
                self.change(
                    campaign_id,
                    person,
                    challenge_id=change.challenge_id,
                    audience=change.audience,
                    live=change.live,
                    shard=change.shard,
                )
            return sum(
                1
                for person, audiences in starts.items()
                if audiences != self._audiences(campaign_id, person)
            )

    def _audiences(self, campaign_id: str, participant_id: str) -> set[str]:
        return {a for a, _ in self.pledges.get((campaign_id, participant_id), set())}

    def unique_participants(
        self, campaign_id: str, audiences: set[str], seen: set[str], shards: int
    ) -> int:
        with self._lock:
            return sum(
                1
                for (cid, _), entries in self.pledges.items()
                if cid == campaign_id
                and {a for a, _ in entries} <= audiences
                and {a for a, _ in entries} & seen
            )


class AuditStoreError(Exception):
    """What FakeAuditRepository raises when told to fail (a timeout, a throttled put)."""


class FakeAuditRepository:
    """The audit trail in memory, as DynamoAuditRepository keeps it: an entry is stored once
    per id, listed oldest first from `since`, all or one organisation's. `fail_next` makes
    the next appends raise, after storing the entry when `after_write` (an answer lost)."""

    def __init__(self) -> None:
        self.entries: dict[str, AuditEntry] = {}
        self.attempts = 0
        self._failures = 0
        self._after_write = False
        self._lock = threading.RLock()

    def fail_next(self, count: int, *, after_write: bool = False) -> None:
        self._failures, self._after_write = count, after_write

    def append(self, entry: AuditEntry) -> bool:
        with self._lock:
            self.attempts += 1
            stored = entry.id not in self.entries and (self._failures == 0 or self._after_write)
            if stored:
                self.entries[entry.id] = entry
            if self._failures:
                self._failures -= 1
                raise AuditStoreError("the audit table did not answer")
            return stored

    def get(self, entry_id: str) -> AuditEntry | None:
        with self._lock:
            return self.entries.get(entry_id)

    def list(
        self,
        *,
        organization_id: str | None,
        since: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> Page[AuditEntry]:
        after = _start_key(decode_cursor(cursor))
        since_key = sort_time(since) if since is not None else ""
        if after is not None and after < since_key:
            raise _invalid_cursor()
        with self._lock:
            ordered = sorted(
                (
                    e
                    for e in self.entries.values()
                    if organization_id is None or e.organization_id == organization_id
                ),
                key=lambda e: e.sort_key,
            )
        page = [
            e for e in ordered if e.sort_key >= since_key and (after is None or e.sort_key > after)
        ][:limit]
        last = page[-1].sort_key if page and len(page) == limit else None
        return Page(page, encode_cursor({"k": last}) if last else None)
