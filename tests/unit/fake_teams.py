"""In-memory teams, memberships with their history, and leaderboard tallies (the team
ports): one lock stands for DynamoDB's transactions and conditions."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from chalicelib.domain.teams import (
    Membership,
    MemberTally,
    ScopeShare,
    Team,
    TeamTally,
    history_key,
)
from chalicelib.services.team_ports import Applied, TeamDelta


def _name_claim(team: Team) -> tuple[str, str]:
    return (team.organization_id, team.name.strip().casefold())


class FakeTeamRepository:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.teams: dict[tuple[str, str], Team] = {}  # (organisation, team id) -> team
        self.names: set[tuple[str, str]] = set()  # (organisation, casefolded name): the claims

    def add(self, team: Team) -> bool:
        with self._lock:
            key = (team.organization_id, team.id)
            if _name_claim(team) in self.names or key in self.teams:
                return False
            self.names.add(_name_claim(team))
            self.teams[key] = team
            return True

    def list_for_organization(self, organization_id: str) -> list[Team]:
        with self._lock:
            found = [t for (org, _), t in self.teams.items() if org == organization_id]
        return sorted(found, key=lambda team: (team.name.casefold(), team.id))

    def get(self, organization_id: str, team_id: str) -> Team | None:
        with self._lock:
            return self.teams.get((organization_id, team_id))


class FakeMembershipRepository:
    """Current memberships and the history of changes, as `team_members` keeps them: a
    history entry per team change (none for a name-only change), keyed by `history_key`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current_items: dict[tuple[str, str], Membership] = {}  # (person, organisation)
        self.history_items: dict[str, dict[str, Membership]] = {}  # person -> key -> change
        # What an erasure left until it expires: tombstones (person, organisation) -> since,
        # and history keys per person that only `teams_at` still reads.
        self.tombstones: dict[tuple[str, str], datetime] = {}
        self.erased_history: dict[str, set[str]] = {}

    def current(self, participant_id: str, organization_id: str) -> Membership | None:
        with self._lock:
            return self.current_items.get((participant_id, organization_id))

    def change(self, before: Membership | None, after: Membership) -> bool:
        key = (after.participant_id, after.organization_id)
        with self._lock:
            stored = self.current_items.get(key)
            # What DynamoDB's condition compares: none there (or a tombstone), or the same
            # instant and name.
            if before is None:
                if stored is not None:
                    return False
            elif stored is None or (stored.since, stored.display_name) != (
                before.since,
                before.display_name,
            ):
                return False
            self.current_items[key] = after
            self.tombstones.pop(key, None)
            if before is None or before.team_id != after.team_id:
                entries = self.history_items.setdefault(after.participant_id, {})
                entries[history_key(after.organization_id, after.since)] = replace(
                    after, display_name=None
                )
            return True

    def teams_at(self, lookups: Sequence[tuple[str, str, datetime]]) -> list[str | None]:
        with self._lock:
            return [self._team_at(*lookup) for lookup in lookups]

    def _team_at(self, participant_id: str, organization_id: str, at: datetime) -> str | None:
        found = self.current_items.get((participant_id, organization_id))
        erased = self.tombstones.get((participant_id, organization_id))
        if found is None and erased is None:
            return None
        if found is not None and found.since <= at:
            return found.team_id
        if found is None and erased is not None and erased <= at:
            return None  # erased then: in no team from then on
        upto = history_key(organization_id, at)
        earlier = [
            (key, change)
            for key, change in self.history_items.get(participant_id, {}).items()
            if key.startswith(f"{organization_id}#") and key <= upto
        ]
        return max(earlier, key=lambda entry: entry[0])[1].team_id if earlier else None

    def names(self, organization_id: str, participant_ids: Sequence[str]) -> dict[str, str]:
        with self._lock:
            found = (self.current_items.get((p, organization_id)) for p in participant_ids)
            return {m.participant_id: m.display_name for m in found if m and m.display_name}

    def of_participant(self, participant_id: str) -> list[Membership]:
        with self._lock:
            return [m for (p, _), m in sorted(self.current_items.items()) if p == participant_id]

    def history(self, participant_id: str) -> list[Membership]:
        with self._lock:
            erased = self.erased_history.get(participant_id, set())
            return [
                m
                for key, m in sorted(self.history_items.get(participant_id, {}).items())
                if key not in erased
            ]

    def erase(self, participant_id: str, now: datetime) -> int:
        with self._lock:
            self.erased_history.setdefault(participant_id, set()).update(
                self.history_items.get(participant_id, {})
            )
            mine = [key for key in self.current_items if key[0] == participant_id]
            for key in mine:
                del self.current_items[key]
                self.tombstones[key] = now
            return len(mine)


@dataclass
class _TeamFigures:
    organization_id: str
    participants: int = 0
    quantity: int | float = 0


def _stored(share: ScopeShare, version: int) -> ScopeShare:
    """The share as DynamoDB keeps it: a copy, without the teams whose count is zero."""
    return ScopeShare(
        pledges={team: count for team, count in share.pledges.items() if count},
        quantity={team: quantity for team, quantity in share.quantity.items() if quantity},
        version=version,
    )


class FakeTeamTallies:
    """Shares per (scope, participant), figures per (scope, team) and the receipts of the
    records applied; `apply` refuses as the DynamoDB transaction does, writing nothing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stored_shares: dict[tuple[str, str], ScopeShare] = {}
        self.figures: dict[tuple[str, str], _TeamFigures] = {}
        self.receipts: set[str] = set()

    def shares(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ScopeShare]:
        with self._lock:
            return {
                key: _stored(self.stored_shares.get(key, ScopeShare()), self._version(key))
                for key in keys
            }

    def _version(self, key: tuple[str, str]) -> int:
        found = self.stored_shares.get(key)
        return found.version if found else 0

    def apply(
        self,
        receipt: str,
        shares: Mapping[tuple[str, str], ScopeShare],
        deltas: Sequence[TeamDelta],
        *,
        now: datetime,
    ) -> Applied:
        with self._lock:
            # The receipt's condition is read first, as the transaction's reasons are.
            if receipt in self.receipts:
                return Applied.ALREADY
            if any(self._version(key) != share.version for key, share in shares.items()):
                return Applied.CONFLICT
            self.receipts.add(receipt)
            for key, share in shares.items():
                self.stored_shares[key] = _stored(share, share.version + 1)
            for delta in deltas:
                figures = self.figures.setdefault(
                    (delta.scope, delta.team_id), _TeamFigures(delta.organization_id)
                )
                figures.participants += delta.participants
                figures.quantity += delta.quantity
            return Applied.APPLIED

    def tallies(self, scope: str) -> dict[str, TeamTally]:
        with self._lock:
            return {
                team: TeamTally(team, figures.participants, figures.quantity)
                for (s, team), figures in self.figures.items()
                if s == scope
            }

    def members(self, scope: str) -> list[MemberTally]:
        with self._lock:
            return [
                MemberTally(
                    participant,
                    team,
                    share.pledges.get(team, 0),
                    share.quantity.get(team, 0),
                )
                for (s, participant), share in sorted(self.stored_shares.items())
                if s == scope
                for team in sorted({*share.pledges, *share.quantity})
            ]
