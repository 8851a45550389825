"""Challenge bodies: creation and patch requests, the list query, and the public and admin views."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    UrlConstraints,
    model_validator,
)

from chalicelib.api.schemas.common import (
    Identifier,
    Instant,
    ListQuery,
    Number,
    Text,
    Timestamp,
    Unit,
    _Body,
)
from chalicelib.api.schemas.votes import (
    AdminBeneficiaryChoiceOut,
    BeneficiaryChoiceIn,
    BeneficiaryChoiceOut,
)
from chalicelib.domain.model import Challenge, Party, Target
from chalicelib.domain.votes import placeholder_beneficiary

# --- requests ----------------------------------------------------------------------------------


class TargetIn(_Body):
    metric: Literal["participants", "quantity"]
    value: Number
    unit: Unit | None = None

    @model_validator(mode="after")
    def _check_metric(self) -> TargetIn:
        if self.metric == "participants" and not float(self.value).is_integer():
            raise ValueError("a participants target is a whole number")
        if self.metric == "quantity" and self.unit is None:
            raise ValueError("a quantity target needs a unit, e.g. km or kg")
        return self

    def to_domain(self) -> Target:
        from chalicelib.domain.model import Metric

        value = int(self.value) if float(self.value).is_integer() else self.value
        return Target(metric=Metric(self.metric), value=value, unit=self.unit)


class SponsorIn(_Body):
    name: Annotated[Text, StringConstraints(max_length=120)]
    email: EmailStr
    webhook_url: Annotated[AnyHttpUrl, UrlConstraints(max_length=2048)] | None = None
    webhook_secret: Annotated[str, StringConstraints(min_length=16, max_length=256)] | None = None

    @property
    def secret_to_generate(self) -> bool:
        """The server makes the webhook secret, and shows it in this answer only."""
        return self.webhook_url is not None and self.webhook_secret is None

    def to_domain(self) -> Party:
        url = str(self.webhook_url) if self.webhook_url else None
        return Party(
            name=self.name,
            email=str(self.email),
            webhook_url=url,
            webhook_secret=self.webhook_secret,
        )


class BeneficiaryIn(_Body):
    name: Annotated[Text, StringConstraints(max_length=120)]
    email: EmailStr

    def to_domain(self) -> Party:
        return Party(name=self.name, email=str(self.email))


class _ChallengeFields(_Body):
    title: Annotated[Text, StringConstraints(max_length=140)]
    action: Annotated[Text, StringConstraints(max_length=280)]
    description: Annotated[str, StringConstraints(max_length=5000)] = ""
    target: TargetIn
    sponsor: SponsorIn
    beneficiary: BeneficiaryIn | None = Field(
        default=None, description="Required unless beneficiary_choice is given."
    )
    beneficiary_choice: BeneficiaryChoiceIn | None = Field(
        default=None,
        description="Instead of beneficiary: 2 to 10 candidates the participants choose "
        "from by vote (PUT /challenges/{id}/vote); the winner becomes the beneficiary.",
    )
    reward: Annotated[Text, StringConstraints(max_length=500)]
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    campaign_id: Identifier | None = Field(
        default=None, description="An existing campaign's id (400 otherwise)."
    )
    organization_id: Identifier | None = Field(
        default=None,
        description="An existing organisation's id (400 otherwise); required when "
        "visibility is organization.",
    )
    visibility: Literal["public", "organization"] = "public"
    report_cap: Number | None = None


class ChallengeCreate(_ChallengeFields):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Clichy à vélo",
                    "action": "I cycle when I can",
                    "target": {"metric": "participants", "value": 500, "unit": "km"},
                    "sponsor": {"name": "Ville de Clichy", "email": "mobilite@clichy.example"},
                    "beneficiary": {"name": "Solicycle", "email": "contact@solicycle.example"},
                    "reward": "€5,000 to teach 500 pupils bike repair",
                    "publish": True,
                }
            ]
        }
    )

    publish: bool = False

    @model_validator(mode="after")
    def _one_beneficiary(self) -> ChallengeCreate:
        if (self.beneficiary is None) == (self.beneficiary_choice is None):
            raise ValueError("send either beneficiary or beneficiary_choice (one of them)")
        return self

    def beneficiary_party(self) -> Party:
        """The beneficiary, or the vote's placeholder until the participants choose."""
        if self.beneficiary is not None:
            return self.beneficiary.to_domain()
        choice = self.beneficiary_choice
        assert choice is not None  # noqa: S101 - _one_beneficiary
        return placeholder_beneficiary(choice.to_domain())


_REQUIRED_ON_PATCH = ("title", "action", "target", "sponsor", "beneficiary", "reward", "visibility")


