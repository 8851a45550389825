"""Challenge life cycle for admins, and the public's view of challenges."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from chalicelib.domain.access import (
    PLATFORM,
    AdminScope,
    can_view,
    check_own_organization,
    needs_organization,
    own_organization,
)
from chalicelib.domain.errors import (
    ChallengeFrozenError,
    ChallengeNotFoundError,
    ConflictError,
    InvalidFieldsError,
    InvalidTransitionError,
    MembershipFrozenError,
    TargetFrozenError,
)
from chalicelib.domain.model import (
    Campaign,
    Challenge,
    ChallengeStatus,
    Party,
    Principal,
    Target,
    Totals,
    Visibility,
)
from chalicelib.domain.votes import BeneficiaryChoice
from chalicelib.services.ports import (
    ChallengeChanges,
    ChallengeRepository,
    Clock,
    OrganizationReader,
    Page,
)
from chalicelib.services.progress import ProgressService

PUBLIC_STATUSES = (ChallengeStatus.LIVE, ChallengeStatus.ENDED)
ADMIN_STATUSES = (
    ChallengeStatus.DRAFT,
    ChallengeStatus.LIVE,
    ChallengeStatus.ENDED,
    ChallengeStatus.CLOSED,
)
EDITABLE_STATUSES = (ChallengeStatus.DRAFT, ChallengeStatus.LIVE)
LIST_READS_PER_PAGE = 5


class CampaignLookup(Protocol):
    def get(self, campaign_id: str) -> tuple[Campaign, int] | None:
        """The campaign (and its number of counter shards), or None if there is none."""
        ...


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


@dataclass(frozen=True)
class ChallengeDraft:
    title: str
    action: str
    target: Target
    sponsor: Party
    beneficiary: Party
    reward: str
    description: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    campaign_id: str | None = None
    organization_id: str | None = None
    visibility: Visibility = Visibility.PUBLIC
    report_cap: int | float | None = None
    publish: bool = False
    beneficiary_choice: BeneficiaryChoice | None = None
    proposal_id: str | None = None  # adopted from this citizen proposal
    id: str | None = None  # chosen by the caller (an adopted proposal's one challenge)


def _check_vote(choice: BeneficiaryChoice | None, now: datetime, ends_at: datetime | None) -> None:
    if choice is None or choice.closes_at is None:
        return
    if choice.closes_at <= now:
        raise InvalidFieldsError(
            "the vote must close in the future",
            {"beneficiary_choice": "closes_at must be in the future"},
        )
    if ends_at is not None and choice.closes_at > ends_at:
        raise InvalidFieldsError(
            "the vote closes when the challenge ends at the latest",
            {"beneficiary_choice": "closes_at must not be after ends_at"},
        )


def _check_visibility(visibility: object, organization_id: object) -> None:
    if visibility is Visibility.ORGANIZATION and organization_id is None:
        raise InvalidFieldsError(
            "an employee-only challenge needs an organization_id",
            {"organization_id": "required for visibility organization"},
        )


def _audience(visibility: object, organization_id: object) -> object:
    """Whom a challenge's pledges are counted for in its campaign (as `campaigns.audience`)."""
    return organization_id if visibility is Visibility.ORGANIZATION else None


def _new_value(changes: ChallengeChanges, name: str, current: object) -> object:
    """The value `changes` gives `name` if that is not `current`, else None."""
    value = changes.fields.get(name, current)
    return None if value == current else value


def _check_dates(starts_at: object, ends_at: object) -> None:
    if isinstance(starts_at, datetime) and isinstance(ends_at, datetime) and ends_at <= starts_at:
        raise InvalidFieldsError(
            "ends_at must be after starts_at", {"ends_at": "must be after starts_at"}
        )


