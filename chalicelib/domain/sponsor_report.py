"""The sponsor's report ("bilan"): a challenge's or a campaign's figures, as handed to its
sponsor at the end. Built from counts kept by the stream triggers, never from the pledges."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from chalicelib.domain.areas import AreaCount
from chalicelib.domain.model import ChallengeStatus, Channel, DeliveryStatus, RecipientRole, Target
from chalicelib.domain.payouts import PayoutTotal


class ReportSubject(StrEnum):
    CHALLENGE = "challenge"
    CAMPAIGN = "campaign"


@dataclass(frozen=True)
class Branding:
    """How the report looks: the organisation's public profile (none: crowdact's own)."""

    name: str  # the organisation's display name, or its legal name
    primary_color: str | None = None  # "#rrggbb"
    logo_url: str | None = None  # https; shown as a link, never fetched (docs/decisions.md)


@dataclass(frozen=True)
class DayFigures:
    """One calendar day: pledges made and withdrawn that day, and live pledges at its end."""

    day: date
    new_pledges: int
    withdrawals: int
    cumulative: int


@dataclass(frozen=True)
class ChallengeRow:
    """One challenge of a campaign's report (Humanis: one row per mode of transport)."""

    id: str
    title: str
    action: str
    status: ChallengeStatus
    target: Target
    sponsor: str
    beneficiary: str
    reward: str
    participants: int
    quantity: int | float
    reached_at: datetime | None = None
    promised: int | float = 0  # what its pledges offer (volunteering)


@dataclass(frozen=True)
class TeamRow:
    """One team of the organisation in the report: its name and figures, never its members'
    names (a report goes to sponsors, beyond the organisation)."""

    name: str
    participants: int  # people whose pledges count for it (a campaign: once each)
    quantity: int | float  # reported while in it
    unit: str | None  # the challenge's unit; a campaign's if all its challenges share one


@dataclass(frozen=True)
class NotificationTally:
    """Deliveries of one kind (recipient role and channel) by status."""

    recipient_role: RecipientRole
    channel: Channel
    counts: dict[DeliveryStatus, int]

    def count(self, status: DeliveryStatus) -> int:
        return self.counts.get(status, 0)


@dataclass(frozen=True)
class SponsorReport:
    subject: ReportSubject
    id: str
    title: str
    description: str
    locale: str  # "fr" or "en": the organisation's default locale
    time_zone: str  # IANA name: the days' (and the dates shown') time zone
    generated_at: datetime
    branding: Branding
    # A challenge's own parties; a campaign's are its challenges' (each name once, in order).
    sponsors: tuple[str, ...]
    beneficiaries: tuple[str, ...]
    rewards: tuple[str, ...]
    # A challenge's target; a campaign has none of its own.
    target: Target | None
    status: ChallengeStatus | None  # a campaign has no status of its own
    starts_at: datetime | None
    ends_at: datetime | None
    reached_at: datetime | None  # a campaign: when its last challenge was reached, if all were
    ended_at: datetime | None  # when it ended or was closed, if it has
    participants: int  # people with a live pledge (a campaign: each person once)
    pledges: int  # pledges ever made (withdrawn ones included)
    withdrawals: int
    quantity: dict[str, int | float]  # reported quantities per unit ("km": 80360)
    days: tuple[DayFigures, ...]
    areas: tuple[AreaCount, ...]  # the areas shown (k-anonymity: see domain.areas)
    hidden_participants: int  # participants in areas too small to be shown
    challenges: tuple[ChallengeRow, ...] = ()  # a campaign's; empty for a challenge
    notifications: tuple[NotificationTally, ...] = field(default_factory=tuple)
    # What was paid out (payouts recorded once reached), per currency; a campaign: summed.
    paid: tuple[PayoutTotal, ...] = ()
    # What the pledges offer per unit (volunteering), beside `quantity` reported.
    promised: dict[str, int | float] = field(default_factory=dict)
    # Every team of the organisation, most participants first (none: it has no teams).
    teams: tuple[TeamRow, ...] = ()

    def notifications_with(self, status: DeliveryStatus) -> int:
        return sum(tally.count(status) for tally in self.notifications)
