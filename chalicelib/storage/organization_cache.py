"""A per-container cache of organisations, for the visibility checks of employee-only challenges."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from chalicelib.domain.model import Organization
from chalicelib.services.ports import Page
from chalicelib.storage.expiring import ExpiringLru

# Organisations change rarely (an admin adds an e-mail domain): a change reaches other
# containers within this TTL. An id that does not exist is retried sooner.
ORGANIZATION_CACHE_TTL_SECONDS = 30.0
MISSING_ORGANIZATION_TTL_SECONDS = 1.0
ORGANIZATION_CACHE_MAX_ENTRIES = 512


class _OrganizationStore(Protocol):
    def add(self, organization: Organization) -> None: ...

    def get(self, organization_id: str) -> Organization | None: ...

    def list(self, *, limit: int, cursor: str | None) -> Page[Organization]: ...


class CachedOrganizationRepository:
    """A read-through cache of an organisation repository, in this container's memory.

    `get` is answered from memory for `ttl` seconds after a read (`missing_ttl` for an
    unknown id), so an employee pledging on a hot employee-only challenge costs no extra
    DynamoDB call. Bounded (least recently used out first); `add` goes through and keeps
    what it wrote; lists go straight to the table.
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
        if ttl < 0 or missing_ttl < 0 or max_entries < 1:
            raise ValueError("cache durations must not be negative, and the size must be positive")
        self._organizations = organizations
        self._ttl = ttl
        self._missing_ttl = missing_ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: ExpiringLru[str, Organization | None] = ExpiringLru(max_entries)

    def get(self, organization_id: str) -> Organization | None:
        with self._lock:
            hit, organization = self._entries.get(organization_id, self._monotonic())
            if hit:
                return organization
        # Two concurrent misses may both read: a rare, harmless extra GetItem.
        organization = self._organizations.get(organization_id)
        self._remember(organization_id, organization)
        return organization

    def _remember(self, organization_id: str, organization: Organization | None) -> None:
        ttl = self._ttl if organization is not None else self._missing_ttl
        with self._lock:
            self._entries.put(organization_id, organization, self._monotonic() + ttl)

    def add(self, organization: Organization) -> None:
        self._organizations.add(organization)
        self._remember(organization.id, organization)

    def list(self, *, limit: int, cursor: str | None) -> Page[Organization]:
        return self._organizations.list(limit=limit, cursor=cursor)