class ChallengeService:
    def __init__(
        self,
        challenges: ChallengeRepository,
        progress: ProgressService,
        clock: Clock,
        *,
        counter_shards: int,
        id_factory: Callable[[str], str] = new_id,
        cache: ChallengeRepository | None = None,
        organizations: OrganizationReader | None = None,
        campaigns: CampaignLookup | None = None,
    ) -> None:
        self._challenges = challenges
        # `cache` (a read-through cache of `challenges` in this container) answers the reads
        # that accept a challenge up to its TTL old: the pledge path's. Writes go through it,
        # so this container never serves a copy older than its own last write.
        self._cache = cache if cache is not None else challenges
        self._progress = progress
        self._clock = clock
        self._counter_shards = counter_shards
        self._new_id = id_factory
        # Read (through a per-container cache) only for an employee-only challenge and a
        # caller whose verified e-mail may be one of its organisation's domains; None: the
        # org_id claim is the only way in.
        self._organizations = organizations
        # `organizations` and `campaigns` also check that the ones a challenge names exist
        # (None: not checked, for tests of other rules; the wiring always passes both).
        self._campaigns = campaigns

    # --- admin ---------------------------------------------------------------------------------

    def create(self, draft: ChallengeDraft, scope: AdminScope = PLATFORM) -> Challenge:
        draft = replace(draft, organization_id=own_organization(scope, draft.organization_id))
        _check_dates(draft.starts_at, draft.ends_at)
        _check_visibility(draft.visibility, draft.organization_id)
        self._check_references(
            draft.campaign_id, draft.organization_id, scope, owner=draft.organization_id
        )
        now = self._clock.now()
        _check_vote(draft.beneficiary_choice, now, draft.ends_at)
        challenge = Challenge(
            id=draft.id or self._new_id("ch"),
            title=draft.title,
            action=draft.action,
            description=draft.description,
            target=draft.target,
            sponsor=draft.sponsor.with_webhook_secret(),
            beneficiary=draft.beneficiary,
            reward=draft.reward,
            status=ChallengeStatus.LIVE if draft.publish else ChallengeStatus.DRAFT,
            visibility=draft.visibility,
            created_at=now,
            organization_id=draft.organization_id,
            campaign_id=draft.campaign_id,
            report_cap=draft.report_cap,
            starts_at=draft.starts_at,
            ends_at=draft.ends_at,
            updated_at=now,
            totals=Totals(),
            counter_shards=self._counter_shards,
            beneficiary_choice=draft.beneficiary_choice,
            proposal_id=draft.proposal_id,
        )
        self._cache.add(challenge)
        return challenge

    def get_for_admin(self, challenge_id: str, scope: AdminScope = PLATFORM) -> Challenge:
        """The challenge, if it is within the scope; another organisation's is not found
        (an org-admin does not learn that it exists)."""
        challenge = self._challenges.get(challenge_id)
        if challenge is None or not scope.covers(challenge.organization_id):
            raise ChallengeNotFoundError(challenge_id)
        return challenge

    def list_for_admin(
        self, *, limit: int, cursor: str | None, scope: AdminScope = PLATFORM
    ) -> Page[Challenge]:
        return self._challenges.list(
            ADMIN_STATUSES, limit=limit, cursor=cursor, organization_id=scope.organization_id
        )

    def update(
        self, challenge_id: str, changes: ChallengeChanges, scope: AdminScope = PLATFORM
    ) -> Challenge:
        challenge = self.get_for_admin(challenge_id, scope)
        if "organization_id" in changes.fields:
            check_own_organization(scope, changes.organization_id)
        if challenge.status not in EDITABLE_STATUSES:
            raise ChallengeFrozenError(f"a {challenge.status} challenge cannot be changed")
        if "beneficiary" in changes.fields and challenge.beneficiary_choice is not None:
            raise ConflictError("this challenge's participants choose its beneficiary by vote")
        if changes.changes_target and challenge.reached:
            raise TargetFrozenError("the target of a reached challenge cannot change")
        _check_dates(
            changes.fields.get("starts_at", challenge.starts_at),
            changes.fields.get("ends_at", challenge.ends_at),
        )
        _check_visibility(
            changes.fields.get("visibility", challenge.visibility),
            changes.fields.get("organization_id", challenge.organization_id),
        )
        new_campaign = _new_value(changes, "campaign_id", challenge.campaign_id)
        new_organization = _new_value(changes, "organization_id", challenge.organization_id)
        owner = changes.fields.get("organization_id", challenge.organization_id)
        self._check_references(  # only what changes: the rest was checked when it was set
            # The campaign it keeps is checked again if its organisation changes.
            new_campaign or (challenge.campaign_id if new_organization else None),
            new_organization,
            scope,
            owner=owner,
        )
        allowed = self._allowed_statuses(challenge, changes)
        if isinstance(changes.sponsor, Party):  # a new sponsor brings its own secret, or gets one
            changes = replace(changes, sponsor=changes.sponsor.with_webhook_secret())
        updated = self._cache.update(
            challenge, changes, allowed_statuses=allowed, now=self._clock.now()
        )
        if updated is None:
            # The challenge was reached, published, closed or ended between our read and our
            # write.
            raise ConflictError("the challenge changed while it was being updated; try again")
        if changes.changes_target and updated.status is ChallengeStatus.LIVE:
            # Lowering the target to the current count reaches the challenge at once.
            return self._progress.refresh(updated.id) or updated
        return updated

    def _allowed_statuses(
        self, challenge: Challenge, changes: ChallengeChanges
    ) -> tuple[ChallengeStatus, ...]:
        """The statuses in which these changes may be written: a challenge's campaign, and
        its audience within a campaign, change only while it is a draft (no pledges yet).

        `track_campaigns` counts each pledge in the campaign and audience the challenge has
        when the pledge arrives, and uncounts a withdrawal the same way: moving a live
        challenge would leave its participants counted where they no longer are.
        """
        fields = changes.fields
        campaign_id = fields.get("campaign_id", challenge.campaign_id)
        audience_before = _audience(challenge.visibility, challenge.organization_id)
        audience_after = _audience(
            fields.get("visibility", challenge.visibility),
            fields.get("organization_id", challenge.organization_id),
        )
        moves_campaign = campaign_id != challenge.campaign_id
        moves_audience = challenge.campaign_id is not None and audience_after != audience_before
        if not (moves_campaign or moves_audience):
            return EDITABLE_STATUSES
        if challenge.status is not ChallengeStatus.DRAFT:
            what = "campaign" if moves_campaign else "visibility and organization"
            raise MembershipFrozenError(
                f"the {what} of a {challenge.status} challenge cannot change: its pledges are "
                "counted in its campaign as they are; close it and create a new challenge"
            )
        return (ChallengeStatus.DRAFT,)

    def _check_references(
        self, campaign_id: object, organization_id: object, scope: AdminScope, *, owner: object
    ) -> None:
        """The campaign and organisation a challenge names must exist (400 otherwise: the
        request's body is wrong, not its URL); for an org-admin, a campaign of another
        organisation does not exist. An organisation's campaign holds only challenges of
        that organisation (`owner`: the challenge's): its admins read the campaign's
        report, which must show nothing of another's."""
        unknown: dict[str, str] = {}
        if isinstance(campaign_id, str) and self._campaigns is not None:
            found = self._campaigns.get(campaign_id)
            if found is None or not scope.covers(found[0].organization_id):
                unknown["campaign_id"] = f"no campaign has the id {campaign_id!r}"
            elif found[0].organization_id not in (None, owner):
                raise InvalidFieldsError(
                    "this campaign is another organisation's: a challenge joins only a "
                    "campaign of its own organisation (or one of none)",
                    {"campaign_id": f"campaign {campaign_id!r} is another organisation's"},
                )
        if (
            isinstance(organization_id, str)
            and self._organizations is not None
            and self._organizations.get(organization_id) is None
        ):
            unknown["organization_id"] = f"no organization has the id {organization_id!r}"
        if unknown:
            raise InvalidFieldsError(
                f"unknown {' and '.join(unknown)}: create it first, then refer to its id", unknown
            )

    def publish(self, challenge_id: str, scope: AdminScope = PLATFORM) -> Challenge:
        """Draft → live; for an adopted proposal's challenge, the news its proposer and
        supporters are owed is put in the outbox by the same write (docs/decisions.md)."""
        return self._transition(
            challenge_id, ChallengeStatus.DRAFT, ChallengeStatus.LIVE, scope, announce=True
        )

    def close(self, challenge_id: str, scope: AdminScope = PLATFORM) -> Challenge:
        return self._transition(challenge_id, ChallengeStatus.LIVE, ChallengeStatus.CLOSED, scope)

    def _transition(
        self,
        challenge_id: str,
        source: ChallengeStatus,
        target: ChallengeStatus,
        scope: AdminScope,
        *,
        announce: bool = False,
    ) -> Challenge:
        challenge = self.get_for_admin(challenge_id, scope)
        # `proposal_id` is set when a proposal is adopted and never changes.
        updated = self._cache.transition(
            challenge.id,
            source,
            target,
            self._clock.now(),
            proposal_live=challenge.proposal_id if announce else None,
        )
        if updated is None:
            current = self._challenges.get(challenge_id) or challenge
            raise InvalidTransitionError(
                f"only a {source} challenge can become {target}; this one is {current.status}"
            )
        return updated

    # --- public --------------------------------------------------------------------------------

    def get_visible(
        self, challenge_id: str, principal: Principal | None, *, cached: bool = False
    ) -> Challenge:
        """The challenge if `principal` may see it; `cached`: possibly up to the cache's TTL
        old (status, dates and visibility included), for paths that accept that."""
        challenge = (self._cache if cached else self._challenges).get(challenge_id)
        if challenge is None or not self.can_view(challenge, principal):
            raise ChallengeNotFoundError(challenge_id)
        return challenge

    def can_view(self, challenge: Challenge, principal: Principal | None) -> bool:
        """`domain.access.can_view`, with the challenge's organisation when it is needed."""
        organization = None
        if (
            self._organizations is not None
            and challenge.organization_id is not None
            and needs_organization(challenge, principal)
        ):
            organization = self._organizations.get(challenge.organization_id)
        return can_view(challenge, principal, organization)

    def list_visible(
        self,
        principal: Principal | None,
        *,
        status: ChallengeStatus | None,
        campaign_id: str | None,
        limit: int,
        cursor: str | None,
        organization_id: str | None = None,
    ) -> Page[Challenge]:
        statuses = (status,) if status is not None else PUBLIC_STATUSES
        items: list[Challenge] = []
        # Challenges the caller may not see are dropped after the query, so read on (a few
        # pages at most) to fill the page; the cursor always points just past what was read.
        for _ in range(LIST_READS_PER_PAGE):
            page = self._challenges.list(
                statuses,
                limit=limit - len(items),
                cursor=cursor,
                campaign_id=campaign_id,
                organization_id=organization_id,
            )
            items.extend(c for c in page.items if self.can_view(c, principal))
            cursor = page.next_cursor
            if cursor is None or len(items) >= limit:
                break
        return Page(items, cursor)
