"""Meetups on DynamoDB: the seat counter and the sign-ups change together in transactions,
so that no write can give more seats than the capacity or promote anyone twice (see
docs/decisions.md 134–144)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.errors import ContentionError
from chalicelib.domain.events import Event, Rsvp, RsvpStatus, SeatNotice
from chalicelib.services.event_ports import Promotion
from chalicelib.storage.event_tables import EventItem, RsvpItem
from chalicelib.storage.tables import ChallengeEventItem
from chalicelib.storage.transactions import (
    CONDITIONAL_CHECK_FAILED,
    cancellation_codes,
    update_if,
    with_transaction_retries,
)

logger = logging.getLogger(__name__)

PERSON, QUEUE = "P#", "W#"
SEQ_DIGITS = 12
# A transaction holds at most 100 items; each promotion takes 3 (queue, sign-up, outbox).
PROMOTIONS_PER_TRANSACTION = 30
# Each lost race re-reads the counter; this many means something is wrong, not busy.
MAX_ROUNDS = 200
# The outbox's seat notices name a person: they expire (docs/privacy.md).
SEAT_NOTICE_RETENTION = timedelta(days=30)


def _person_key(participant_id: str) -> str:
    return PERSON + participant_id


def _queue_key(seq: int) -> str:
    return QUEUE + str(seq).zfill(SEQ_DIGITS)


def _event_from_item(item: EventItem) -> Event:
    return Event(
        id=item.id,
        challenge_id=item.challenge_id,
        proposal_id=item.proposal_id,
        organization_id=item.organization_id,
        title=item.title,
        starts_at=item.starts_at,
        place=item.place,
        capacity=int(item.capacity),
        created_at=item.created_at,
        confirmed=int(item.confirmed or 0),
        waiting=int(item.waiting or 0),
    )


def _rsvp_from_item(item: RsvpItem) -> Rsvp:
    if item.participant_id is None or item.status is None or item.created_at is None:
        raise ValueError(f"{item.key!r} is not a sign-up item")
    return Rsvp(
        event_id=item.event_id,
        participant_id=item.participant_id,
        status=RsvpStatus(item.status),
        seq=int(item.seq),
        created_at=item.created_at,
        email=item.email,
        locale=item.locale,
        confirmed_at=item.confirmed_at,
    )


def _notice_item(notice: SeatNotice, now: datetime) -> ChallengeEventItem:
    # The outbox's milestone attributes are required: a seat notice fills them neutrally.
    return ChallengeEventItem(
        challenge_id=notice.challenge_id,
        event=notice.key,
        occurred_at=now,
        participants=0,
        quantity=0,
        reached=False,
        expires_at=now + SEAT_NOTICE_RETENTION,
    )


def seat_notice_from_stream_image(image: dict[str, Any]) -> SeatNotice:
    item = ChallengeEventItem.from_raw_data(image)
    return SeatNotice.from_key(item.challenge_id, str(item.event))


class _Retry(Exception):
    """The state read before the transaction changed under it: read again."""


def _transact(write: Any, conditions: dict[int, type[Exception]]) -> None:
    """Run a transaction; a failed condition at position i raises `conditions[i]`."""
    try:
        with_transaction_retries(write)
    except TransactWriteError as error:
        codes = cancellation_codes(error)
        for position, raised in conditions.items():
            if position < len(codes) and codes[position] == CONDITIONAL_CHECK_FAILED:
                raise raised from error
        if CONDITIONAL_CHECK_FAILED in codes:
            raise _Retry from error
        raise


class _AlreadySignedUp(Exception):
    pass


def _connection() -> Any:
    return EventItem._get_connection().connection


class DynamoEventRepository:
    def add(self, event: Event) -> None:
        EventItem(
            id=event.id,
            challenge_id=event.challenge_id,
            proposal_id=event.proposal_id,
            organization_id=event.organization_id,
            title=event.title,
            starts_at=event.starts_at,
            starts_key=f"{event.starts_at.isoformat()}#{event.id}",
            place=event.place,
            capacity=event.capacity,
            confirmed=0,
            waiting=0,
            next_seq=0,
            created_at=event.created_at,
        ).save(condition=EventItem.id.does_not_exist())

    def get(self, event_id: str) -> Event | None:
        try:
            return _event_from_item(EventItem.get(event_id, consistent_read=True))
        except DoesNotExist:
            return None

    def list_for_challenge(self, challenge_id: str) -> list[Event]:
        return self._read([item.id for item in EventItem.by_challenge.query(challenge_id)])

    def list_for_proposal(self, proposal_id: str) -> list[Event]:
        return self._read([item.id for item in EventItem.by_proposal.query(proposal_id)])

    @staticmethod
    def _read(ids: list[str]) -> list[Event]:
        """The events, in the index's order (soonest first), with their current counts."""
        found = {item.id: item for item in EventItem.batch_get(ids, consistent_read=True)}
        return [_event_from_item(found[i]) for i in ids if i in found]

    def get_rsvp(self, event_id: str, participant_id: str) -> Rsvp | None:
        try:
            item = RsvpItem.get(event_id, _person_key(participant_id), consistent_read=True)
        except DoesNotExist:
            return None
        return _rsvp_from_item(item)

    def position(self, rsvp: Rsvp) -> int:
        return RsvpItem.count(
            rsvp.event_id,
            RsvpItem.key.between(QUEUE, _queue_key(rsvp.seq)),
            consistent_read=True,
        )

    def _waiting(self, event_id: str, limit: int) -> list[RsvpItem]:
        return list(
            RsvpItem.query(
                event_id,
                RsvpItem.key.startswith(QUEUE),
                consistent_read=True,
                limit=limit,
            )
        )

    def _next_seq(self, event_id: str) -> int:
        # Arrival order. moto may hand two callers the same number (docs/aws-facts): the
        # queue item's own condition makes a duplicate lose and draw again.
        item = EventItem(id=event_id)
        item.update(actions=[EventItem.next_seq.add(1)])
        return int(item.next_seq)

    # Sign up

    def rsvp(self, event: Event, rsvp: Rsvp) -> Rsvp:
        for _ in range(MAX_ROUNDS):
            current = self.get(event.id)
            if current is None:
                raise ValueError(f"event {event.id!r} vanished")
            seq = self._next_seq(event.id)
            try:
                if current.confirmed < current.capacity and current.waiting == 0:
                    return self._take_seat(current, rsvp, seq)
                return self._join_queue(current, rsvp, seq)
            except _AlreadySignedUp:
                existing = self.get_rsvp(event.id, rsvp.participant_id)
                if existing is not None:
                    return existing
            except _Retry:
                continue
        raise ContentionError("the sign-up kept losing races; try again")

    def _person_item(self, rsvp: Rsvp, status: RsvpStatus, seq: int) -> RsvpItem:
        return RsvpItem(
            event_id=rsvp.event_id,
            key=_person_key(rsvp.participant_id),
            seq=seq,
            participant_id=rsvp.participant_id,
            status=status.value,
            created_at=rsvp.created_at,
            confirmed_at=rsvp.created_at if status is RsvpStatus.CONFIRMED else None,
            email=rsvp.email,
            locale=rsvp.locale,
        )

    def _take_seat(self, event: Event, rsvp: Rsvp, seq: int) -> Rsvp:
        person = self._person_item(rsvp, RsvpStatus.CONFIRMED, seq)
        notice = SeatNotice(event.owner_id, event.id, rsvp.participant_id, seq, False)

        def write() -> None:
            with TransactWrite(connection=_connection()) as transaction:
                transaction.save(person, condition=RsvpItem.key.does_not_exist())
                transaction.update(
                    EventItem(id=event.id),
                    actions=[EventItem.confirmed.add(1)],
                    condition=(EventItem.confirmed < EventItem.capacity) & (EventItem.waiting == 0),
                )
                transaction.save(
                    _notice_item(notice, rsvp.created_at),
                    condition=ChallengeEventItem.event.does_not_exist(),
                )

        _transact(write, {0: _AlreadySignedUp, 1: _Retry})
        return _rsvp_from_item(person)

    def _join_queue(self, event: Event, rsvp: Rsvp, seq: int) -> Rsvp:
        person = self._person_item(rsvp, RsvpStatus.WAITLISTED, seq)
        place = RsvpItem(
            event_id=event.id,
            key=_queue_key(seq),
            seq=seq,
            waiting_participant=rsvp.participant_id,
        )

        def write() -> None:
            with TransactWrite(connection=_connection()) as transaction:
                transaction.save(person, condition=RsvpItem.key.does_not_exist())
                transaction.save(place, condition=RsvpItem.key.does_not_exist())
                # The complement of the seat's condition: every arrival fits one of them.
                transaction.update(
                    EventItem(id=event.id),
                    actions=[EventItem.waiting.add(1)],
                    condition=(EventItem.confirmed >= EventItem.capacity) | (EventItem.waiting > 0),
                )

        _transact(write, {0: _AlreadySignedUp, 1: _Retry, 2: _Retry})
        return _rsvp_from_item(person)

    # Cancel and promote

    def _promotion_writes(
        self, transaction: TransactWrite, event: Event, head: RsvpItem, now: datetime
    ) -> Rsvp:
        participant_id = str(head.waiting_participant)
        transaction.delete(head, condition=RsvpItem.key.exists())
        transaction.update(
            RsvpItem(event_id=event.id, key=_person_key(participant_id)),
            actions=[
                RsvpItem.status.set(RsvpStatus.CONFIRMED.value),
                RsvpItem.confirmed_at.set(now),
            ],
            condition=(RsvpItem.status == RsvpStatus.WAITLISTED.value)
            & (RsvpItem.seq == int(head.seq)),
        )
        notice = SeatNotice(event.owner_id, event.id, participant_id, int(head.seq), True)
        transaction.save(
            _notice_item(notice, now), condition=ChallengeEventItem.event.does_not_exist()
        )
        return Rsvp(
            event_id=event.id,
            participant_id=participant_id,
            status=RsvpStatus.CONFIRMED,
            seq=int(head.seq),
            created_at=now,
            confirmed_at=now,
        )

    def cancel(self, event: Event, participant_id: str, now: datetime) -> Promotion | None:
        for _ in range(MAX_ROUNDS):
            rsvp = self.get_rsvp(event.id, participant_id)
            if rsvp is None:
                return None
            try:
                return self._cancel_once(event, rsvp, now)
            except _Retry:
                continue
        raise ContentionError("the cancellation kept losing races; try again")

    def _cancel_once(self, event: Event, rsvp: Rsvp, now: datetime) -> Promotion:
        mine = RsvpItem(event_id=event.id, key=_person_key(rsvp.participant_id))
        was_mine = (RsvpItem.status == rsvp.status.value) & (RsvpItem.seq == rsvp.seq)
        counter = EventItem(id=event.id)
        if rsvp.status is RsvpStatus.WAITLISTED:

            def leave_queue() -> None:
                with TransactWrite(connection=_connection()) as transaction:
                    transaction.delete(mine, condition=was_mine)
                    transaction.delete(
                        RsvpItem(event_id=event.id, key=_queue_key(rsvp.seq)),
                        condition=RsvpItem.key.exists(),
                    )
                    transaction.update(counter, actions=[EventItem.waiting.add(-1)])

            _transact(leave_queue, {})
            return Promotion(rsvp)
        heads = self._waiting(event.id, 1)
        promoted: list[Rsvp] = []

        def free_seat() -> None:
            promoted.clear()
            with TransactWrite(connection=_connection()) as transaction:
                transaction.delete(mine, condition=was_mine)
                if heads:
                    # The seat changes hands: `confirmed` stays, the queue shortens.
                    transaction.update(counter, actions=[EventItem.waiting.add(-1)])
                    promoted.append(self._promotion_writes(transaction, event, heads[0], now))
                else:
                    # Nobody waits, and nobody may have joined the queue since we looked.
                    transaction.update(
                        counter,
                        actions=[EventItem.confirmed.add(-1)],
                        condition=EventItem.waiting == 0,
                    )

        _transact(free_seat, {})
        return Promotion(rsvp, promoted[0] if promoted else None)

    # Capacity

    def set_capacity(self, event: Event, capacity: int, now: datetime) -> list[Rsvp] | None:
        promoted: list[Rsvp] = []
        for _ in range(MAX_ROUNDS):
            current = self.get(event.id)
            if current is None:
                raise ValueError(f"event {event.id!r} vanished")
            if capacity < current.confirmed:
                return None
            free = min(capacity - current.confirmed, current.waiting, PROMOTIONS_PER_TRANSACTION)
            heads = self._waiting(event.id, free) if free > 0 else []
            try:
                promoted.extend(self._resize(current, capacity, heads, now))
            except _Retry:
                continue
            if len(heads) < PROMOTIONS_PER_TRANSACTION:
                return promoted
        raise ContentionError("the capacity change kept losing races; try again")

    def _resize(
        self, event: Event, capacity: int, heads: list[RsvpItem], now: datetime
    ) -> list[Rsvp]:
        promoted: list[Rsvp] = []

        def write() -> None:
            promoted.clear()
            with TransactWrite(connection=_connection()) as transaction:
                transaction.update(
                    EventItem(id=event.id),
                    actions=[
                        EventItem.capacity.set(capacity),
                        EventItem.confirmed.add(len(heads)),
                        EventItem.waiting.add(-len(heads)),
                    ],
                    # Nothing moved since the read: the seats counted are the seats free.
                    condition=(EventItem.confirmed == event.confirmed)
                    & (EventItem.waiting == event.waiting),
                )
                for head in heads:
                    promoted.append(self._promotion_writes(transaction, event, head, now))

        _transact(write, {})
        return promoted

    # Personal data

    def of_participant(self, participant_id: str) -> list[Rsvp]:
        return [_rsvp_from_item(item) for item in RsvpItem.by_participant.query(participant_id)]

    def erase(self, participant_id: str, now: datetime) -> int:
        mine = self.of_participant(participant_id)
        for rsvp in mine:
            event = self.get(rsvp.event_id)
            if event is not None:
                self.cancel(event, participant_id, now)
        return len(mine)

    # Seat e-mails

    def claim_seat_mail(self, notice: SeatNotice, now: datetime, lease: timedelta) -> Rsvp | None:
        item = RsvpItem(event_id=notice.event_id, key=_person_key(notice.participant_id))
        claimed = update_if(
            item,
            [RsvpItem.mail_lease_until.set(now + lease)],
            (RsvpItem.status == RsvpStatus.CONFIRMED.value)
            & (RsvpItem.seq == notice.seq)
            & RsvpItem.mailed_at.does_not_exist()
            & (RsvpItem.mail_lease_until.does_not_exist() | (RsvpItem.mail_lease_until < now)),
        )
        return self.get_rsvp(notice.event_id, notice.participant_id) if claimed else None

    def finish_seat_mail(self, notice: SeatNotice, now: datetime, *, sent: bool) -> None:
        item = RsvpItem(event_id=notice.event_id, key=_person_key(notice.participant_id))
        action = RsvpItem.mailed_at.set(now) if sent else RsvpItem.mail_lease_until.remove()
        # The person may have cancelled meanwhile: then there is nothing to record.
        update_if(item, [action], RsvpItem.seq == notice.seq)
