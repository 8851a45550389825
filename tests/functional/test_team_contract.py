"""One contract for the team ports, run on the in-memory fakes and on DynamoDB (moto): team
names, membership changes and their history, the team of any instant, erasure, and the
tallies' receipts and versioned shares."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from moto import mock_aws

from chalicelib.domain.teams import Membership, ScopeShare, Team, TeamTally
from chalicelib.local import moto_fixes
from chalicelib.services.team_ports import (
    Applied,
    MembershipRepository,
    TeamDelta,
    TeamRepository,
    TeamTallyRepository,
)
from chalicelib.settings import Settings
from chalicelib.storage.tables import create_tables
from chalicelib.storage.teams import (
    DynamoMembershipRepository,
    DynamoTeamRepository,
    DynamoTeamTallies,
)
from chalicelib.wiring import build_container
from tests.unit.fake_teams import FakeMembershipRepository, FakeTeamRepository, FakeTeamTallies

NOW = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
ORG, OTHER_ORG = "org_humanis", "org_grdf"
CHALLENGE, CAMPAIGN = "ch_1", "cmp_1"


@dataclass
class TeamStore:
    teams: TeamRepository
    memberships: MembershipRepository
    tallies: TeamTallyRepository


@pytest.fixture(params=["fakes", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Iterator[TeamStore]:
    if request.param == "fakes":
        yield TeamStore(FakeTeamRepository(), FakeMembershipRepository(), FakeTeamTallies())
        return
    settings: Settings = request.getfixturevalue("env")
    moto_fixes.apply()
    with mock_aws():
        build_container(settings)
        create_tables()
        yield TeamStore(DynamoTeamRepository(), DynamoMembershipRepository(), DynamoTeamTallies())


def a_team(name: str, n: int, organization_id: str = ORG) -> Team:
    return Team(f"team_{n:04d}", organization_id, name, NOW, description="")


def member(
    team_id: str | None,
    minutes: int,
    *,
    person: str = "lea",
    organization_id: str = ORG,
    name: str | None = None,
) -> Membership:
    return Membership(person, organization_id, team_id, NOW + timedelta(minutes=minutes), name)


# --- teams ---------------------------------------------------------------------------------------


def test_team_names_are_unique_per_organisation_without_case(store: TeamStore) -> None:
    assert store.teams.add(a_team("Lyon", 1))
    assert not store.teams.add(a_team("lyon", 2))
    assert not store.teams.add(a_team(" LYON ", 3))
    assert store.teams.add(a_team("LYON", 4, OTHER_ORG))  # another organisation's
    assert store.teams.add(a_team("arles", 5))
    assert [t.id for t in store.teams.list_for_organization(ORG)] == ["team_0005", "team_0001"]
    assert store.teams.get(ORG, "team_0001") == a_team("Lyon", 1)
    assert store.teams.get(ORG, "team_0002") is None
    assert store.teams.get(OTHER_ORG, "team_0001") is None
    assert store.teams.list_for_organization("org_nowhere") == []


# --- memberships ---------------------------------------------------------------------------------


def test_a_change_from_a_stale_membership_is_refused(store: TeamStore) -> None:
    first = member("team_a", 0)
    assert store.memberships.change(None, first)
    assert not store.memberships.change(None, member("team_b", 1))  # it has one now
    moved = member("team_b", 2)
    assert store.memberships.change(first, moved)
    assert not store.memberships.change(first, member("team_c", 3))  # read before the move
    assert store.memberships.current("lea", ORG) == moved
    # A name-only change keeps the instant: the name read is what a racing change needs.
    named = replace(moved, display_name="Léa")
    assert store.memberships.change(moved, named)
    assert not store.memberships.change(moved, replace(moved, display_name="Léa M."))
    assert store.memberships.current("lea", ORG) == named
    assert store.memberships.current("lea", OTHER_ORG) is None
    assert store.memberships.current("tom", ORG) is None


def test_the_history_has_one_entry_per_team_change_oldest_first(store: TeamStore) -> None:
    joined, moved, left = member("team_a", 0), member("team_b", 10), member(None, 20)
    renamed = replace(joined, display_name="Léa")
    assert store.memberships.change(None, joined)
    assert store.memberships.change(joined, renamed)  # no entry: the same team
    assert store.memberships.change(renamed, moved)
    assert store.memberships.change(moved, left)
    assert store.memberships.history("lea") == [joined, moved, left]
    assert store.memberships.of_participant("lea") == [left]
    assert store.memberships.history("tom") == []


def test_the_team_of_an_instant_before_between_and_after_changes(store: TeamStore) -> None:
    steps = [member("team_a", 0), member("team_b", 10), member(None, 20), member("team_c", 30)]
    before: Membership | None = None
    for step in steps:
        assert store.memberships.change(before, step)
        before = step
    # The current membership renamed: its instant stays, so does every answer.
    assert store.memberships.change(before, replace(steps[-1], display_name="Léa"))
    at = [-1, 0, 5, 10, 15, 20, 25, 30, 90]
    answers = store.memberships.teams_at([("lea", ORG, NOW + timedelta(minutes=m)) for m in at])
    assert answers == [
        None,  # before joining
        "team_a",  # the instant of the join
        "team_a",
        "team_b",
        "team_b",
        None,  # left
        None,
        "team_c",  # back, in another team
        "team_c",
    ]
    # Lookups in any order, repeated, with people and organisations unknown.
    later, earlier = NOW + timedelta(minutes=12), NOW + timedelta(minutes=1)
    assert store.memberships.teams_at(
        [
            ("lea", ORG, later),
            ("tom", ORG, later),
            ("lea", OTHER_ORG, later),
            ("lea", ORG, earlier),
            ("lea", ORG, later),
        ]
    ) == ["team_b", None, None, "team_a", "team_b"]
    assert store.memberships.teams_at([]) == []


def test_the_team_of_an_instant_is_per_organisation(store: TeamStore) -> None:
    assert store.memberships.change(None, member("team_a", 0))
    assert store.memberships.change(None, member("team_x", 5, organization_id=OTHER_ORG))
    moved = member("team_y", 10, organization_id=OTHER_ORG)
    assert store.memberships.change(member("team_x", 5, organization_id=OTHER_ORG), moved)
    at = NOW + timedelta(minutes=7)
    assert store.memberships.teams_at([("lea", ORG, at), ("lea", OTHER_ORG, at)]) == [
        "team_a",
        "team_x",
    ]
    assert [m.organization_id for m in store.memberships.of_participant("lea")] == sorted(
        [ORG, OTHER_ORG]
    )


def test_names_are_the_ones_people_chose_in_that_organisation(store: TeamStore) -> None:
    assert store.memberships.change(None, member("team_a", 0, name="Léa"))
    assert store.memberships.change(None, member("team_a", 0, person="tom"))  # no name
    assert store.memberships.change(
        None, member("team_x", 0, person="sam", organization_id=OTHER_ORG, name="Sam")
    )
    assert store.memberships.names(ORG, ["lea", "tom", "sam", "nobody"]) == {"lea": "Léa"}
    assert store.memberships.names(OTHER_ORG, ["lea", "sam"]) == {"sam": "Sam"}
    assert store.memberships.names(ORG, []) == {}


def test_erase_forgets_the_person_but_not_the_team_of_their_past(store: TeamStore) -> None:
    joined, moved = member("team_a", 0, name="Léa"), member("team_b", 10)
    assert store.memberships.change(None, joined)
    assert store.memberships.change(joined, moved)
    assert store.memberships.change(None, member("team_x", 5, organization_id=OTHER_ORG))
    assert store.memberships.change(None, member("team_a", 0, person="tom"))
    assert store.memberships.erase("lea", NOW + timedelta(minutes=20)) == 2
    assert store.memberships.current("lea", ORG) is None
    assert store.memberships.of_participant("lea") == []
    assert store.memberships.history("lea") == []
    assert store.memberships.names(ORG, ["lea", "tom"]) == {}
    # A pledge made before the erasure and counted after it still finds its team (the
    # history expires after the stream's retention); one after it finds none.
    instants = [NOW + timedelta(minutes=m) for m in (5, 15, 25)]
    assert store.memberships.teams_at([("lea", ORG, at) for at in instants]) == [
        "team_a",
        "team_b",
        None,
    ]
    assert store.memberships.erase("lea", NOW + timedelta(minutes=30)) == 0
    # Someone else's stay; and the person may join again, as new.
    assert store.memberships.current("tom", ORG) == member("team_a", 0, person="tom")
    assert store.memberships.change(None, member("team_c", 30))


# --- tallies -------------------------------------------------------------------------------------


def delta(
    team_id: str, participants: int = 0, quantity: float = 0, scope: str = CHALLENGE
) -> TeamDelta:
    return TeamDelta(scope, team_id, ORG, participants, quantity)


def test_applied_shares_and_deltas_are_read_back(store: TeamStore) -> None:
    tallies = store.tallies
    keys = [(CHALLENGE, "lea"), (CAMPAIGN, "lea")]
    read = tallies.shares(keys)
    assert read == {key: ScopeShare() for key in keys}
    read[(CHALLENGE, "lea")].pledges["team_a"] = 1
    read[(CHALLENGE, "lea")].quantity["team_a"] = 2.5
    read[(CAMPAIGN, "lea")].pledges.update({"team_a": 1, "team_b": 0})  # zeros are not kept
    deltas = [
        delta("team_a", 1, 2.5),
        delta("team_a", 1, scope=CAMPAIGN),
        delta("team_b", 0, 3, scope=CAMPAIGN),  # one delta per team and scope, as planned
    ]
    assert tallies.apply("seq-1", read, deltas, now=NOW) is Applied.APPLIED
    assert tallies.shares(keys) == {
        (CHALLENGE, "lea"): ScopeShare({"team_a": 1}, {"team_a": 2.5}, version=1),
        (CAMPAIGN, "lea"): ScopeShare({"team_a": 1}, {}, version=1),
    }
    assert tallies.tallies(CHALLENGE) == {"team_a": TeamTally("team_a", 1, 2.5)}
    assert tallies.tallies(CAMPAIGN) == {
        "team_a": TeamTally("team_a", 1, 0),
        "team_b": TeamTally("team_b", 0, 3),
    }
    assert tallies.tallies("ch_nowhere") == {}
    members = tallies.members(CHALLENGE)
    assert [(m.participant_id, m.team_id, m.pledges, m.quantity) for m in members] == [
        ("lea", "team_a", 1, 2.5)
    ]


def test_a_receipt_seen_before_is_already_applied_and_writes_nothing(store: TeamStore) -> None:
    tallies = store.tallies
    key = (CHALLENGE, "lea")
    share = tallies.shares([key])[key]
    share.pledges["team_a"] = 1
    assert tallies.apply("seq-1", {key: share}, [delta("team_a", 1)], now=NOW) is Applied.APPLIED
    again = tallies.shares([key])[key]
    again.pledges["team_a"] = 2
    # The receipt wins over anything else: a fresh share and deltas count nothing.
    assert tallies.apply("seq-1", {key: again}, [delta("team_a", 1)], now=NOW) is Applied.ALREADY
    # ... and over a stale share too.
    stale = ScopeShare({"team_a": 5}, version=0)
    assert tallies.apply("seq-1", {key: stale}, [delta("team_a", 1)], now=NOW) is Applied.ALREADY
    assert tallies.apply("seq-1", {}, [], now=NOW) is Applied.ALREADY
    assert tallies.tallies(CHALLENGE) == {"team_a": TeamTally("team_a", 1, 0)}
    assert tallies.shares([key])[key] == ScopeShare({"team_a": 1}, version=1)


def test_a_stale_share_version_is_a_conflict_and_writes_nothing(store: TeamStore) -> None:
    tallies = store.tallies
    lea, tom = (CHALLENGE, "lea"), (CHALLENGE, "tom")
    first = tallies.shares([lea, tom])
    first[lea].pledges["team_a"] = 1
    assert (
        tallies.apply("seq-1", {lea: first[lea]}, [delta("team_a", 1)], now=NOW) is Applied.APPLIED
    )
    # Read before seq-1 was applied: lea's version is 0, the stored one 1. Tom's is fresh.
    stale = {lea: replace(first[lea], pledges={"team_a": 0}), tom: first[tom]}
    stale[tom].pledges["team_b"] = 1
    outcome = tallies.apply("seq-2", stale, [delta("team_a", -1), delta("team_b", 1)], now=NOW)
    assert outcome is Applied.CONFLICT
    assert tallies.tallies(CHALLENGE) == {"team_a": TeamTally("team_a", 1, 0)}
    assert tallies.shares([lea, tom]) == {
        lea: ScopeShare({"team_a": 1}, version=1),
        tom: ScopeShare(version=0),
    }
    # Nothing written, the receipt neither: read again, the record applies.
    fresh = tallies.shares([lea, tom])
    fresh[lea].pledges["team_a"] = 0
    fresh[tom].pledges["team_b"] = 1
    outcome = tallies.apply("seq-2", fresh, [delta("team_a", -1), delta("team_b", 1)], now=NOW)
    assert outcome is Applied.APPLIED
    assert tallies.tallies(CHALLENGE) == {
        "team_a": TeamTally("team_a", 0, 0),
        "team_b": TeamTally("team_b", 1, 0),
    }
    assert tallies.shares([lea, tom]) == {
        lea: ScopeShare({}, version=2),
        tom: ScopeShare({"team_b": 1}, version=1),
    }


def test_a_share_created_since_it_was_read_is_a_conflict(store: TeamStore) -> None:
    tallies = store.tallies
    key = (CAMPAIGN, "lea")
    one, other = tallies.shares([key])[key], tallies.shares([key])[key]
    one.pledges["team_a"] = 1
    other.pledges["team_b"] = 1
    assert tallies.apply("seq-1", {key: one}, [delta("team_a", 1)], now=NOW) is Applied.APPLIED
    assert tallies.apply("seq-2", {key: other}, [delta("team_b", 1)], now=NOW) is Applied.CONFLICT
    assert tallies.shares([key])[key] == ScopeShare({"team_a": 1}, version=1)


def test_of_racing_writers_from_one_read_exactly_one_wins(store: TeamStore) -> None:
    tallies = store.tallies
    key = (CHALLENGE, "lea")
    read = tallies.shares([key])[key]
    outcomes: list[Applied] = []
    lock = threading.Lock()

    def write(n: int) -> None:
        share = replace(read, pledges={f"team_{n}": 1})
        outcome = tallies.apply(f"seq-{n}", {key: share}, [delta(f"team_{n}", 1)], now=NOW)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(o.value for o in outcomes) == ["applied"] + ["conflict"] * 3
    stored = tallies.shares([key])[key]
    assert stored.version == 1
    assert {
        t: tally.participants for t, tally in tallies.tallies(CHALLENGE).items()
    } == dict.fromkeys(stored.pledges, 1)
