"""Demo data from the product brief: real Koom campaigns, with generated pledges in real towns."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from chalicelib.domain.areas import area_from_coordinates
from chalicelib.domain.model import (
    Metric,
    OrganizationKind,
    Party,
    Principal,
    Target,
    Visibility,
)
from chalicelib.services.campaigns import CampaignDraft
from chalicelib.services.challenges import ChallengeDraft
from chalicelib.services.organizations import OrganizationDraft
from chalicelib.services.pledges import PledgeRequest
from chalicelib.services.reports import ReportRequest
from chalicelib.wiring import Container

HUMANIS_ORG = "org_humanis"
HUMANIS_CAMPAIGN = "cmp_humanis_mobility_week"
# Humanis employees pledge on several of the week's commuting challenges: the campaign counts
# each of them once. This many employees take the demo's Humanis pledges between them.
HUMANIS_EMPLOYEES = 18
GRDF_ORG = "org_grdf"
GRDF_CAMPAIGN = "cmp_grdf_sd_week"
# GRDF's week: three employee-only challenges; this many employees share the demo's pledges.
GRDF_EMPLOYEES = 140

ORGANIZATIONS = (
    OrganizationDraft("Humanis", OrganizationKind.COMPANY, ("humanis.example",), HUMANIS_ORG),
    OrganizationDraft("Ville de Clichy", OrganizationKind.CITY, id="org_clichy"),
    OrganizationDraft("Ville de Bourg-la-Reine", OrganizationKind.CITY, id="org_bourg_la_reine"),
    OrganizationDraft("GRDF", OrganizationKind.COMPANY, ("grdf.example",), GRDF_ORG),
)

# Town centres (lat, lon) that pledges are scattered around, a few km at most.
TOWNS = {
    "Clichy": (48.9045, 2.3057),
    "Levallois-Perret": (48.8950, 2.2870),
    "Saint-Ouen": (48.9116, 2.3338),
    "Asnières-sur-Seine": (48.9145, 2.2853),
    "Paris 17e": (48.8835, 2.3220),
    "Bourg-la-Reine": (48.7797, 2.3163),
    "Lyon": (45.7640, 4.8357),
    "Paris 9e": (48.8763, 2.3376),
    "Marseille": (43.2965, 5.3698),
    "Lille": (50.6292, 3.0573),
    "Nantes": (47.2184, -1.5536),
    "Toulouse": (43.6047, 1.4442),
}
FIRST_NAMES = ("Léa", "Hugo", "Chloé", "Lucas", "Manon", "Nathan", "Inès", "Yanis", "Camille",
               "Sofiane", "Emma", "Karim", "Jade", "Louis", "Zoé", "Mehdi")  # fmt: skip


@dataclass(frozen=True)
class DemoChallenge:
    key: str
    draft: ChallengeDraft
    pledges: int
    towns: tuple[str, ...]


def _party(name: str, email: str) -> Party:
    return Party(name=name, email=email)


def _commute(mode: str, action: str) -> ChallengeDraft:
    return ChallengeDraft(
        title=f"Humanis mobility week: {mode}",
        action=action,
        description="One of five commuting challenges of Humanis' sustainable mobility week; "
        "188 employees committed and reported 80,360 km.",
        target=Target(Metric.PARTICIPANTS, 40, "km"),
        sponsor=_party("Humanis", "rse@humanis.example"),
        beneficiary=_party("Wimoov", "contact@wimoov.example"),
        reward="€1,000 to Wimoov for mobility coaching of job seekers",
        visibility=Visibility.ORGANIZATION,
        organization_id=HUMANIS_ORG,
        campaign_id=HUMANIS_CAMPAIGN,
        publish=True,
    )


def _grdf(title: str, action: str, target: int, beneficiary: Party, reward: str) -> ChallengeDraft:
    return ChallengeDraft(
        title=f"GRDF sustainable-development week: {title}",
        action=action,
        description="One of three challenges of GRDF's sustainable-development week (June 2018: "
        "564 employees took part and three social-impact associations were funded).",
        target=Target(Metric.PARTICIPANTS, target),
        sponsor=_party("GRDF", "rse@grdf.example"),
        beneficiary=beneficiary,
        reward=reward,
        visibility=Visibility.ORGANIZATION,
        organization_id=GRDF_ORG,
        campaign_id=GRDF_CAMPAIGN,
        publish=True,
    )


GRDF_TOWNS = ("Paris 9e", "Lyon", "Marseille", "Lille", "Nantes", "Toulouse")

DEMO_CHALLENGES: tuple[DemoChallenge, ...] = (
    DemoChallenge("clichy", ChallengeDraft(
        title="Clichy à vélo",
        action="I cycle when I can, instead of driving",
        description="The City of Clichy's pilot: if 200 residents commit to cycle, the city funds "
        "bike-repair lessons for 500 pupils.",
        target=Target(Metric.PARTICIPANTS, 200, "km"),
        sponsor=_party("Ville de Clichy", "mobilite@ville-clichy.example"),
        beneficiary=_party("Solicycle", "contact@solicycle.example"),
        reward="€5,000 to Solicycle to teach 500 pupils bike repair",
        publish=True,
    ), pledges=57, towns=("Clichy", "Levallois-Perret", "Saint-Ouen", "Asnières-sur-Seine",
                          "Paris 17e")),
    DemoChallenge("estatements", ChallengeDraft(
        title="Switch to e-statements",
        action="I switch my bank statements to paperless",
        target=Target(Metric.PARTICIPANTS, 1000),
        sponsor=_party("Banque Populaire Rives de Paris", "rse@bp-rivesparis.example"),
        beneficiary=_party("Crésus", "contact@cresus.example"),
        reward="€1,000 to Crésus for budget-education workshops",
        publish=True,
    ), pledges=12, towns=("Paris 17e", "Levallois-Perret")),
    DemoChallenge("local-food", ChallengeDraft(
        title="Local fruit and vegetables",
        action="I buy local fruit and vegetables",
        target=Target(Metric.PARTICIPANTS, 3000),
        sponsor=_party("Les Mousquetaires", "rse@mousquetaires.example"),
        beneficiary=_party("Jardins de Cocagne", "contact@cocagne.example"),
        reward="€3,000: 50 families in difficulty helped for a year",
        publish=True,
    ), pledges=8, towns=("Lyon",)),
    DemoChallenge("coffee", ChallengeDraft(
        title="Coffee grounds for the gardens",
        action="I bring my coffee grounds to the collection points",
        description="Bourg-la-Reine and Colibris: collect 500 kg of coffee grounds for compost.",
        target=Target(Metric.QUANTITY, 500, "kg"),
        sponsor=_party("Ville de Bourg-la-Reine", "environnement@bourg-la-reine.example"),
        beneficiary=_party("Colibris Bourg-la-Reine", "contact@colibris-blr.example"),
        reward="Compost bins for every school garden in town",
        publish=True,
    ), pledges=6, towns=("Bourg-la-Reine",)),
    DemoChallenge("humanis-transit", _commute("public transport",
                                              "I commute by public transport"), 9, ("Paris 17e",)),
    DemoChallenge("humanis-carpool", _commute("car-pooling", "I car-pool to work"), 5,
                  ("Levallois-Perret",)),
    DemoChallenge("humanis-cycling", _commute("cycling", "I cycle to work"), 7, ("Clichy",)),
    DemoChallenge("humanis-walking", _commute("walking", "I walk to work"), 4, ("Paris 17e",)),
    DemoChallenge("humanis-scooter", _commute("scooter", "I ride a kick scooter to work"), 3,
                  ("Saint-Ouen",)),
    # Appended last, so the earlier challenges' generated pledges stay as they were.
    DemoChallenge("grdf-stairs", _grdf(
        "stairs", "I take the stairs instead of the lift", 150,
        _party("Emmaüs Connect", "contact@emmaus-connect.example"),
        "€2,000 to Emmaüs Connect for digital-inclusion workshops",
    ), 70, GRDF_TOWNS),
    DemoChallenge("grdf-cup", _grdf(
        "reusable cup", "I use a reusable cup instead of disposable ones", 200,
        _party("Les Restos du Cœur", "contact@restosducoeur.example"),
        "€2,000 to Les Restos du Cœur: 2,000 meals",
    ), 80, GRDF_TOWNS),
    DemoChallenge("grdf-screens", _grdf(
        "screens off", "I switch off my screens every evening", 150,
        _party("Simplon.co", "contact@simplon.example"),
        "€2,000 to Simplon.co for a coding bootcamp grant",
    ), 60, GRDF_TOWNS),
)  # fmt: skip


HUMANIS_KEYS = tuple(demo.key for demo in DEMO_CHALLENGES if demo.key.startswith("humanis"))
GRDF_KEYS = tuple(demo.key for demo in DEMO_CHALLENGES if demo.key.startswith("grdf"))


def humanis_employee(challenge_key: str, number: int) -> str:
    """Who takes a Humanis challenge's `number`-th demo pledge: overlapping runs of the
    employees, so several of them pledge on more than one of the week's challenges."""
    start = 5 * HUMANIS_KEYS.index(challenge_key)
    return f"demo-humanis-{(start + number) % HUMANIS_EMPLOYEES:04d}"


