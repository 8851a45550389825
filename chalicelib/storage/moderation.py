"""Moderation in DynamoDB: `DynamoModeration` writes each action in the transaction that
applies it to the pledge, so an action is recorded exactly when it took effect.

A removal's REMOVE record on the pledges stream is a withdrawal for the triggers: the
challenge's count, the area count and the campaign membership lose the pledge (once: the
item disappears once), its hour counts one withdrawn.
"""

from __future__ import annotations

from datetime import UTC

from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from chalicelib.domain.model import ModerationAction, ModerationKind, Pledge
from chalicelib.settings import Settings
from chalicelib.storage.connection import connection
from chalicelib.storage.pledges import pledge_from_item
from chalicelib.storage.tables import ModerationItem, PledgeItem
from chalicelib.storage.transactions import (
    transact_once,
    transact_unless_refused,
)
from chalicelib.storage.votes import count_vote, same_vote


def moderation_key(action: ModerationAction, participant_id: str | None = None) -> str:
    """`<participant_id>#<at>#<action>`: a participant's actions on a challenge, in order."""
    at = action.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{participant_id or action.participant_id}#{at}#{action.action}"


def moderation_to_item(
    action: ModerationAction, participant_id: str | None = None
) -> ModerationItem:
    """The item for `action`, under another participant id if given (an erasure's pseudonym,
    then without the name)."""
    pledge = action.pledge
    moved = participant_id is not None
    return ModerationItem(
        challenge_id=action.challenge_id,
        key=moderation_key(action, participant_id),
        participant_id=participant_id or action.participant_id,
        action=action.action.value,
        at=action.at,
        actor_sub=action.actor_sub,
        actor_role=action.actor_role,
        reason=action.reason,
        after_freeze=action.after_freeze or None,
        display_name=None if moved else pledge.display_name,
        area=pledge.area,
        notify=pledge.notify,
        quantity_reported=pledge.quantity_reported,
        pledged_at=pledge.created_at,
        name_hidden=(pledge.name_hidden and not moved) or None,
        pseudonymised=(pledge.pseudonymised or moved) or None,
        counter_shard=pledge.counter_shard,
    )


def moderation_from_item(item: ModerationItem) -> ModerationAction:
    return ModerationAction(
        challenge_id=item.challenge_id,
        participant_id=item.participant_id,
        action=ModerationKind(item.action),
        at=item.at,
        actor_sub=item.actor_sub,
        actor_role=item.actor_role,
        reason=item.reason,
        after_freeze=bool(item.after_freeze),
        pledge=Pledge(
            challenge_id=item.challenge_id,
            participant_id=item.participant_id,
            created_at=item.pledged_at,
            display_name=item.display_name,
            area=item.area,
            notify=bool(item.notify),
            quantity_reported=item.quantity_reported,
            pseudonymised=bool(item.pseudonymised),
            counter_shard=None if item.counter_shard is None else int(item.counter_shard),
            name_hidden=bool(item.name_hidden),
        ),
    )


class DynamoModeration:
    def __init__(self, settings: Settings) -> None:
        self._connection = connection(settings)
        self._connection.client  # noqa: B018 - built once, up front (see open_connections)

    def pledge(self, challenge_id: str, participant_id: str) -> Pledge | None:
        try:
            return pledge_from_item(
                PledgeItem.get(participant_id, challenge_id, consistent_read=True)
            )
        except PledgeItem.DoesNotExist:
            return None

    def actions(self, challenge_id: str, participant_id: str) -> list[ModerationAction]:
        return [
            moderation_from_item(item)
            for item in ModerationItem.query(
                challenge_id,
                ModerationItem.key.startswith(f"{participant_id}#"),
                consistent_read=True,
            )
        ]

    @staticmethod
    def _same_pledge(pledge: Pledge) -> Condition:
        # The pledge read, still there, and not being moved by an erasure (whose stream
        # records the triggers must not take for a withdrawal or a new pledge).
        condition: Condition = (
            PledgeItem.challenge_id.exists()
            & PledgeItem.erasing.does_not_exist()
            & (PledgeItem.created_at == pledge.created_at)
            & same_vote(pledge.candidate_id)
        )
        return condition

    def hide_name(self, pledge: Pledge, action: ModerationAction) -> bool:
        def write(token: str) -> None:
            with TransactWrite(
                connection=self._connection, client_request_token=token
            ) as transaction:
                transaction.update(
                    PledgeItem(
                        participant_id=pledge.participant_id, challenge_id=pledge.challenge_id
                    ),
                    actions=[PledgeItem.name_hidden.set(True)],
                    condition=self._same_pledge(pledge) & PledgeItem.name_hidden.does_not_exist(),
                )
                transaction.save(
                    moderation_to_item(action), condition=ModerationItem.key.does_not_exist()
                )

        return transact_once(write, None, transact_unless_refused)

    def remove(self, pledge: Pledge, action: ModerationAction, *, count_vote_out: bool) -> bool:
        def write(token: str) -> None:
            with TransactWrite(
                connection=self._connection, client_request_token=token
            ) as transaction:
                transaction.delete(
                    PledgeItem(
                        participant_id=pledge.participant_id, challenge_id=pledge.challenge_id
                    ),
                    condition=self._same_pledge(pledge),
                )
                if count_vote_out and pledge.candidate_id is not None:
                    count_vote(
                        transaction,
                        pledge.challenge_id,
                        pledge.candidate_id,
                        pledge.vote_shard or 0,
                        -1,
                    )
                transaction.save(
                    moderation_to_item(action), condition=ModerationItem.key.does_not_exist()
                )

        return transact_once(write, None, transact_unless_refused)