class ChallengePatch(_Body):
    """Any subset of the creation fields; `null` clears an optional one."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"title": "Clichy à vélo, saison 2", "ends_at": "2099-06-30T18:00:00Z"},
                {"target": {"metric": "participants", "value": 1000, "unit": "km"}},
            ]
        }
    )

    title: Annotated[Text, StringConstraints(max_length=140)] | None = None
    action: Annotated[Text, StringConstraints(max_length=280)] | None = None
    description: Annotated[str, StringConstraints(max_length=5000)] | None = None
    target: TargetIn | None = None
    sponsor: SponsorIn | None = None
    beneficiary: BeneficiaryIn | None = None
    reward: Annotated[Text, StringConstraints(max_length=500)] | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    campaign_id: Identifier | None = Field(
        default=None,
        description="An existing campaign's id, or null to leave it. Only a draft changes "
        "campaign (409 otherwise: its pledges are counted in the campaign it has).",
    )
    organization_id: Identifier | None = None
    visibility: Literal["public", "organization"] | None = Field(
        default=None,
        description="With organization_id, who the challenge is for; in a campaign only a "
        "draft changes it (409 otherwise).",
    )
    report_cap: Number | None = None

    @model_validator(mode="after")
    def _check_fields(self) -> ChallengePatch:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        for name in _REQUIRED_ON_PATCH:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class ChallengeListQuery(ListQuery):
    status: Literal["live", "ended"] | None = None
    campaign_id: Identifier | None = None


# --- responses ---------------------------------------------------------------------------------


class TargetOut(BaseModel):
    metric: Literal["participants", "quantity"]
    value: int | float
    unit: str | None

    @classmethod
    def from_target(cls, target: Target) -> TargetOut:
        return cls(metric=target.metric.value, value=target.value, unit=target.unit)


class ProgressOut(BaseModel):
    participants: int
    quantity: int | float
    promised: int | float = Field(
        default=0, description="What the pledges offer (volunteering), beside quantity reported."
    )
    percent: float
    reached: bool
    reached_at: Timestamp | None


class PartyName(BaseModel):
    name: str


class ChallengeOut(BaseModel):
    """A challenge as participants and the public see it: no contacts, no secrets."""

    id: str
    title: str
    action: str
    description: str
    organization_id: str | None
    campaign_id: str | None
    proposal_id: str | None = Field(
        default=None, description="the citizen proposal it was adopted from, if any"
    )
    target: TargetOut
    progress: ProgressOut
    sponsor: PartyName
    beneficiary: PartyName
    reward: str
    status: Literal["draft", "live", "ended", "closed"]
    visibility: Literal["public", "organization"]
    report_cap: int | float | None
    starts_at: Timestamp | None
    ends_at: Timestamp | None
    created_at: Timestamp
    beneficiary_choice: BeneficiaryChoiceOut | None = Field(
        default=None,
        description="Set when the participants choose the beneficiary by vote; until the vote "
        "closes, beneficiary.name lists the candidates.",
    )

    @classmethod
    def fields_from(cls, challenge: Challenge) -> dict[str, Any]:
        return {
            "id": challenge.id,
            "title": challenge.title,
            "action": challenge.action,
            "description": challenge.description,
            "organization_id": challenge.organization_id,
            "campaign_id": challenge.campaign_id,
            "proposal_id": challenge.proposal_id,
            "target": TargetOut.from_target(challenge.target),
            "progress": ProgressOut(
                participants=challenge.totals.participants,
                quantity=challenge.totals.quantity,
                promised=challenge.totals.promised,
                percent=challenge.percent(),
                reached=challenge.reached,
                reached_at=challenge.reached_at,
            ),
            "sponsor": PartyName(name=challenge.sponsor.name),
            "beneficiary": PartyName(name=challenge.beneficiary.name),
            "reward": challenge.reward,
            "status": challenge.status.value,
            "visibility": challenge.visibility.value,
            "report_cap": challenge.report_cap,
            "starts_at": challenge.starts_at,
            "ends_at": challenge.ends_at,
            "created_at": challenge.created_at,
            "beneficiary_choice": (
                BeneficiaryChoiceOut.from_choice(challenge.beneficiary_choice)
                if challenge.beneficiary_choice
                else None
            ),
        }

    @classmethod
    def from_challenge(cls, challenge: Challenge) -> ChallengeOut:
        return cls(**cls.fields_from(challenge))


class SponsorOut(BaseModel):
    name: str
    email: str
    webhook_url: str | None
    webhook_secret: str | None = Field(
        default=None,
        description="Only in the answer to the request that made the server generate it "
        "(a webhook_url sent without a secret); null everywhere else.",
    )


class BeneficiaryOut(BaseModel):
    name: str
    email: str


class AdminChallengeOut(ChallengeOut):
    """A challenge for admins: with the sponsor's and beneficiary's contacts."""

    sponsor: SponsorOut  # type: ignore[assignment]
    beneficiary: BeneficiaryOut  # type: ignore[assignment]
    beneficiary_choice: AdminBeneficiaryChoiceOut | None = None
    updated_at: Timestamp | None

    @classmethod
    def from_challenge(
        cls, challenge: Challenge, *, reveal_webhook_secret: bool = False
    ) -> AdminChallengeOut:
        fields = cls.fields_from(challenge)
        fields["sponsor"] = SponsorOut(
            name=challenge.sponsor.name,
            email=challenge.sponsor.email,
            webhook_url=challenge.sponsor.webhook_url,
            webhook_secret=challenge.sponsor.webhook_secret if reveal_webhook_secret else None,
        )
        fields["beneficiary"] = BeneficiaryOut(
            name=challenge.beneficiary.name, email=challenge.beneficiary.email
        )
        if challenge.beneficiary_choice is not None:
            fields["beneficiary_choice"] = AdminBeneficiaryChoiceOut.from_choice(
                challenge.beneficiary_choice
            )
        fields["updated_at"] = challenge.updated_at
        return cls(**fields)


class ChallengeList(BaseModel):
    items: list[ChallengeOut]
    next_cursor: str | None


class AdminChallengeList(BaseModel):
    items: list[AdminChallengeOut]
    next_cursor: str | None
