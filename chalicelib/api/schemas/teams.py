"""Teams and leaderboards: teams, a person's membership, and the ranked teams (members'
names only for teams with enough participants; no e-mail, no `sub`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chalicelib.api.schemas.common import Identifier, OptionalText, Text, Timestamp, _Body
from chalicelib.domain.teams import MIN_PARTICIPANTS_NAMED, Leaderboard, Membership, Team

TeamName = Annotated[Text, StringConstraints(min_length=1, max_length=80)]
ShownName = Annotated[Text, StringConstraints(min_length=1, max_length=80)]


class TeamIn(_Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Lyon office", "description": "Bâtiment B"}]}
    )

    name: TeamName = Field(description="unique in the organisation (case aside): 409 otherwise")
    # Empty is fine (the default), as a challenge's description; no control characters.
    description: Annotated[OptionalText, StringConstraints(max_length=500)] = ""


class TeamOut(BaseModel):
    id: str
    organization_id: str
    name: str
    description: str
    created_at: Timestamp

    @classmethod
    def from_team(cls, team: Team) -> TeamOut:
        return cls(
            id=team.id,
            organization_id=team.organization_id,
            name=team.name,
            description=team.description,
            created_at=team.created_at,
        )


class TeamList(BaseModel):
    items: list[TeamOut]


class MembershipIn(_Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"team_id": "team_0123456789abcdef", "display_name": "Léa"}]
        }
    )

    team_id: Identifier = Field(description="a team of this organisation (400 otherwise)")
    display_name: ShownName | None = Field(
        default=None,
        description="the name shown on leaderboards among your team's top contributors "
        f"(never for a team of fewer than {MIN_PARTICIPANTS_NAMED} participants); none: "
        "you are not named",
    )


class MembershipOut(BaseModel):
    organization_id: str
    team_id: str | None = Field(description="null: in no team of this organisation")
    since: Timestamp | None = Field(
        description="since when: your pledges and reports from then on count for this team"
    )
    display_name: str | None

    @classmethod
    def from_membership(cls, organization_id: str, membership: Membership | None) -> MembershipOut:
        if membership is None:
            return cls(organization_id=organization_id, team_id=None, since=None, display_name=None)
        return cls(
            organization_id=organization_id,
            team_id=membership.team_id,
            since=membership.since,
            display_name=membership.display_name if membership.team_id else None,
        )


class MyTeamOut(BaseModel):
    """Your team in an organisation, and the teams you may choose from."""

    membership: MembershipOut
    teams: list[TeamOut]


class MembershipList(BaseModel):
    items: list[MembershipOut]


class LeaderboardQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    by: Literal["participants", "quantity"] = Field(
        default="participants",
        description="rank by people whose pledges count for the team, or by quantity reported",
    )


class LeaderboardEntryOut(BaseModel):
    rank: int = Field(description="1 for the first; tied teams share a rank (1, 2, 2, 4)")
    team_id: str
    name: str
    participants: int = Field(description="people whose pledge counts for the team")
    quantity: int | float = Field(description="reported while in the team")
    members: list[str] | None = Field(
        description="the names of its top contributors who chose to show one; null for a "
        f"team of fewer than {MIN_PARTICIPANTS_NAMED} participants"
    )


class LeaderboardOut(BaseModel):
    scope: Literal["challenge", "campaign"]
    scope_id: str
    organization_id: str | None = Field(description="whose teams (null: no teams)")
    by: Literal["participants", "quantity"]
    unit: str | None = Field(description="the quantity's unit (a challenge's target unit)")
    teams: list[LeaderboardEntryOut]

    @classmethod
    def from_leaderboard(cls, board: Leaderboard) -> LeaderboardOut:
        return cls(
            scope=board.scope.value,
            scope_id=board.scope_id,
            organization_id=board.organization_id,
            by=board.ranking.value,
            unit=board.unit,
            teams=[
                LeaderboardEntryOut(
                    rank=entry.rank,
                    team_id=entry.team.id,
                    name=entry.team.name,
                    participants=entry.participants,
                    quantity=entry.quantity,
                    members=None if entry.members is None else list(entry.members),
                )
                for entry in board.entries
            ],
        )
