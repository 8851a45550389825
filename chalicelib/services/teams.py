"""Teams and leaderboards: organisations define teams, people join one team per
organisation, and each challenge and campaign ranks its organisation's teams from counts the
pledges stream keeps (`TeamTallyService`), so the pledge path does nothing for teams."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace

from chalicelib.domain.access import AdminScope
from chalicelib.domain.errors import (
    ContentionError,
    InvalidFieldsError,
    NotFoundError,
    OrganizationNotFoundError,
    PermissionDeniedError,
    TeamNameTakenError,
)
from chalicelib.domain.model import Challenge, Organization, Principal
from chalicelib.domain.teams import (
    MAX_TEAMS_PER_ORGANIZATION,
    MIN_PARTICIPANTS_NAMED,
    TEAM_ID_PREFIX,
    ChangeKind,
    Leaderboard,
    Membership,
    MemberTally,
    Ranking,
    ScopeKind,
    ScopeShare,
    Team,
    TeamChange,
    TeamTally,
    rank,
)
from chalicelib.services.campaigns import CampaignService
from chalicelib.services.challenges import ChallengeService
from chalicelib.services.organizations import OrganizationRepository
from chalicelib.services.ports import ChallengeRepository, Clock
from chalicelib.services.team_ports import (
    Applied,
    MembershipRepository,
    TeamDelta,
    TeamRepository,
    TeamTallyRepository,
)
from chalicelib.storage.expiring import ReadThroughCache

logger = logging.getLogger(__name__)

# A change is retried this many times when another writer moved a share it read.
APPLY_ATTEMPTS = 5


class TeamNotFoundError(NotFoundError):
    def __init__(self, team_id: str) -> None:
        super().__init__(f"team {team_id!r} does not exist")


@dataclass(frozen=True)
class MyTeams:
    """A person's team in one organisation, and the teams they may choose from."""

    organization: Organization
    membership: Membership | None
    teams: list[Team]


@dataclass(frozen=True)
class _Standing:
    """What a leaderboard is made of, as read (and cached) for one scope: the teams too, so
    a watcher's poll within the cache's time reads nothing."""

    teams: list[Team]
    tallies: dict[str, TeamTally]
    members: dict[str, list[MemberTally]]
    names: dict[str, str]


