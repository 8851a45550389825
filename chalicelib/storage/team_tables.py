"""PynamoDB models of teams, memberships and leaderboard tallies (listed in
`tables.ALL_TABLES`; see docs/decisions.md 145-156 and docs/privacy.md)."""

from __future__ import annotations

from pynamodb.attributes import (
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.models import Model

from chalicelib.storage.table_meta import BaseMeta


class TeamItem(Model):
    """An organisation's teams under its id: `team#<team id>` a team, and `name#<casefolded
    name>` the claim that keeps team names unique in the organisation (written in the
    team's transaction)."""

    class Meta(BaseMeta):
        table_name = "teams"

    organization_id = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(range_key=True)
    team_id = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute(null=True)


class TeamMemberItem(Model):
    """A person's memberships under their `sub`: `<organization id>` the team they are in now
    (with the name they chose to show), and
    `<organization id>#<instant>` each change, so that the team of any past instant is the
    last entry at or before it (`domain.teams.history_key`)."""

    class Meta(BaseMeta):
        table_name = "team_members"

    participant_id = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(range_key=True)
    organization_id = UnicodeAttribute()
    team_id = UnicodeAttribute(null=True)  # None: left the organisation's teams
    since = UTCDateTimeAttribute()
    display_name = UnicodeAttribute(null=True)  # current membership only
    # Set by an erasure: the item expires then (a tombstone for the current membership).
    expires_at = TTLAttribute(null=True)


class TeamTallyItem(Model):
    """Leaderboard counts per scope (a challenge's or a campaign's id), kept by the pledges
    stream: `team#<team id>` a team's participants and quantity, and `who#<participant>` one
    person's share (JSON: pledges and quantity per team) that tells which team a withdrawal
    takes a participant from, and whether a campaign already counts them for a team."""

    class Meta(BaseMeta):
        table_name = "team_tallies"

    scope = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(range_key=True)
    # team# items
    organization_id = UnicodeAttribute(null=True)
    participants = NumberAttribute(null=True)
    quantity = NumberAttribute(null=True)
    # who# items
    shares = UnicodeAttribute(null=True)
    version = NumberAttribute(null=True)


TEAM_TABLES: tuple[type[Model], ...] = (TeamItem, TeamMemberItem, TeamTallyItem)
