"""The sponsor's report ("bilan") of a challenge and of a campaign, over the fakes: every
figure from the counts the stream triggers keep, never from the pledges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.access import PLATFORM, AdminScope
from chalicelib.domain.areas import AreaCount
from chalicelib.domain.errors import (
    CampaignNotFoundError,
    ChallengeNotFoundError,
    NotReportableError,
)
from chalicelib.domain.model import (
    Campaign,
    Challenge,
    ChallengeStatus,
    Channel,
    Delivery,
    DeliveryStatus,
    EventType,
    Metric,
    Milestone,
    Organization,
    OrganizationKind,
    OrganizationProfile,
    Party,
    RecipientRole,
    Target,
    Totals,
)
from chalicelib.domain.sponsor_report import (
    Branding,
    ChallengeRow,
    DayFigures,
    NotificationTally,
    ReportSubject,
    TeamRow,
)
from chalicelib.domain.teams import Team, TeamTally
from chalicelib.services.campaigns import CampaignDraft, CampaignService
from chalicelib.services.challenges import ChallengeService
from chalicelib.services.sponsor_reports import PLATFORM_BRAND, SponsorReportService
from chalicelib.services.tallies import PledgeChange
from tests.unit.fakes import (
    FakeOrganizationRepository,
    FakePledgeTallies,
)
from tests.unit.support import (
    BENEFICIARY,
    REWARD,
    SPONSOR,
    Backend,
    challenge_draft,
    tenant_services,
)

PARIS = ZoneInfo("Europe/Paris")
ORG_A = AdminScope("org_a")
LEASE = timedelta(seconds=90)


class FakeTeamFigures:
    """The teams' figures per (scope, organisation), as `TeamService.tallies` answers them;
    it remembers what it was asked."""

    def __init__(self) -> None:
        self.figures: dict[tuple[str, str], list[tuple[Team, TeamTally]]] = {}
        self.asked: list[tuple[str, str | None]] = []

    def set(self, scope_id: str, organization_id: str, **teams: tuple[int, float]) -> None:
        created = datetime(2026, 5, 1, tzinfo=UTC)
        self.figures[(scope_id, organization_id)] = [
            (
                Team(f"team_{name.lower()}", organization_id, name.replace("_", " "), created),
                TeamTally(f"team_{name.lower()}", participants, quantity),
            )
            for name, (participants, quantity) in teams.items()
        ]

    def tallies(self, scope_id: str, organization_id: str | None) -> list[tuple[Team, TeamTally]]:
        self.asked.append((scope_id, organization_id))
        if organization_id is None:
            return []
        return list(self.figures.get((scope_id, organization_id), []))


@dataclass
class Reports:
    """The report service over the fakes, and what a case writes the figures with."""

    backend: Backend
    challenges: ChallengeService
    campaigns: CampaignService
    tallies: FakePledgeTallies
    service: SponsorReportService
    teams: FakeTeamFigures
    _receipts: int = 0

    def challenge(self, scope: AdminScope = PLATFORM, **overrides: Any) -> Challenge:
        self.backend.later(seconds=1)
        return self.challenges.create(challenge_draft(**overrides), scope)

    def totals(self, challenge: Challenge, participants: int, quantity: float = 0) -> None:
        """What the aggregator saves from the counter shards."""
        version = self.backend.stored(challenge.id).totals.version + 1
        totals = Totals(participants, quantity, version)
        assert self.backend.challenge_repository.save_totals(challenge.id, totals)

    def reach(self, challenge: Challenge, at: datetime) -> None:
        stored = self.backend.stored(challenge.id)
        milestone = Milestone(challenge.id, EventType.REACHED, at, stored.totals, reached=True)
        assert self.backend.challenge_repository.record_milestone(stored, milestone)

    def end(self, challenge: Challenge, at: datetime) -> None:
        stored = self.backend.stored(challenge.id)
        milestone = Milestone(challenge.id, EventType.ENDED, at, stored.totals, reached=False)
        assert self.backend.challenge_repository.record_milestone(stored, milestone)

    def pledges(
        self, challenge: Challenge, at: datetime, *, area: str | None = None, delta: int = 1
    ) -> None:
        """One pledge made (delta 1) or withdrawn (-1) at `at`, as the stream counts it."""
        self._receipts += 1
        change = PledgeChange(str(self._receipts), challenge.id, delta, at, area)
        self.tallies.apply(challenge.id, [change], now=at)

    def in_areas(self, challenge: Challenge, at: datetime, **areas: int) -> None:
        for area, count in areas.items():
            for _ in range(count):
                self.pledges(challenge, at, area=area.replace("_", "-"))

    def delivered(
        self,
        challenge: Challenge,
        role: RecipientRole,
        key: str,
        status: DeliveryStatus,
        channel: Channel = Channel.EMAIL,
    ) -> None:
        deliveries, now = self.backend.delivery_repository, self.backend.clock.now()
        delivery = Delivery(challenge.id, EventType.REACHED, role, channel, key, f"{key}@x.example")
        claimed = deliveries.claim(delivery, now=now, lease=LEASE)
        assert isinstance(claimed, Delivery)
        if status is DeliveryStatus.SENT:
            deliveries.mark_sent(claimed, now=now)
        elif status is DeliveryStatus.FAILED:
            deliveries.mark_failed(claimed, error="bounced", final=True)


@pytest.fixture
def reports(backend: Backend) -> Reports:
    organizations = FakeOrganizationRepository()
    organizations.add(
        Organization(
            id="org_a",
            name="Alpha SA",
            kind=OrganizationKind.COMPANY,
            created_at=datetime(2026, 5, 1, tzinfo=UTC),
            profile=OrganizationProfile(
                display_name="Alpha",
                logo_url="https://alpha.example/logo.png",
                primary_color="#aa0033",
                default_locale="en",
                slug="alpha",
            ),
        )
    )
    organizations.add(
        Organization("org_b", "Beta", OrganizationKind.CITY, datetime(2026, 5, 2, tzinfo=UTC))
    )
    challenges, campaigns, _ = tenant_services(backend, organizations)
    tallies = FakePledgeTallies()
    teams = FakeTeamFigures()
    service = SponsorReportService(
        challenges,
        campaigns,
        organizations,
        tallies,
        tallies,
        backend.delivery_repository,
        backend.clock,
        time_zone=PARIS,
        teams=teams,
    )
    return Reports(backend, challenges, campaigns, tallies, service, teams)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- a challenge --------------------------------------------------------------------------------


def test_a_challenges_report_holds_its_figures(reports: Reports) -> None:
    ends_at = utc(2026, 6, 20, 22)
    challenge = reports.challenge(
        ORG_A, publish=True, target=Target(Metric.PARTICIPANTS, 10), ends_at=ends_at
    )
    # 11 pledges: 6 on 1 June (Paris), 1 at 23:30 UTC on 2 June (3 June in Paris), ...
    reports.in_areas(challenge, utc(2026, 6, 1, 9), u09wh=6)
    reports.pledges(challenge, utc(2026, 6, 2, 23, 30), area="FR-92")
    reports.in_areas(challenge, utc(2026, 6, 5, 10), FR_92=3, u05kq=1)
    # ... and 2 withdrawn: one on 5 June, one (after the quiet 6th) on 7 June.
    reports.pledges(challenge, utc(2026, 6, 5, 18), area="u05kq", delta=-1)
    reports.pledges(challenge, utc(2026, 6, 7, 8), area="u09wh", delta=-1)
    reports.pledges(challenge, utc(2026, 6, 7, 9))  # no area: counted by the hour only
    reports.totals(challenge, participants=10)
    reports.reach(challenge, utc(2026, 6, 7, 9, 5))
    reports.end(challenge, ends_at)
    reports.delivered(challenge, RecipientRole.SPONSOR, "sponsor", DeliveryStatus.SENT)
    reports.delivered(
        challenge, RecipientRole.BENEFICIARY, "asso", DeliveryStatus.FAILED, Channel.WEBHOOK
    )
    for number in range(3):
        reports.delivered(challenge, RecipientRole.PARTICIPANT, f"p{number}", DeliveryStatus.SENT)
    reports.delivered(challenge, RecipientRole.PARTICIPANT, "p9", DeliveryStatus.PENDING)
    reports.backend.clock.set(utc(2026, 6, 21, 8))

    report = reports.service.for_challenge(challenge.id, ORG_A)

    assert (report.subject, report.id, report.title) == (
        ReportSubject.CHALLENGE,
        challenge.id,
        challenge.title,
    )
    assert (report.locale, report.time_zone) == ("en", "Europe/Paris")
    assert report.generated_at == utc(2026, 6, 21, 8)
    assert report.branding == Branding("Alpha", "#aa0033", "https://alpha.example/logo.png")
    assert (report.sponsors, report.beneficiaries, report.rewards) == (
        (SPONSOR.name,),
        (BENEFICIARY.name,),
        (REWARD,),
    )
    assert (report.target, report.status) == (challenge.target, ChallengeStatus.ENDED)
    assert report.reached_at == utc(2026, 6, 7, 9, 5)
    assert report.ended_at == ends_at
    assert (report.participants, report.pledges, report.withdrawals) == (10, 12, 2)
    assert report.days == (
        DayFigures(date(2026, 6, 1), 6, 0, 6),
        DayFigures(date(2026, 6, 2), 0, 0, 6),
        DayFigures(date(2026, 6, 3), 1, 0, 7),  # 23:30 UTC on the 2nd
        DayFigures(date(2026, 6, 4), 0, 0, 7),
        DayFigures(date(2026, 6, 5), 4, 1, 10),
        DayFigures(date(2026, 6, 6), 0, 0, 10),
        DayFigures(date(2026, 6, 7), 1, 1, 10),
    )
    # FR-92: 4 and u05kq: 0 are hidden (fewer than 5); u09wh: 5 is shown.
    assert report.areas == (AreaCount("u09wh", 5),)
    assert report.hidden_participants == 4
    assert report.quantity == {}
    assert report.challenges == ()
    assert sorted((t.recipient_role, t.channel, t.counts) for t in report.notifications) == [
        (RecipientRole.BENEFICIARY, Channel.WEBHOOK, {DeliveryStatus.FAILED: 1}),
        (
            RecipientRole.PARTICIPANT,
            Channel.EMAIL,
            {DeliveryStatus.SENT: 3, DeliveryStatus.PENDING: 1},
        ),
        (RecipientRole.SPONSOR, Channel.EMAIL, {DeliveryStatus.SENT: 1}),
    ]
    assert report.notifications_with(DeliveryStatus.SENT) == 4
    # The platform admin gets the same; a locale asked for wins over the organisation's.
    assert reports.service.for_challenge(challenge.id) == report
    assert reports.service.for_challenge(challenge.id, locale="fr").locale == "fr"


def test_a_closed_challenge_ended_when_it_was_closed(reports: Reports) -> None:
    challenge = reports.challenge(publish=True, ends_at=utc(2026, 7, 1))
    reports.backend.clock.set(utc(2026, 6, 10, 15))
    reports.challenges.close(challenge.id)

    report = reports.service.for_challenge(challenge.id)

    assert report.status is ChallengeStatus.CLOSED
    assert report.ended_at == utc(2026, 6, 10, 15)
    assert report.reached_at is None
    # No organisation: crowdact's brand and the default locale.
    assert (report.branding, report.locale) == (PLATFORM_BRAND, "fr")


def test_a_live_challenge_has_not_ended_and_an_empty_one_has_no_days(reports: Reports) -> None:
    challenge = reports.challenge(publish=True)

    report = reports.service.for_challenge(challenge.id)

    assert report.status is ChallengeStatus.LIVE
    assert (report.ended_at, report.reached_at) == (None, None)
    assert (report.participants, report.pledges, report.withdrawals) == (0, 0, 0)
    assert (report.days, report.areas, report.hidden_participants) == ((), (), 0)
    assert report.notifications == ()


def test_a_draft_has_no_report(reports: Reports) -> None:
    draft = reports.challenge(ORG_A)
    with pytest.raises(NotReportableError):
        reports.service.for_challenge(draft.id, ORG_A)
    with pytest.raises(NotReportableError):
        reports.service.for_challenge(draft.id)


def test_another_organisations_challenge_has_no_report_for_an_org_admin(
    reports: Reports,
) -> None:
    theirs = reports.challenge(organization_id="org_b", publish=True)
    nobodys = reports.challenge(publish=True)
    for challenge_id in (theirs.id, nobodys.id, "ch_missing"):
        with pytest.raises(ChallengeNotFoundError):
            reports.service.for_challenge(challenge_id, ORG_A)
    assert reports.service.for_challenge(theirs.id).branding == Branding("Beta")


# --- a campaign ---------------------------------------------------------------------------------


def campaign_of(reports: Reports, scope: AdminScope = PLATFORM, **overrides: Any) -> Campaign:
    reports.backend.later(seconds=1)
    return reports.campaigns.create(CampaignDraft(title="No Impact Week", **overrides), scope)


def test_a_campaigns_report_adds_its_challenges_up(reports: Reports) -> None:
    campaign = campaign_of(reports, ORG_A, description="A week without cars")
    bike = reports.challenge(
        ORG_A,
        publish=True,
        campaign_id=campaign.id,
        title="Bike",
        target=Target(Metric.QUANTITY, 100, "km"),
    )
    walk = reports.challenge(
        ORG_A,
        publish=True,
        campaign_id=campaign.id,
        title="Walk",
        target=Target(Metric.QUANTITY, 50, "km"),
        sponsor=Party("Alpha SA", "csr@alpha.example"),
    )
    waste = reports.challenge(
        ORG_A,
        publish=True,
        campaign_id=campaign.id,
        title="Waste",
        target=Target(Metric.QUANTITY, 10, "kg"),
    )
    reports.challenge(ORG_A, campaign_id=campaign.id, title="Not yet")  # a draft
    reports.challenge(ORG_A, publish=True, title="Outside the campaign")

    # Unique people: lea pledged on bike and walk (once), max on walk, zoe on waste; sam
    # pledged on bike and withdrew.
    for challenge, person in ((bike, "lea"), (walk, "lea"), (walk, "max"), (waste, "zoe")):
        reports.campaigns.pledge_added(challenge.id, person)
    reports.campaigns.pledge_added(bike.id, "sam")
    reports.campaigns.pledge_removed(bike.id, "sam")
    reports.totals(bike, participants=2, quantity=40.5)
    reports.totals(walk, participants=2, quantity=12.25)
    reports.totals(waste, participants=1, quantity=3)
    # Areas: bike's u09wh 3 and walk's u09wh 3 are each hidden (6 together, still hidden);
    # FR-92: 6 - 1 on bike (shown), 2 on walk (hidden); u05kq: 5 on waste and 6 on walk.
    reports.in_areas(bike, utc(2026, 6, 1, 8), u09wh=3, FR_92=6)
    reports.in_areas(walk, utc(2026, 6, 1, 23, 30), u09wh=3, FR_92=2, u05kq=6)
    reports.in_areas(waste, utc(2026, 6, 3, 12), u05kq=5)
    reports.pledges(bike, utc(2026, 6, 3, 12), area="FR-92", delta=-1)
    reports.delivered(bike, RecipientRole.SPONSOR, "sponsor", DeliveryStatus.SENT)
    reports.delivered(walk, RecipientRole.SPONSOR, "sponsor", DeliveryStatus.FAILED)
    reports.delivered(walk, RecipientRole.PARTICIPANT, "lea", DeliveryStatus.SENT)

    report = reports.service.for_campaign(campaign.id, ORG_A)

    assert (report.subject, report.id, report.title, report.description) == (
        ReportSubject.CAMPAIGN,
        campaign.id,
        "No Impact Week",
        "A week without cars",
    )
    assert (report.target, report.status) == (None, None)
    assert (report.branding.name, report.locale) == ("Alpha", "en")
    assert report.participants == 3  # lea, max, zoe: each once
    assert (report.pledges, report.withdrawals) == (25, 1)
    # Newest first, as the campaign's challenges are listed; drafts and others left out.
    assert [row.title for row in report.challenges] == ["Waste", "Walk", "Bike"]
    stored_bike = reports.backend.stored(bike.id)
    assert report.challenges[-1] == ChallengeRow(
        id=bike.id,
        title="Bike",
        action=bike.action,
        status=ChallengeStatus.LIVE,
        target=Target(Metric.QUANTITY, 100, "km"),
        sponsor=SPONSOR.name,
        beneficiary=BENEFICIARY.name,
        reward=REWARD,
        participants=2,
        quantity=40.5,
        reached_at=stored_bike.reached_at,
    )
    assert report.quantity == {"km": 52.75, "kg": 3}
    assert report.sponsors == ("Ville de Clichy", "Alpha SA")
    assert (report.beneficiaries, report.rewards) == ((BENEFICIARY.name,), (REWARD,))
    # Summed after each challenge hid its own small areas (walk's FR-92: 2 is not added).
    assert report.areas == (AreaCount("u05kq", 11), AreaCount("FR-92", 5))
    assert report.hidden_participants == 3 + 3 + 2
    assert report.days == (
        DayFigures(date(2026, 6, 1), 9, 0, 9),
        DayFigures(date(2026, 6, 2), 11, 0, 20),  # 23:30 UTC on the 1st
        DayFigures(date(2026, 6, 3), 5, 1, 24),
    )
    assert sorted((t.recipient_role, t.counts) for t in report.notifications) == [
        (RecipientRole.PARTICIPANT, {DeliveryStatus.SENT: 1}),
        (RecipientRole.SPONSOR, {DeliveryStatus.SENT: 1, DeliveryStatus.FAILED: 1}),
    ]
    assert all(isinstance(t, NotificationTally) for t in report.notifications)
    # Not all reached, none ended.
    assert (report.reached_at, report.ended_at) == (None, None)


def test_a_campaign_is_reached_and_ended_when_its_last_challenge_is(reports: Reports) -> None:
    campaign = campaign_of(reports)
    first = reports.challenge(publish=True, campaign_id=campaign.id, ends_at=utc(2026, 6, 8))
    second = reports.challenge(publish=True, campaign_id=campaign.id)
    for challenge, reached in ((first, utc(2026, 6, 5)), (second, utc(2026, 6, 6))):
        reports.totals(challenge, participants=3)
        reports.reach(challenge, reached)
    reports.end(first, utc(2026, 6, 8))

    partly = reports.service.for_campaign(campaign.id)
    assert partly.reached_at == utc(2026, 6, 6)
    assert partly.ended_at is None

    reports.backend.clock.set(utc(2026, 6, 9, 12))
    reports.challenges.close(second.id)
    report = reports.service.for_campaign(campaign.id)
    assert report.ended_at == utc(2026, 6, 9, 12)
    assert report.branding == PLATFORM_BRAND


def test_a_campaign_without_challenges_reports_nothing_much(reports: Reports) -> None:
    campaign = campaign_of(reports, ORG_A)
    report = reports.service.for_campaign(campaign.id, ORG_A)
    assert (report.participants, report.pledges, report.challenges) == (0, 0, ())
    assert (report.days, report.areas, report.reached_at, report.ended_at) == ((), (), None, None)


def test_another_organisations_campaign_has_no_report_for_an_org_admin(
    reports: Reports,
) -> None:
    theirs = campaign_of(reports, organization_id="org_b")
    nobodys = campaign_of(reports)
    for campaign_id in (theirs.id, nobodys.id, "cmp_missing"):
        with pytest.raises(CampaignNotFoundError):
            reports.service.for_campaign(campaign_id, ORG_A)
    assert reports.service.for_campaign(theirs.id).id == theirs.id


# --- teams ----------------------------------------------------------------------------------


def test_a_challenges_report_lists_its_organisations_teams_without_names(
    reports: Reports,
) -> None:
    challenge = reports.challenge(ORG_A, publish=True, target=Target(Metric.QUANTITY, 500, "km"))
    # Lyon and Paris tie on participants: by name then, case aside ("paris" after "Lyon").
    reports.teams.set(
        challenge.id,
        "org_a",
        paris=(3, 12.5),
        Lyon=(3, 4),
        Bordeaux=(5, 0),
        Zero_waste=(0, 0),
    )

    report = reports.service.for_challenge(challenge.id, ORG_A)

    assert report.teams == (
        TeamRow("Bordeaux", 5, 0, "km"),
        TeamRow("Lyon", 3, 4, "km"),
        TeamRow("paris", 3, 12.5, "km"),
        TeamRow("Zero waste", 0, 0, "km"),
    )
    assert reports.teams.asked == [(challenge.id, "org_a")]


def test_a_team_never_counts_fewer_than_no_participant(reports: Reports) -> None:
    challenge = reports.challenge(ORG_A, publish=True)
    reports.teams.set(challenge.id, "org_a", Lyon=(-1, 0.1 + 0.2))

    (row,) = reports.service.for_challenge(challenge.id, ORG_A).teams

    assert (row.participants, row.quantity) == (0, 0.3)


def test_no_organisation_or_no_team_no_teams_table(reports: Reports) -> None:
    nobodys = reports.challenge(publish=True)
    teamless = reports.challenge(ORG_A, publish=True)

    assert reports.service.for_challenge(nobodys.id).teams == ()
    assert reports.service.for_challenge(teamless.id, ORG_A).teams == ()
    assert reports.teams.asked == [(teamless.id, "org_a")]  # no organisation: nothing asked


def test_a_campaigns_teams_have_a_unit_only_when_its_challenges_share_one(
    reports: Reports,
) -> None:
    week = campaign_of(reports, ORG_A)
    mixed = campaign_of(reports, ORG_A, description="km and kg")
    for campaign, units in ((week, ("km", "km")), (mixed, ("km", "kg"))):
        for unit in units:
            reports.challenge(
                ORG_A,
                publish=True,
                campaign_id=campaign.id,
                target=Target(Metric.QUANTITY, 100, unit),
            )
        reports.teams.set(campaign.id, "org_a", Lyon=(2, 30), Paris=(4, 10))

    assert reports.service.for_campaign(week.id, ORG_A).teams == (
        TeamRow("Paris", 4, 10, "km"),
        TeamRow("Lyon", 2, 30, "km"),
    )
    assert [row.unit for row in reports.service.for_campaign(mixed.id, ORG_A).teams] == [
        None,
        None,
    ]


def test_without_the_teams_port_a_report_has_no_teams(reports: Reports) -> None:
    challenge = reports.challenge(ORG_A, publish=True)
    reports.teams.set(challenge.id, "org_a", Lyon=(2, 30))
    backend = reports.backend
    service = SponsorReportService(
        reports.challenges,
        reports.campaigns,
        FakeOrganizationRepository(),
        reports.tallies,
        reports.tallies,
        backend.delivery_repository,
        backend.clock,
        time_zone=PARIS,
    )

    assert service.for_challenge(challenge.id).teams == ()
