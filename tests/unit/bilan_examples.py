"""Sponsor reports to render: a Humanis-like campaign (five modes of transport, one week) and
a single headcount challenge with areas, some of them too small to be shown."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from chalicelib.domain.areas import AreaCount
from chalicelib.domain.model import (
    ChallengeStatus,
    Channel,
    DeliveryStatus,
    Metric,
    RecipientRole,
    Target,
)
from chalicelib.domain.payouts import PayoutTotal
from chalicelib.domain.sponsor_report import (
    Branding,
    ChallengeRow,
    DayFigures,
    NotificationTally,
    ReportSubject,
    SponsorReport,
    TeamRow,
)

HUMANIS_BLUE = "#0b5394"
HUMANIS_TITLE = "Semaine de la mobilité Humanis"
HUMANIS_SPONSOR = "Humanis"
HUMANIS_BENEFICIARY = "Les Restos du Cœur"
ZERO_WASTE_TITLE = "Zéro déchet au bureau"


def days(first: date, new: list[int], withdrawn: list[int]) -> tuple[DayFigures, ...]:
    """Consecutive days from `first`, the cumulative count worked out as the series does."""
    figures: list[DayFigures] = []
    cumulative = 0
    for offset, (made, gone) in enumerate(zip(new, withdrawn, strict=True)):
        cumulative += made - gone
        figures.append(DayFigures(first + timedelta(days=offset), made, gone, cumulative))
    return tuple(figures)


def _mode(
    number: int, title: str, target_km: int, participants: int, km: int | float
) -> ChallengeRow:
    reached = km >= target_km
    return ChallengeRow(
        id=f"ch_{number:024x}",
        title=title,
        action=f"{title} pour venir au travail",
        status=ChallengeStatus.ENDED,
        target=Target(Metric.QUANTITY, target_km, "km"),
        sponsor=HUMANIS_SPONSOR,
        beneficiary=HUMANIS_BENEFICIARY,
        reward="1 € reversé par tranche de 10 km",
        participants=participants,
        quantity=km,
        reached_at=datetime(2026, 9, 20, 17, 42, tzinfo=UTC) if reached else None,
    )


# Humanis' sites: a person counts once per team over the week, so the teams add up to 188.
HUMANIS_TEAMS = (
    TeamRow("Lyon", 71, 30_120.5, "km"),
    TeamRow("Paris La Défense", 71, 28_400, "km"),
    TeamRow("Marseille", 46, 21_839.5, "km"),
    TeamRow("Bordeaux", 0, 0, "km"),
)


def humanis_campaign(locale: str = "fr") -> SponsorReport:
    """188 participants in five challenges, 80,360 km, one week of September; its sites'
    teams, and 8,036 € paid out (1 € per 10 km)."""
    challenges = (
        _mode(1, "Vélo", 40_000, 62, 41_250),
        _mode(2, "Marche", 8_000, 48, 6_310.5),
        _mode(3, "Covoiturage", 20_000, 31, 22_400),
        _mode(4, "Transports en commun", 10_000, 35, 9_100),
        _mode(5, "Trottinette", 1_000, 12, 1_299.5),
    )
    return SponsorReport(
        subject=ReportSubject.CAMPAIGN,
        id="cp_0000000000000000000000a1",
        title=HUMANIS_TITLE,
        description=(
            "Une semaine pour venir au travail autrement : chaque kilomètre parcouru sans "
            "voiture individuelle compte, et Humanis reverse 1 € par tranche de 10 km."
        ),
        locale=locale,
        time_zone="Europe/Paris",
        generated_at=datetime(2026, 9, 23, 8, 0, tzinfo=UTC),
        branding=Branding("Humanis", HUMANIS_BLUE, "https://www.humanis.example/logo.png"),
        sponsors=(HUMANIS_SPONSOR,),
        beneficiaries=(HUMANIS_BENEFICIARY,),
        rewards=("1 € reversé par tranche de 10 km",),
        target=None,
        status=None,
        starts_at=datetime(2026, 9, 16, 6, 0, tzinfo=UTC),
        ends_at=datetime(2026, 9, 22, 20, 0, tzinfo=UTC),
        reached_at=None,
        ended_at=datetime(2026, 9, 22, 20, 0, tzinfo=UTC),
        participants=188,
        pledges=203,
        withdrawals=15,
        quantity={"km": 80_360},
        days=days(date(2026, 9, 16), [40, 52, 35, 30, 22, 14, 10], [0, 2, 3, 4, 2, 3, 1]),
        areas=(AreaCount("FR-75", 64), AreaCount("FR-92", 51), AreaCount("FR-69", 38)),
        hidden_participants=35,
        challenges=challenges,
        teams=HUMANIS_TEAMS,
        paid=(PayoutTotal("EUR", Decimal("8036")),),
        notifications=(
            NotificationTally(RecipientRole.SPONSOR, Channel.EMAIL, {DeliveryStatus.SENT: 5}),
            NotificationTally(
                RecipientRole.SPONSOR,
                Channel.WEBHOOK,
                {DeliveryStatus.SENT: 4, DeliveryStatus.FAILED: 1},
            ),
            NotificationTally(
                RecipientRole.PARTICIPANT,
                Channel.EMAIL,
                {DeliveryStatus.SENT: 180, DeliveryStatus.FAILED: 2, DeliveryStatus.PENDING: 1},
            ),
        ),
    )


def zero_waste_challenge(locale: str = "fr") -> SponsorReport:
    """A headcount challenge (target 150 participants, reached) without an organisation
    colour: 163 participants in four areas shown and 6 in areas too small to show."""
    return SponsorReport(
        subject=ReportSubject.CHALLENGE,
        id="ch_00000000000000000000zero",
        title=ZERO_WASTE_TITLE,
        description="Trier, composter, refuser le jetable : un mois sans poubelle au bureau.",
        locale=locale,
        time_zone="Europe/Paris",
        generated_at=datetime(2026, 12, 2, 9, 30, tzinfo=UTC),
        branding=Branding("Ville de Montreuil"),
        sponsors=("Ville de Montreuil",),
        beneficiaries=("Zero Waste France",),
        rewards=("Un composteur collectif par quartier",),
        target=Target(Metric.PARTICIPANTS, 150),
        status=ChallengeStatus.ENDED,
        starts_at=datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
        ends_at=datetime(2026, 11, 27, 18, 0, tzinfo=UTC),
        reached_at=datetime(2026, 11, 26, 14, 5, tzinfo=UTC),
        ended_at=datetime(2026, 11, 27, 18, 0, tzinfo=UTC),
        participants=163,
        pledges=171,
        withdrawals=8,
        quantity={},
        days=days(date(2026, 11, 23), [61, 45, 33, 20, 12], [1, 2, 3, 0, 2]),
        areas=(
            AreaCount("FR-93", 71),
            AreaCount("FR-75", 44),
            AreaCount("FR-94", 23),
            AreaCount("FR-92", 19),
        ),
        hidden_participants=6,
        notifications=(
            NotificationTally(RecipientRole.SPONSOR, Channel.EMAIL, {DeliveryStatus.SENT: 2}),
            NotificationTally(RecipientRole.BENEFICIARY, Channel.EMAIL, {DeliveryStatus.SENT: 2}),
        ),
    )
