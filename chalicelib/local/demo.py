"""Demo data from the product brief: real Koom campaigns, with generated pledges in real towns."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from chalicelib.domain.access import PLATFORM
from chalicelib.domain.areas import area_from_coordinates
from chalicelib.domain.events import EventDraft
from chalicelib.domain.model import (
    Metric,
    OrganizationKind,
    OrganizationProfile,
    Party,
    Principal,
    Target,
    Visibility,
)
from chalicelib.domain.votes import BeneficiaryChoice, Candidate, placeholder_beneficiary
from chalicelib.local.clock import ShiftedClock
from chalicelib.local.demo_teams import create_humanis_teams
from chalicelib.local.pledge_count import count_pledges_now
from chalicelib.services.campaigns import CampaignDraft
from chalicelib.services.challenges import ChallengeDraft
from chalicelib.services.follows import UpdateDraft
from chalicelib.services.organizations import OrganizationDraft
from chalicelib.services.payouts import PayoutRequest
from chalicelib.services.pledges import PledgeRequest
from chalicelib.services.proposals import ProposalDraft
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
CLICHY_ORG = "org_clichy"
# Told when a citizen proposal addressed to the city reaches the city's support threshold.
CLICHY_PROPOSAL_CONTACT = Party(
    name="Mairie de Clichy, participation citoyenne",
    email="participation@ville-clichy.example",
)
CLICHY_SUPPORT_THRESHOLD = 10

ORGANIZATIONS = (
    OrganizationDraft(
        "Humanis", OrganizationKind.COMPANY, ("humanis.example",), HUMANIS_ORG,
        OrganizationProfile(display_name="Humanis", primary_color="#0b5394", slug="humanis",
                            logo_url="https://www.humanis.example/logo.png"),
    ),
    OrganizationDraft(
        "Ville de Clichy", OrganizationKind.CITY, id=CLICHY_ORG,
        profile=OrganizationProfile(primary_color="#c0392b", slug="clichy",
                                    proposal_contact=CLICHY_PROPOSAL_CONTACT,
                                    support_threshold=CLICHY_SUPPORT_THRESHOLD),
    ),
    OrganizationDraft(
        "Ville de Bourg-la-Reine", OrganizationKind.CITY, id="org_bourg_la_reine",
        profile=OrganizationProfile(primary_color="#2e7d32", slug="bourg-la-reine"),
    ),
    OrganizationDraft(
        "GRDF", OrganizationKind.COMPANY, ("grdf.example",), GRDF_ORG,
        OrganizationProfile(display_name="GRDF", primary_color="#0071bc", slug="grdf",
                            default_locale="en"),
    ),
)  # fmt: skip
# The two weeks began this long ago, so their reports have days to show; their pledges are
# spread over those days (see ShiftedClock).
WEEK_STARTED = timedelta(days=4)
WEEK_LENGTH = timedelta(days=7)
# GRDF employees who pledged on the first day and withdraw (their pledges are not among the
# challenge's `pledges`): the reports show withdrawals, the live counts stay as stated.
GRDF_WITHDRAWN = 4

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
ZERO_WASTE_CHOICE = BeneficiaryChoice(
    candidates=(
        Candidate(
            "zero-waste-paris",
            "Zero Waste Paris",
            "contact@zerowaste-paris.example",
            "Teaches households and shops to cut their waste.",
            "https://zerowaste-paris.example",
        ),
        Candidate(
            "la-recyclerie",
            "La Recyclerie",
            "contact@recyclerie.example",
            "A former railway station turned repair and reuse hub.",
        ),
        Candidate(
            "emmaus-saint-ouen",
            "Emmaüs Saint-Ouen",
            "contact@emmaus-saint-ouen.example",
            "Second-hand goods that fund work for people in need.",
        ),
    )
)
# How the demo's voters lean (mid-vote: a close race).
ZERO_WASTE_LEANING = (("la-recyclerie", 5), ("zero-waste-paris", 4), ("emmaus-saint-ouen", 3))
ZERO_WASTE_VOTE_DAYS = 5
DEMO_ADMIN = Principal(sub="demo-admin", groups=frozenset({"admin"}))

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
    # Solidons: the participants choose the beneficiary; mid-vote (votes in `_vote`).
    DemoChallenge("zero-waste-vote", ChallengeDraft(
        title="Zéro déchet à Saint-Ouen",
        action="I carry my own bag, bottle and box for a month",
        description="Saint-Ouen's shops fund one association; the participants choose which.",
        target=Target(Metric.PARTICIPANTS, 100),
        sponsor=_party("Ville de Saint-Ouen", "environnement@saint-ouen.example"),
        beneficiary=placeholder_beneficiary(ZERO_WASTE_CHOICE),
        beneficiary_choice=ZERO_WASTE_CHOICE,
        reward="€3,000 to the association the participants choose",
        publish=True,
    ), pledges=24, towns=("Saint-Ouen", "Clichy")),
    # Reached, with a payout recorded: where the money went.
    DemoChallenge("repair-cafe", ChallengeDraft(
        title="Repair Café Clichy",
        action="I bring something broken to be repaired instead of thrown away",
        target=Target(Metric.PARTICIPANTS, 20),
        sponsor=_party("Ville de Clichy", "mobilite@ville-clichy.example"),
        beneficiary=_party("Repair Café Clichy", "contact@repaircafe-clichy.example"),
        reward="€1,500 to Repair Café Clichy for tools and spare parts",
        publish=True,
    ), pledges=24, towns=("Clichy", "Levallois-Perret")),
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
class DemoProposal:
    key: str
    draft: ProposalDraft
    # Supports from the Clichy cyclists once it is approved; None: left pending, for an
    # admin to approve or reject.
    supports: int | None


CLICHY_AREA = area_from_coordinates(*TOWNS["Clichy"])
DEMO_PROPOSALS = (
    # One support short of the city's threshold: a visitor's support tells the city.
    DemoProposal("compost", ProposalDraft(
        title="Des composteurs partagés à Clichy",
        action="Je dépose mes épluchures au composteur de mon quartier",
        description="Un composteur partagé par quartier, entretenu par les voisins : moins de "
        "déchets dans les poubelles, du compost pour les jardinières de la ville.",
        suggested_target=Target(Metric.PARTICIPANTS, 300),
        area=CLICHY_AREA,
        organization_id=CLICHY_ORG,
    ), supports=CLICHY_SUPPORT_THRESHOLD - 1),
    DemoProposal("school-street", ProposalDraft(
        title="Une rue aux écoles devant chaque école de Clichy",
        action="J'accompagne mes enfants à l'école à pied ou à vélo",
        description="Fermer aux voitures la rue de chaque école aux heures d'entrée et de "
        "sortie, pour que les enfants y viennent à pied ou à vélo en sécurité.",
        suggested_target=Target(Metric.PARTICIPANTS, 150),
        area=CLICHY_AREA,
        organization_id=CLICHY_ORG,
    ), supports=None),
)  # fmt: skip

# The reached repair café's next Saturday session, one seat short of full: the next visitor
# to sign up takes the last seat, the one after waits. Its pledgers have the other seats.
REPAIR_SESSION = "Repair Café Clichy : atelier du samedi"
REPAIR_SESSION_PLACE = "Maison du Peuple, Clichy"
REPAIR_SESSION_CAPACITY = 20
REPAIR_SESSION_SIGNED_UP = REPAIR_SESSION_CAPACITY - 1


def proposer(proposal_key: str) -> Principal:
    """Who made a demo proposal (not among its supporters)."""
    return demo_participant(f"proposal-{proposal_key}", 0)


def next_saturday_morning(now: datetime) -> datetime:
    """09:00 UTC on the first Saturday after today: always in the future, within a week."""
    days = (5 - now.weekday()) % 7 or 7
    return (now + timedelta(days=days)).replace(hour=9, minute=0, second=0, microsecond=0)


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


def _in_the_week(clock: ShiftedClock, number: int, count: int) -> None:
    """Move the clock to when a week's `number`-th of `count` pledges is made: most of them
    in its first days, as a campaign's launch e-mail brings them."""
    clock.offset = WEEK_STARTED * (1 - (number / max(count, 1)) ** 0.6)