class TeamService:
    def __init__(
        self,
        teams: TeamRepository,
        memberships: MembershipRepository,
        tallies: TeamTallyRepository,
        organizations: OrganizationRepository,
        challenges: ChallengeService,
        campaigns: CampaignService,
        clock: Clock,
        *,
        leaderboard_ttl: float = 5.0,
    ) -> None:
        self._teams = teams
        self._memberships = memberships
        self._tallies = tallies
        self._organizations = organizations
        self._challenges = challenges
        self._campaigns = campaigns
        self._clock = clock
        self._standings: ReadThroughCache[tuple[str, str | None], _Standing] = ReadThroughCache(
            ttl=leaderboard_ttl, missing_ttl=leaderboard_ttl, max_entries=1_000
        )

    # --- admins --------------------------------------------------------------------------------

    def create(self, organization_id: str, name: str, description: str, scope: AdminScope) -> Team:
        self._administered(organization_id, scope)
        if len(self._teams.list_for_organization(organization_id)) >= MAX_TEAMS_PER_ORGANIZATION:
            raise InvalidFieldsError(
                "too many teams",
                {"name": f"an organisation has at most {MAX_TEAMS_PER_ORGANIZATION} teams"},
            )
        team = Team(
            id=TEAM_ID_PREFIX + secrets.token_hex(8),
            organization_id=organization_id,
            name=name.strip(),
            description=description.strip(),
            created_at=self._clock.now(),
        )
        if not self._teams.add(team):
            raise TeamNameTakenError(f"the organisation has a team named {team.name!r} already")
        return team

    def list_for_admin(self, organization_id: str, scope: AdminScope) -> list[Team]:
        self._administered(organization_id, scope)
        return self._teams.list_for_organization(organization_id)

    # --- members -------------------------------------------------------------------------------

    def mine(self, principal: Principal, organization_id: str) -> MyTeams:
        organization = self._organization(organization_id)
        self._check_may_join(organization, principal)
        return MyTeams(
            organization,
            self._current(principal.sub, organization_id),
            self._teams.list_for_organization(organization_id),
        )

    def memberships(self, principal: Principal) -> list[Membership]:
        return [m for m in self._memberships.of_participant(principal.sub) if m.team_id]

    def join(
        self,
        principal: Principal,
        organization_id: str,
        team_id: str,
        display_name: str | None,
    ) -> Membership:
        """Join (or move to) a team of the organisation; the same team again changes only
        the name shown. From now on the person's pledges and reports count for it."""
        organization = self._organization(organization_id)
        self._check_may_join(organization, principal)
        if self._teams.get(organization_id, team_id) is None:
            raise InvalidFieldsError(
                "not a team of this organisation",
                {"team_id": f"{team_id!r} is not a team of organisation {organization_id!r}"},
            )
        return self._change(principal.sub, organization_id, team_id, display_name)

    def leave(self, principal: Principal, organization_id: str) -> bool:
        """Leave the organisation's teams; False if the person was in none."""
        self._organization(organization_id)
        current = self._current(principal.sub, organization_id)
        if current is None or current.team_id is None:
            return False
        self._change(principal.sub, organization_id, None, None)
        return True

    def records(self, participant_id: str) -> tuple[list[Membership], list[Membership]]:
        """A person's memberships now and every change they made (their export)."""
        return (
            self._memberships.of_participant(participant_id),
            self._memberships.history(participant_id),
        )

    def erase(self, participant_id: str) -> int:
        """`DELETE /me`: forget every membership (the counts they made stay, pseudonymised
        by the stream with the pledges)."""
        return self._memberships.erase(participant_id, self._clock.now())

    def _change(
        self,
        participant_id: str,
        organization_id: str,
        team_id: str | None,
        display_name: str | None,
    ) -> Membership:
        for _ in range(APPLY_ATTEMPTS):
            before = self._current(participant_id, organization_id)
            if before is not None and before.team_id == team_id:
                if before.display_name == display_name:
                    return before
                after = replace(before, display_name=display_name)
            else:
                after = Membership(
                    participant_id, organization_id, team_id, self._clock.now(), display_name
                )
            if self._memberships.change(before, after):
                return after
        raise ContentionError("your team kept changing; try again")

    def _current(self, participant_id: str, organization_id: str) -> Membership | None:
        return self._memberships.current(participant_id, organization_id)

    @staticmethod
    def _check_may_join(organization: Organization, principal: Principal) -> None:
        # A company's or a city's teams with e-mail domains are its people's; an
        # organisation without domains (a city's neighbourhoods) lets anyone in.
        if organization.email_domains and not organization.employs(principal):
            raise PermissionDeniedError(
                f"only people of {organization.name} (a verified e-mail in its domains) may "
                "join its teams"
            )

    def _administered(self, organization_id: str, scope: AdminScope) -> Organization:
        """The organisation, if the caller administers it (another one is not found, as
        `GET /admin/organizations/{id}` answers)."""
        if not scope.covers(organization_id):
            raise OrganizationNotFoundError(organization_id)
        return self._organization(organization_id)

    def _organization(self, organization_id: str) -> Organization:
        organization = self._organizations.get(organization_id)
        if organization is None:
            raise OrganizationNotFoundError(organization_id)
        return organization

    # --- leaderboards --------------------------------------------------------------------------

    def challenge_leaderboard(
        self, challenge_id: str, principal: Principal | None, ranking: Ranking
    ) -> Leaderboard:
        challenge = self._challenges.get_visible(challenge_id, principal, cached=True)
        return self._leaderboard(
            ScopeKind.CHALLENGE,
            challenge.id,
            challenge.organization_id,
            ranking,
            challenge.target.unit,
        )

    def campaign_leaderboard(
        self, campaign_id: str, principal: Principal | None, ranking: Ranking
    ) -> Leaderboard:
        campaign = self._campaigns.get_visible(campaign_id, principal)
        return self._leaderboard(
            ScopeKind.CAMPAIGN, campaign.id, campaign.organization_id, ranking, None
        )

    def tallies(self, scope_id: str, organization_id: str | None) -> list[tuple[Team, TeamTally]]:
        """Every team of the organisation with its figures in the scope (the sponsor's
        report's per-team table): no names, read now."""
        if organization_id is None:
            return []
        tallies = self._tallies.tallies(scope_id)
        return [
            (team, tallies.get(team.id, TeamTally(team.id)))
            for team in self._teams.list_for_organization(organization_id)
        ]

    def _leaderboard(
        self,
        kind: ScopeKind,
        scope_id: str,
        organization_id: str | None,
        ranking: Ranking,
        unit: str | None,
    ) -> Leaderboard:
        standing = self._standings.get((scope_id, organization_id), self._standing)
        assert standing is not None  # noqa: S101 - the loader always answers
        return Leaderboard(
            scope=kind,
            scope_id=scope_id,
            organization_id=organization_id,
            ranking=ranking,
            unit=unit,
            entries=rank(
                standing.teams, standing.tallies, ranking, standing.members, standing.names
            ),
        )

    def _standing(self, key: tuple[str, str | None]) -> _Standing:
        scope_id, organization_id = key
        if organization_id is None:
            return _Standing([], {}, {}, {})
        teams = self._teams.list_for_organization(organization_id)
        tallies = self._tallies.tallies(scope_id)
        named = {t for t, tally in tallies.items() if tally.participants >= MIN_PARTICIPANTS_NAMED}
        members: dict[str, list[MemberTally]] = {}
        names: dict[str, str] = {}
        if named:
            for member in self._tallies.members(scope_id):
                if member.team_id in named:
                    members.setdefault(member.team_id, []).append(member)
            people = sorted({m.participant_id for group in members.values() for m in group})
            names = self._memberships.names(organization_id, people)
        return _Standing(teams, tallies, members, names)


