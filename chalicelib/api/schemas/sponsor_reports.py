"""The sponsor's report ("bilan") in JSON, and its query: the format and the language."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from chalicelib.api.schemas.challenges import TargetOut
from chalicelib.api.schemas.common import Timestamp
from chalicelib.api.schemas.payouts import PayoutTotalOut
from chalicelib.domain.model import DeliveryStatus
from chalicelib.domain.sponsor_report import SponsorReport


class SponsorReportQuery(BaseModel):
    format: Literal["json", "csv", "pdf"] | None = Field(
        default=None,
        description="json, csv (a zip of one CSV per table) or pdf; without it, chosen by "
        "the Accept header (application/json, application/zip, application/pdf), JSON by "
        "default. A file needs an Accept that allows it (*/* does)",
    )
    locale: Literal["fr", "en"] | None = Field(
        default=None, description="the PDF's language; the organisation's own by default"
    )


class BrandingOut(BaseModel):
    name: str
    primary_color: str | None
    logo_url: str | None


class DayOut(BaseModel):
    day: date
    new_pledges: int
    withdrawals: int
    cumulative: int = Field(description="live pledges at the end of the day")


class ReportAreaOut(BaseModel):
    area: str
    participants: int


class ReportChallengeOut(BaseModel):
    id: str
    title: str
    action: str
    status: str
    target: TargetOut
    sponsor: str
    beneficiary: str
    reward: str
    participants: int
    quantity: int | float
    promised: int | float = Field(default=0, description="what its pledges offer")
    reached_at: Timestamp | None


class ReportTeamOut(BaseModel):
    """A team's figures: never its members' names (a report is shared beyond the
    organisation)."""

    name: str
    participants: int = Field(description="people whose pledges count for the team")
    quantity: int | float = Field(description="reported while in the team")
    unit: str | None = Field(
        description="the challenge's unit (a campaign's: if all its challenges share one)"
    )


class NotificationTallyOut(BaseModel):
    recipient_role: str
    channel: str
    sent: int
    failed: int
    pending: int


class SponsorReportOut(BaseModel):
    """Figures kept by the stream triggers, never computed from the pledges: a challenge's or
    a campaign's, as its sponsor gets them at the end."""

    subject: Literal["challenge", "campaign"]
    id: str
    title: str
    description: str
    locale: str
    time_zone: str = Field(description="the time zone of the days in `days`")
    generated_at: Timestamp
    branding: BrandingOut
    sponsors: list[str]
    beneficiaries: list[str]
    rewards: list[str]
    target: TargetOut | None
    status: str | None
    starts_at: Timestamp | None
    ends_at: Timestamp | None
    reached_at: Timestamp | None = Field(description="a campaign: when its last was reached")
    ended_at: Timestamp | None
    participants: int = Field(description="people with a live pledge (a campaign: once each)")
    pledges: int = Field(description="pledges ever made, withdrawn ones included")
    withdrawals: int
    quantity: dict[str, int | float] = Field(description="reported quantities per unit")
    promised: dict[str, int | float] = Field(
        default_factory=dict, description="quantities the pledges offer per unit (volunteering)"
    )
    days: list[DayOut]
    areas: list[ReportAreaOut] = Field(
        description="areas with enough participants to be shown (as /areas)"
    )
    hidden_participants: int = Field(description="participants in areas too small to show")
    challenges: list[ReportChallengeOut] = Field(description="a campaign's challenges")
    teams: list[ReportTeamOut] = Field(
        default_factory=list,
        description="every team of the organisation, most participants first, then by name "
        "(empty: it has no teams)",
    )
    notifications: list[NotificationTallyOut]
    paid: list[PayoutTotalOut] = Field(
        description="what was paid out per currency (GET /challenges/{id}/payouts lists it)"
    )

    @classmethod
    def from_report(cls, report: SponsorReport) -> SponsorReportOut:
        return cls(
            subject=report.subject.value,
            id=report.id,
            title=report.title,
            description=report.description,
            locale=report.locale,
            time_zone=report.time_zone,
            generated_at=report.generated_at,
            branding=BrandingOut(
                name=report.branding.name,
                primary_color=report.branding.primary_color,
                logo_url=report.branding.logo_url,
            ),
            sponsors=list(report.sponsors),
            beneficiaries=list(report.beneficiaries),
            rewards=list(report.rewards),
            target=TargetOut.from_target(report.target) if report.target else None,
            status=report.status.value if report.status else None,
            starts_at=report.starts_at,
            ends_at=report.ends_at,
            reached_at=report.reached_at,
            ended_at=report.ended_at,
            participants=report.participants,
            pledges=report.pledges,
            withdrawals=report.withdrawals,
            quantity=dict(report.quantity),
            promised=dict(report.promised),
            days=[
                DayOut(
                    day=d.day,
                    new_pledges=d.new_pledges,
                    withdrawals=d.withdrawals,
                    cumulative=d.cumulative,
                )
                for d in report.days
            ],
            areas=[ReportAreaOut(area=a.area, participants=a.participants) for a in report.areas],
            hidden_participants=report.hidden_participants,
            challenges=[
                ReportChallengeOut(
                    id=row.id,
                    title=row.title,
                    action=row.action,
                    status=row.status.value,
                    target=TargetOut.from_target(row.target),
                    sponsor=row.sponsor,
                    beneficiary=row.beneficiary,
                    reward=row.reward,
                    participants=row.participants,
                    quantity=row.quantity,
                    promised=row.promised,
                    reached_at=row.reached_at,
                )
                for row in report.challenges
            ],
            teams=[
                ReportTeamOut(
                    name=row.name,
                    participants=row.participants,
                    quantity=row.quantity,
                    unit=row.unit,
                )
                for row in report.teams
            ],
            notifications=[
                NotificationTallyOut(
                    recipient_role=t.recipient_role.value,
                    channel=t.channel.value,
                    sent=t.count(DeliveryStatus.SENT),
                    failed=t.count(DeliveryStatus.FAILED),
                    pending=t.count(DeliveryStatus.PENDING),
                )
                for t in report.notifications
            ],
            paid=[PayoutTotalOut.from_total(total) for total in report.paid],
        )
