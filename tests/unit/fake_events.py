"""An in-memory event repository: one lock stands for DynamoDB's transactions."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.domain.events import Event, Rsvp, RsvpStatus, SeatNotice
from chalicelib.services.event_ports import Promotion


@dataclass
class _Mail:
    lease_until: datetime | None = None
    sent: bool = False


class FakeEventRepository:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: dict[str, Event] = {}
        self.rsvps: dict[tuple[str, str], Rsvp] = {}
        self._next_seq: dict[str, int] = {}
        self.outbox: list[SeatNotice] = []
        self._mail: dict[str, _Mail] = {}

    def add(self, event: Event) -> None:
        with self._lock:
            self.events[event.id] = event

    def get(self, event_id: str) -> Event | None:
        return self.events.get(event_id)

    def list_for_challenge(self, challenge_id: str) -> list[Event]:
        found = [e for e in self.events.values() if e.challenge_id == challenge_id]
        return sorted(found, key=lambda e: (e.starts_at, e.id))

    def list_for_proposal(self, proposal_id: str) -> list[Event]:
        found = [e for e in self.events.values() if e.proposal_id == proposal_id]
        return sorted(found, key=lambda e: (e.starts_at, e.id))

    def _waiting(self, event_id: str) -> list[Rsvp]:
        queue = [
            r
            for (eid, _), r in self.rsvps.items()
            if eid == event_id and r.status is RsvpStatus.WAITLISTED
        ]
        return sorted(queue, key=lambda r: r.seq)

    def _promote(self, event: Event, now: datetime) -> Rsvp | None:
        queue = self._waiting(event.id)
        if not queue:
            return None
        head = replace(queue[0], status=RsvpStatus.CONFIRMED, confirmed_at=now)
        self.rsvps[(event.id, head.participant_id)] = head
        self.outbox.append(
            SeatNotice(event.owner_id, event.id, head.participant_id, head.seq, True)
        )
        return head

    def set_capacity(self, event: Event, capacity: int, now: datetime) -> list[Rsvp] | None:
        with self._lock:
            current = self.events[event.id]
            if capacity < current.confirmed:
                return None
            promoted: list[Rsvp] = []
            confirmed, waiting = current.confirmed, current.waiting
            while confirmed < capacity and waiting > 0:
                head = self._promote(current, now)
                if head is None:
                    break
                promoted.append(head)
                confirmed, waiting = confirmed + 1, waiting - 1
            self.events[event.id] = replace(
                current, capacity=capacity, confirmed=confirmed, waiting=waiting
            )
            return promoted

    def rsvp(self, event: Event, rsvp: Rsvp) -> Rsvp:
        with self._lock:
            key = (event.id, rsvp.participant_id)
            if key in self.rsvps:
                return self.rsvps[key]
            current = self.events[event.id]
            seq = self._next_seq.get(event.id, 0) + 1
            self._next_seq[event.id] = seq
            if current.confirmed < current.capacity and current.waiting == 0:
                stored = replace(rsvp, status=RsvpStatus.CONFIRMED, seq=seq)
                stored = replace(stored, confirmed_at=rsvp.created_at)
                self.events[event.id] = replace(current, confirmed=current.confirmed + 1)
                self.outbox.append(
                    SeatNotice(event.owner_id, event.id, rsvp.participant_id, seq, False)
                )
            else:
                stored = replace(rsvp, status=RsvpStatus.WAITLISTED, seq=seq)
                self.events[event.id] = replace(current, waiting=current.waiting + 1)
            self.rsvps[key] = stored
            return stored

    def get_rsvp(self, event_id: str, participant_id: str) -> Rsvp | None:
        return self.rsvps.get((event_id, participant_id))

    def position(self, rsvp: Rsvp) -> int:
        with self._lock:
            return sum(1 for r in self._waiting(rsvp.event_id) if r.seq <= rsvp.seq)

    def cancel(self, event: Event, participant_id: str, now: datetime) -> Promotion | None:
        with self._lock:
            rsvp = self.rsvps.pop((event.id, participant_id), None)
            if rsvp is None:
                return None
            current = self.events[event.id]
            if rsvp.status is RsvpStatus.WAITLISTED:
                self.events[event.id] = replace(current, waiting=current.waiting - 1)
                return Promotion(rsvp)
            promoted = self._promote(current, now)
            if promoted is None:
                self.events[event.id] = replace(current, confirmed=current.confirmed - 1)
            else:
                self.events[event.id] = replace(current, waiting=current.waiting - 1)
            return Promotion(rsvp, promoted)

    def of_participant(self, participant_id: str) -> list[Rsvp]:
        return [r for (_, pid), r in self.rsvps.items() if pid == participant_id]

    def erase(self, participant_id: str, now: datetime) -> int:
        mine = self.of_participant(participant_id)
        for rsvp in mine:
            self.cancel(self.events[rsvp.event_id], participant_id, now)
        return len(mine)

    def claim_seat_mail(self, notice: SeatNotice, now: datetime, lease: timedelta) -> Rsvp | None:
        with self._lock:
            rsvp = self.rsvps.get((notice.event_id, notice.participant_id))
            if rsvp is None or rsvp.seq != notice.seq or rsvp.status is not RsvpStatus.CONFIRMED:
                return None
            mail = self._mail.setdefault(notice.key.rsplit("#", 1)[0], _Mail())
            if mail.sent or (mail.lease_until is not None and mail.lease_until > now):
                return None
            mail.lease_until = now + lease
            return rsvp

    def finish_seat_mail(self, notice: SeatNotice, now: datetime, *, sent: bool) -> None:
        with self._lock:
            mail = self._mail.setdefault(notice.key.rsplit("#", 1)[0], _Mail())
            mail.sent = mail.sent or sent
            mail.lease_until = None
