"""Teams, memberships and leaderboard tallies in DynamoDB (storage/team_tables.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.model import tidy_quantity
from chalicelib.domain.teams import (
    ERASED_HISTORY_LIFETIME,
    ChangeKind,
    Membership,
    MemberTally,
    ScopeShare,
    Team,
    TeamChange,
    TeamTally,
    history_key,
)
from chalicelib.services.team_ports import Applied, TeamDelta
from chalicelib.storage.tables import PledgeItem, StreamReceiptItem
from chalicelib.storage.tallies import RECEIPT_LIFETIME, stream_record_time
from chalicelib.storage.team_tables import TeamItem, TeamMemberItem, TeamTallyItem
from chalicelib.storage.transactions import (
    CONDITIONAL_CHECK_FAILED,
    cancellation_codes,
    transact_if,
    with_transaction_retries,
)

TEAM_KEY = "team#"
NAME_KEY = "name#"
SHARE_KEY = "who#"
RECEIPT_CONSUMER = "teams"
# BatchGetItem reads at most 100 keys per call.
BATCH = 100


def _name_key(name: str) -> str:
    return NAME_KEY + name.strip().casefold()


def _team(item: TeamItem) -> Team:
    return Team(
        id=item.team_id,
        organization_id=item.organization_id,
        name=str(item.name),
        created_at=item.created_at,
        description=item.description or "",
    )


class DynamoTeamRepository:
    def add(self, team: Team) -> bool:
        def write() -> None:
            with TransactWrite(connection=TeamItem._get_connection().connection) as transaction:
                # The name's claim first: `transact_if` reads its refusal as "taken".
                transaction.save(
                    TeamItem(
                        organization_id=team.organization_id,
                        key=_name_key(team.name),
                        team_id=team.id,
                    ),
                    condition=TeamItem.key.does_not_exist(),
                )
                transaction.save(
                    TeamItem(
                        organization_id=team.organization_id,
                        key=TEAM_KEY + team.id,
                        team_id=team.id,
                        name=team.name,
                        description=team.description or None,
                        created_at=team.created_at,
                    ),
                    condition=TeamItem.key.does_not_exist(),
                )

        return transact_if(write)

    def list_for_organization(self, organization_id: str) -> list[Team]:
        teams = [
            _team(item)
            for item in TeamItem.query(
                organization_id, TeamItem.key.startswith(TEAM_KEY), consistent_read=True
            )
        ]
        return sorted(teams, key=lambda team: (team.name.casefold(), team.id))

    def get(self, organization_id: str, team_id: str) -> Team | None:
        try:
            return _team(TeamItem.get(organization_id, TEAM_KEY + team_id, consistent_read=True))
        except TeamItem.DoesNotExist:
            return None


def _membership(item: TeamMemberItem) -> Membership:
    return Membership(
        participant_id=item.participant_id,
        organization_id=item.organization_id,
        team_id=item.team_id,
        since=item.since,
        display_name=item.display_name,
    )


class DynamoMembershipRepository:
    def current(self, participant_id: str, organization_id: str) -> Membership | None:
        try:
            item = TeamMemberItem.get(participant_id, organization_id, consistent_read=True)
        except TeamMemberItem.DoesNotExist:
            return None
        return None if item.expires_at is not None else _membership(item)  # erased

    def change(self, before: Membership | None, after: Membership) -> bool:
        moved = before is None or before.team_id != after.team_id
        condition: Any
        if before is None:
            # None there, or an erasure's tombstone: the person joins again, as new.
            condition = TeamMemberItem.key.does_not_exist() | TeamMemberItem.expires_at.exists()
        else:
            # The membership read: its instant and its name (a name-only change keeps the
            # instant), so two changes racing from the same read cannot both win.
            condition = TeamMemberItem.since == before.since
            condition &= (
                TeamMemberItem.display_name.does_not_exist()
                if before.display_name is None
                else TeamMemberItem.display_name == before.display_name
            )

        def write() -> None:
            with TransactWrite(
                connection=TeamMemberItem._get_connection().connection
            ) as transaction:
                transaction.save(
                    TeamMemberItem(
                        participant_id=after.participant_id,
                        key=after.organization_id,
                        organization_id=after.organization_id,
                        team_id=after.team_id,
                        since=after.since,
                        display_name=after.display_name,
                    ),
                    condition=condition,
                )
                if moved:
                    transaction.save(
                        TeamMemberItem(
                            participant_id=after.participant_id,
                            key=history_key(after.organization_id, after.since),
                            organization_id=after.organization_id,
                            team_id=after.team_id,
                            since=after.since,
                        )
                    )

        return transact_if(write)

    def teams_at(self, lookups: Sequence[tuple[str, str, datetime]]) -> list[str | None]:
        keys = sorted({(participant, organization) for participant, organization, _ in lookups})
        current: dict[tuple[str, str], TeamMemberItem] = {}
        for start in range(0, len(keys), BATCH):
            for item in TeamMemberItem.batch_get(keys[start : start + BATCH], consistent_read=True):
                current[(item.participant_id, item.key)] = item
        answers: list[str | None] = []
        for participant, organization, at in lookups:
            found = current.get((participant, organization))
            if found is None:
                answers.append(None)  # never in a team of this organisation
            elif found.expires_at is not None:
                # Erased at `since` (a tombstone): in no team from then on; before, the
                # history says (it outlives the stream's records).
                erased_then = found.since <= at
                answers.append(
                    None if erased_then else self._team_then(participant, organization, at)
                )
            elif found.since <= at:
                answers.append(found.team_id)  # the team of now was already theirs then
            else:
                answers.append(self._team_then(participant, organization, at))
        return answers

    @staticmethod
    def _team_then(participant_id: str, organization_id: str, at: datetime) -> str | None:
        for item in TeamMemberItem.query(
            participant_id,
            TeamMemberItem.key.between(f"{organization_id}#", history_key(organization_id, at)),
            scan_index_forward=False,
            limit=1,
            consistent_read=True,
        ):
            return item.team_id
        return None

    def names(self, organization_id: str, participant_ids: Sequence[str]) -> dict[str, str]:
        keys = [(participant, organization_id) for participant in participant_ids]
        names: dict[str, str] = {}
        for start in range(0, len(keys), BATCH):
            for item in TeamMemberItem.batch_get(keys[start : start + BATCH]):
                if item.display_name and item.expires_at is None:
                    names[item.participant_id] = item.display_name
        return names

    def of_participant(self, participant_id: str) -> list[Membership]:
        return [
            _membership(item)
            for item in TeamMemberItem.query(participant_id, consistent_read=True)
            if item.key == item.organization_id and item.expires_at is None
        ]

    def history(self, participant_id: str) -> list[Membership]:
        return [
            _membership(item)
            for item in TeamMemberItem.query(participant_id, consistent_read=True)
            if item.key != item.organization_id and item.expires_at is None
        ]

    def erase(self, participant_id: str, now: datetime) -> int:
        """The current memberships become tombstones (no team, no name, since now) and every
        item expires in ERASED_HISTORY_LIFETIME: `teams_at` still finds the team of a pledge
        made before the erasure and counted after it; nothing else reads them."""
        expires = now + ERASED_HISTORY_LIFETIME
        items = [
            item
            for item in TeamMemberItem.query(participant_id, consistent_read=True)
            if item.expires_at is None
        ]
        with TeamMemberItem.batch_write() as batch:
            for item in items:
                if item.key == item.organization_id:
                    item.team_id, item.display_name, item.since = None, None, now
                item.expires_at = expires
                batch.save(item)
        return sum(1 for item in items if item.key == item.organization_id)


def _share(item: TeamTallyItem | None) -> ScopeShare:
    if item is None or not item.shares:
        return ScopeShare(version=int(item.version or 0) if item else 0)
    stored = json.loads(item.shares)
    return ScopeShare(
        pledges={k: int(v) for k, v in stored.get("pledges", {}).items()},
        quantity=dict(stored.get("quantity", {})),
        version=int(item.version or 0),
    )


def _shares_json(share: ScopeShare) -> str:
    return json.dumps(
        {
            "pledges": {k: v for k, v in share.pledges.items() if v},
            "quantity": {k: v for k, v in share.quantity.items() if v},
        },
        sort_keys=True,
    )


def _number(value: float | None) -> int | float:
    return tidy_quantity(value or 0)  # sums of tidy quantities: whole ones as ints


class DynamoTeamTallies:
    def shares(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ScopeShare]:
        wanted = [(scope, SHARE_KEY + participant) for scope, participant in keys]
        found: dict[tuple[str, str], TeamTallyItem] = {}
        unique = sorted(set(wanted))
        for start in range(0, len(unique), BATCH):
            for item in TeamTallyItem.batch_get(
                unique[start : start + BATCH], consistent_read=True
            ):
                found[(item.scope, item.key)] = item
        return {
            (scope, participant): _share(found.get((scope, SHARE_KEY + participant)))
            for scope, participant in keys
        }

    def apply(
        self,
        receipt: str,
        shares: Mapping[tuple[str, str], ScopeShare],
        deltas: Sequence[TeamDelta],
        *,
        now: datetime,
    ) -> Applied:
        def write() -> None:
            with TransactWrite(connection=TeamTallyItem._get_connection().connection) as tx:
                # The receipt first: its refusal means "counted before".
                tx.save(
                    StreamReceiptItem(
                        id=f"{RECEIPT_CONSUMER}#{receipt}", expires_at=now + RECEIPT_LIFETIME
                    ),
                    condition=StreamReceiptItem.id.does_not_exist(),
                )
                for (scope, participant), share in shares.items():
                    tx.save(
                        TeamTallyItem(
                            scope=scope,
                            key=SHARE_KEY + participant,
                            shares=_shares_json(share),
                            version=share.version + 1,
                        ),
                        condition=(
                            TeamTallyItem.version.does_not_exist()
                            if share.version == 0
                            else TeamTallyItem.version == share.version
                        ),
                    )
                for delta in deltas:
                    tx.update(
                        TeamTallyItem(scope=delta.scope, key=TEAM_KEY + delta.team_id),
                        actions=[
                            TeamTallyItem.organization_id.set(delta.organization_id),
                            TeamTallyItem.participants.add(delta.participants),
                            TeamTallyItem.quantity.add(delta.quantity),
                        ],
                    )

        try:
            with_transaction_retries(write)
        except TransactWriteError as error:
            codes = cancellation_codes(error)
            if codes[:1] == [CONDITIONAL_CHECK_FAILED]:
                return Applied.ALREADY
            if CONDITIONAL_CHECK_FAILED in codes:
                return Applied.CONFLICT
            raise
        return Applied.APPLIED

    def tallies(self, scope: str) -> dict[str, TeamTally]:
        return {
            item.key[len(TEAM_KEY) :]: TeamTally(
                item.key[len(TEAM_KEY) :],
                int(item.participants or 0),
                _number(item.quantity),
            )
            for item in TeamTallyItem.query(scope, TeamTallyItem.key.startswith(TEAM_KEY))
        }

    def members(self, scope: str) -> list[MemberTally]:
        members: list[MemberTally] = []
        for item in TeamTallyItem.query(scope, TeamTallyItem.key.startswith(SHARE_KEY)):
            share = _share(item)
            participant = item.key[len(SHARE_KEY) :]
            for team_id in {*share.pledges, *share.quantity}:
                members.append(
                    MemberTally(
                        participant,
                        team_id,
                        share.pledges.get(team_id, 0),
                        share.quantity.get(team_id, 0),
                    )
                )
        return members


def team_change_from_stream_record(record: Mapping[str, Any]) -> TeamChange | None:
    """What a pledges-stream record tells the leaderboards: a pledge made (INSERT, at its
    `created_at`), withdrawn or removed (REMOVE), a report (MODIFY raising
    `quantity_reported`, at the pledge's `reported_at`), or an erasure's move (the REMOVE of
    the original marked `erasing`; its pseudonymised INSERT counts nothing). None otherwise."""
    name = record.get("eventName")
    dynamodb = record.get("dynamodb") or {}
    keys = dynamodb.get("Keys") or {}
    challenge_id = str(keys[PledgeItem.challenge_id.attr_name]["S"])
    participant_id = str(keys[PledgeItem.participant_id.attr_name]["S"])
    receipt = str(dynamodb["SequenceNumber"])
    new, old = dynamodb.get("NewImage") or {}, dynamodb.get("OldImage") or {}
    if name == "INSERT":
        if (new.get(PledgeItem.pseudonymised.attr_name) or {}).get("BOOL"):
            return None
        at = _time(new, PledgeItem.created_at.attr_name, dynamodb)
        return TeamChange(receipt, ChangeKind.PLEDGED, challenge_id, participant_id, at)
    if name == "REMOVE":
        pseudonym = (old.get(PledgeItem.erasing.attr_name) or {}).get("S")
        kind = ChangeKind.ERASED if pseudonym else ChangeKind.WITHDRAWN
        at = stream_record_time(dynamodb)
        return TeamChange(receipt, kind, challenge_id, participant_id, at, pseudonym=pseudonym)
    if name == "MODIFY":
        added = _quantity(new) - _quantity(old)
        if added <= 0 or PledgeItem.erasing.attr_name in new:
            return None
        at = _time(new, PledgeItem.reported_at.attr_name, dynamodb)
        return TeamChange(
            receipt, ChangeKind.REPORTED, challenge_id, participant_id, at, quantity=added
        )
    return None


def _quantity(image: Mapping[str, Any]) -> int | float:
    raw = (image.get(PledgeItem.quantity_reported.attr_name) or {}).get("N")
    return _number(float(raw)) if raw is not None else 0


def _time(image: Mapping[str, Any], attribute: str, dynamodb: Mapping[str, Any]) -> datetime:
    raw = (image.get(attribute) or {}).get("S")
    if raw:
        return PledgeItem.created_at.deserialize(raw)  # type: ignore[no-any-return]
    return stream_record_time(dynamodb)
