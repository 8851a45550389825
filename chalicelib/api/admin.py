"""Admin routes: create and run challenges and campaigns, read their delivery log, moderate
pledges, manage organisations, read the audit trail. A platform `admin` runs everything; an
`org-admin` its own organisation's (`request.scope`): another organisation's answers 404, as
if it did not exist. Each write names the action its requests append to the audit trail
(`audit=`)."""

from __future__ import annotations

import functools
from typing import Any

from chalicelib.api.routing import ApiRequest, endpoint
from chalicelib.api.schemas import (
    AdminChallengeList,
    AdminChallengeOut,
    AuditEntryOut,
    AuditList,
    AuditQuery,
    CampaignCreate,
    CampaignList,
    CampaignOut,
    ChallengeCreate,
    ChallengePatch,
    HideNameIn,
    ListQuery,
    NotificationList,
    NotificationListQuery,
    NotificationOut,
    OrganizationCreate,
    OrganizationList,
    OrganizationOut,
    OrganizationPatch,
    PledgeModerationOut,
    RemovalIn,
    SponsorIn,
)
from chalicelib.api.webhook_urls import check_webhook_url
from chalicelib.domain.audit import AuditAction
from chalicelib.domain.model import (
    OrganizationKind,
    OrganizationProfile,
    RecipientRole,
    Visibility,
)
from chalicelib.services.campaigns import CampaignDraft
from chalicelib.services.challenges import ChallengeDraft
from chalicelib.services.organizations import OrganizationDraft
from chalicelib.services.ports import ChallengeChanges

# Admin routes need an `admin` or `org-admin` token (no CORS either: see `Route.cors`).
admin_endpoint = functools.partial(endpoint, auth="admin", tag="admin")

_DOMAIN_CONVERTED = ("target", "sponsor", "beneficiary")


def _check_webhook_url(request: ApiRequest[Any, Any], sponsor: SponsorIn | None) -> None:
    check_webhook_url(request, sponsor)


def _changes(patch: ChallengePatch) -> ChallengeChanges:
    fields: dict[str, object] = {}
    for name in patch.model_fields_set:
        value = getattr(patch, name)
        if name in _DOMAIN_CONVERTED:
            value = value.to_domain()
        elif name == "visibility":
            value = Visibility(value)
        fields[name] = value
    return ChallengeChanges(**fields)  # type: ignore[arg-type]  # names and types: ChallengePatch


@admin_endpoint(
    "/admin/challenges",
    "POST",
    summary="Create a challenge",
    response=AdminChallengeOut,
    status=201,
    body=ChallengeCreate,
    audit=AuditAction.CHALLENGE_CREATE,
)
def create_challenge(request: ApiRequest[ChallengeCreate, Any]) -> AdminChallengeOut:
    body = request.body
    _check_webhook_url(request, body.sponsor)
    challenge = request.container.challenges.create(
        ChallengeDraft(
            title=body.title,
            action=body.action,
            description=body.description,
            target=body.target.to_domain(),
            sponsor=body.sponsor.to_domain(),
            beneficiary=body.beneficiary_party(),
            beneficiary_choice=(
                body.beneficiary_choice.to_domain() if body.beneficiary_choice else None
            ),
            reward=body.reward,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            campaign_id=body.campaign_id,
            organization_id=body.organization_id,
            visibility=Visibility(body.visibility),
            report_cap=body.report_cap,
            publish=body.publish,
        ),
        request.scope,
    )
    return AdminChallengeOut.from_challenge(
        challenge, reveal_webhook_secret=body.sponsor.secret_to_generate
    )


@admin_endpoint(
    "/admin/challenges",
    "GET",
    summary="List the challenges you administer, drafts included",
    response=AdminChallengeList,
    query=ListQuery,
)
def list_challenges(request: ApiRequest[Any, ListQuery]) -> AdminChallengeList:
    page = request.container.challenges.list_for_admin(
        limit=request.query.limit, cursor=request.query.cursor, scope=request.scope
    )
    return AdminChallengeList(
        items=[AdminChallengeOut.from_challenge(c) for c in page.items],
        next_cursor=page.next_cursor,
    )


@admin_endpoint(
    "/admin/challenges/{challenge_id}",
    "GET",
    summary="Get a challenge with contacts",
    response=AdminChallengeOut,
    errors=(404,),
)
def get_challenge(request: ApiRequest[Any, Any], challenge_id: str) -> AdminChallengeOut:
    return AdminChallengeOut.from_challenge(
        request.container.challenges.get_for_admin(challenge_id, request.scope)
    )