class TeamTallyService:
    """Turns pledges-stream changes into leaderboard counts, each change exactly once.

    A pledge counts for the team its participant was in at the pledge's creation, a report
    for the team of the report's time (the membership history says which); a withdrawal
    takes the participant from the team the pledge counted for (the scope's share says
    which). A campaign counts a person once per team, however many of its challenges they
    pledged to for that team. An erasure's move carries the shares to the pseudonym."""

    def __init__(
        self,
        tallies: TeamTallyRepository,
        memberships: MembershipRepository,
        challenges: ChallengeRepository,
        clock: Clock,
    ) -> None:
        self._tallies = tallies
        self._memberships = memberships
        self._challenges = challenges
        self._clock = clock

    def count(self, changes: Sequence[TeamChange]) -> list[tuple[TeamChange, Exception]]:
        """Apply the changes in order; the ones that failed, with why (the others stand)."""
        relevant: list[tuple[TeamChange, Challenge]] = []
        for change in changes:
            challenge = self._challenges.get(change.challenge_id)
            if challenge is not None and challenge.organization_id is not None:
                relevant.append((change, challenge))
        needs_team = [
            (change.participant_id, str(challenge.organization_id), change.at)
            for change, challenge in relevant
            if change.kind in (ChangeKind.PLEDGED, ChangeKind.REPORTED)
        ]
        teams = iter(self._memberships.teams_at(needs_team))
        for position, (change, challenge) in enumerate(relevant):
            team = next(teams) if change.kind in (ChangeKind.PLEDGED, ChangeKind.REPORTED) else None
            if change.kind in (ChangeKind.PLEDGED, ChangeKind.REPORTED) and team is None:
                continue  # in no team of the organisation then: nothing to count
            try:
                self._apply(change, challenge, team)
            except Exception as error:
                # The stream resumes from this record: the ones after it wait too, so that a
                # withdrawal is never counted before the pledge it withdraws.
                logger.exception("team count of record %s failed", change.receipt)
                return [(later, error) for later, _ in relevant[position:]]
        return []

    def _apply(self, change: TeamChange, challenge: Challenge, team: str | None) -> None:
        organization_id = str(challenge.organization_id)
        scopes = [challenge.id] + ([challenge.campaign_id] if challenge.campaign_id else [])
        people = [change.participant_id] + ([change.pseudonym] if change.pseudonym else [])
        for _ in range(APPLY_ATTEMPTS):
            shares = self._tallies.shares([(s, p) for s in scopes for p in people])
            read = {key: _snapshot(share) for key, share in shares.items()}
            deltas = plan(change, team, scopes, shares, organization_id)
            changed = {k: share for k, share in shares.items() if _snapshot(share) != read[k]}
            outcome = self._tallies.apply(change.receipt, changed, deltas, now=self._clock.now())
            if outcome is not Applied.CONFLICT:
                return
        raise ContentionError(f"team shares kept changing under record {change.receipt}")