def demo_participant(challenge_key: str, number: int) -> Principal:
    """Who takes a demo challenge's `number`-th pledge."""
    if challenge_key in HUMANIS_KEYS:
        return Principal(sub=humanis_employee(challenge_key, number), org_id=HUMANIS_ORG)
    if challenge_key in GRDF_KEYS:
        # Overlapping runs again: some employees take part in two or three challenges.
        start = 45 * GRDF_KEYS.index(challenge_key)
        return Principal(sub=f"demo-grdf-{(start + number) % GRDF_EMPLOYEES:04d}", org_id=GRDF_ORG)
    return Principal(sub=f"demo-{challenge_key}-{number:04d}")


@dataclass(frozen=True)
class DemoReport:
    challenge_key: str
    number: int  # whose: the challenge's `number`-th demo pledger
    quantity: float


# Per challenge: how many reports each pledger makes at most, and how much one report is
# (kg of coffee grounds brought in; km of one commute there and back, by mode).
REPORTED = {
    "coffee": (3, 1.5, 6.0),
    "humanis-transit": (2, 8.0, 30.0),
    "humanis-carpool": (2, 12.0, 45.0),
    "humanis-cycling": (2, 4.0, 16.0),
    "humanis-walking": (2, 1.0, 4.5),
    "humanis-scooter": (2, 2.0, 9.0),
}


