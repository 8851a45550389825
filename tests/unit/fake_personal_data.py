"""`FakePersonalData`: the erasure's moves over the fake tables, as DynamoPersonalData makes
them (a pledge marked `erasing` cannot be withdrawn; no count changes)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from chalicelib.domain.model import Delivery, ModerationAction, Pledge, RecipientRole, Report
from chalicelib.services.personal_data import MoveOutcome, PersonalRecords
from tests.unit.fakes import FakeDatabase, FakeReportRepository, StoredDelivery


class FakePersonalData:
    def __init__(self, db: FakeDatabase, reports: FakeReportRepository) -> None:
        self._db = db
        self._reports = reports
        # Erasures under way: participant → pseudonym.
        self.under_way: dict[str, str] = {}

    def records(self, participant_id: str) -> PersonalRecords:
        with self._db.lock:
            pledges = sorted(
                (p for (pid, _), p in self._db.pledges.items() if pid == participant_id),
                key=lambda pledge: pledge.challenge_id,
            )
            reports = [r for (pid, _), r in self._reports.reports.items() if pid == participant_id]
            deliveries = [
                stored.delivery
                for stored in self._db.deliveries.values()
                if stored.delivery.recipient_role is RecipientRole.PARTICIPANT
                and stored.delivery.recipient_key == participant_id
            ]
            moderation = [
                action
                for (_, pid, _, _), action in sorted(self._db.moderation.items())
                if pid == participant_id
            ]
        return PersonalRecords(
            pledges=pledges,
            reports=reports,
            deliveries=deliveries,
            moderation=moderation,
        )

    def begin_erasure(self, participant_id: str, pseudonym: str, *, now: datetime) -> str:
        with self._db.lock:
            return self.under_way.setdefault(participant_id, pseudonym)

    def end_erasure(self, participant_id: str) -> None:
        with self._db.lock:
            self.under_way.pop(participant_id, None)

    def pseudonymise_pledge(self, pledge: Pledge, pseudonym: str, shard: int) -> MoveOutcome:
        key = (pledge.participant_id, pledge.challenge_id)
        with self._db.lock:
            current = self._db.pledges.get(key)
            if current is None:
                return MoveOutcome.GONE
            self._db.erasing[key] = pseudonym
            if (pseudonym, pledge.challenge_id) in self._db.pledges:
                return MoveOutcome.TAKEN
            del self._db.pledges[key]
            del self._db.erasing[key]
            self._db.pledges[(pseudonym, pledge.challenge_id)] = Pledge(
                challenge_id=current.challenge_id,
                participant_id=pseudonym,
                created_at=current.created_at,
                area=current.area,
                notify=False,
                quantity_reported=current.quantity_reported,
                pseudonymised=True,
                counter_shard=shard,
            )
            return MoveOutcome.MOVED

    def pseudonymise_report(self, report: Report, pseudonym: str) -> MoveOutcome:
        with self._db.lock:
            current = self._reports.reports.get((report.participant_id, report.id))
            if current is None:
                return MoveOutcome.GONE
            if (pseudonym, report.id) in self._reports.reports:
                return MoveOutcome.TAKEN
            del self._reports.reports[(report.participant_id, report.id)]
            self._reports.reports[(pseudonym, report.id)] = replace(
                current, participant_id=pseudonym
            )
            return MoveOutcome.MOVED

    def pseudonymise_delivery(
        self, delivery: Delivery, pseudonym: str, *, now: datetime
    ) -> MoveOutcome:
        with self._db.lock:
            stored = self._db.deliveries.get((delivery.challenge_id, delivery.key))
            if stored is None:
                return MoveOutcome.GONE
            if stored.lease_until is not None and stored.lease_until >= now:
                return MoveOutcome.RETRY  # a sender holds it
            moved = replace(stored.delivery, recipient_key=pseudonym, to="")
            if (moved.challenge_id, moved.key) in self._db.deliveries:
                return MoveOutcome.TAKEN
            del self._db.deliveries[(delivery.challenge_id, delivery.key)]
            self._db.deliveries[(moved.challenge_id, moved.key)] = StoredDelivery(moved)
            return MoveOutcome.MOVED

    def pseudonymise_moderation(self, action: ModerationAction, pseudonym: str) -> MoveOutcome:
        key = (action.challenge_id, action.participant_id, action.at, action.action.value)
        with self._db.lock:
            current = self._db.moderation.get(key)
            if current is None:
                return MoveOutcome.GONE
            moved_key = (action.challenge_id, pseudonym, action.at, action.action.value)
            if moved_key in self._db.moderation:
                return MoveOutcome.TAKEN
            del self._db.moderation[key]
            self._db.moderation[moved_key] = replace(
                current,
                participant_id=pseudonym,
                pledge=replace(
                    current.pledge,
                    participant_id=pseudonym,
                    display_name=None,
                    name_hidden=False,
                    pseudonymised=True,
                ),
            )
            return MoveOutcome.MOVED