def load_demo(
    container: Container, *, seed: int = 2013, clock: ShiftedClock | None = None
) -> dict[str, str]:
    """Create the demo challenges and their pledges through the real services. With the
    container's `clock`, the two company weeks started four days ago, and their pledges are
    spread over those days.

    Returns the challenge ids by demo key.
    """
    clock = clock or ShiftedClock()  # not the container's: changes nothing
    try:
        return _load(container, seed, clock)
    finally:
        clock.offset = timedelta(0)


def _load(container: Container, seed: int, clock: ShiftedClock) -> dict[str, str]:
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not security
    ids: dict[str, str] = {}
    for organization in ORGANIZATIONS:
        container.organizations.create(organization)
    started = datetime.now(UTC) - WEEK_STARTED
    week = started + WEEK_LENGTH
    clock.offset = WEEK_STARTED
    _create_weeks(container, started, week)
    # Before any pledge: the week's pledges count for the team of their time.
    create_humanis_teams(container, clock, HUMANIS_ORG, WEEK_STARTED)
    for demo in DEMO_CHALLENGES:
        draft = demo.draft
        in_a_week = demo.key.startswith(("humanis", "grdf"))
        if in_a_week:
            draft = replace(draft, ends_at=week)
            _in_the_week(clock, 0, 1)
        elif draft.beneficiary_choice is not None:
            closes_at = datetime.now(UTC) + timedelta(days=ZERO_WASTE_VOTE_DAYS)
            choice = replace(draft.beneficiary_choice, closes_at=closes_at)
            draft = replace(draft, beneficiary_choice=choice)
            clock.offset = timedelta(0)
        else:
            clock.offset = timedelta(0)
        challenge = container.challenges.create(draft)
        ids[demo.key] = challenge.id
        for number in range(demo.pledges):
            if in_a_week:
                _in_the_week(clock, number, demo.pledges)
            container.pledges.pledge(
                demo_participant(demo.key, number),
                challenge.id,
                PledgeRequest(
                    display_name=rng.choice(FIRST_NAMES),
                    area=_near(rng, rng.choice(demo.towns)),
                ),
            )
        if demo.key in GRDF_KEYS:
            _withdrawn_early(container, clock, demo, challenge.id)
    clock.offset = timedelta(0)
    # Reports after every pledge, from their own random stream: the pledges stay as they were.
    for report in demo_reports(seed):
        container.reports.report(
            demo_participant(report.challenge_key, report.number),
            ids[report.challenge_key],
            ReportRequest(quantity=report.quantity),
        )
    _vote(container, ids["zero-waste-vote"], random.Random(seed + 1))  # noqa: S311 - demo data
    _pay(container, ids["repair-cafe"])
    _propose(container)
    _meetup(container, ids["repair-cafe"])
    return ids


