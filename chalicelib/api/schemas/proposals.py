"""Citizen proposal bodies: the proposal, its lists and query, decisions, supports, adoption."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from chalicelib.api.schemas.challenges import (
    AdminChallengeOut,
    BeneficiaryIn,
    SponsorIn,
    TargetIn,
)
from chalicelib.api.schemas.common import Identifier, ListQuery, Text, Timestamp, _Body
from chalicelib.api.schemas.pledges import LatLon
from chalicelib.domain.areas import area_from_coordinates, area_from_postal_code
from chalicelib.domain.proposals import Proposal, ProposalStatus, Support
from chalicelib.services.proposal_ports import ProposalDeliveryRecord

PostalCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]{1,9}$")]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")]


class ProposalIn(_Body):
    """Where: `location` ({lat, lon}) or `postal_code` (with `country`, FR by default); it
    is reduced to a coarse area (a ~5 km cell or a postal district) and not kept."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Repair café in Clichy",
                    "action": "I bring one broken thing to repair a month",
                    "description": "Once a month at the library.",
                    "suggested_target": {"metric": "participants", "value": 100},
                    "location": {"lat": 48.904, "lon": 2.305},
                }
            ]
        }
    )

    title: Annotated[Text, StringConstraints(max_length=140)]
    action: Annotated[Text, StringConstraints(max_length=280)]
    description: Annotated[str, StringConstraints(max_length=5000)] = ""
    suggested_target: TargetIn
    location: LatLon | None = None
    postal_code: PostalCode | None = None
    country: Country | None = None
    organization_id: Identifier | None = Field(
        default=None, description="The organisation it is addressed to (400 if none such)."
    )

    @model_validator(mode="after")
    def _one_place(self) -> ProposalIn:
        if (self.location is None) == (self.postal_code is None):
            raise ValueError("give location ({lat, lon}) or postal_code, one of them")
        if self.country is not None and self.postal_code is None:
            raise ValueError("country goes with postal_code")
        return self

    def area(self) -> str:
        if self.location is not None:
            return area_from_coordinates(self.location.lat, self.location.lon)
        if self.postal_code is None:
            raise AssertionError("unreachable: the validator requires one place")
        return area_from_postal_code(self.postal_code, self.country or "FR")


class ProposalOut(BaseModel):
    """A proposal as anyone who may see it sees it: never its proposer's identity or address."""

    id: str
    title: str
    action: str
    description: str
    suggested_target: dict[str, object]
    area: str = Field(description="a ~5 km geohash cell, or a postal district such as FR-92")
    status: Literal["pending", "open", "rejected", "adopted"]
    organization_id: str | None
    supports: int
    support_threshold: int
    threshold_reached: bool
    created_at: Timestamp
    decided_at: Timestamp | None
    decision_reason: str | None
    challenge_id: str | None
    supported_by_me: bool | None = Field(
        default=None, description="whether the caller supports it (signed-in callers only)"
    )
    mine: bool | None = Field(default=None, description="whether the caller proposed it")

    @classmethod
    def from_proposal(
        cls, proposal: Proposal, *, supported: bool | None = None, caller: str | None = None
    ) -> ProposalOut:
        target = proposal.suggested_target
        return cls(
            id=proposal.id,
            title=proposal.title,
            action=proposal.action,
            description=proposal.description,
            suggested_target={
                "metric": target.metric.value,
                "value": target.value,
                "unit": target.unit,
            },
            area=proposal.area,
            status=proposal.status.value,
            organization_id=proposal.organization_id,
            supports=proposal.supports,
            support_threshold=proposal.support_threshold,
            threshold_reached=proposal.threshold_reached_at is not None,
            created_at=proposal.created_at,
            decided_at=proposal.decided_at,
            decision_reason=proposal.decision_reason,
            challenge_id=proposal.challenge_id,
            supported_by_me=supported,
            mine=None if caller is None else caller == proposal.proposer_id,
        )


class ProposalList(BaseModel):
    items: list[ProposalOut]
    next_cursor: str | None


class ProposalListQuery(ListQuery):
    """`status=open` (the only public list), or `near=lat,lon`: the open proposals in the
    point's ~5 km cell and the eight around it."""

    status: Literal["open"] = "open"
    near: Annotated[str, StringConstraints(max_length=64)] | None = None

    @field_validator("near")
    @classmethod
    def _point(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = value.split(",")
        try:
            lat, lon = (float(part) for part in parts)
        except ValueError:
            raise ValueError("near is lat,lon, two decimal numbers") from None
        if not (math.isfinite(lat) and math.isfinite(lon)):
            raise ValueError("near is lat,lon, two finite numbers")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError("lat is within ±90 and lon within ±180")
        return value

    def point(self) -> tuple[float, float] | None:
        if self.near is None:
            return None
        lat, lon = (float(part) for part in self.near.split(","))
        return lat, lon


class AdminProposalListQuery(ListQuery):
    status: Literal["pending", "open", "rejected", "adopted"] = "pending"

    def to_status(self) -> ProposalStatus:
        return ProposalStatus(self.status)


class DecisionIn(_Body):
    reason: Annotated[Text, StringConstraints(max_length=1000)] | None = None


class AdoptIn(_Body):
    """What a challenge has that a proposal does not; the rest is copied from the proposal.
    The challenge is a draft: change it, then publish it."""

    sponsor: SponsorIn
    beneficiary: BeneficiaryIn
    reward: Annotated[Text, StringConstraints(max_length=500)]


class AdoptedOut(BaseModel):
    proposal: ProposalOut
    challenge: AdminChallengeOut


class SupportOut(BaseModel):
    proposal: ProposalOut
    supported: bool


class ProposalExport(BaseModel):
    """A proposal one made, with what is held about its proposer."""

    id: str
    title: str
    action: str
    description: str
    area: str
    status: str
    organization_id: str | None
    created_at: Timestamp
    email: str | None = Field(description="the verified address its e-mails go to")
    locale: str | None

    @classmethod
    def from_proposal(cls, proposal: Proposal) -> ProposalExport:
        return cls(
            id=proposal.id,
            title=proposal.title,
            action=proposal.action,
            description=proposal.description,
            area=proposal.area,
            status=proposal.status.value,
            organization_id=proposal.organization_id,
            created_at=proposal.created_at,
            email=proposal.proposer_email,
            locale=proposal.proposer_locale,
        )


class SupportExport(BaseModel):
    proposal_id: str
    created_at: Timestamp
    email: str | None = Field(description="where you are told when its challenge goes live")
    locale: str | None

    @classmethod
    def from_support(cls, support: Support) -> SupportExport:
        return cls(
            proposal_id=support.proposal_id,
            created_at=support.created_at,
            email=support.email,
            locale=support.locale,
        )


class ProposalEmailExport(BaseModel):
    proposal_id: str
    message: str = Field(description="<event>#<channel>#<recipient>")
    status: str
    attempts: int
    sent_at: Timestamp | None

    @classmethod
    def from_record(cls, record: ProposalDeliveryRecord) -> ProposalEmailExport:
        return cls(
            proposal_id=record.proposal_id,
            message=record.recipient,
            status=record.status,
            attempts=record.attempts,
            sent_at=record.sent_at,
        )