@admin_endpoint(
    "/admin/challenges/{challenge_id}",
    "PATCH",
    summary="Change a challenge",
    response=AdminChallengeOut,
    body=ChallengePatch,
    errors=(404, 409),
    audit=AuditAction.CHALLENGE_UPDATE,
)
def update_challenge(
    request: ApiRequest[ChallengePatch, Any], challenge_id: str
) -> AdminChallengeOut:
    body = request.body
    _check_webhook_url(request, body.sponsor)
    challenge = request.container.challenges.update(challenge_id, _changes(body), request.scope)
    reveal = body.sponsor is not None and body.sponsor.secret_to_generate
    return AdminChallengeOut.from_challenge(challenge, reveal_webhook_secret=reveal)


@admin_endpoint(
    "/admin/challenges/{challenge_id}/publish",
    "POST",
    summary="Publish a draft challenge (draft → live)",
    response=AdminChallengeOut,
    errors=(404, 409),
    audit=AuditAction.CHALLENGE_PUBLISH,
)
def publish_challenge(request: ApiRequest[Any, Any], challenge_id: str) -> AdminChallengeOut:
    # An adopted proposal's proposer and supporters are told through the outbox record the
    # publish itself writes.
    challenge = request.container.challenges.publish(challenge_id, request.scope)
    return AdminChallengeOut.from_challenge(challenge)


@admin_endpoint(
    "/admin/challenges/{challenge_id}/close",
    "POST",
    summary="Close a live challenge (live → closed; its beneficiary vote, if any, closes too)",
    response=AdminChallengeOut,
    errors=(404, 409),
    audit=AuditAction.CHALLENGE_CLOSE,
)
def close_challenge(request: ApiRequest[Any, Any], challenge_id: str) -> AdminChallengeOut:
    challenge = request.container.challenges.close(challenge_id, request.scope)
    if challenge.beneficiary_choice is not None:
        challenge = request.container.votes.close(challenge.id) or challenge
    return AdminChallengeOut.from_challenge(challenge)


@admin_endpoint(
    "/admin/challenges/{challenge_id}/notifications",
    "GET",
    summary="The challenge's notification delivery log, a page at a time",
    response=NotificationList,
    query=NotificationListQuery,
    errors=(404,),
)
def notifications(
    request: ApiRequest[Any, NotificationListQuery], challenge_id: str
) -> NotificationList:
    challenge = request.container.challenges.get_for_admin(challenge_id, request.scope)
    query = request.query
    page = request.container.notifications.log_page(
        challenge.id,
        role=RecipientRole(query.recipient_role) if query.recipient_role else None,
        limit=query.limit,
        cursor=query.cursor,
    )
    return NotificationList(
        items=[NotificationOut.from_delivery(d) for d in page.items],
        next_cursor=page.next_cursor,
    )


@admin_endpoint(
    "/admin/challenges/{challenge_id}/pledges/{participant_id}",
    "GET",
    summary="A pledge as its moderators see it (its name even when hidden), with its "
    "moderation history; a removed pledge as it was when removed",
    response=PledgeModerationOut,
    errors=(404,),
)
def moderated_pledge(
    request: ApiRequest[Any, Any], challenge_id: str, participant_id: str
) -> PledgeModerationOut:
    return PledgeModerationOut.from_view(
        request.container.moderation.view(request.caller, challenge_id, participant_id)
    )


@admin_endpoint(
    "/admin/challenges/{challenge_id}/pledges/{participant_id}/hide-name",
    "POST",
    summary="Hide a pledge's display name from every public answer (idempotent)",
    response=PledgeModerationOut,
    body=HideNameIn,
    errors=(404, 409, 503),
    audit=AuditAction.PLEDGE_NAME_HIDE,
)
def hide_pledge_name(
    request: ApiRequest[HideNameIn, Any], challenge_id: str, participant_id: str
) -> PledgeModerationOut:
    _audit_in_the_challenges_organization(request, challenge_id)
    view = request.container.moderation.hide_name(
        request.caller,
        challenge_id,
        participant_id,
        request.body.reason,
        pledged_at=request.body.pledged_at,
    )
    return PledgeModerationOut.from_view(view)


@admin_endpoint(
    "/admin/challenges/{challenge_id}/pledges/{participant_id}/remove",
    "POST",
    summary="Remove a pledge, with a reason: counted off once (a retry answers the same); a "
    "reached challenge stays reached. Final figures: platform admins only",
    response=PledgeModerationOut,
    body=RemovalIn,
    errors=(404, 409, 503),
    audit=AuditAction.PLEDGE_REMOVE,
)
def remove_pledge(
    request: ApiRequest[RemovalIn, Any], challenge_id: str, participant_id: str
) -> PledgeModerationOut:
    _audit_in_the_challenges_organization(request, challenge_id)
    view = request.container.moderation.remove(
        request.caller,
        challenge_id,
        participant_id,
        request.body.reason,
        pledged_at=request.body.pledged_at,
    )
    return PledgeModerationOut.from_view(view)


def _audit_in_the_challenges_organization(request: ApiRequest[Any, Any], challenge_id: str) -> None:
    """A moderation's audit entry goes to the challenge's organisation's trail, a platform
    admin's included (the answer, a pledge, does not name the organisation). Read before the
    write: a failure here is a 404 with nothing written, never one after it."""
    challenge = request.container.challenges.get_for_admin(challenge_id, request.scope)
    request.audit_note.organization_id = challenge.organization_id