def _propose(container: Container) -> None:
    """The demo's citizen proposals: each made, then approved and supported, or left pending.
    The demo people have no e-mail address: approving tells nobody."""
    for demo in DEMO_PROPOSALS:
        proposal = container.proposals.propose(proposer(demo.key), demo.draft)
        if demo.supports is None:
            continue
        container.proposals.approve(proposal.id, None)
        for number in range(demo.supports):
            container.proposals.support(demo_participant("clichy", number), proposal.id)


def _meetup(container: Container, challenge_id: str) -> None:
    """The repair café's nearly full session; its seat e-mails go nowhere (no addresses)."""
    event, _ = container.events.create(
        challenge_id,
        EventDraft(
            title=REPAIR_SESSION,
            starts_at=next_saturday_morning(datetime.now(UTC)),
            place=REPAIR_SESSION_PLACE,
            capacity=REPAIR_SESSION_CAPACITY,
        ),
        PLATFORM,
    )
    for number in range(REPAIR_SESSION_SIGNED_UP):
        container.events.rsvp(event.id, demo_participant("repair-cafe", number))


def _vote(container: Container, challenge_id: str, rng: random.Random) -> None:
    """Most of the zero-waste challenge's pledgers vote, a few of them twice (a change)."""
    choices = [c for c, weight in ZERO_WASTE_LEANING for _ in range(weight)]
    demo = next(d for d in DEMO_CHALLENGES if d.key == "zero-waste-vote")
    for number in range(demo.pledges):
        person = demo_participant(demo.key, number)
        if number % 6 == 5:
            continue  # has not voted yet
        container.votes.cast(person, challenge_id, rng.choice(choices))
        if number % 7 == 0:
            container.votes.cast(person, challenge_id, rng.choice(choices))


