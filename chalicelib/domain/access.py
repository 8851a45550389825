"""Who may see a challenge: public ones everyone, employee-only ones their organisation."""

from __future__ import annotations

from chalicelib.domain.model import (
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
