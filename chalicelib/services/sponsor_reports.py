"""The sponsor's report ("bilan") of a challenge or a campaign, for its administrators.

Every figure comes from what the stream triggers keep (totals, area counts, hourly pledge
counts, the delivery log) or from the campaign's unique-participant counts: nothing here
reads the pledges. A report reads a few items per challenge, hour and area, whatever the
number of pledges; only the delivery-log tally grows with them (one small item per
participant e-mail sent: see docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from chalicelib.domain.access import PLATFORM, AdminScope
from chalicelib.domain.areas import AreaCount, summarize
from chalicelib.domain.errors import NotReportableError
from chalicelib.domain.model import (
    DEFAULT_LOCALE,
    Challenge,
    ChallengeStatus,
    DeliveryStatus,
    quantities_by_unit,
    tidy_quantity,
)
from chalicelib.domain.payouts import Payout, PayoutTotal, totals
from chalicelib.domain.series import HourCount, days_from_hours, merge_hours
from chalicelib.domain.sponsor_report import (
    Branding,
    ChallengeRow,
    DayFigures,
    NotificationTally,
    ReportSubject,
    SponsorReport,
    TeamRow,
)
from chalicelib.domain.teams import Team, TeamTally
from chalicelib.services.campaigns import CampaignService
from chalicelib.services.challenges import ChallengeService
from chalicelib.services.ports import Clock, OrganizationReader

PLATFORM_BRAND = Branding(name="crowdact")


class PledgeSeriesReader(Protocol):
    def hours(self, challenge_id: str) -> list[HourCount]:
        """The challenge's pledges made and withdrawn per UTC hour, oldest first."""
        ...


class AreaCountReader(Protocol):
    def counts(self, challenge_id: str) -> list[AreaCount]: ...


class PayoutReader(Protocol):
    def all(self, challenge_id: str) -> list[Payout]: ...


class TeamFigures(Protocol):
    def tallies(self, scope_id: str, organization_id: str | None) -> list[tuple[Team, TeamTally]]:
        """Every team of the organisation with its figures in the challenge's or campaign's
        scope (none without an organisation)."""
        ...


class DeliveryTallyReader(Protocol):
    def tally(self, challenge_id: str) -> list[NotificationTally]:
        """The challenge's deliveries by recipient role, channel and status."""
        ...


