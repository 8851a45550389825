"""Citizen proposals, their supports, their outbox records and their e-mail claims on DynamoDB."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.domain.model import Metric, Target
from chalicelib.domain.proposals import (
    Proposal,
    ProposalEvent,
    ProposalStatus,
    Support,
    SupporterChunk,
)
from chalicelib.services.ports import Page
from chalicelib.services.proposal_ports import (
    ProposalClaim,
    ProposalClaimRefused,
    ProposalDeliveryRecord,
    ProposalRecipient,
    SupportWrite,
)
from chalicelib.storage.cursors import checked_start_key, decode_cursor, encode_cursor, page_range
from chalicelib.storage.leases import LeasedClaims
from chalicelib.storage.proposal_tables import (
    ProposalDeliveryItem,
    ProposalItem,
    SuggestedTargetAttribute,
    SupportItem,
)
from chalicelib.storage.table_meta import read_through_index
from chalicelib.storage.tables import ChallengeEventItem
from chalicelib.storage.transactions import (
    CONDITIONAL_CHECK_FAILED,
    cancellation_codes,
    put_if_absent,
    transact_unless_refused,
    update_if,
    with_transaction_retries,
)

# A person's claim on a proposal e-mail is kept this long (redeliveries stop after 24 h).
PROPOSAL_DELIVERY_RETENTION = timedelta(days=30)
# A chunk holds a supporter's id (where its page ends): deleted this long after it was made.
SUPPORTER_CHUNK_RETENTION = timedelta(days=30)
ERASED = "erased"  # what an erased proposer's id becomes on their proposals


def _to_item(proposal: Proposal) -> ProposalItem:
    return ProposalItem(
        id=proposal.id,
        created_key=proposal.created_key,
        proposer_id=proposal.proposer_id,
        title=proposal.title,
        action=proposal.action,
        description=proposal.description,
        suggested_target=SuggestedTargetAttribute(
            metric=proposal.suggested_target.metric.value,
            value=proposal.suggested_target.value,
            unit=proposal.suggested_target.unit,
        ),
        area=proposal.area,
        open_area=proposal.area if proposal.status is ProposalStatus.OPEN else None,
        status=proposal.status.value,
        created_at=proposal.created_at,
        organization_id=proposal.organization_id,
        support_threshold=proposal.support_threshold,
        supports=proposal.supports,
        decided_at=proposal.decided_at,
        decision_reason=proposal.decision_reason,
        threshold_reached_at=proposal.threshold_reached_at,
        challenge_id=proposal.challenge_id,
        proposer_email=proposal.proposer_email,
        proposer_locale=proposal.proposer_locale,
    )


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def proposal_from_item(item: ProposalItem) -> Proposal:
    target = item.suggested_target
    return Proposal(
        id=item.id,
        proposer_id=item.proposer_id,
        title=item.title,
        action=item.action,
        description=item.description,
        suggested_target=Target(Metric(target.metric), _number(target.value), target.unit),
        area=item.area,
        status=ProposalStatus(item.status),
        created_at=item.created_at,
        support_threshold=int(item.support_threshold),
        organization_id=item.organization_id,
        supports=int(item.supports or 0),
        decided_at=item.decided_at,
        decision_reason=item.decision_reason,
        threshold_reached_at=item.threshold_reached_at,
        challenge_id=item.challenge_id,
        proposer_email=item.proposer_email,
        proposer_locale=item.proposer_locale,
    )


def _support_from_item(item: SupportItem) -> Support:
    return Support(
        proposal_id=item.proposal_id,
        participant_id=item.participant_id,
        created_at=item.created_at,
        email=item.email,
        locale=item.locale,
    )


def outbox_item(proposal_id: str, event: ProposalEvent, now: datetime, supports: int) -> Any:
    """The outbox record of a proposal event: the milestone attributes the outbox requires,
    filled neutrally; its key is what the notifier dispatches on."""
    return ChallengeEventItem(
        challenge_id=proposal_id,
        event=event.key,
        occurred_at=now,
        participants=supports,
        quantity=0,
        reached=False,
    )


def _chunk_to_item(chunk: SupporterChunk) -> ChallengeEventItem:
    # The outbox's milestone attributes are required: a chunk fills them neutrally.
    return ChallengeEventItem(
        challenge_id=chunk.proposal_id,
        event=chunk.key,
        occurred_at=chunk.occurred_at,
        participants=0,
        quantity=0,
        reached=False,
        fanout_page=chunk.page,
        fanout_after=chunk.after,
        expires_at=chunk.occurred_at + SUPPORTER_CHUNK_RETENTION,
    )


def supporter_chunk_from_item(item: ChallengeEventItem) -> SupporterChunk:
    if item.occurred_at is None:
        raise ValueError(f"supporters' chunk {item.event!r} has no occurred_at")
    return SupporterChunk.from_key(
        item.challenge_id, str(item.event), item.occurred_at, item.fanout_after
    )


def supporter_chunk_from_stream_image(image: dict[str, Any]) -> SupporterChunk:
    """Read a supporters' chunk from its stream image (DynamoDB JSON)."""
    return supporter_chunk_from_item(ChallengeEventItem.from_raw_data(image))


