"""Challenges: their item mapping, `DynamoChallengeRepository`, and the milestone outbox
it writes (read back from the stream by `milestone_from_stream_image`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pynamodb.exceptions import PutError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.domain.errors import ChallengeExistsError
from chalicelib.domain.model import (
    Challenge,
    ChallengeStatus,
    EventType,
    Metric,
    Milestone,
    Party,
    Target,
    Totals,
    Visibility,
)
from chalicelib.domain.proposals import ProposalEvent
from chalicelib.domain.votes import BeneficiaryChoice, Candidate
from chalicelib.services.ports import PLAIN_CHANGES, ChallengeChanges, Page
from chalicelib.settings import Settings
from chalicelib.storage.connection import connection
from chalicelib.storage.cursors import (
    checked_start_key,
    decode_cursor,
    encode_cursor,
    segment_position,
)
from chalicelib.storage.proposals import outbox_item as proposal_outbox_item
from chalicelib.storage.tables import (
    CandidateAttribute,
    ChallengeEventItem,
    ChallengeItem,
    PartyAttribute,
    TargetAttribute,
)
from chalicelib.storage.transactions import (
    CONDITIONAL_CHECK_FAILED_EXCEPTION,
    transact_unless_refused,
    update_if,
)


def party_to_item(party: Party) -> PartyAttribute:
    return PartyAttribute(
        name=party.name,
        email=party.email,
        webhook_url=party.webhook_url,
        webhook_secret=party.webhook_secret,
    )


def _party_from_item(item: PartyAttribute) -> Party:
    return Party(
        name=str(item.name),
        email=str(item.email),
        webhook_url=item.webhook_url,
        webhook_secret=item.webhook_secret,
    )


def _challenge_to_item(challenge: Challenge) -> ChallengeItem:
    return ChallengeItem(
        id=challenge.id,
        created_key=f"{challenge.created_at.isoformat()}#{challenge.id}",
        title=challenge.title,
        action=challenge.action,
        description=challenge.description,
        organization_id=challenge.organization_id,
        campaign_id=challenge.campaign_id,
        proposal_id=challenge.proposal_id,
        target=TargetAttribute(
            metric=challenge.target.metric.value,
            value=challenge.target.value,
            unit=challenge.target.unit,
        ),
        target_value=challenge.target.value,
        sponsor=party_to_item(challenge.sponsor),
        beneficiary=party_to_item(challenge.beneficiary),
        reward=challenge.reward,
        status=challenge.status.value,
        visibility=challenge.visibility.value,
        report_cap=challenge.report_cap,
        starts_at=challenge.starts_at,
        ends_at=challenge.ends_at,
        created_at=challenge.created_at,
        updated_at=challenge.updated_at,
        counter_shards=challenge.counter_shards,
        progress_participants=challenge.totals.participants,
        progress_quantity=challenge.totals.quantity,
        progress_version=challenge.totals.version,
        progress_promised=challenge.totals.promised or None,
        reached_at=challenge.reached_at,
        **_choice_to_item(challenge.beneficiary_choice),
    )


def _choice_to_item(choice: BeneficiaryChoice | None) -> dict[str, Any]:
    if choice is None:
        return {}
    return {
        "vote_candidates": [
            CandidateAttribute(
                id=c.id, name=c.name, email=c.email, description=c.description, url=c.url
            )
            for c in choice.candidates
        ],
        "vote_closes_at": choice.closes_at,
        "vote_closed_at": choice.closed_at,
        "vote_winner": choice.winner_id,
        "vote_tallies": None if choice.final_tallies is None else dict(choice.final_tallies),
    }


def _choice_from_item(item: ChallengeItem) -> BeneficiaryChoice | None:
    if not item.vote_candidates:
        return None
    tallies = item.vote_tallies.as_dict() if item.vote_tallies is not None else None
    return BeneficiaryChoice(
        candidates=tuple(
            Candidate(
                id=str(c.id),
                name=str(c.name),
                email=str(c.email),
                description=str(c.description or ""),
                url=c.url,
            )
            for c in item.vote_candidates
        ),
        closes_at=item.vote_closes_at,
        closed_at=item.vote_closed_at,
        winner_id=item.vote_winner,
        final_tallies=None if tallies is None else {k: int(v) for k, v in tallies.items()},
    )


def challenge_from_item(item: ChallengeItem) -> Challenge:
    return Challenge(
        id=item.id,
        title=item.title,
        action=item.action,
        description=item.description,
        organization_id=item.organization_id,
        campaign_id=item.campaign_id,
        proposal_id=item.proposal_id,
        target=Target(
            metric=Metric(item.target.metric),
            value=item.target.value,
            unit=item.target.unit,
        ),
        sponsor=_party_from_item(item.sponsor),
        beneficiary=_party_from_item(item.beneficiary),
        reward=item.reward,
        status=ChallengeStatus(item.status),
        visibility=Visibility(item.visibility),
        report_cap=item.report_cap,
        starts_at=item.starts_at,
        ends_at=item.ends_at,
        created_at=item.created_at,
        updated_at=item.updated_at,
        counter_shards=int(item.counter_shards),
        totals=Totals(
            participants=int(item.progress_participants),
            quantity=item.progress_quantity,
            version=int(item.progress_version),
            promised=item.progress_promised or 0,
        ),
        reached_at=item.reached_at,
        beneficiary_choice=_choice_from_item(item),
    )


def _update_actions(changes: ChallengeChanges, now: datetime) -> list[Any]:
    actions: list[Any] = [ChallengeItem.updated_at.set(now)]
    for name, value in changes.fields.items():
        if name in PLAIN_CHANGES:
            attribute = getattr(ChallengeItem, name)
            stored = value.value if isinstance(value, Visibility) else value
            actions.append(attribute.remove() if stored is None else attribute.set(stored))
        elif name == "target" and isinstance(value, Target):
            actions.append(
                ChallengeItem.target.set(
                    TargetAttribute(metric=value.metric.value, value=value.value, unit=value.unit)
                )
            )
            actions.append(ChallengeItem.target_value.set(value.value))
        elif name in ("sponsor", "beneficiary") and isinstance(value, Party):
            actions.append(getattr(ChallengeItem, name).set(party_to_item(value)))
        else:
            raise ValueError(f"unexpected change {name}={value!r}")
    return actions


class DynamoChallengeRepository:
    def __init__(self, settings: Settings) -> None:
        self._connection = connection(settings)
        self._connection.client  # noqa: B018 - built once, up front (see open_connections)

    def add(self, challenge: Challenge) -> None:
        try:
            _challenge_to_item(challenge).save(condition=ChallengeItem.id.does_not_exist())
        except PutError as error:
            if error.cause_response_code == CONDITIONAL_CHECK_FAILED_EXCEPTION:
                raise ChallengeExistsError(challenge.id) from error
            raise

    def get(self, challenge_id: str, *, consistent: bool = False) -> Challenge | None:
        try:
            return challenge_from_item(ChallengeItem.get(challenge_id, consistent_read=consistent))
        except ChallengeItem.DoesNotExist:
            return None

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
        position = segment_position(state, len(statuses))
        start_key = checked_start_key(
            state, {"id": None, "created_key": None, "status": statuses[position].value}
        )
        items: list[Challenge] = []
        # Walk the status partitions in order (live before ended, …), newest first in each.
        while position < len(statuses) and len(items) < limit:
            result = ChallengeItem.by_status.query(
                statuses[position].value,
                scan_index_forward=False,
                limit=limit - len(items),
                last_evaluated_key=start_key,
            )
            items.extend(challenge_from_item(item) for item in result)
            start_key = result.last_evaluated_key
            if start_key is None:
                position += 1
        more = position < len(statuses)
        return Page(items, encode_cursor({"s": position, "k": start_key}) if more else None)

    def list_due(self, now: datetime) -> Sequence[Challenge]:
        """Every live challenge whose `ends_at` is at or before `now`, read page by page from
        the `live` partition of `by_status` (live challenges number in the thousands at most;
        see docs/decisions.md). The filter only trims what comes back, not what is read."""
        result = ChallengeItem.by_status.query(
            ChallengeStatus.LIVE.value, filter_condition=ChallengeItem.ends_at <= now
        )
        return [challenge_from_item(item) for item in result]

    @staticmethod
    def _list_grouped(
        key_name: Literal["campaign_id", "organization_id"],
        group: str,
        statuses: Sequence[ChallengeStatus],
        limit: int,
        state: dict[str, Any],
    ) -> Page[Challenge]:
        """One campaign's or organisation's challenges in these statuses, newest first (a
        group holds a handful to a few hundred: the filter trims little)."""
        wanted = [status.value for status in statuses]
        index = (
            ChallengeItem.by_campaign
            if key_name == "campaign_id"
            else ChallengeItem.by_organization
        )
        result = index.query(
            group,
            filter_condition=ChallengeItem.status.is_in(*wanted),
            scan_index_forward=False,
            limit=limit,
            last_evaluated_key=checked_start_key(
                state, {"id": None, "created_key": None, key_name: group}
            ),
        )
        items = [challenge_from_item(item) for item in result]
        next_key = result.last_evaluated_key
        return Page(items, encode_cursor({"k": next_key}) if next_key else None)

    def update(
        self,
        challenge: Challenge,
        changes: ChallengeChanges,
        *,
        allowed_statuses: Sequence[ChallengeStatus],
        now: datetime,
    ) -> Challenge | None:
        condition = ChallengeItem.status.is_in(*[status.value for status in allowed_statuses])
        if changes.changes_target:
            condition &= ChallengeItem.reached_at.does_not_exist()
        item = ChallengeItem(id=challenge.id)
        if not update_if(item, _update_actions(changes, now), condition):
            return None
        return challenge_from_item(item)

    def transition(
        self,
        challenge_id: str,
        source: ChallengeStatus,
        target: ChallengeStatus,
        now: datetime,
        *,
        proposal_live: str | None = None,
    ) -> Challenge | None:
        item = ChallengeItem(id=challenge_id)
        actions: list[Action] = [
            ChallengeItem.status.set(target.value),
            ChallengeItem.updated_at.set(now),
        ]
        condition = ChallengeItem.status == source.value
        if proposal_live is None:
            if not update_if(item, actions, condition):
                return None
            return challenge_from_item(item)

        def write() -> None:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.update(item, actions=actions, condition=condition)
                # No condition of its own: a challenge leaves draft once, so the record is
                # new; were it there, the put is a MODIFY, which the notifier ignores.
                transaction.save(
                    proposal_outbox_item(proposal_live, ProposalEvent.CHALLENGE_LIVE, now, 0)
                )

        if not transact_unless_refused(write):  # the status's is the only condition
            return None
        # A transaction returns no values: read what was written.
        return self.get(challenge_id, consistent=True)

    def save_totals(self, challenge_id: str, totals: Totals) -> bool:
        return update_if(
            ChallengeItem(id=challenge_id),
            [
                ChallengeItem.progress_participants.set(totals.participants),
                ChallengeItem.progress_quantity.set(totals.quantity),
                ChallengeItem.progress_version.set(totals.version),
                ChallengeItem.progress_promised.set(totals.promised),
            ],
            # Two aggregators may race; the higher version is the more recent sum.
            ChallengeItem.id.exists() & (ChallengeItem.progress_version < totals.version),
        )

    def record_milestone(self, challenge: Challenge, milestone: Milestone) -> bool:
        event_item = milestone_to_item(milestone)

        def write() -> None:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.save(event_item, condition=ChallengeEventItem.event.does_not_exist())
                if milestone.event is EventType.REACHED:
                    transaction.update(
                        ChallengeItem(id=challenge.id),
                        actions=[ChallengeItem.reached_at.set(milestone.occurred_at)],
                        condition=ChallengeItem.reached_at.does_not_exist()
                        & (ChallengeItem.target_value <= challenge.counted_value(milestone.totals)),
                    )
                elif milestone.event is EventType.ENDED:
                    transaction.update(
                        ChallengeItem(id=challenge.id),
                        actions=[
                            ChallengeItem.status.set(ChallengeStatus.ENDED.value),
                            ChallengeItem.updated_at.set(milestone.occurred_at),
                        ],
                        # Still live, with the deadline that was found due: an admin's close
                        # or a new ends_at made meanwhile wins, and nothing is written.
                        condition=(ChallengeItem.status == ChallengeStatus.LIVE.value)
                        & (ChallengeItem.ends_at == _deadline(challenge)),
                    )

        return transact_unless_refused(write)


def milestone_to_item(milestone: Milestone) -> ChallengeEventItem:
    """The outbox item of a milestone (written once: `ChallengeEventItem.event` must not exist)."""
    return ChallengeEventItem(
        challenge_id=milestone.challenge_id,
        event=milestone.event.value,
        occurred_at=milestone.occurred_at,
        participants=milestone.totals.participants,
        quantity=milestone.totals.quantity,
        reached=milestone.reached,
    )


def _deadline(challenge: Challenge) -> datetime:
    if challenge.ends_at is None:
        raise ValueError(f"challenge {challenge.id} has no ends_at: it cannot end by its deadline")
    return challenge.ends_at


def milestone_from_stream_image(image: dict[str, Any]) -> Milestone:
    """Read an outbox item from its stream image (DynamoDB JSON, as the stream delivers it)."""
    item = ChallengeEventItem.from_raw_data(image)
    missing = [
        name
        for name, attribute in ChallengeEventItem.get_attributes().items()
        if not attribute.null and getattr(item, name) is None
    ]
    if missing:
        raise ValueError(f"milestone image lacks {', '.join(sorted(missing))}")
    return Milestone(
        challenge_id=item.challenge_id,
        event=EventType(item.event),
        occurred_at=item.occurred_at,
        totals=Totals(participants=int(item.participants), quantity=item.quantity),
        reached=bool(item.reached),
    )
