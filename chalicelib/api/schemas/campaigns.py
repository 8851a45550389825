"""Campaign bodies: the creation request, the campaign view, and its detail with challenges
and totals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from chalicelib.api.schemas.challenges import ChallengeOut
from chalicelib.api.schemas.common import Identifier, Instant, Text, Timestamp, _Body
from chalicelib.domain.model import Campaign

if TYPE_CHECKING:
    from chalicelib.services.campaigns import CampaignView


class CampaignCreate(_Body):
    title: Annotated[Text, StringConstraints(max_length=140)]
    description: Annotated[str, StringConstraints(max_length=5000)] = ""
    organization_id: Identifier | None = Field(
        default=None, description="an org-admin's own organisation when left out"
    )
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    visibility: Literal["public", "organization"] = Field(
        default="public",
        description="organization: only the organisation's people see the campaign's page",
    )


class CampaignOut(BaseModel):
    id: str
    title: str
    description: str
    organization_id: str | None
    starts_at: Timestamp | None
    ends_at: Timestamp | None
    created_at: Timestamp
    visibility: Literal["public", "organization"]

    @classmethod
    def fields_of(cls, campaign: Campaign) -> dict[str, Any]:
        return {
            "id": campaign.id,
            "title": campaign.title,
            "description": campaign.description,
            "organization_id": campaign.organization_id,
            "starts_at": campaign.starts_at,
            "ends_at": campaign.ends_at,
            "created_at": campaign.created_at,
            "visibility": campaign.visibility.value,
        }

    @classmethod
    def from_campaign(cls, campaign: Campaign) -> CampaignOut:
        return cls(**cls.fields_of(campaign))


class CampaignTotals(BaseModel):
    participants: int = Field(description="unique people with a live pledge on its challenges")
    pledges: int = Field(description="live pledges, all its challenges together")
    quantity: dict[str, int | float] = Field(description="reported quantities per unit")
    promised: dict[str, int | float] = Field(
        default_factory=dict, description="quantities the pledges offer per unit (volunteering)"
    )


class CampaignDetail(CampaignOut):
    challenges: list[ChallengeOut]
    totals: CampaignTotals

    @classmethod
    def from_view(cls, view: CampaignView) -> CampaignDetail:
        return cls(
            **CampaignOut.fields_of(view.campaign),
            challenges=[ChallengeOut.from_challenge(c) for c in view.challenges],
            totals=CampaignTotals(
                participants=view.participants,
                pledges=view.pledges,
                quantity=view.quantity,
                promised=view.promised,
            ),
        )


class CampaignList(BaseModel):
    items: list[CampaignOut]
    next_cursor: str | None
