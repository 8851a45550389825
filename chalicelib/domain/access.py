"""Who may see what: public challenges and campaigns everyone, employee-only ones their
organisation; and what an administrator may run (`AdminScope`)."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.errors import PermissionDeniedError
from chalicelib.domain.model import (
    Campaign,
    Challenge,
    ChallengeStatus,
    Organization,
    Principal,
    Visibility,
)


def needs_organization(challenge: Challenge, principal: Principal | None) -> bool:
    """Whether `can_view` can only decide with the challenge's organisation in hand: an
    employee-only challenge, and a caller whose token alone does not settle it (no org_id
    claim for this organisation, but a verified e-mail its domains might match)."""
    return (
        challenge.status is not ChallengeStatus.DRAFT
        and challenge.visibility is Visibility.ORGANIZATION
        and challenge.organization_id is not None
        and principal is not None
        and not principal.is_admin
        and principal.org_id != challenge.organization_id
        and principal.email is not None
        and principal.email_verified
    )


def can_view(
    challenge: Challenge,
    principal: Principal | None,
    organization: Organization | None = None,
) -> bool:
    """Whether a participant-facing endpoint may show this challenge at all.

    An employee-only challenge is shown to platform admins and to the people its
    organisation employs: a matching `custom:org_id` claim, or (given `organization`, the
    challenge's own) a verified e-mail in one of its `email_domains`.
    """
    if challenge.status is ChallengeStatus.DRAFT:
        return False
    if challenge.visibility is Visibility.PUBLIC:
        return True
    if principal is None or challenge.organization_id is None:
        return principal is not None and principal.is_admin
    if principal.is_admin:
        return True
    if principal.org_id is not None and principal.org_id == challenge.organization_id:
        return True
    return (
        organization is not None
        and organization.id == challenge.organization_id
        and organization.employs(principal)
    )


def can_view_campaign(
    campaign: Campaign,
    principal: Principal | None,
    organization: Organization | None = None,
) -> bool:
    """Whether a participant-facing endpoint may show this campaign: a public one to everyone,
    an employee-only one to its organisation's people and to platform admins (as challenges)."""
    if campaign.visibility is Visibility.PUBLIC or campaign.organization_id is None:
        return True
    if principal is None:
        return False
    if principal.is_admin or principal.org_id == campaign.organization_id:
        return True
    return (
        organization is not None
        and organization.id == campaign.organization_id
        and organization.employs(principal)
    )


@dataclass(frozen=True)
class AdminScope:
    """What an administrator may run: every organisation (a platform `admin`), or one (an
    `org-admin`, whose token names it in `custom:org_id`)."""

    organization_id: str | None  # None: every organisation, and challenges of none

    @property
    def is_platform(self) -> bool:
        return self.organization_id is None

    def covers(self, organization_id: str | None) -> bool:
        """Whether something of this organisation (None: of none) is within the scope."""
        return self.organization_id is None or organization_id == self.organization_id


PLATFORM = AdminScope(None)


def admin_scope(principal: Principal) -> AdminScope:
    """The caller's administrative scope; PermissionDeniedError if they administer nothing."""
    if principal.is_admin:
        return PLATFORM
    if principal.is_org_admin and principal.org_id:
        return AdminScope(principal.org_id)
    raise PermissionDeniedError("this operation needs the admin or org-admin role")


def require_platform(scope: AdminScope, what: str) -> None:
    if not scope.is_platform:
        raise PermissionDeniedError(f"{what} needs the platform admin role")


def own_organization(scope: AdminScope, organization_id: str | None) -> str | None:
    """The organisation of a challenge or campaign an admin creates: an org-admin's own (the
    default when none is given), any for a platform admin."""
    if organization_id is None and not scope.is_platform:
        return scope.organization_id
    check_own_organization(scope, organization_id)
    return organization_id


def check_own_organization(scope: AdminScope, organization_id: object) -> None:
    """An org-admin may not give something to another organisation, nor to none."""
    if not scope.is_platform and organization_id != scope.organization_id:
        raise PermissionDeniedError(
            "an organisation administrator may only give their own organization_id "
            f"({scope.organization_id!r})"
        )
