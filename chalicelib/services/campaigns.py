"""Campaigns: several challenges run together, with totals that count each person once."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from chalicelib.domain.access import PLATFORM, AdminScope, can_view_campaign, own_organization
from chalicelib.domain.errors import CampaignNotFoundError, InvalidFieldsError
from chalicelib.domain.model import (
    Campaign,
    Challenge,
    ChallengeStatus,
    Organization,
    Principal,
    Visibility,
    counter_shard_for,
    quantities_by_unit,
)
from chalicelib.services.challenges import ChallengeService, new_id
from chalicelib.services.ports import ChallengeRepository, Clock, OrganizationReader, Page

logger = logging.getLogger(__name__)

# The most challenges one campaign page lists (a campaign runs a handful).
MAX_CHALLENGES_SHOWN = 100
PUBLIC_AUDIENCE = "public"
# Challenges whose pledges still count in a campaign (drafts never had any).
COUNTED_STATUSES = (ChallengeStatus.LIVE, ChallengeStatus.ENDED, ChallengeStatus.CLOSED)


def audience(challenge: Challenge) -> str:
    """Who may see the challenge: everyone, or one organisation's employees."""
    if challenge.visibility is Visibility.PUBLIC or challenge.organization_id is None:
        return PUBLIC_AUDIENCE
    return challenge.organization_id


class CampaignRepository(Protocol):
    def add(self, campaign: Campaign, *, counter_shards: int) -> None: ...

    def get(self, campaign_id: str) -> tuple[Campaign, int] | None:
        """The campaign and its number of counter shards."""
        ...

    def list(
        self, *, limit: int, cursor: str | None, organization_id: str | None = None
    ) -> Page[Campaign]:
        """Newest first; only one organisation's when given."""
        ...


@dataclass(frozen=True)
class PledgeRecord:
    """A pledges-stream record as the campaign trigger reads it: a pledge made (`live`) or
    withdrawn (or moved away by an erasure)."""

    receipt: str  # the stream record's sequence number
    challenge_id: str
    participant_id: str
    live: bool


@dataclass(frozen=True)
class MemberChange:
    """One pledge of a participant in a campaign, now live or not, and the counter shard
    their counts are on (the same for all of a participant's changes in a campaign)."""

    participant_id: str
    challenge_id: str
    audience: str
    live: bool
    shard: int


class CampaignMembers(Protocol):
    def change(
        self,
        campaign_id: str,
        participant_id: str,
        *,
        challenge_id: str,
        audience: str,
        live: bool,
        shard: int,
    ) -> bool:
        """Record that this pledge is now live (or withdrawn); True if a count moved."""
        ...

    def apply(self, campaign_id: str, changes: Sequence[MemberChange]) -> int:
        """Record the changes in their order, ending where `change` called on each in turn
        would, each count moving once however often a change is applied again; answers how
        many participants' counts moved."""
        ...


class AudienceCounts(Protocol):
    def unique_participants(
        self, campaign_id: str, audiences: set[str], seen: set[str], shards: int
    ) -> int:
        """People with a live pledge on a challenge of the campaign whose audience is in
        `seen`, each counted once (`audiences`: every audience the campaign has)."""
        ...


@dataclass(frozen=True)
class CampaignDraft:
    title: str
    description: str = ""
    organization_id: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    visibility: Visibility = Visibility.PUBLIC
    id: str | None = None  # seeded data only (the local demo); the API lets the server choose


@dataclass(frozen=True)
class CampaignView:
    campaign: Campaign
    challenges: list[Challenge]
    participants: int  # unique people with a live pledge on any of its challenges
    pledges: int  # live pledges on the challenges shown
    quantity: dict[str, int | float]  # reported quantities per unit
    promised: dict[str, int | float] = field(default_factory=dict)  # offered, per unit


