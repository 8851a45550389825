"""Teams without DynamoDB: the ranking (ties, names only from five participants, the top
ten), the plan each pledges-stream change makes (campaigns once per team, erasure moves),
the team service's join rules on fakes, and the tally service's receipts and retries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.access import PLATFORM, AdminScope
from chalicelib.domain.errors import (
    ContentionError,
    InvalidFieldsError,
    OrganizationNotFoundError,
    PermissionDeniedError,
    TeamNameTakenError,
)
from chalicelib.domain.model import Organization, OrganizationKind, Principal
from chalicelib.domain.teams import (
    MAX_TEAMS_PER_ORGANIZATION,
    NAMES_SHOWN_PER_TEAM,
    ChangeKind,
    Membership,
    MemberTally,
    Ranking,
    ScopeShare,
    Team,
    TeamChange,
    TeamTally,
    rank,
)
from chalicelib.services.campaigns import CampaignDraft, CampaignService
from chalicelib.services.challenges import ChallengeService
from chalicelib.services.team_ports import Applied, TeamDelta
from chalicelib.services.teams import APPLY_ATTEMPTS, TeamService, TeamTallyService, plan
from tests.unit.fake_teams import FakeMembershipRepository, FakeTeamRepository, FakeTeamTallies
from tests.unit.fakes import FakeOrganizationRepository
from tests.unit.support import Backend, build_backend, challenge_draft, tenant_services

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
ORG = "org_humanis"

# --- rank() --------------------------------------------------------------------------------------


def teams(*names: str) -> list[Team]:
    return [Team(f"team_{name.lower()}", ORG, name, T0) for name in names]


def tallied(**figures: tuple[int, float]) -> dict[str, TeamTally]:
    return {f"team_{n}": TeamTally(f"team_{n}", p, q) for n, (p, q) in figures.items()}


def test_ties_share_a_rank_and_the_next_rank_skips() -> None:
    tallies = tallied(a=(5, 0), b=(3, 0), c=(3, 0), d=(1, 0))
    entries = rank(teams("D", "C", "B", "A"), tallies, Ranking.PARTICIPANTS, {}, {})
    assert [(e.rank, e.team.name) for e in entries] == [(1, "A"), (2, "B"), (2, "C"), (4, "D")]


def test_every_team_is_ranked_even_without_figures_and_ties_go_by_name() -> None:
    tallies = tallied(b=(2, 0))
    entries = rank(teams("c", "B", "a"), tallies, Ranking.PARTICIPANTS, {}, {})
    assert [(e.rank, e.team.name, e.participants) for e in entries] == [
        (1, "B", 2),
        (2, "a", 0),  # no tally: zero, ties with c, before it without regard to case
        (2, "c", 0),
    ]


def test_the_ranking_chooses_the_figure() -> None:
    tallies = tallied(a=(5, 10), b=(2, 40.5), c=(1, 10))
    by_people = rank(teams("A", "B", "C"), tallies, Ranking.PARTICIPANTS, {}, {})
    by_quantity = rank(teams("A", "B", "C"), tallies, Ranking.QUANTITY, {}, {})
    assert [(e.rank, e.team.name) for e in by_people] == [(1, "A"), (2, "B"), (3, "C")]
    assert [(e.rank, e.team.name) for e in by_quantity] == [(1, "B"), (2, "A"), (2, "C")]
    assert [e.quantity for e in by_quantity] == [40.5, 10, 10]


def test_a_count_below_zero_is_shown_as_zero() -> None:
    (entry,) = rank(teams("A"), tallied(a=(-1, 0)), Ranking.PARTICIPANTS, {}, {})
    assert entry.participants == 0


def members_of(team_id: str, count: int, quantity: float = 1) -> list[MemberTally]:
    return [MemberTally(f"p{n}", team_id, 1, quantity) for n in range(count)]


def test_members_are_named_only_from_five_participants() -> None:
    names = {f"p{n}": f"Person {n}" for n in range(5)}
    members = {"team_a": members_of("team_a", 5), "team_b": members_of("team_b", 4)}
    for participants, shown in ((4, None), (5, 5), (6, 5)):
        tallies = tallied(a=(participants, 0), b=(4, 0))
        by_name = {
            e.team.name: e for e in rank(teams("A", "B"), tallies, Ranking.QUANTITY, members, names)
        }
        assert (None if by_name["A"].members is None else len(by_name["A"].members)) == shown
        assert by_name["B"].members is None


def test_the_ten_named_are_the_top_contributors_by_quantity() -> None:
    count = NAMES_SHOWN_PER_TEAM + 4
    members = [MemberTally(f"p{n:02d}", "team_a", 1, n) for n in range(count)]
    members.append(MemberTally("only-reported", "team_a", 0, 1_000))  # no pledge for the team
    members.append(MemberTally("no-name", "team_a", 1, 1_000))  # chose no name
    names = {f"p{n:02d}": f"Person {n:02d}" for n in range(count)}
    names["only-reported"] = "Only reported"
    (entry,) = rank(
        teams("A"), tallied(a=(count, 0)), Ranking.PARTICIPANTS, {"team_a": members}, names
    )
    expected = [f"Person {n:02d}" for n in range(count - 1, count - 1 - NAMES_SHOWN_PER_TEAM, -1)]
    assert entry.members == tuple(expected)


def test_equal_contributors_are_named_by_name() -> None:
    members = [MemberTally(p, "team_a", 1, 3) for p in ("x", "y", "z", "v", "w")]
    names = {"x": "zoé", "y": "Adam", "z": "bruno", "v": "Émile", "w": "Clara"}
    (entry,) = rank(teams("A"), tallied(a=(5, 15)), Ranking.QUANTITY, {"team_a": members}, names)
    assert entry.members == ("Adam", "bruno", "Clara", "zoé", "Émile")


# --- plan() --------------------------------------------------------------------------------------

CHALLENGE, OTHER_CHALLENGE, CAMPAIGN = "ch_1", "ch_2", "cmp_1"
LEA, PSEUDONYM = "lea", "anon-7f3a"


def change(
    kind: ChangeKind,
    quantity: float = 0,
    pseudonym: str | None = None,
    challenge_id: str = CHALLENGE,
) -> TeamChange:
    return TeamChange("seq", kind, challenge_id, LEA, T0, quantity, pseudonym)


def shares(
    scopes: Sequence[str], *people: str, **stored: ScopeShare
) -> dict[tuple[str, str], ScopeShare]:
    """Empty shares for every (scope, person), except `stored` (`<scope>__<person>`)."""
    found = {(s, p): ScopeShare() for s in scopes for p in people}
    for key, share in stored.items():
        scope, person = key.split("__")
        found[(scope, person)] = share
    return found


def figures(deltas: list[TeamDelta]) -> dict[tuple[str, str], tuple[int, float]]:
    assert {d.organization_id for d in deltas} <= {ORG}
    return {(d.scope, d.team_id): (d.participants, d.quantity) for d in deltas}


def test_a_pledge_counts_a_participant_for_the_team_of_its_time() -> None:
    held = shares([CHALLENGE], LEA)
    deltas = plan(change(ChangeKind.PLEDGED), "team_a", [CHALLENGE], held, ORG)
    assert figures(deltas) == {(CHALLENGE, "team_a"): (1, 0)}
    assert held[(CHALLENGE, LEA)].pledges == {"team_a": 1}


def test_a_pledge_or_report_outside_any_team_plans_nothing() -> None:
    for kind in (ChangeKind.PLEDGED, ChangeKind.REPORTED):
        held = shares([CHALLENGE, CAMPAIGN], LEA)
        assert plan(change(kind, quantity=3), None, [CHALLENGE, CAMPAIGN], held, ORG) == []
        assert held == shares([CHALLENGE, CAMPAIGN], LEA)


def test_a_campaign_counts_a_person_once_per_team() -> None:
    scopes = [OTHER_CHALLENGE, CAMPAIGN]
    # Lea pledged on the campaign's first challenge for team a.
    held = shares(scopes, LEA, cmp_1__lea=ScopeShare({"team_a": 1}))
    deltas = plan(
        change(ChangeKind.PLEDGED, challenge_id=OTHER_CHALLENGE), "team_a", scopes, held, ORG
    )
    assert figures(deltas) == {(OTHER_CHALLENGE, "team_a"): (1, 0)}
    assert held[(CAMPAIGN, LEA)].pledges == {"team_a": 2}
    # For another team (she moved), she counts for that one too.
    held = shares(scopes, LEA, cmp_1__lea=ScopeShare({"team_a": 1}))
    deltas = plan(
        change(ChangeKind.PLEDGED, challenge_id=OTHER_CHALLENGE), "team_b", scopes, held, ORG
    )
    assert figures(deltas) == {(OTHER_CHALLENGE, "team_b"): (1, 0), (CAMPAIGN, "team_b"): (1, 0)}
    assert held[(CAMPAIGN, LEA)].pledges == {"team_a": 1, "team_b": 1}


def test_a_report_adds_its_quantity_for_the_team_of_its_time_in_every_scope() -> None:
    scopes = [CHALLENGE, CAMPAIGN]
    held = shares(
        scopes, LEA, ch_1__lea=ScopeShare({"team_a": 1}), cmp_1__lea=ScopeShare({"team_a": 1})
    )
    deltas = plan(change(ChangeKind.REPORTED, quantity=4.5), "team_b", scopes, held, ORG)
    assert figures(deltas) == {(CHALLENGE, "team_b"): (0, 4.5), (CAMPAIGN, "team_b"): (0, 4.5)}
    assert held[(CHALLENGE, LEA)] == ScopeShare({"team_a": 1}, {"team_b": 4.5})
    deltas = plan(change(ChangeKind.REPORTED, quantity=2), "team_b", scopes, held, ORG)
    assert figures(deltas) == {(CHALLENGE, "team_b"): (0, 2), (CAMPAIGN, "team_b"): (0, 2)}
    assert held[(CAMPAIGN, LEA)].quantity == {"team_b": 6.5}


def test_a_withdrawal_takes_the_participant_from_the_team_the_pledge_counted_for() -> None:
    scopes = [CHALLENGE, CAMPAIGN]
    held = shares(
        scopes,
        LEA,
        ch_1__lea=ScopeShare({"team_a": 1}, {"team_b": 5}),
        cmp_1__lea=ScopeShare({"team_a": 1}, {"team_b": 5}),
    )
    # Whatever team she is in now (the plan is not told): the share says team a.
    deltas = plan(change(ChangeKind.WITHDRAWN), None, scopes, held, ORG)
    assert figures(deltas) == {(CHALLENGE, "team_a"): (-1, 0), (CAMPAIGN, "team_a"): (-1, 0)}
    # The quantity reported stays with the team of its time.
    assert held[(CHALLENGE, LEA)] == ScopeShare({"team_a": 0}, {"team_b": 5})


def test_a_withdrawal_keeps_the_campaign_participant_of_another_challenge() -> None:
    scopes = [CHALLENGE, CAMPAIGN]
    held = shares(
        scopes, LEA, ch_1__lea=ScopeShare({"team_a": 1}), cmp_1__lea=ScopeShare({"team_a": 2})
    )
    deltas = plan(change(ChangeKind.WITHDRAWN), None, scopes, held, ORG)
    assert figures(deltas) == {(CHALLENGE, "team_a"): (-1, 0)}
    assert held[(CAMPAIGN, LEA)].pledges == {"team_a": 1}


def test_a_withdrawal_of_a_pledge_that_counted_for_no_team_plans_nothing() -> None:
    scopes = [CHALLENGE, CAMPAIGN]
    held = shares(scopes, LEA, cmp_1__lea=ScopeShare({"team_a": 1}))
    assert plan(change(ChangeKind.WITHDRAWN), None, scopes, held, ORG) == []
    assert held[(CAMPAIGN, LEA)].pledges == {"team_a": 1}


def test_an_erasure_moves_the_shares_to_the_pseudonym_and_changes_no_figure() -> None:
    scopes = [CHALLENGE, CAMPAIGN]

    def mine() -> ScopeShare:
        return ScopeShare({"team_a": 1}, {"team_a": 3, "team_b": 2})

    held = shares(scopes, LEA, PSEUDONYM, ch_1__lea=mine(), cmp_1__lea=mine())
    erased = change(ChangeKind.ERASED, pseudonym=PSEUDONYM)
    assert plan(erased, None, scopes, held, ORG) == []
    for scope in scopes:
        assert held[(scope, PSEUDONYM)].pledges == {"team_a": 1}
        assert held[(scope, PSEUDONYM)].quantity == {"team_a": 3, "team_b": 2}
        assert held[(scope, LEA)].teams_pledged() == set()
        assert not any(held[(scope, LEA)].quantity.values())
    # The pseudonym's withdrawal (a moderator's removal) then counts the pledge out.
    gone = TeamChange("seq-2", ChangeKind.WITHDRAWN, CHALLENGE, PSEUDONYM, T0)
    deltas = plan(gone, None, scopes, {k: v for k, v in held.items() if k[1] == PSEUDONYM}, ORG)
    assert figures(deltas) == {(CHALLENGE, "team_a"): (-1, 0), (CAMPAIGN, "team_a"): (-1, 0)}


def test_the_moves_of_a_campaign_s_challenges_change_no_figure_once_all_are_moved() -> None:
    """Two pledges for one team in a campaign: the first move counts the pseudonym in, the
    second one counts Léa out; together, nothing changes."""
    first, second = ScopeShare({"team_a": 1}), ScopeShare({"team_a": 1})
    held = {
        (CHALLENGE, LEA): first,
        (OTHER_CHALLENGE, LEA): second,
        (CAMPAIGN, LEA): ScopeShare({"team_a": 2}),
        (CHALLENGE, PSEUDONYM): ScopeShare(),
        (OTHER_CHALLENGE, PSEUDONYM): ScopeShare(),
        (CAMPAIGN, PSEUDONYM): ScopeShare(),
    }
    total: dict[tuple[str, str], int] = {}
    for challenge_id in (CHALLENGE, OTHER_CHALLENGE):
        moved = change(ChangeKind.ERASED, pseudonym=PSEUDONYM, challenge_id=challenge_id)
        for delta in plan(moved, None, [challenge_id, CAMPAIGN], held, ORG):
            assert delta.quantity == 0
            key = (delta.scope, delta.team_id)
            total[key] = total.get(key, 0) + delta.participants
    assert not any(total.values())
    assert held[(CAMPAIGN, PSEUDONYM)].pledges == {"team_a": 2}
    assert held[(CAMPAIGN, LEA)].teams_pledged() == set()


def test_an_erasure_without_a_pseudonym_plans_nothing() -> None:
    held = shares([CHALLENGE], LEA, ch_1__lea=ScopeShare({"team_a": 1}))
    assert plan(change(ChangeKind.ERASED), None, [CHALLENGE], held, ORG) == []
    assert held[(CHALLENGE, LEA)].pledges == {"team_a": 1}


# --- TeamService on fakes ------------------------------------------------------------------------


@dataclass
class Teams:
    backend: Backend
    organizations: FakeOrganizationRepository
    teams: FakeTeamRepository
    memberships: FakeMembershipRepository
    tallies: FakeTeamTallies
    service: TeamService
    counter: TeamTallyService
    challenges: ChallengeService
    campaigns: CampaignService

    def team(self, name: str, organization_id: str = ORG) -> str:
        return self.service.create(organization_id, name, "", PLATFORM).id


def organization(organization_id: str, *domains: str) -> Organization:
    return Organization(
        organization_id, organization_id.upper(), OrganizationKind.COMPANY, T0, domains
    )


@pytest.fixture
def world() -> Teams:
    backend = build_backend()
    organizations = FakeOrganizationRepository()
    organizations.add(organization(ORG, "humanis.example"))
    organizations.add(organization("org_city"))  # no domains: anyone
    challenges, campaigns, _ = tenant_services(backend, organizations)
    teams, memberships, tallies = (
        FakeTeamRepository(),
        FakeMembershipRepository(),
        FakeTeamTallies(),
    )
    service = TeamService(
        teams, memberships, tallies, organizations, challenges, campaigns, backend.clock,
        leaderboard_ttl=0,
    )  # fmt: skip
    counter = TeamTallyService(tallies, memberships, backend.challenge_repository, backend.clock)
    return Teams(
        backend, organizations, teams, memberships, tallies, service, counter, challenges, campaigns
    )


def employee(sub: str) -> Principal:
    return Principal(sub=sub, email=f"{sub}@Humanis.example", email_verified=True)


def test_a_team_s_name_is_trimmed_and_unique_in_its_organisation(world: Teams) -> None:
    created = world.service.create(ORG, "  Lyon ", " Rhône ", PLATFORM)
    assert (created.name, created.description, created.created_at) == ("Lyon", "Rhône", T0)
    with pytest.raises(TeamNameTakenError):
        world.service.create(ORG, "LYON", "", PLATFORM)
    assert world.service.create("org_city", "Lyon", "", PLATFORM).organization_id == "org_city"
    assert [t.id for t in world.service.list_for_admin(ORG, PLATFORM)] == [created.id]


def test_an_org_admin_creates_teams_in_its_organisation_only(world: Teams) -> None:
    with pytest.raises(OrganizationNotFoundError):
        world.service.create(ORG, "Lyon", "", AdminScope("org_city"))
    with pytest.raises(OrganizationNotFoundError):
        world.service.create("org_nowhere", "Lyon", "", PLATFORM)
    assert world.service.create(ORG, "Lyon", "", AdminScope(ORG)).organization_id == ORG


def test_an_organisation_has_at_most_its_share_of_teams(world: Teams) -> None:
    for n in range(MAX_TEAMS_PER_ORGANIZATION):
        world.team(f"Team {n}")
    with pytest.raises(InvalidFieldsError):
        world.team("One more")


def test_an_organisation_with_domains_admits_only_the_people_it_employs(world: Teams) -> None:
    lyon = world.team("Lyon")
    assert world.service.join(employee("lea"), ORG, lyon, "Léa").team_id == lyon
    by_token = Principal(sub="tom", org_id=ORG)
    assert world.service.join(by_token, ORG, lyon, None).team_id == lyon
    outsiders = [
        Principal(sub="sam", email="sam@gmail.example", email_verified=True),
        Principal(sub="eve", email="eve@humanis.example", email_verified=False),
        Principal(sub="bob"),
        Principal(sub="ann", org_id="org_city"),
    ]
    for outsider in outsiders:
        with pytest.raises(PermissionDeniedError):
            world.service.join(outsider, ORG, lyon, None)
        with pytest.raises(PermissionDeniedError):
            world.service.mine(outsider, ORG)
        assert world.memberships.current(outsider.sub, ORG) is None


def test_an_organisation_without_domains_admits_anyone(world: Teams) -> None:
    district = world.team("Batignolles", "org_city")
    joined = world.service.join(Principal(sub="bob"), "org_city", district, None)
    assert (joined.team_id, joined.since) == (district, T0)


def test_a_team_of_another_organisation_is_invalid(world: Teams) -> None:
    elsewhere = world.team("Batignolles", "org_city")
    with pytest.raises(InvalidFieldsError) as raised:
        world.service.join(employee("lea"), ORG, elsewhere, None)
    assert "team_id" in raised.value.fields
    with pytest.raises(InvalidFieldsError):
        world.service.join(employee("lea"), ORG, "team_nowhere", None)
    with pytest.raises(OrganizationNotFoundError):
        world.service.join(employee("lea"), "org_nowhere", elsewhere, None)
    assert world.memberships.of_participant("lea") == []


def test_a_name_only_change_writes_no_history_entry(world: Teams) -> None:
    lyon = world.team("Lyon")
    joined = world.service.join(employee("lea"), ORG, lyon, "Léa")
    world.backend.later(hours=1)
    renamed = world.service.join(employee("lea"), ORG, lyon, "Léa M.")
    assert renamed == replace(joined, display_name="Léa M.")  # the same instant
    assert world.service.join(employee("lea"), ORG, lyon, "Léa M.") == renamed
    assert world.memberships.history("lea") == [replace(joined, display_name=None)]
    assert world.memberships.names(ORG, ["lea"]) == {"lea": "Léa M."}


def test_a_move_is_recorded_and_earlier_instants_keep_the_earlier_team(world: Teams) -> None:
    lyon, paris = world.team("Lyon"), world.team("Paris")
    world.service.join(employee("lea"), ORG, lyon, None)
    world.backend.later(hours=1)
    moved = world.service.join(employee("lea"), ORG, paris, None)
    assert moved.since == T0 + timedelta(hours=1)
    assert [m.team_id for m in world.memberships.history("lea")] == [lyon, paris]
    at = [T0 + timedelta(minutes=m) for m in (30, 60)]
    assert world.memberships.teams_at([("lea", ORG, moment) for moment in at]) == [lyon, paris]
    mine = world.service.mine(employee("lea"), ORG)
    assert (mine.membership, [t.name for t in mine.teams]) == (moved, ["Lyon", "Paris"])


def test_leaving_records_the_leave_and_a_second_leave_changes_nothing(world: Teams) -> None:
    lyon = world.team("Lyon")
    assert not world.service.leave(employee("lea"), ORG)  # in no team yet
    world.service.join(employee("lea"), ORG, lyon, "Léa")
    world.backend.later(minutes=5)
    assert world.service.leave(employee("lea"), ORG)
    assert not world.service.leave(employee("lea"), ORG)
    assert world.service.memberships(employee("lea")) == []
    current, changes = world.service.records("lea")
    assert [(m.team_id, m.display_name) for m in current] == [(None, None)]
    assert [m.team_id for m in changes] == [lyon, None]
    assert world.memberships.teams_at([("lea", ORG, T0 + timedelta(minutes=6))]) == [None]
    with pytest.raises(OrganizationNotFoundError):
        world.service.leave(employee("lea"), "org_nowhere")


class RacedMemberships(FakeMembershipRepository):
    """Another request changes the membership between each read and write, `races` times."""

    def __init__(self, races: int, racer: Membership) -> None:
        super().__init__()
        self.races = races
        self.racer = racer

    def change(self, before: Membership | None, after: Membership) -> bool:
        if self.races:
            self.races -= 1
            current = self.current(after.participant_id, after.organization_id)
            racer = replace(self.racer, since=self.racer.since + timedelta(seconds=self.races))
            assert super().change(current, racer)
        return super().change(before, after)


def test_a_change_raced_by_another_is_made_again_from_a_fresh_read(world: Teams) -> None:
    lyon, paris = world.team("Lyon"), world.team("Paris")
    racer = Membership("lea", ORG, paris, T0 - timedelta(hours=1))
    raced = RacedMemberships(2, racer)
    assert replace_memberships(world, raced).join(employee("lea"), ORG, lyon, None).team_id == lyon
    # Two races, the second one a rename by the racer (no entry): the third try wins.
    assert raced.races == 0
    assert [m.team_id for m in raced.history("lea")] == [paris, lyon]
    hopeless = RacedMemberships(APPLY_ATTEMPTS, racer)
    with pytest.raises(ContentionError):
        replace_memberships(world, hopeless).join(employee("lea"), ORG, lyon, None)
    assert hopeless.current("lea", ORG) != Membership("lea", ORG, lyon, T0)


def replace_memberships(world: Teams, memberships: FakeMembershipRepository) -> TeamService:
    return TeamService(
        world.teams, memberships, world.tallies, world.organizations,
        world.challenges, world.campaigns, world.backend.clock,
    )  # fmt: skip


def test_erase_forgets_every_membership(world: Teams) -> None:
    lyon = world.team("Lyon")
    world.service.join(employee("lea"), ORG, lyon, "Léa")
    world.service.join(Principal(sub="lea"), "org_city", world.team("Parc", "org_city"), None)
    assert world.service.erase("lea") == 2  # the clock's now
    assert world.service.records("lea") == ([], [])


# --- TeamTallyService on fakes -------------------------------------------------------------------


def a_challenge(
    world: Teams, campaign_id: str | None = None, organization_id: str | None = ORG
) -> str:
    created = world.challenges.create(
        challenge_draft(publish=True, organization_id=organization_id, campaign_id=campaign_id)
    )
    return created.id


def a_campaign(world: Teams) -> str:
    return world.campaigns.create(CampaignDraft("Mobility week", organization_id=ORG)).id


def counted(world: Teams, scope: str) -> dict[str, tuple[int, float]]:
    return {t: (x.participants, x.quantity) for t, x in world.tallies.tallies(scope).items()}


def pledged(receipt: int, challenge_id: str, person: str, minutes: float = 0) -> TeamChange:
    at = T0 + timedelta(minutes=minutes)
    return TeamChange(str(receipt), ChangeKind.PLEDGED, challenge_id, person, at)


def test_each_change_counts_once_however_often_it_is_delivered(world: Teams) -> None:
    lyon = world.team("Lyon")
    world.service.join(employee("lea"), ORG, lyon, None)
    challenge_id = a_challenge(world)
    batch = [
        pledged(1, challenge_id, "lea", 1),
        TeamChange("2", ChangeKind.REPORTED, challenge_id, "lea", T0 + timedelta(minutes=2), 7),
    ]
    for delivered in (batch, batch, batch[1:], batch[:1]):
        assert world.counter.count(delivered) == []
        assert counted(world, challenge_id) == {lyon: (1, 7)}
    assert world.tallies.receipts == {"1", "2"}


def test_changes_outside_any_team_or_organisation_count_nothing(world: Teams) -> None:
    lyon = world.team("Lyon")
    world.backend.later(hours=1)
    world.service.join(employee("lea"), ORG, lyon, None)
    ours, public = a_challenge(world), a_challenge(world, organization_id=None)
    changes = [
        pledged(1, ours, "lea", minutes=30),  # before she joined
        pledged(2, ours, "tom", minutes=90),  # never in a team
        pledged(3, public, "lea", minutes=90),  # a challenge of no organisation
        pledged(4, "ch_nowhere", "lea", minutes=90),
    ]
    assert world.counter.count(changes) == []
    assert counted(world, ours) == {}
    assert counted(world, public) == {}


def test_a_campaign_leaderboard_counts_a_person_once_per_team(world: Teams) -> None:
    lyon = world.team("Lyon")
    for person in ("lea", "tom"):
        world.service.join(employee(person), ORG, lyon, None)
    campaign_id = a_campaign(world)
    first, second = a_challenge(world, campaign_id), a_challenge(world, campaign_id)
    changes = [pledged(1, first, "lea"), pledged(2, second, "lea"), pledged(3, second, "tom")]
    assert world.counter.count(changes) == []
    assert counted(world, campaign_id) == {lyon: (2, 0)}
    withdrawn = TeamChange("4", ChangeKind.WITHDRAWN, first, "lea", T0)
    assert world.counter.count([withdrawn]) == []
    assert counted(world, campaign_id) == {lyon: (2, 0)}
    assert counted(world, first) == {lyon: (0, 0)}
    board = world.service.campaign_leaderboard(campaign_id, None, Ranking.PARTICIPANTS)
    assert [(e.rank, e.team.id, e.participants) for e in board.entries] == [(1, lyon, 2)]


class RacedTallies(FakeTeamTallies):
    """Another trigger writes the shares read between the read and the write: `races`
    times, and always for the records in `stuck`."""

    def __init__(self, races: int = 0, stuck: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.races = races
        self.stuck = stuck

    def apply(
        self,
        receipt: str,
        shares: Mapping[tuple[str, str], ScopeShare],
        deltas: Sequence[TeamDelta],
        *,
        now: datetime,
    ) -> Applied:
        if (self.races or receipt in self.stuck) and shares:
            self.races = max(self.races - 1, 0)
            fresh = self.shares(list(shares))
            assert (
                super().apply(f"other-{len(self.receipts)}", fresh, [], now=now) is Applied.APPLIED
            )
        return super().apply(receipt, shares, deltas, now=now)


def tally_service(world: Teams, tallies: FakeTeamTallies) -> TeamTallyService:
    return TeamTallyService(
        tallies, world.memberships, world.backend.challenge_repository, world.backend.clock
    )


def test_a_conflict_is_read_again_and_applied(world: Teams) -> None:
    lyon = world.team("Lyon")
    world.service.join(employee("lea"), ORG, lyon, None)
    challenge_id = a_challenge(world)
    raced = RacedTallies(races=APPLY_ATTEMPTS - 1)
    assert tally_service(world, raced).count([pledged(1, challenge_id, "lea")]) == []
    assert {t: x.participants for t, x in raced.tallies(challenge_id).items()} == {lyon: 1}
    assert raced.shares([(challenge_id, "lea")])[(challenge_id, "lea")].pledges == {lyon: 1}


def test_a_change_that_fails_fails_every_later_one_and_the_earlier_ones_stand(
    world: Teams,
) -> None:
    lyon = world.team("Lyon")
    for person in ("lea", "tom", "sam"):
        world.service.join(employee(person), ORG, lyon, None)
    challenge_id = a_challenge(world)
    changes = [pledged(n, challenge_id, p) for n, p in enumerate(("lea", "tom", "sam"), 1)]
    # Tom's record meets a share that keeps changing under it: his and Sam's wait.
    stuck = RacedTallies(stuck=frozenset({"2"}))
    failed = tally_service(world, stuck).count(changes)
    assert [(c.receipt, type(e)) for c, e in failed] == [
        ("2", ContentionError),
        ("3", ContentionError),
    ]
    assert {t: x.participants for t, x in stuck.tallies(challenge_id).items()} == {lyon: 1}
    # Delivered again from the first one, once the share is quiet: each counts once.
    stuck.stuck = frozenset()
    assert tally_service(world, stuck).count(changes) == []
    assert {t: x.participants for t, x in stuck.tallies(challenge_id).items()} == {lyon: 3}


def test_a_challenge_leaderboard_from_counted_changes(world: Teams) -> None:
    big, small = world.team("Big"), world.team("Small")
    challenge_id = a_challenge(world)
    changes: list[TeamChange] = []
    for n in range(6):
        team_id = big if n < 5 else small
        world.service.join(employee(f"p{n}"), ORG, team_id, f"Person {n}")
        changes.append(pledged(n, challenge_id, f"p{n}", minutes=1))
        changes.append(TeamChange(f"r{n}", ChangeKind.REPORTED, challenge_id, f"p{n}", T0, n + 1))
    assert world.counter.count(changes) == []
    board = world.service.challenge_leaderboard(challenge_id, None, Ranking.QUANTITY)
    by_name = {e.team.name: e for e in board.entries}
    assert (by_name["Big"].rank, by_name["Big"].quantity, by_name["Big"].participants) == (1, 15, 5)
    assert by_name["Big"].members == tuple(f"Person {n}" for n in (4, 3, 2, 1, 0))
    assert (by_name["Small"].rank, by_name["Small"].members) == (2, None)
