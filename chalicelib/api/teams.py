"""Team routes: organisation admins define teams; people join one team per organisation;
every challenge and campaign ranks its organisation's teams (docs/decisions.md 145-156)."""

from __future__ import annotations

from typing import Any

from chalicelib.api.routing import ApiRequest, endpoint
from chalicelib.api.schemas.teams import (
    LeaderboardOut,
    LeaderboardQuery,
    MembershipIn,
    MembershipList,
    MembershipOut,
    MyTeamOut,
    TeamIn,
    TeamList,
    TeamOut,
)
from chalicelib.domain.teams import Ranking

TEAM_CREATE = "team.create"


@endpoint(
    "/admin/organizations/{organization_id}/teams",
    "POST",
    summary="Define a team of an organisation (org-admins: their own); names are unique in "
    "the organisation (409 team-name-taken)",
    auth="admin",
    tag="admin",
    response=TeamOut,
    status=201,
    body=TeamIn,
    errors=(404, 409),
    audit=TEAM_CREATE,
)
def create_team(request: ApiRequest[TeamIn, Any], organization_id: str) -> TeamOut:
    team = request.container.teams.create(
        organization_id, request.body.name, request.body.description, request.scope
    )
    request.audit_note.organization_id = organization_id
    return TeamOut.from_team(team)


@endpoint(
    "/admin/organizations/{organization_id}/teams",
    "GET",
    summary="An organisation's teams, by name (org-admins: their own)",
    auth="admin",
    tag="admin",
    response=TeamList,
    errors=(404,),
)
def list_teams(request: ApiRequest[Any, Any], organization_id: str) -> TeamList:
    teams = request.container.teams.list_for_admin(organization_id, request.scope)
    return TeamList(items=[TeamOut.from_team(team) for team in teams])


@endpoint(
    "/me/teams",
    "GET",
    summary="The teams I am in, one per organisation",
    auth="participant",
    tag="participant",
    response=MembershipList,
)
def my_teams(request: ApiRequest[Any, Any]) -> MembershipList:
    memberships = request.container.teams.memberships(request.caller)
    return MembershipList(
        items=[MembershipOut.from_membership(m.organization_id, m) for m in memberships]
    )


@endpoint(
    "/me/teams/{organization_id}",
    "GET",
    summary="My team in an organisation and the teams I may join (403: a company's teams "
    "are for a verified e-mail in its domains)",
    auth="participant",
    tag="participant",
    response=MyTeamOut,
    errors=(403, 404),
)
def my_team(request: ApiRequest[Any, Any], organization_id: str) -> MyTeamOut:
    mine = request.container.teams.mine(request.caller, organization_id)
    return MyTeamOut(
        membership=MembershipOut.from_membership(organization_id, mine.membership),
        teams=[TeamOut.from_team(team) for team in mine.teams],
    )


@endpoint(
    "/me/teams/{organization_id}",
    "PUT",
    summary="Join a team of the organisation, or move to another: my pledges and reports "
    "from now on count for it (those made before stay with the team of their time); a team "
    "of another organisation is a 400",
    auth="participant",
    tag="participant",
    response=MembershipOut,
    body=MembershipIn,
    errors=(403, 404),
)
def join_team(request: ApiRequest[MembershipIn, Any], organization_id: str) -> MembershipOut:
    membership = request.container.teams.join(
        request.caller, organization_id, request.body.team_id, request.body.display_name
    )
    return MembershipOut.from_membership(organization_id, membership)


@endpoint(
    "/me/teams/{organization_id}",
    "DELETE",
    summary="Leave the organisation's teams (204 also when I was in none); what I did "
    "stays with the team of its time",
    auth="participant",
    tag="participant",
    response=None,
    status=204,
    errors=(404,),
)
def leave_team(request: ApiRequest[Any, Any], organization_id: str) -> None:
    request.container.teams.leave(request.caller, organization_id)


@endpoint(
    "/challenges/{challenge_id}/leaderboard",
    "GET",
    summary="The challenge's organisation's teams ranked by participants or by quantity, "
    "counted from the pledges stream (a few seconds behind); members' names only for "
    "teams of 5 participants or more",
    auth="optional",
    response=LeaderboardOut,
    query=LeaderboardQuery,
    errors=(404,),
)
def challenge_leaderboard(
    request: ApiRequest[Any, LeaderboardQuery], challenge_id: str
) -> LeaderboardOut:
    board = request.container.teams.challenge_leaderboard(
        challenge_id, request.principal, Ranking(request.query.by)
    )
    return LeaderboardOut.from_leaderboard(board)


@endpoint(
    "/campaigns/{campaign_id}/leaderboard",
    "GET",
    summary="The campaign's organisation's teams ranked over all its challenges (a person "
    "counts once per team); members' names only for teams of 5 participants or more",
    auth="optional",
    response=LeaderboardOut,
    query=LeaderboardQuery,
    errors=(404,),
)
def campaign_leaderboard(
    request: ApiRequest[Any, LeaderboardQuery], campaign_id: str
) -> LeaderboardOut:
    board = request.container.teams.campaign_leaderboard(
        campaign_id, request.principal, Ranking(request.query.by)
    )
    return LeaderboardOut.from_leaderboard(board)
