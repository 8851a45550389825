"""Moderation bodies: a reason to hide a name or remove a pledge, and the admin view of a
pledge with its moderation history."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chalicelib.api.schemas.common import Instant, Text, Timestamp, _Body
from chalicelib.domain.model import ModerationAction
from chalicelib.services.moderation import PledgeModeration

Reason = Annotated[Text, StringConstraints(max_length=500)]
PledgedAt = Annotated[
    Instant | None,
    Field(
        description="the pledge's `created_at`, as the admin view showed it: the action then "
        "applies to that pledge only (409 `pledge-changed` if it was withdrawn or made "
        "again since; a retry of a removal that was made answers it again)"
    ),
]


class HideNameIn(_Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "an insult in the name"}, {}]}
    )

    reason: Reason | None = None
    pledged_at: PledgedAt = None


class RemovalIn(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "duplicate account"}]})

    reason: Reason
    pledged_at: PledgedAt = None


class ModerationActionOut(BaseModel):
    action: Literal["hide_name", "remove"]
    reason: str | None
    actor_sub: str = Field(description="the moderator's id at the sign-in service")
    actor_role: Literal["admin", "org-admin"]
    at: Timestamp
    after_freeze: bool = Field(
        description="a platform admin's removal after the challenge's figures were final"
    )

    @classmethod
    def from_action(cls, action: ModerationAction) -> ModerationActionOut:
        return cls(
            action=action.action.value,
            reason=action.reason,
            actor_sub=action.actor_sub,
            actor_role=action.actor_role,
            at=action.at,
            after_freeze=action.after_freeze,
        )


class PledgeModerationOut(BaseModel):
    """One pledge as its challenge's administrators see it: with its name even when hidden
    (`name_hidden`), or as it was when removed."""

    challenge_id: str
    participant_id: str
    display_name: str | None
    name_hidden: bool
    area: str | None
    notify: bool
    created_at: Timestamp
    quantity_reported: int | float
    pseudonymised: bool
    status: Literal["live", "removed", "withdrawn"] = Field(
        description="removed by a moderator; withdrawn by its participant after a moderation"
    )
    moderation: list[ModerationActionOut] = Field(description="oldest first")

    @classmethod
    def from_view(cls, view: PledgeModeration) -> PledgeModerationOut:
        pledge = view.pledge
        return cls(
            challenge_id=pledge.challenge_id,
            participant_id=pledge.participant_id,
            display_name=pledge.display_name,
            name_hidden=pledge.name_hidden,
            area=pledge.area,
            notify=pledge.notify,
            created_at=pledge.created_at,
            quantity_reported=pledge.quantity_reported,
            pseudonymised=pledge.pseudonymised,
            status=view.status.value,
            moderation=[ModerationActionOut.from_action(a) for a in view.actions],
        )
