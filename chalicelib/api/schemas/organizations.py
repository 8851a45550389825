"""Organisation bodies: the email-domain type, the creation request and the organisation views."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from chalicelib.api.schemas.common import Text, Timestamp, _Body
from chalicelib.domain.model import Organization

# A DNS name: labels of letters, digits and inner hyphens, and a final alphabetic label.
Domain = Annotated[
    str,
    StringConstraints(
        max_length=253,
        pattern=r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$",
    ),
]


class OrganizationCreate(_Body):
    name: Annotated[Text, StringConstraints(max_length=120)]
    kind: Literal["company", "city", "association"]
    # pydantic copies the default for each instance; ruff cannot see the BaseModel behind _Body.
    email_domains: Annotated[list[Domain], Field(max_length=20)] = []  # noqa: RUF012


class OrganizationOut(BaseModel):
    id: str
    name: str
    kind: str
    email_domains: list[str]
    created_at: Timestamp

    @classmethod
    def from_organization(cls, organization: Organization) -> OrganizationOut:
        return cls(
            id=organization.id,
            name=organization.name,
            kind=organization.kind.value,
            email_domains=list(organization.email_domains),
            created_at=organization.created_at,
        )


class OrganizationList(BaseModel):
    items: list[OrganizationOut]
    next_cursor: str | None
