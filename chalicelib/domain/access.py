"""Who may see a challenge: public ones everyone, employee-only ones their organisation."""

from __future__ import annotations

from chalicelib.domain.model import Challenge, ChallengeStatus, Principal, Visibility


def can_view(challenge: Challenge, principal: Principal | None) -> bool:
    """Whether a participant-facing endpoint may show this challenge at all."""
    if challenge.status is ChallengeStatus.DRAFT:
        return False
    if challenge.visibility is Visibility.PUBLIC:
        return True
    if principal is None:
        return False
    if principal.is_admin:
        return True
    return principal.org_id is not None and principal.org_id == challenge.organization_id