class DynamoProposalRepository:
    @staticmethod
    def _connection() -> Any:
        return ProposalItem._get_connection().connection

    def add(self, proposal: Proposal) -> None:
        _to_item(proposal).save(condition=ProposalItem.id.does_not_exist())

    def get(self, proposal_id: str) -> Proposal | None:
        try:
            return proposal_from_item(ProposalItem.get(proposal_id, consistent_read=True))
        except ProposalItem.DoesNotExist:
            return None

    def decide(
        self,
        proposal_id: str,
        status: ProposalStatus,
        *,
        now: datetime,
        reason: str | None,
        event: ProposalEvent,
    ) -> Proposal | None:
        current = self.get(proposal_id)
        if current is None or current.status is not ProposalStatus.PENDING:
            return None
        actions: list[Action] = [
            ProposalItem.status.set(status.value),
            ProposalItem.decided_at.set(now),
        ]
        if reason is not None:
            actions.append(ProposalItem.decision_reason.set(reason))
        if status is ProposalStatus.OPEN:
            actions.append(ProposalItem.open_area.set(current.area))

        def write() -> None:
            with TransactWrite(connection=self._connection()) as transaction:
                transaction.update(
                    ProposalItem(id=proposal_id),
                    actions=actions,
                    condition=ProposalItem.status == ProposalStatus.PENDING.value,
                )
                transaction.save(
                    outbox_item(proposal_id, event, now, current.supports),
                    condition=ChallengeEventItem.event.does_not_exist(),
                )

        if not transact_unless_refused(write):
            return None
        return self.get(proposal_id)

    def list_by_status(
        self, status: ProposalStatus, *, limit: int, cursor: str | None
    ) -> Page[Proposal]:
        start_key = checked_start_key(
            decode_cursor(cursor), {"id": None, "created_key": None, "status": status.value}
        )
        result = ProposalItem.by_status.query(
            status.value, scan_index_forward=False, limit=limit, last_evaluated_key=start_key
        )
        items = [proposal_from_item(item) for item in result]
        last = result.last_evaluated_key
        return Page(items, encode_cursor({"k": last}) if last else None)

    def list_open_in(self, areas: Sequence[str], *, limit: int) -> list[Proposal]:
        found: list[Proposal] = []
        for area in dict.fromkeys(areas):
            found.extend(
                proposal_from_item(item)
                for item in ProposalItem.by_open_area.query(
                    area, scan_index_forward=False, limit=limit
                )
            )
        found.sort(key=lambda proposal: proposal.created_key, reverse=True)
        return found[:limit]

    def add_support(self, support: Support) -> SupportWrite:
        item = SupportItem(
            proposal_id=support.proposal_id,
            participant_id=support.participant_id,
            created_at=support.created_at,
            email=support.email,
            locale=support.locale,
        )

        def write() -> None:
            with TransactWrite(connection=self._connection()) as transaction:
                transaction.save(item, condition=SupportItem.participant_id.does_not_exist())
                transaction.update(
                    ProposalItem(id=support.proposal_id),
                    actions=[ProposalItem.supports.add(1)],
                    condition=ProposalItem.status == ProposalStatus.OPEN.value,
                )

        try:
            with_transaction_retries(write)
        except TransactWriteError as error:
            codes = cancellation_codes(error)
            if codes[:1] == [CONDITIONAL_CHECK_FAILED]:
                return SupportWrite.ALREADY
            if codes[1:2] == [CONDITIONAL_CHECK_FAILED]:
                return SupportWrite.NOT_OPEN
            raise
        return SupportWrite.ADDED

    def remove_support(self, proposal_id: str, participant_id: str) -> bool:
        def write() -> None:
            with TransactWrite(connection=self._connection()) as transaction:
                transaction.delete(
                    SupportItem(proposal_id=proposal_id, participant_id=participant_id),
                    condition=SupportItem.participant_id.exists(),
                )
                transaction.update(
                    ProposalItem(id=proposal_id),
                    actions=[ProposalItem.supports.add(-1)],
                    condition=ProposalItem.id.exists(),
                )

        return transact_unless_refused(write)

    def get_support(self, proposal_id: str, participant_id: str) -> Support | None:
        try:
            item = SupportItem.get(proposal_id, participant_id, consistent_read=True)
        except SupportItem.DoesNotExist:
            return None
        return _support_from_item(item)

    def record_threshold(self, proposal_id: str, *, now: datetime) -> bool:
        current = self.get(proposal_id)
        if current is None:
            return False

        def write() -> None:
            with TransactWrite(connection=self._connection()) as transaction:
                transaction.update(
                    ProposalItem(id=proposal_id),
                    actions=[ProposalItem.threshold_reached_at.set(now)],
                    # Compared in the write, not from the value read above.
                    condition=ProposalItem.threshold_reached_at.does_not_exist()
                    & (ProposalItem.supports >= ProposalItem.support_threshold),
                )
                transaction.save(
                    outbox_item(proposal_id, ProposalEvent.THRESHOLD_REACHED, now, 0),
                    condition=ChallengeEventItem.event.does_not_exist(),
                )

        return transact_unless_refused(write)

    def adopt(self, proposal_id: str, challenge_id: str, *, now: datetime) -> Proposal | None:
        if not update_if(
            ProposalItem(id=proposal_id),
            [
                ProposalItem.status.set(ProposalStatus.ADOPTED.value),
                ProposalItem.challenge_id.set(challenge_id),
                ProposalItem.open_area.remove(),
            ],
            ProposalItem.status == ProposalStatus.OPEN.value,
        ):
            return None
        return self.get(proposal_id)

    def supporters(
        self,
        proposal_id: str,
        *,
        after: str | None,
        limit: int | None,
        until: str | None = None,
    ) -> Page[Support]:
        condition = page_range(SupportItem.participant_id, after, until)
        result = SupportItem.query(
            proposal_id, range_key_condition=condition, limit=limit, consistent_read=True
        )
        supports = [_support_from_item(item) for item in result if item.participant_id != after]
        full = limit is not None and len(supports) >= limit
        return Page(supports, supports[-1].participant_id if full and supports else None)

    def add_chunk(self, chunk: SupporterChunk) -> bool:
        return put_if_absent(_chunk_to_item(chunk), ChallengeEventItem.event.does_not_exist())

    def get_chunk(self, proposal_id: str, key: str) -> SupporterChunk | None:
        try:
            item = ChallengeEventItem.get(proposal_id, key, consistent_read=True)
        except ChallengeEventItem.DoesNotExist:
            return None
        return supporter_chunk_from_item(item)

    def _proposal_items(self, participant_id: str) -> list[ProposalItem]:
        ids = [item.id for item in ProposalItem.by_proposer.query(participant_id)]
        return list(ProposalItem.batch_get(ids, consistent_read=True)) if ids else []

    def _support_items(self, participant_id: str) -> list[SupportItem]:
        return read_through_index(SupportItem, SupportItem.by_participant, participant_id)

    def of_participant(self, participant_id: str) -> tuple[list[Proposal], list[Support]]:
        proposals = [proposal_from_item(item) for item in self._proposal_items(participant_id)]
        supports = [_support_from_item(item) for item in self._support_items(participant_id)]
        return proposals, supports

    def erase_participant(self, participant_id: str) -> int:
        changed = 0
        for support in self._support_items(participant_id):
            # Counted out, as a withdrawal would be.
            if self.remove_support(support.proposal_id, participant_id):
                changed += 1
        for item in self._proposal_items(participant_id):
            # The proposal stays (others support it); who made it and where they read mail
            # go. The proposer id becomes a per-proposal placeholder, never their `sub`.
            item.update(
                actions=[
                    ProposalItem.proposer_id.set(f"{ERASED}#{item.id}"),
                    ProposalItem.proposer_email.remove(),
                    ProposalItem.proposer_locale.remove(),
                ]
            )
            changed += 1
        return changed