def _snapshot(share: ScopeShare) -> tuple[object, ...]:
    return (sorted(share.pledges.items()), sorted(share.quantity.items()))


def plan(
    change: TeamChange,
    team: str | None,
    scopes: list[str],
    shares: dict[tuple[str, str], ScopeShare],
    organization_id: str,
) -> list[TeamDelta]:
    """Update `shares` in place for the change and answer the team deltas it makes.

    `scopes[0]` is the challenge; `scopes[1:]` its campaign, if any."""
    planner = _Planner(shares, organization_id)
    person = change.participant_id
    if change.kind is ChangeKind.PLEDGED and team is not None:
        for scope in scopes:
            planner.add_pledges(scope, person, team, 1)
    elif change.kind is ChangeKind.REPORTED and team is not None:
        for scope in scopes:
            planner.add_quantity(scope, person, team, change.quantity, counted=True)
    elif change.kind is ChangeKind.WITHDRAWN:
        own = shares[(scopes[0], person)]
        for team_id in sorted(own.teams_pledged()):
            count = own.pledges[team_id]
            for scope in scopes:
                planner.add_pledges(scope, person, team_id, -count)
    elif change.kind is ChangeKind.ERASED and change.pseudonym is not None:
        planner.move(scopes, person, change.pseudonym)
    return _merged(planner.deltas)


class _Planner:
    def __init__(self, shares: dict[tuple[str, str], ScopeShare], organization_id: str) -> None:
        self.shares = shares
        self.organization_id = organization_id
        self.deltas: list[TeamDelta] = []

    def add_pledges(self, scope: str, participant: str, team_id: str, count: int) -> None:
        """A person's pledges for a team; the team gains or loses them as a participant when
        their count there leaves or comes back to zero."""
        share = self.shares[(scope, participant)]
        before = share.pledges.get(team_id, 0)
        share.pledges[team_id] = before + count
        if (before > 0) != (before + count > 0):
            step = 1 if before + count > 0 else -1
            self.deltas.append(TeamDelta(scope, team_id, self.organization_id, participants=step))

    def add_quantity(
        self, scope: str, participant: str, team_id: str, quantity: float, *, counted: bool
    ) -> None:
        share = self.shares[(scope, participant)]
        share.quantity[team_id] = share.quantity.get(team_id, 0) + quantity
        if counted:
            self.deltas.append(TeamDelta(scope, team_id, self.organization_id, quantity=quantity))

    def move(self, scopes: list[str], person: str, pseudonym: str) -> None:
        """An erasure: the challenge's share of `person` goes to `pseudonym`, in the challenge
        and in its campaign (the team's figures do not change once every pledge moved)."""
        own = self.shares[(scopes[0], person)]
        pledges = {t: c for t, c in own.pledges.items() if c}
        quantities = {t: q for t, q in own.quantity.items() if q}
        for scope in scopes:
            for team_id, count in pledges.items():
                self.add_pledges(scope, person, team_id, -count)
                self.add_pledges(scope, pseudonym, team_id, count)
            for team_id, quantity in quantities.items():
                self.add_quantity(scope, person, team_id, -quantity, counted=False)
                self.add_quantity(scope, pseudonym, team_id, quantity, counted=False)


def _merged(deltas: list[TeamDelta]) -> list[TeamDelta]:
    """One delta per (scope, team), dropping those that net to zero."""
    merged: dict[tuple[str, str], TeamDelta] = {}
    for delta in deltas:
        key = (delta.scope, delta.team_id)
        found = merged.get(key)
        merged[key] = (
            delta
            if found is None
            else replace(
                found,
                participants=found.participants + delta.participants,
                quantity=found.quantity + delta.quantity,
            )
        )
    return [d for d in merged.values() if d.participants or d.quantity]
