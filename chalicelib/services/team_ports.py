"""What the teams service needs from storage: teams, memberships with their history, and
the leaderboard tallies the pledges stream keeps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol

from chalicelib.domain.teams import Membership, MemberTally, ScopeShare, Team, TeamTally


class TeamRepository(Protocol):
    def add(self, team: Team) -> bool:
        """Store a new team; False if its organisation has a team of that name already."""
        ...

    def list_for_organization(self, organization_id: str) -> list[Team]:
        """The organisation's teams, by name."""
        ...

    def get(self, organization_id: str, team_id: str) -> Team | None: ...


class MembershipRepository(Protocol):
    def current(self, participant_id: str, organization_id: str) -> Membership | None:
        """The person's membership in this organisation now (a consistent read)."""
        ...

    def change(self, before: Membership | None, after: Membership) -> bool:
        """Make `after` the current membership and record the change in the history, if the
        current one is still `before` (None: there was none); False otherwise."""
        ...

    def teams_at(self, lookups: Sequence[tuple[str, str, datetime]]) -> list[str | None]:
        """For each (participant, organisation, instant): the team the person was in then."""
        ...

    def names(self, organization_id: str, participant_ids: Sequence[str]) -> dict[str, str]:
        """The names these people chose to show in this organisation's teams (if any)."""
        ...

    def of_participant(self, participant_id: str) -> list[Membership]:
        """Every current membership of a person, for `/me/teams` and their export."""
        ...

    def history(self, participant_id: str) -> list[Membership]:
        """Every membership change of a person (their export), oldest first per organisation."""
        ...

    def erase(self, participant_id: str, now: datetime) -> int:
        """Forget the person's memberships now (how many): they and their names are gone,
        and only the history the stream may still need (no name) is kept until
        `now + ERASED_HISTORY_LIFETIME`, for the pledges and reports not yet counted."""
        ...


@dataclass(frozen=True)
class TeamDelta:
    scope: str
    team_id: str
    organization_id: str
    participants: int = 0
    quantity: int | float = 0


class Applied(Enum):
    APPLIED = "applied"
    ALREADY = "already"  # the change's receipt was there: counted before
    CONFLICT = "conflict"  # a share changed since it was read: read again and retry


class TeamTallyRepository(Protocol):
    def shares(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ScopeShare]:
        """The (scope, participant) shares, read consistently; a missing one is empty."""
        ...

    def apply(
        self,
        receipt: str,
        shares: Mapping[tuple[str, str], ScopeShare],
        deltas: Sequence[TeamDelta],
        *,
        now: datetime,
    ) -> Applied:
        """Write the shares (each only if its stored version is still the one read; the
        stored version becomes one more) and add the deltas, atomically with the receipt."""
        ...

    def tallies(self, scope: str) -> dict[str, TeamTally]: ...

    def members(self, scope: str) -> list[MemberTally]:
        """Every person's share of every team in the scope."""
        ...
