"""Organisation bodies: creation and changes (with the public profile), the admin views and
the public space at /organizations/{slug}."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    UrlConstraints,
    model_validator,
)

from chalicelib.api.schemas.campaigns import CampaignOut
from chalicelib.api.schemas.challenges import ChallengeOut, SponsorIn
from chalicelib.api.schemas.common import Text, Timestamp, _Body
from chalicelib.domain.model import Organization, OrganizationKind, Party

if TYPE_CHECKING:
    from chalicelib.services.organizations import OrganizationChanges, OrganizationSpace

# A DNS name: labels of letters, digits and inner hyphens, and a final alphabetic label.
Domain = Annotated[
    str,
    StringConstraints(
        max_length=253,
        pattern=r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$",
    ),
]
Slug = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?$"),
    Field(description="lower-case letters, digits and inner hyphens: the space's address"),
]
Color = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$"), Field(examples=["#0b5394"])]
HttpsUrl = Annotated[AnyHttpUrl, UrlConstraints(allowed_schemes=["https"], max_length=2048)]
DisplayName = Annotated[Text, StringConstraints(max_length=120)]
Locale = Literal["fr", "en"]
Kind = Literal["company", "city", "association"]
DomainList = Annotated[list[Domain], Field(max_length=20)]


class OrganizationCreate(_Body):
    name: DisplayName
    kind: Kind
    # pydantic copies the default for each instance; ruff cannot see the BaseModel behind _Body.
    email_domains: DomainList = []  # noqa: RUF012
    display_name: DisplayName | None = None
    logo_url: HttpsUrl | None = None
    primary_color: Color | None = None
    default_locale: Locale = "fr"
    slug: Slug | None = None


_REQUIRED_ON_PATCH = ("name", "kind", "email_domains", "default_locale", "support_threshold")


class OrganizationPatch(_Body):
    """Any subset of the fields; `null` clears an optional one. `name`, `kind` and
    `email_domains` are the platform admin's (403 for an org-admin); an org-admin changes
    the public profile."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"primary_color": "#0b5394", "slug": "humanis"}]}
    )

    name: DisplayName | None = None
    kind: Kind | None = None
    email_domains: DomainList | None = None
    display_name: DisplayName | None = None
    logo_url: HttpsUrl | None = None
    primary_color: Color | None = None
    default_locale: Locale | None = None
    slug: Slug | None = None
    proposal_contact: SponsorIn | None = Field(
        default=None,
        description="who is told (e-mail, and a signed webhook if set) when a citizen "
        "proposal addressed to the organisation reaches its support threshold",
    )
    support_threshold: Annotated[int, Field(ge=1, le=1_000_000)] | None = None

    @model_validator(mode="after")
    def _check_fields(self) -> OrganizationPatch:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        for name in _REQUIRED_ON_PATCH:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def to_changes(self) -> OrganizationChanges:
        from chalicelib.services.organizations import OrganizationChanges

        fields: dict[str, object] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if name == "kind":
                value = OrganizationKind(value)
            elif name == "email_domains":
                value = tuple(value)
            elif name == "logo_url" and value is not None:
                value = str(value)
            elif name == "proposal_contact" and value is not None:
                value = value.to_domain()
            fields[name] = value
        return OrganizationChanges(**fields)  # type: ignore[arg-type]  # names: the fields


class ProposalContactOut(BaseModel):
    """Admins only: the contact's address and webhook, with the secret that signs it."""

    name: str
    email: str
    webhook_url: str | None
    webhook_secret: str | None

    @classmethod
    def of(cls, contact: Party | None) -> ProposalContactOut | None:
        if contact is None:
            return None
        return cls(
            name=contact.name,
            email=contact.email,
            webhook_url=contact.webhook_url,
            webhook_secret=contact.webhook_secret,
        )


class OrganizationOut(BaseModel):
    id: str
    name: str
    kind: str
    email_domains: list[str]
    created_at: Timestamp
    display_name: str | None
    logo_url: str | None
    primary_color: str | None
    default_locale: str
    slug: str | None
    proposal_contact: ProposalContactOut | None = None
    support_threshold: int = 10

    @classmethod
    def from_organization(cls, organization: Organization) -> OrganizationOut:
        profile = organization.profile
        return cls(
            id=organization.id,
            name=organization.name,
            kind=organization.kind.value,
            email_domains=list(organization.email_domains),
            created_at=organization.created_at,
            display_name=profile.display_name,
            logo_url=profile.logo_url,
            primary_color=profile.primary_color,
            default_locale=profile.default_locale,
            slug=profile.slug,
            proposal_contact=ProposalContactOut.of(profile.proposal_contact),
            support_threshold=profile.support_threshold,
        )


class OrganizationList(BaseModel):
    items: list[OrganizationOut]
    next_cursor: str | None


class OrganizationSpaceOut(BaseModel):
    """An organisation's public page: its profile (never its e-mail domains), and its live
    and ended challenges and its campaigns that the caller may see."""

    id: str
    slug: str
    name: str = Field(description="the display name, or the legal name")
    kind: str
    logo_url: str | None
    primary_color: str | None
    default_locale: str
    challenges: list[ChallengeOut]
    campaigns: list[CampaignOut]

    @classmethod
    def from_space(cls, space: OrganizationSpace) -> OrganizationSpaceOut:
        organization = space.organization
        profile = organization.profile
        return cls(
            id=organization.id,
            slug=profile.slug or "",
            name=organization.display_name,
            kind=organization.kind.value,
            logo_url=profile.logo_url,
            primary_color=profile.primary_color,
            default_locale=profile.default_locale,
            challenges=[ChallengeOut.from_challenge(c) for c in space.challenges],
            campaigns=[CampaignOut.from_campaign(c) for c in space.campaigns],
        )
