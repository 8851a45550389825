"""A per-container cache of organisations, for the visibility checks of employee-only challenges."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from chalicelib.domain.model import Organization
from chalicelib.services.ports import Page
from chalicelib.storage.expiring import ReadThroughCache

# Organisations change rarely (an admin adds an e-mail domain): a change reaches other
# containers within this TTL. An id that does not exist is retried sooner.
ORGANIZATION_CACHE_TTL_SECONDS = 30.0
MISSING_ORGANIZATION_TTL_SECONDS = 1.0
ORGANIZATION_CACHE_MAX_ENTRIES = 512


class _OrganizationStore(Protocol):
    def add(self, organization: Organization) -> None: ...

    def get(self, organization_id: str, *, consistent: bool = False) -> Organization | None: ...

    def list(self, *, limit: int, cursor: str | None) -> Page[Organization]: ...

    def get_by_slug(self, slug: str) -> Organization | None: ...

    def replace(self, before: Organization, after: Organization) -> bool: ...


class CachedOrganizationRepository:
    """A read-through cache of an organisation repository, in this container's memory.

    `get` is answered from memory for `ttl` seconds after a read (`missing_ttl` for an
    unknown id), so an employee pledging on a hot employee-only challenge costs no extra
    DynamoDB call. Bounded (least recently used out first); `add` and `replace` go through
    and keep what they wrote; lists and slugs go straight to the table.
    """

    def __init__(
        self,
        organizations: _OrganizationStore,
        *,
        ttl: float = ORGANIZATION_CACHE_TTL_SECONDS,
        missing_ttl: float = MISSING_ORGANIZATION_TTL_SECONDS,
        max_entries: int = ORGANIZATION_CACHE_MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._organizations = organizations
        self._cache: ReadThroughCache[str, Organization] = ReadThroughCache(
            ttl=ttl, missing_ttl=missing_ttl, max_entries=max_entries, monotonic=monotonic
        )

    def get(self, organization_id: str, *, consistent: bool = False) -> Organization | None:
        if consistent:  # as stored now, kept for the next reads
            organization = self._organizations.get(organization_id, consistent=True)
            self._cache.remember(organization_id, organization)
            return organization
        return self._cache.get(organization_id, self._organizations.get)

    def add(self, organization: Organization) -> None:
        self._organizations.add(organization)
        self._cache.remember(organization.id, organization)

    def list(self, *, limit: int, cursor: str | None) -> Page[Organization]:
        return self._organizations.list(limit=limit, cursor=cursor)

    def get_by_slug(self, slug: str) -> Organization | None:
        # Public pages by slug are read straight from the table (a slug may have just moved).
        return self._organizations.get_by_slug(slug)

    def replace(self, before: Organization, after: Organization) -> bool:
        replaced = self._organizations.replace(before, after)
        if replaced:
            self._cache.remember(after.id, after)
        else:  # changed elsewhere: the next read goes to the table
            self._cache.forget(after.id)
        return replaced
