"""Organisations: the companies, cities and associations that run challenges, their public
profile (a branded space at /organizations/{slug}) and what their admins may change."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace
from typing import Protocol

from chalicelib.domain.access import PLATFORM, AdminScope, require_platform
from chalicelib.domain.errors import ContentionError, OrganizationNotFoundError
from chalicelib.domain.model import (
    Campaign,
    Challenge,
    Organization,
    OrganizationKind,
    OrganizationProfile,
    Party,
    Principal,
)
from chalicelib.services.campaigns import CampaignService
from chalicelib.services.challenges import ChallengeService, new_id
from chalicelib.services.ports import UNSET, Clock, Page, Unset

# Tries of an update that keeps losing races with other updates of the same organisation.
UPDATE_ATTEMPTS = 5
# The most challenges and campaigns an organisation's public page lists (newest first).
SPACE_MAX_ITEMS = 100


class OrganizationRepository(Protocol):
    def add(self, organization: Organization) -> None:
        """Store a new organisation; SlugTakenError if its slug is another's."""
        ...

    def get(self, organization_id: str, *, consistent: bool = False) -> Organization | None:
        """`consistent`: as stored now (a cache in front answers from memory otherwise)."""
        ...

    def get_by_slug(self, slug: str) -> Organization | None: ...

    def list(self, *, limit: int, cursor: str | None) -> Page[Organization]: ...

    def replace(self, before: Organization, after: Organization) -> bool:
        """Write `after` over `before` if the stored one is still `before` (every field),
        moving the slug's claim if it changes; False if it changed meanwhile;
        SlugTakenError if the new slug is another's."""
        ...


@dataclass(frozen=True)
class OrganizationDraft:
    name: str
    kind: OrganizationKind
    email_domains: tuple[str, ...] = ()
    id: str | None = None  # seeded data only (the local demo); the API lets the server choose
    profile: OrganizationProfile = field(default_factory=OrganizationProfile)


@dataclass(frozen=True)
class OrganizationChanges:
    """What a PATCH changes (UNSET: kept; None clears an optional field). `name`, `kind`
    and `email_domains` are the platform's (e-mail domains grant access to employee-only
    challenges); the profile is the organisation's own."""

    name: str | Unset = UNSET
    kind: OrganizationKind | Unset = UNSET
    email_domains: tuple[str, ...] | Unset = UNSET
    display_name: str | Unset | None = UNSET
    logo_url: str | Unset | None = UNSET
    primary_color: str | Unset | None = UNSET
    default_locale: str | Unset = UNSET
    slug: str | Unset | None = UNSET
    proposal_contact: Party | Unset | None = UNSET
    support_threshold: int | Unset = UNSET

    PLATFORM_FIELDS = ("name", "kind", "email_domains")

    @property
    def fields(self) -> dict[str, object]:
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not UNSET
        }


@dataclass(frozen=True)
class OrganizationSpace:
    """An organisation's public page: its profile, and what the caller may see of it."""

    organization: Organization
    challenges: list[Challenge]
    campaigns: list[Campaign]


def _domains(domains: tuple[str, ...]) -> tuple[str, ...]:
    # Lower case and each once, in the order given: domains compare case-insensitively.
    return tuple(dict.fromkeys(d.lower() for d in domains))


class OrganizationService:
    def __init__(
        self,
        organizations: OrganizationRepository,
        clock: Clock,
        *,
        challenges: ChallengeService | None = None,
        campaigns: CampaignService | None = None,
    ) -> None:
        self._organizations = organizations
        self._clock = clock
        # For the public space only (None: tests of the rest).
        self._challenges = challenges
        self._campaigns = campaigns

    def create(self, draft: OrganizationDraft) -> Organization:
        organization = Organization(
            id=draft.id or new_id("org"),
            name=draft.name,
            kind=draft.kind,
            created_at=self._clock.now(),
            email_domains=_domains(draft.email_domains),
            profile=draft.profile,
        )
        self._organizations.add(organization)
        return organization

    def get(self, organization_id: str) -> Organization:
        organization = self._organizations.get(organization_id)
        if organization is None:
            raise OrganizationNotFoundError(organization_id)
        return organization

    def get_for_admin(self, organization_id: str, scope: AdminScope = PLATFORM) -> Organization:
        """The organisation, if the caller administers it (another one is not found)."""
        return self._for_admin(organization_id, scope, consistent=False)

    def _for_admin(
        self, organization_id: str, scope: AdminScope, *, consistent: bool
    ) -> Organization:
        organization = (
            self._organizations.get(organization_id, consistent=consistent)
            if scope.covers(organization_id)
            else None
        )
        if organization is None:
            raise OrganizationNotFoundError(organization_id)
        return organization

    def list(
        self, *, limit: int, cursor: str | None, scope: AdminScope = PLATFORM
    ) -> Page[Organization]:
        """Every organisation for a platform admin; an org-admin's own alone."""
        if scope.organization_id is not None:
            own = self._organizations.get(scope.organization_id)
            return Page([own] if own is not None and cursor is None else [], None)
        return self._organizations.list(limit=limit, cursor=cursor)

    def update(
        self, organization_id: str, changes: OrganizationChanges, scope: AdminScope = PLATFORM
    ) -> Organization:
        fields = changes.fields
        if any(name in fields for name in OrganizationChanges.PLATFORM_FIELDS):
            # Checked after the scope: another organisation's answers 404 whatever the body.
            self.get_for_admin(organization_id, scope)
            require_platform(scope, "changing name, kind or email_domains")
        for _ in range(UPDATE_ATTEMPTS):
            # Read as stored, not from a container's cache: the write replaces the whole
            # organisation, so a stale copy would undo another admin's change.
            before = self._for_admin(organization_id, scope, consistent=True)
            after = self._changed(before, fields)
            if after == before or self._organizations.replace(before, after):
                return after
        raise ContentionError("the organisation kept changing while it was updated; try again")

    @staticmethod
    def _changed(organization: Organization, fields: dict[str, object]) -> Organization:
        profile_fields = {f.name for f in dataclasses.fields(OrganizationProfile)}
        own = {k: v for k, v in fields.items() if k not in profile_fields}
        if "email_domains" in own:
            own["email_domains"] = _domains(own["email_domains"])  # type: ignore[arg-type]
        profile_changes = {k: v for k, v in fields.items() if k in profile_fields}
        contact = profile_changes.get("proposal_contact")
        if isinstance(contact, Party):
            # The webhook is signed: a new URL without a secret gets a generated one.
            profile_changes["proposal_contact"] = contact.with_webhook_secret()
        profile = replace(organization.profile, **profile_changes)  # type: ignore[arg-type]
        return replace(organization, profile=profile, **own)  # type: ignore[arg-type]

    # --- public --------------------------------------------------------------------------------

    def space(self, slug: str, principal: Principal | None) -> OrganizationSpace:
        organization = self._organizations.get_by_slug(slug)
        if organization is None or self._challenges is None or self._campaigns is None:
            raise OrganizationNotFoundError(slug)
        challenges = self._challenges.list_visible(
            principal,
            status=None,
            campaign_id=None,
            organization_id=organization.id,
            limit=SPACE_MAX_ITEMS,
            cursor=None,
        )
        campaigns = self._campaigns.list_visible(
            organization.id, principal, organization, limit=SPACE_MAX_ITEMS
        )
        return OrganizationSpace(organization, challenges.items, campaigns)
