"""Organisations: the companies, cities and associations that run challenges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chalicelib.domain.errors import OrganizationNotFoundError
from chalicelib.domain.model import Organization, OrganizationKind
from chalicelib.services.challenges import new_id
from chalicelib.services.ports import Clock, Page


class OrganizationRepository(Protocol):
    def add(self, organization: Organization) -> None: ...

    def get(self, organization_id: str) -> Organization | None: ...

    def list(self, *, limit: int, cursor: str | None) -> Page[Organization]: ...


@dataclass(frozen=True)
class OrganizationDraft:
    name: str
    kind: OrganizationKind
    email_domains: tuple[str, ...] = ()
    id: str | None = None  # seeded data only (the local demo); the API lets the server choose


class OrganizationService:
    def __init__(self, organizations: OrganizationRepository, clock: Clock) -> None:
        self._organizations = organizations
        self._clock = clock

    def create(self, draft: OrganizationDraft) -> Organization:
        organization = Organization(
            id=draft.id or new_id("org"),
            name=draft.name,
            kind=draft.kind,
            created_at=self._clock.now(),
            # Lower case and each once, in the order given: domains compare case-insensitively.
            email_domains=tuple(dict.fromkeys(d.lower() for d in draft.email_domains)),
        )
        self._organizations.add(organization)
        return organization

    def get(self, organization_id: str) -> Organization:
        organization = self._organizations.get(organization_id)
        if organization is None:
            raise OrganizationNotFoundError(organization_id)
        return organization

    def list(self, *, limit: int, cursor: str | None) -> Page[Organization]:
        return self._organizations.list(limit=limit, cursor=cursor)