def _once(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def ended_at(challenge: Challenge) -> datetime | None:
    """When the challenge stopped taking pledges: its deadline, or when it was closed (a
    closed challenge is never changed again, so its last update is its closing)."""
    if challenge.status is ChallengeStatus.ENDED:
        return challenge.ends_at or challenge.updated_at
    if challenge.status is ChallengeStatus.CLOSED:
        return challenge.updated_at
    return None


def _row(challenge: Challenge) -> ChallengeRow:
    return ChallengeRow(
        id=challenge.id,
        title=challenge.title,
        action=challenge.action,
        status=challenge.status,
        target=challenge.target,
        sponsor=challenge.sponsor.name,
        beneficiary=challenge.beneficiary.name,
        reward=challenge.reward,
        participants=challenge.totals.participants,
        quantity=challenge.totals.quantity,
        reached_at=challenge.reached_at,
        promised=challenge.totals.promised,
    )


def _add_tallies(tallies: Iterable[NotificationTally]) -> tuple[NotificationTally, ...]:
    summed: dict[tuple[object, object], dict[DeliveryStatus, int]] = {}
    kinds: dict[tuple[object, object], NotificationTally] = {}
    for tally in tallies:
        kind = (tally.recipient_role, tally.channel)
        kinds.setdefault(kind, tally)
        counts = summed.setdefault(kind, {})
        for status, n in tally.counts.items():
            counts[status] = counts.get(status, 0) + n
    return tuple(
        NotificationTally(kinds[k].recipient_role, kinds[k].channel, summed[k]) for k in kinds
    )


@dataclass(frozen=True)
class _PledgeFigures:
    pledges: int  # ever made, withdrawn ones included
    withdrawals: int
    days: tuple[DayFigures, ...]


class SponsorReportService:
    def __init__(
        self,
        challenges: ChallengeService,
        campaigns: CampaignService,
        organizations: OrganizationReader,
        series: PledgeSeriesReader,
        areas: AreaCountReader,
        deliveries: DeliveryTallyReader,
        clock: Clock,
        *,
        time_zone: ZoneInfo,
        payouts: PayoutReader | None = None,
        teams: TeamFigures | None = None,
    ) -> None:
        self._challenges = challenges
        self._campaigns = campaigns
        self._organizations = organizations
        self._series = series
        self._areas = areas
        self._deliveries = deliveries
        self._clock = clock
        self._time_zone = time_zone
        self._payouts = payouts
        self._teams = teams

    def for_challenge(
        self, challenge_id: str, scope: AdminScope = PLATFORM, *, locale: str | None = None
    ) -> SponsorReport:
        challenge = self._challenges.get_for_admin(challenge_id, scope)
        if challenge.status is ChallengeStatus.DRAFT:
            raise NotReportableError("a draft challenge has no report yet: publish it first")
        branding, default_locale = self._branding(challenge.organization_id)
        areas = summarize(self._areas.counts(challenge.id))
        figures = self._pledge_figures([challenge])
        return SponsorReport(
            subject=ReportSubject.CHALLENGE,
            id=challenge.id,
            title=challenge.title,
            description=challenge.description,
            locale=locale or default_locale,
            time_zone=self._time_zone.key,
            generated_at=self._clock.now(),
            branding=branding,
            sponsors=(challenge.sponsor.name,),
            beneficiaries=(challenge.beneficiary.name,),
            rewards=(challenge.reward,),
            target=challenge.target,
            status=challenge.status,
            starts_at=challenge.starts_at,
            ends_at=challenge.ends_at,
            reached_at=challenge.reached_at,
            ended_at=ended_at(challenge),
            participants=challenge.totals.participants,
            pledges=figures.pledges,
            withdrawals=figures.withdrawals,
            days=figures.days,
            quantity=quantities_by_unit([challenge]),
            promised=quantities_by_unit([challenge], promised=True),
            areas=areas.areas,
            hidden_participants=areas.hidden_participants,
            notifications=tuple(self._deliveries.tally(challenge.id)),
            paid=self._paid([challenge]),
            teams=self._team_rows(challenge.id, challenge.organization_id, [challenge]),
        )

    def for_campaign(
        self, campaign_id: str, scope: AdminScope = PLATFORM, *, locale: str | None = None
    ) -> SponsorReport:
        campaign = self._campaigns.get_for_admin(campaign_id, scope)
        challenges, participants = self._campaigns.counted(campaign.id)
        branding, default_locale = self._branding(campaign.organization_id)
        figures = self._pledge_figures(challenges)
        shown, hidden = self._campaign_areas(challenges)
        return SponsorReport(
            subject=ReportSubject.CAMPAIGN,
            id=campaign.id,
            title=campaign.title,
            description=campaign.description,
            locale=locale or default_locale,
            time_zone=self._time_zone.key,
            generated_at=self._clock.now(),
            branding=branding,
            sponsors=_once(c.sponsor.name for c in challenges),
            beneficiaries=_once(c.beneficiary.name for c in challenges),
            rewards=_once(c.reward for c in challenges),
            target=None,
            status=None,
            starts_at=campaign.starts_at,
            ends_at=campaign.ends_at,
            reached_at=_all_or_none([c.reached_at for c in challenges]),
            ended_at=_all_or_none([ended_at(c) for c in challenges]),
            participants=participants,
            pledges=figures.pledges,
            withdrawals=figures.withdrawals,
            days=figures.days,
            quantity=quantities_by_unit(challenges),
            promised=quantities_by_unit(challenges, promised=True),
            areas=shown,
            hidden_participants=hidden,
            challenges=tuple(_row(c) for c in challenges),
            notifications=_add_tallies(
                tally for c in challenges for tally in self._deliveries.tally(c.id)
            ),
            paid=self._paid(challenges),
            teams=self._team_rows(campaign.id, campaign.organization_id, challenges),
        )

    def _paid(self, challenges: Sequence[Challenge]) -> tuple[PayoutTotal, ...]:
        """What the challenges paid out, per currency (only a reached one has payouts)."""
        if self._payouts is None:
            return ()
        reader = self._payouts
        return tuple(totals(p for c in challenges if c.reached for p in reader.all(c.id)))

    def _team_rows(
        self, scope_id: str, organization_id: str | None, challenges: Sequence[Challenge]
    ) -> tuple[TeamRow, ...]:
        """The organisation's teams with their figures in the scope, most participants first,
        then by name; only names and counts (the leaderboard's k=5 rule is about members'
        names, which a report never shows)."""
        if self._teams is None or organization_id is None:
            return ()
        units = {c.target.unit for c in challenges}
        unit = units.pop() if len(units) == 1 else None
        rows = [
            TeamRow(team.name, max(tally.participants, 0), tidy_quantity(tally.quantity), unit)
            for team, tally in self._teams.tallies(scope_id, organization_id)
        ]
        return tuple(sorted(rows, key=lambda row: (-row.participants, row.name.casefold())))

    def _pledge_figures(self, challenges: Sequence[Challenge]) -> _PledgeFigures:
        hours = merge_hours(*(self._series.hours(c.id) for c in challenges))
        return _PledgeFigures(
            pledges=sum(h.made for h in hours),
            withdrawals=sum(h.withdrawn for h in hours),
            days=days_from_hours(hours, self._time_zone),
        )

    def _campaign_areas(self, challenges: Sequence[Challenge]) -> tuple[tuple[AreaCount, ...], int]:
        """Pledges per area over the campaign's challenges. Each challenge's small areas are
        hidden first (as its own /areas hides them), so adding challenges up never reveals
        an area that one of them hides."""
        shown: dict[str, int] = {}
        hidden = 0
        for challenge in challenges:
            summary = summarize(self._areas.counts(challenge.id))
            hidden += summary.hidden_participants
            for area in summary.areas:
                shown[area.area] = shown.get(area.area, 0) + area.participants
        ordered = sorted(shown.items(), key=lambda item: (-item[1], item[0]))
        return tuple(AreaCount(area, n) for area, n in ordered), hidden

    def _branding(self, organization_id: str | None) -> tuple[Branding, str]:
        organization = self._organizations.get(organization_id) if organization_id else None
        if organization is None:
            return PLATFORM_BRAND, DEFAULT_LOCALE
        profile = organization.profile
        return (
            Branding(
                name=organization.display_name,
                primary_color=profile.primary_color,
                logo_url=profile.logo_url,
            ),
            profile.default_locale,
        )


def _all_or_none(moments: Sequence[datetime | None]) -> datetime | None:
    """The last of the moments if every one is set (and there is one), else None."""
    if not moments or any(moment is None for moment in moments):
        return None
    return max(moment for moment in moments if moment is not None)