def demo_reports(seed: int = 2013) -> tuple[DemoReport, ...]:
    """The demo pledgers' reports, the same on every run (one decimal each)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not security
    reports: list[DemoReport] = []
    for demo in DEMO_CHALLENGES:
        if demo.key not in REPORTED:
            continue
        most, low, high = REPORTED[demo.key]
        for number in range(demo.pledges):
            for _ in range(rng.randint(1, most)):
                reports.append(DemoReport(demo.key, number, round(rng.uniform(low, high), 1)))
    return tuple(reports)


def _near(rng: random.Random, town: str) -> str:
    lat, lon = TOWNS[town]
    return area_from_coordinates(lat + rng.uniform(-0.02, 0.02), lon + rng.uniform(-0.03, 0.03))


def load_demo(container: Container, *, seed: int = 2013) -> dict[str, str]:
    """Create the demo challenges and their pledges through the real services.

    Returns the challenge ids by demo key.
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not security
    ids: dict[str, str] = {}
    for organization in ORGANIZATIONS:
        container.organizations.create(organization)
    week = datetime.now(UTC) + timedelta(days=5)
    container.campaigns.create(
        CampaignDraft(
            title="Humanis sustainable mobility week",
            description="Five commuting challenges at once; employees pick as many as they like.",
            organization_id=HUMANIS_ORG,
            ends_at=week,
            id=HUMANIS_CAMPAIGN,
        )
    )
    container.campaigns.create(
        CampaignDraft(
            title="GRDF sustainable-development week",
            description="Three challenges for GRDF's employees, each funding an association.",
            organization_id=GRDF_ORG,
            ends_at=week,
            id=GRDF_CAMPAIGN,
        )
    )
    for demo in DEMO_CHALLENGES:
        draft = demo.draft
        if demo.key.startswith(("humanis", "grdf")):
            # A one-week campaign, running now.
            draft = replace(draft, ends_at=week)
        challenge = container.challenges.create(draft)
        ids[demo.key] = challenge.id
        for number in range(demo.pledges):
            container.pledges.pledge(
                demo_participant(demo.key, number),
                challenge.id,
                PledgeRequest(
                    display_name=rng.choice(FIRST_NAMES),
                    area=_near(rng, rng.choice(demo.towns)),
                ),
            )
    # Reports after every pledge, from their own random stream: the pledges stay as they were.
    for report in demo_reports(seed):
        container.reports.report(
            demo_participant(report.challenge_key, report.number),
            ids[report.challenge_key],
            ReportRequest(quantity=report.quantity),
        )
    return ids