def _pay(container: Container, challenge_id: str) -> None:
    """The repair café's target is met: count it now (as the stream triggers do), tell its
    followers, record the city's payout, and say what it paid for."""
    count_pledges_now(container)
    container.progress.refresh(challenge_id)
    container.follows.post_update(
        challenge_id,
        UpdateDraft(
            title="24 Clichois ont dit oui !",
            body="L'objectif est atteint : la Ville de Clichy verse 1 500 € au Repair Café pour "
            "ses outils et ses pièces détachées. Merci à toutes et à tous !",
            locale="fr",
        ),
        PLATFORM,
    )
    container.payouts.record(
        DEMO_ADMIN,
        challenge_id,
        PayoutRequest(
            amount=Decimal("1500.00"),
            currency="EUR",
            paid_on=datetime.now(UTC).date(),
            to="beneficiary",
            note="Tools and spare parts for the Saturday repair sessions",
        ),
    )
    container.follows.post_update(
        challenge_id,
        UpdateDraft(
            title="The tools have arrived",
            body="With the city's €1,500 the café bought a soldering station, sewing machines "
            "and spare parts: come to the Saturday sessions with what is broken.",
            locale="en",
        ),
        PLATFORM,
    )


def _create_weeks(container: Container, started: datetime, ends: datetime) -> None:
    """Humanis' and GRDF's weeks: employee-only campaigns, running since `started`."""
    for title, description, organization_id, campaign_id in (
        (
            "Humanis sustainable mobility week",
            "Five commuting challenges at once; employees pick as many as they like.",
            HUMANIS_ORG,
            HUMANIS_CAMPAIGN,
        ),
        (
            "GRDF sustainable-development week",
            "Three challenges for GRDF's employees, each funding an association.",
            GRDF_ORG,
            GRDF_CAMPAIGN,
        ),
    ):
        container.campaigns.create(
            CampaignDraft(
                title=title,
                description=description,
                organization_id=organization_id,
                starts_at=started,
                ends_at=ends,
                visibility=Visibility.ORGANIZATION,
                id=campaign_id,
            )
        )


def _withdrawn_early(
    container: Container, clock: ShiftedClock, demo: DemoChallenge, challenge_id: str
) -> None:
    """A few GRDF employees who pledged on the first day and withdraw today."""
    key_number = GRDF_KEYS.index(demo.key)
    for number in range(GRDF_WITHDRAWN):
        who = Principal(sub=f"demo-grdf-early-{key_number}-{number}", org_id=GRDF_ORG)
        clock.offset = WEEK_STARTED - timedelta(hours=2 + number)
        container.pledges.pledge(who, challenge_id, PledgeRequest())
        # Counted on the day of its stream record: today, whatever the clock says.
        container.pledges.withdraw(who, challenge_id)