@admin_endpoint(
    "/admin/organizations",
    "POST",
    summary="Create an organisation (company, city or association): platform admins only",
    response=OrganizationOut,
    status=201,
    body=OrganizationCreate,
    errors=(409,),
    auth="platform",
    audit=AuditAction.ORGANIZATION_CREATE,
)
def create_organization(request: ApiRequest[OrganizationCreate, Any]) -> OrganizationOut:
    body = request.body
    organization = request.container.organizations.create(
        OrganizationDraft(
            name=body.name,
            kind=OrganizationKind(body.kind),
            email_domains=tuple(body.email_domains),
            profile=OrganizationProfile(
                display_name=body.display_name,
                logo_url=str(body.logo_url) if body.logo_url else None,
                primary_color=body.primary_color,
                default_locale=body.default_locale,
                slug=body.slug,
            ),
        )
    )
    return OrganizationOut.from_organization(organization)


@admin_endpoint(
    "/admin/organizations",
    "GET",
    summary="List organisations, newest first (an org-admin: its own)",
    response=OrganizationList,
    query=ListQuery,
)
def list_organizations(request: ApiRequest[Any, ListQuery]) -> OrganizationList:
    page = request.container.organizations.list(
        limit=request.query.limit, cursor=request.query.cursor, scope=request.scope
    )
    return OrganizationList(
        items=[OrganizationOut.from_organization(o) for o in page.items],
        next_cursor=page.next_cursor,
    )


@admin_endpoint(
    "/admin/organizations/{organization_id}",
    "GET",
    summary="Get an organisation with its profile",
    response=OrganizationOut,
    errors=(404,),
)
def get_organization(request: ApiRequest[Any, Any], organization_id: str) -> OrganizationOut:
    return OrganizationOut.from_organization(
        request.container.organizations.get_for_admin(organization_id, request.scope)
    )


@admin_endpoint(
    "/admin/organizations/{organization_id}",
    "PATCH",
    summary="Change an organisation's public profile (and, platform admins, its name, kind "
    "and e-mail domains)",
    response=OrganizationOut,
    body=OrganizationPatch,
    errors=(404, 409),
    audit=AuditAction.ORGANIZATION_UPDATE,
)
def update_organization(
    request: ApiRequest[OrganizationPatch, Any], organization_id: str
) -> OrganizationOut:
    check_webhook_url(request, request.body.proposal_contact, "proposal_contact")
    return OrganizationOut.from_organization(
        request.container.organizations.update(
            organization_id, request.body.to_changes(), request.scope
        )
    )


@admin_endpoint(
    "/admin/campaigns",
    "POST",
    summary="Create a campaign; challenges join it with their campaign_id",
    response=CampaignOut,
    status=201,
    body=CampaignCreate,
    audit=AuditAction.CAMPAIGN_CREATE,
)
def create_campaign(request: ApiRequest[CampaignCreate, Any]) -> CampaignOut:
    body = request.body
    campaign = request.container.campaigns.create(
        CampaignDraft(
            title=body.title,
            description=body.description,
            organization_id=body.organization_id,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            visibility=Visibility(body.visibility),
        ),
        request.scope,
    )
    return CampaignOut.from_campaign(campaign)


@admin_endpoint(
    "/admin/campaigns",
    "GET",
    summary="List the campaigns you administer, newest first",
    response=CampaignList,
    query=ListQuery,
)
def list_campaigns(request: ApiRequest[Any, ListQuery]) -> CampaignList:
    page = request.container.campaigns.list_for_admin(
        limit=request.query.limit, cursor=request.query.cursor, scope=request.scope
    )
    return CampaignList(
        items=[CampaignOut.from_campaign(c) for c in page.items], next_cursor=page.next_cursor
    )


@admin_endpoint(
    "/admin/campaigns/{campaign_id}",
    "GET",
    summary="Get a campaign",
    response=CampaignOut,
    errors=(404,),
)
def get_campaign(request: ApiRequest[Any, Any], campaign_id: str) -> CampaignOut:
    return CampaignOut.from_campaign(
        request.container.campaigns.get_for_admin(campaign_id, request.scope)
    )


@admin_endpoint(
    "/admin/audit",
    "GET",
    summary="The audit trail of admin writes, oldest first (an org-admin: its organisation's)",
    response=AuditList,
    query=AuditQuery,
)
def audit_trail(request: ApiRequest[Any, AuditQuery]) -> AuditList:
    query = request.query
    page = request.container.audit.list(
        scope=request.scope, since=query.since, limit=query.limit, cursor=query.cursor
    )
    return AuditList(
        items=[AuditEntryOut.from_entry(e) for e in page.items], next_cursor=page.next_cursor
    )