_CLAIMS = LeasedClaims(
    ProposalDeliveryItem, ProposalDeliveryItem.recipient, PROPOSAL_DELIVERY_RETENTION
)


class DynamoProposalDeliveryRepository:
    def claim(
        self,
        proposal_id: str,
        recipient: ProposalRecipient,
        *,
        now: datetime,
        lease: timedelta,
    ) -> ProposalClaim | ProposalClaimRefused:
        item = ProposalDeliveryItem(proposal_id=proposal_id, recipient=recipient.recipient)
        extra = (
            [ProposalDeliveryItem.participant_id.set(recipient.participant_id)]
            if recipient.participant_id is not None
            else []
        )
        taken = _CLAIMS.claim(item, now=now, lease=lease, extra=extra)
        if taken is None:
            if _CLAIMS.held(proposal_id, recipient.recipient):
                return ProposalClaimRefused.HELD
            return ProposalClaimRefused.SETTLED
        attempts, lease_until = taken
        return ProposalClaim(proposal_id, recipient.recipient, attempts, lease_until)

    @staticmethod
    def _item(claim: ProposalClaim) -> ProposalDeliveryItem:
        return ProposalDeliveryItem(proposal_id=claim.proposal_id, recipient=claim.recipient)

    def mark_sent(self, claim: ProposalClaim, *, now: datetime) -> None:
        _CLAIMS.mark_sent(self._item(claim), claim.lease_until, now=now)

    def mark_failed(self, claim: ProposalClaim, *, error: str, final: bool) -> None:
        _CLAIMS.mark_failed(self._item(claim), claim.lease_until, error=error, final=final)

    def _items(self, participant_id: str) -> list[ProposalDeliveryItem]:
        return read_through_index(
            ProposalDeliveryItem, ProposalDeliveryItem.by_participant, participant_id
        )

    def of_participant(self, participant_id: str) -> list[ProposalDeliveryRecord]:
        return [
            ProposalDeliveryRecord(
                proposal_id=item.proposal_id,
                recipient=item.recipient,
                status=item.status,
                attempts=int(item.attempts),
                sent_at=item.sent_at,
            )
            for item in self._items(participant_id)
        ]

    def delete_for_participant(self, participant_id: str) -> int:
        items = self._items(participant_id)
        for item in items:
            item.delete()
        return len(items)
