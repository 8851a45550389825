"""Teams and leaderboards: an organisation's teams, one membership per person and
organisation (with its history, so a pledge or a report counts for the team of its time),
and the teams ranked per challenge and per campaign (docs/decisions.md 145-156)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum

from chalicelib.domain.areas import MIN_PARTICIPANTS_SHOWN

TEAM_ID_PREFIX = "team_"
# After an erasure, a person's membership history (no name) is kept this long, then expires:
# a pledge made before the erasure may still be in the stream (24 h at most), and counts
# for the team of its time.
ERASED_HISTORY_LIFETIME = timedelta(days=2)
MAX_TEAMS_PER_ORGANIZATION = 200
# Names shown per team on a leaderboard: its top contributors, never the whole roster.
NAMES_SHOWN_PER_TEAM = 10
# A team with fewer participants than this in the leaderboard's scope is shown without its
# members' names (the k=5 rule of the areas, domain.areas).
MIN_PARTICIPANTS_NAMED = MIN_PARTICIPANTS_SHOWN


@dataclass(frozen=True)
class Team:
    id: str
    organization_id: str
    name: str
    created_at: datetime
    description: str = ""


@dataclass(frozen=True)
class Membership:
    """Which team of an organisation a person is in since when (`team_id` None: they left)."""

    participant_id: str
    organization_id: str
    team_id: str | None
    since: datetime
    display_name: str | None = None  # the name they chose to show on leaderboards


def history_key(organization_id: str, since: datetime) -> str:
    """A membership change's sort key: the organisation, then the instant (fixed width, UTC),
    so the entries of one organisation sort by time and `<= at` finds the one in force."""
    return f"{organization_id}#{since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}"


class Ranking(Enum):
    PARTICIPANTS = "participants"
    QUANTITY = "quantity"


class ScopeKind(Enum):
    CHALLENGE = "challenge"
    CAMPAIGN = "campaign"


@dataclass(frozen=True)
class TeamTally:
    """A team's figures in one scope (a challenge or a campaign): people whose pledges count
    for it (once each in a campaign), and the quantity reported while in it."""

    team_id: str
    participants: int = 0
    quantity: int | float = 0


@dataclass(frozen=True)
class MemberTally:
    """One person's share of a team in one scope."""

    participant_id: str
    team_id: str
    pledges: int
    quantity: int | float


@dataclass(frozen=True)
class LeaderboardEntry:
    rank: int
    team: Team
    participants: int
    quantity: int | float
    members: tuple[str, ...] | None  # None: too few participants to name anyone


@dataclass(frozen=True)
class Leaderboard:
    scope: ScopeKind
    scope_id: str
    organization_id: str | None
    ranking: Ranking
    unit: str | None
    entries: tuple[LeaderboardEntry, ...]


def rank(
    teams: Iterable[Team],
    tallies: Mapping[str, TeamTally],
    ranking: Ranking,
    members: Mapping[str, list[MemberTally]],
    names: Mapping[str, str],
) -> tuple[LeaderboardEntry, ...]:
    """Every team ranked (ties share a rank, "1, 2, 2, 4"; then by name), each with the names
    of its top contributors when it has enough participants to name them."""

    def score(team: Team) -> int | float:
        tally = tallies.get(team.id, TeamTally(team.id))
        return tally.participants if ranking is Ranking.PARTICIPANTS else tally.quantity

    ordered = sorted(teams, key=lambda team: (-score(team), team.name.casefold(), team.id))
    entries: list[LeaderboardEntry] = []
    for position, team in enumerate(ordered, start=1):
        tally = tallies.get(team.id, TeamTally(team.id))
        if entries and score(team) == score(ordered[position - 2]):
            place = entries[-1].rank
        else:
            place = position
        entries.append(
            LeaderboardEntry(
                rank=place,
                team=team,
                participants=max(tally.participants, 0),
                quantity=tally.quantity,
                members=_named(tally, members.get(team.id, []), names),
            )
        )
    return tuple(entries)


def _named(
    tally: TeamTally, members: list[MemberTally], names: Mapping[str, str]
) -> tuple[str, ...] | None:
    if tally.participants < MIN_PARTICIPANTS_NAMED:
        return None
    top = sorted(
        (m for m in members if m.pledges > 0 and names.get(m.participant_id)),
        key=lambda m: (-m.quantity, names[m.participant_id].casefold(), m.participant_id),
    )
    return tuple(names[m.participant_id] for m in top[:NAMES_SHOWN_PER_TEAM])


# What the pledges stream tells the leaderboards (services.teams.TeamTallyService).
class ChangeKind(Enum):
    PLEDGED = "pledged"  # +1 participant for the team of the pledge's time
    WITHDRAWN = "withdrawn"  # -1 for the team the pledge counted for
    REPORTED = "reported"  # +quantity for the team of the report's time
    ERASED = "erased"  # the pledge moved to a pseudonym: its attribution moves with it


@dataclass(frozen=True)
class TeamChange:
    receipt: str  # the stream record's sequence number
    kind: ChangeKind
    challenge_id: str
    participant_id: str
    at: datetime
    quantity: int | float = 0
    pseudonym: str | None = None  # ERASED: where the pledge went


@dataclass
class ScopeShare:
    """A person's counts per team in one scope, as stored (`pledges`, `quantity` per team)."""

    pledges: dict[str, int] = field(default_factory=dict)
    quantity: dict[str, int | float] = field(default_factory=dict)
    version: int = 0

    def teams_pledged(self) -> set[str]:
        return {team for team, count in self.pledges.items() if count > 0}