class CampaignService:
    def __init__(
        self,
        campaigns: CampaignRepository,
        members: CampaignMembers,
        counts: AudienceCounts,
        challenges: ChallengeService,
        challenge_reads: ChallengeRepository,
        clock: Clock,
        *,
        counter_shards: int,
        organizations: OrganizationReader | None = None,
    ) -> None:
        self._campaigns = campaigns
        self._organizations = organizations
        self._members = members
        self._counts = counts
        self._challenges = challenges
        self._challenge_reads = challenge_reads
        self._clock = clock
        self._counter_shards = counter_shards

    def create(self, draft: CampaignDraft, scope: AdminScope = PLATFORM) -> Campaign:
        draft = replace(draft, organization_id=own_organization(scope, draft.organization_id))
        if draft.visibility is Visibility.ORGANIZATION and draft.organization_id is None:
            raise InvalidFieldsError(
                "an employee-only campaign needs an organization_id",
                {"organization_id": "required for visibility organization"},
            )
        if draft.starts_at and draft.ends_at and draft.ends_at <= draft.starts_at:
            raise InvalidFieldsError(
                "ends_at must be after starts_at", {"ends_at": "must be after starts_at"}
            )
        if (
            draft.organization_id is not None
            and self._organizations is not None
            and self._organizations.get(draft.organization_id) is None
        ):
            # As for challenges (docs/decisions.md): the body is wrong, not the URL.
            raise InvalidFieldsError(
                "unknown organization_id: create it first, then refer to its id",
                {"organization_id": f"no organization has the id {draft.organization_id!r}"},
            )
        campaign = Campaign(
            id=draft.id or new_id("cmp"),
            title=draft.title,
            description=draft.description,
            organization_id=draft.organization_id,
            starts_at=draft.starts_at,
            ends_at=draft.ends_at,
            visibility=draft.visibility,
            created_at=self._clock.now(),
        )
        self._campaigns.add(campaign, counter_shards=self._counter_shards)
        return campaign

    def get_for_admin(self, campaign_id: str, scope: AdminScope = PLATFORM) -> Campaign:
        """The campaign, if it is within the scope (another organisation's is not found)."""
        found = self._campaigns.get(campaign_id)
        if found is None or not scope.covers(found[0].organization_id):
            raise CampaignNotFoundError(campaign_id)
        return found[0]

    def list_for_admin(
        self, *, limit: int, cursor: str | None, scope: AdminScope = PLATFORM
    ) -> Page[Campaign]:
        return self._campaigns.list(
            limit=limit, cursor=cursor, organization_id=scope.organization_id
        )

    def get_visible(self, campaign_id: str, principal: Principal | None) -> Campaign:
        """The campaign if `principal` may see it (without its counts)."""
        found = self._campaigns.get(campaign_id)
        if found is None or not self._can_view(found[0], principal):
            raise CampaignNotFoundError(campaign_id)
        return found[0]

    def view(self, campaign_id: str, principal: Principal | None) -> CampaignView:
        found = self._campaigns.get(campaign_id)
        if found is None or not self._can_view(found[0], principal):
            raise CampaignNotFoundError(campaign_id)
        campaign, shards = found
        challenges: list[Challenge] = []
        cursor: str | None = None
        while len(challenges) < MAX_CHALLENGES_SHOWN:
            page = self._challenges.list_visible(
                principal,
                status=None,
                campaign_id=campaign_id,
                limit=MAX_CHALLENGES_SHOWN - len(challenges),
                cursor=cursor,
            )
            challenges.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        return CampaignView(
            campaign=campaign,
            challenges=challenges,
            participants=self._counts.unique_participants(
                campaign_id,
                self._audiences(campaign_id),
                {PUBLIC_AUDIENCE, *(audience(c) for c in challenges)},
                shards,
            ),
            pledges=sum(challenge.totals.participants for challenge in challenges),
            quantity=quantities_by_unit(challenges),
            promised=quantities_by_unit(challenges, promised=True),
        )

    def list_visible(
        self,
        organization_id: str,
        principal: Principal | None,
        organization: Organization,
        *,
        limit: int,
    ) -> list[Campaign]:
        """An organisation's campaigns that the caller may see, newest first."""
        page = self._campaigns.list(limit=limit, cursor=None, organization_id=organization_id)
        return [c for c in page.items if can_view_campaign(c, principal, organization)]

    def _can_view(self, campaign: Campaign, principal: Principal | None) -> bool:
        if can_view_campaign(campaign, principal):
            return True
        # Perhaps one of its people by a verified e-mail address: only then read the
        # organisation.
        if principal is None or campaign.organization_id is None or self._organizations is None:
            return False
        organization = self._organizations.get(campaign.organization_id)
        return can_view_campaign(campaign, principal, organization)

    def counted(self, campaign_id: str) -> tuple[list[Challenge], int]:
        """Every challenge of the campaign that may have pledges, and the unique people with
        a live pledge on any of them (whatever their audience: for its administrators)."""
        found = self._campaigns.get(campaign_id)
        if found is None:
            raise CampaignNotFoundError(campaign_id)
        challenges = self._counted_challenges(campaign_id)
        audiences = {audience(challenge) for challenge in challenges}
        participants = self._counts.unique_participants(campaign_id, audiences, audiences, found[1])
        return challenges, participants

    def _audiences(self, campaign_id: str) -> set[str]:
        """The audiences of every challenge of the campaign that may have pledges."""
        return {audience(challenge) for challenge in self._counted_challenges(campaign_id)}

    def _counted_challenges(self, campaign_id: str) -> list[Challenge]:
        challenges: list[Challenge] = []
        cursor: str | None = None
        while True:
            page = self._challenge_reads.list(
                COUNTED_STATUSES, limit=MAX_CHALLENGES_SHOWN, cursor=cursor, campaign_id=campaign_id
            )
            challenges.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                return challenges

    # --- from the pledges stream ----------------------------------------------------------------

    def pledge_added(self, challenge_id: str, participant_id: str) -> None:
        self._record(challenge_id, participant_id, live=True)

    def pledge_removed(self, challenge_id: str, participant_id: str) -> None:
        self._record(challenge_id, participant_id, live=False)

    def record_pledges(
        self, records: Sequence[PledgeRecord]
    ) -> list[tuple[PledgeRecord, Exception]]:
        """Apply a stream batch: its records grouped by campaign, each group in one batch
        of the members' reads and writes. Answers the records that failed, with why: the
        first failed one and every one after it, as the stream brings them back (records
        already applied among them then change nothing)."""
        groups: dict[str, list[tuple[int, MemberChange]]] = {}
        failure: tuple[int, Exception] | None = None
        for position, record in enumerate(records):
            try:
                found = self._member_change(
                    record.challenge_id, record.participant_id, live=record.live
                )
            except Exception as error:  # a later record may depend on this one: stop here
                logger.exception("campaign of pledge record %s unknown", record.receipt)
                failure = (position, error)
                break
            if found is not None:
                groups.setdefault(found[0], []).append((position, found[1]))
        for campaign_id, group in groups.items():
            try:
                self._members.apply(campaign_id, [change for _, change in group])
            except Exception as error:  # the other campaigns' members need not wait
                logger.exception("members of campaign %s not recorded", campaign_id)
                if failure is None or group[0][0] < failure[0]:
                    failure = (group[0][0], error)
        if failure is None:
            return []
        first, cause = failure
        return [(record, cause) for record in records[first:]]

    def _record(self, challenge_id: str, participant_id: str, *, live: bool) -> None:
        found = self._member_change(challenge_id, participant_id, live=live)
        if found is None:
            return
        campaign_id, change = found
        self._members.change(
            campaign_id,
            participant_id,
            challenge_id=challenge_id,
            audience=change.audience,
            live=live,
            shard=change.shard,
        )

    def _member_change(
        self, challenge_id: str, participant_id: str, *, live: bool
    ) -> tuple[str, MemberChange] | None:
        """The campaign a pledge counts in, and its change; None if in none."""
        challenge = self._challenge_reads.get(challenge_id)
        if challenge is None or challenge.campaign_id is None:
            return None
        found = self._campaigns.get(challenge.campaign_id)
        if found is None:
            return None
        campaign, shards = found
        return campaign.id, MemberChange(
            participant_id,
            challenge_id,
            audience(challenge),
            live,
            counter_shard_for(participant_id, shards),
        )
