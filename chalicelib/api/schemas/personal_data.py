"""A participant's personal data: the export (`GET /me/export`) and the erasure's answer."""

from __future__ import annotations

from pydantic import BaseModel, Field

from chalicelib.api.schemas.common import Timestamp
from chalicelib.api.schemas.events import RsvpExport
from chalicelib.api.schemas.follows import FollowExport, UpdateEmailExport
from chalicelib.api.schemas.notifications import NotificationOut
from chalicelib.api.schemas.proposals import ProposalEmailExport, ProposalExport, SupportExport
from chalicelib.api.schemas.reports import ReportOut
from chalicelib.domain.model import Delivery, ModerationAction, Pledge
from chalicelib.domain.teams import Membership
from chalicelib.services.personal_data import PersonalExport, StoredAnswer

# What the export cannot list, and why: said in the document itself (docs/privacy.md).
EXPORT_NOTES = (
    "Answers kept for an Idempotency-Key (`answers`): a retried pledge or report replays "
    "its first answer for 24 hours. Those of your current pledges and reports are listed "
    "and erased with them; one of a pledge you withdrew, or of a second key on the same "
    "pledge, cannot be found from your id and is deleted after 24 hours.",
    "Rate limits: counted in the memory of the server that answered, for one minute, never stored.",
    "Your identity (e-mail, name, locale) is held by the sign-in service, not by crowdact: "
    "crowdact copies your verified e-mail and language onto a pledge only to tell you when "
    "its challenge is reached.",
)


class PledgeExport(BaseModel):
    challenge_id: str
    display_name: str | None
    area: str | None = Field(description="the coarse area (a ~5 km cell) counted on the map")
    notify: bool
    quantity_reported: int | float
    created_at: Timestamp
    email: str | None = Field(description="the verified address the success e-mail goes to")
    locale: str | None
    name_hidden: bool = Field(description="a moderator hid the name from public answers")
    candidate_id: str | None = Field(
        default=None, description="the candidate voted for, on a challenge with a beneficiary vote"
    )
    voted_at: Timestamp | None = None
    offered: int | float = Field(default=0, description="what the pledge offers (volunteering)")
    reported_at: Timestamp | None = Field(
        default=None, description="your last report's time (it decides the report's team)"
    )

    @classmethod
    def from_pledge(cls, pledge: Pledge) -> PledgeExport:
        return cls(
            challenge_id=pledge.challenge_id,
            display_name=pledge.display_name,
            area=pledge.area,
            notify=pledge.notify,
            quantity_reported=pledge.quantity_reported,
            created_at=pledge.created_at,
            email=pledge.email,
            locale=pledge.locale,
            name_hidden=pledge.name_hidden,
            candidate_id=pledge.candidate_id,
            voted_at=pledge.voted_at,
            offered=pledge.offered,
            reported_at=pledge.reported_at,
        )


class NotificationExport(NotificationOut):
    """A message addressed to the participant, as the admins' delivery log shows it, with
    the challenge it was about."""

    challenge_id: str

    @classmethod
    def from_delivery(cls, delivery: Delivery) -> NotificationExport:
        logged = NotificationOut.from_delivery(delivery)
        return cls(challenge_id=delivery.challenge_id, **logged.model_dump())


class ModerationExport(BaseModel):
    challenge_id: str
    action: str = Field(description="hide_name: your name was hidden; remove: the pledge removed")
    reason: str | None
    at: Timestamp
    actor_role: str = Field(description="admin (the platform's) or org-admin (the organisation's)")
    display_name: str | None = Field(description="the pledge's name then")
    name_hidden: bool
    area: str | None
    notify: bool
    quantity_reported: int | float
    pledged_at: Timestamp

    @classmethod
    def from_action(cls, action: ModerationAction) -> ModerationExport:
        return cls(
            challenge_id=action.challenge_id,
            action=action.action.value,
            reason=action.reason,
            at=action.at,
            actor_role=action.actor_role,
            display_name=action.pledge.display_name,
            name_hidden=action.pledge.name_hidden,
            area=action.pledge.area,
            notify=action.pledge.notify,
            quantity_reported=action.pledge.quantity_reported,
            pledged_at=action.pledge.created_at,
        )


class AnswerExport(BaseModel):
    operation: str = Field(description="pledge or report")
    challenge_id: str
    status: int | None = Field(description="the HTTP status replayed")
    body: str | None = Field(description="the answer replayed, as JSON text")
    expires_at: Timestamp | None

    @classmethod
    def from_answer(cls, answer: StoredAnswer) -> AnswerExport:
        return cls(
            operation=answer.operation,
            challenge_id=answer.challenge_id,
            status=answer.status,
            body=answer.body,
            expires_at=answer.expires_at,
        )


class TeamMembershipExport(BaseModel):
    organization_id: str
    team_id: str | None = Field(description="null: you left the organisation's teams")
    since: Timestamp
    display_name: str | None
    current: bool = Field(description="your membership now; false: a past change")

    @classmethod
    def from_membership(cls, membership: Membership, *, current: bool) -> TeamMembershipExport:
        return cls(
            organization_id=membership.organization_id,
            team_id=membership.team_id,
            since=membership.since,
            display_name=membership.display_name,
            current=current,
        )


class PersonalDataExport(BaseModel):
    subject: str = Field(description="your id at the sign-in service (the token's `sub`)")
    generated_at: Timestamp
    pledges: list[PledgeExport]
    reports: list[ReportOut]
    notifications: list[NotificationExport] = Field(
        description="the e-mails addressed to you, with the address used"
    )
    moderation: list[ModerationExport] = Field(
        description="what moderators did to your pledges, with their reasons"
    )
    answers: list[AnswerExport] = Field(
        description="answers kept for 24 h to replay your keyed pledges and reports"
    )
    follows: list[FollowExport] = Field(
        default_factory=list,
        description="the challenges and campaigns you follow or opted out of, with the "
        "address their updates go to",
    )
    update_emails: list[UpdateEmailExport] = Field(
        default_factory=list,
        description="the update e-mails sent to you (no address is kept with them)",
    )
    proposals: list[ProposalExport] = Field(
        default_factory=list, description="the challenges you proposed"
    )
    proposal_supports: list[SupportExport] = Field(
        default_factory=list, description="the proposals you support"
    )
    proposal_emails: list[ProposalEmailExport] = Field(
        default_factory=list,
        description="the proposal e-mails sent to you (no address is kept with them)",
    )
    rsvps: list[RsvpExport] = Field(
        default_factory=list,
        description="your meetup sign-ups, with the address their seat e-mail goes to",
    )
    team_memberships: list[TeamMembershipExport] = Field(
        default_factory=list,
        description="your teams (one per organisation, with the name you show) and every "
        "change of team, which decides the team each pledge and report counts for",
    )
    notes: list[str] = Field(description="what is held elsewhere or briefly, and why")

    @classmethod
    def from_export(cls, export: PersonalExport) -> PersonalDataExport:
        records = export.records
        return cls(
            subject=export.subject,
            generated_at=export.generated_at,
            pledges=[PledgeExport.from_pledge(p) for p in records.pledges],
            reports=[ReportOut.from_report(r) for r in records.reports],
            notifications=[NotificationExport.from_delivery(d) for d in records.deliveries],
            moderation=[ModerationExport.from_action(a) for a in records.moderation],
            answers=[AnswerExport.from_answer(a) for a in records.answers],
            notes=list(EXPORT_NOTES),
        )
