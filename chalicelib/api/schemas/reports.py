"""Participant quantity reports: the report request, its list query, and the report views."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.schemas.challenges import ChallengeOut
from chalicelib.api.schemas.common import Identifier, ListQuery, Timestamp, Unit, _Body
from chalicelib.domain.model import MAX_REPORT_QUANTITY, Report


class ReportIn(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"quantity": 12.5}]})

    quantity: Annotated[
        float,
        Field(
            gt=0,
            le=MAX_REPORT_QUANTITY,
            allow_inf_nan=False,
            description="what was done, in the challenge's unit (at most 3 decimals; at most "
            "the challenge's report_cap when it has one)",
        ),
    ]
    unit: Unit | None = Field(default=None, description="the challenge's unit, when omitted")
    occurred_on: date | None = Field(
        default=None,
        description="YYYY-MM-DD, the participant's own date (default: today in UTC); not in "
        "the future nor before the challenge started",
    )


class ReportListQuery(ListQuery):
    challenge_id: Identifier | None = None


class ReportOut(BaseModel):
    id: str
    challenge_id: str
    quantity: int | float
    unit: str
    occurred_on: date
    created_at: Timestamp

    @classmethod
    def from_report(cls, report: Report) -> ReportOut:
        return cls(
            id=report.id,
            challenge_id=report.challenge_id,
            quantity=report.quantity,
            unit=report.unit,
            occurred_on=report.occurred_on,
            created_at=report.created_at,
        )


class ReportResult(BaseModel):
    report: ReportOut
    challenge: ChallengeOut


class ReportList(BaseModel):
    items: list[ReportOut]
    next_cursor: str | None
