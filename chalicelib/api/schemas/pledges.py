"""Pledge bodies: a participant's pledge with its optional location, and the pledge views."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from chalicelib.api.schemas.challenges import ChallengeOut
from chalicelib.api.schemas.common import Text, Timestamp, Unit, _Body
from chalicelib.domain.model import MAX_REPORT_QUANTITY, Pledge


class LatLon(_Body):
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]

    @field_validator("lat", "lon")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class PostalLocation(_Body):
    postal_code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]{1,9}$")]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")]


class PledgeIn(_Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"display_name": "Léa", "location": {"lat": 48.904, "lon": 2.305}},
                {"location": {"postal_code": "92110", "country": "FR"}, "notify": False},
            ]
        }
    )

    display_name: Annotated[Text, StringConstraints(max_length=80)] | None = None
    location: LatLon | PostalLocation | None = None
    notify: bool = True
    offer: OfferIn | None = Field(
        default=None,
        description="What I promise, in the challenge's unit (volunteering: hours); counted "
        "in progress.promised beside what is reported. Only on a challenge with a unit.",
    )


class OfferIn(_Body):
    quantity: Annotated[float, Field(gt=0, le=MAX_REPORT_QUANTITY, allow_inf_nan=False)]
    unit: Unit | None = Field(default=None, description="the challenge's unit, when omitted")


class PledgeOut(BaseModel):
    challenge_id: str
    participant_id: str
    display_name: str | None
    area: str | None
    notify: bool
    quantity_reported: int | float
    created_at: Timestamp
    candidate_id: str | None = Field(
        default=None,
        description="My beneficiary vote on this challenge, if it has one and I voted.",
    )
    offered: int | float = Field(default=0, description="What the pledge promises (its offer).")

    @classmethod
    def from_pledge(cls, pledge: Pledge) -> PledgeOut:
        return cls(
            challenge_id=pledge.challenge_id,
            participant_id=pledge.participant_id,
            display_name=pledge.display_name,
            area=pledge.area,
            notify=pledge.notify,
            quantity_reported=pledge.quantity_reported,
            created_at=pledge.created_at,
            candidate_id=pledge.candidate_id,
            offered=pledge.offered,
        )


class PledgeResult(BaseModel):
    pledge: PledgeOut
    challenge: ChallengeOut


class PledgeList(BaseModel):
    items: list[PledgeOut]
    next_cursor: str | None
