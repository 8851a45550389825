"""A per-container cache of campaigns, for the campaign trigger's read of every pledge record."""

from __future__ import annotations

import time
from collections.abc import Callable

from chalicelib.domain.model import Campaign
from chalicelib.services.campaigns import CampaignRepository
from chalicelib.services.ports import Page
from chalicelib.storage.expiring import ReadThroughCache

# A campaign and its number of counter shards never change once created, so this bounds
# memory, not staleness. An id that does not exist is retried sooner.
CAMPAIGN_CACHE_TTL_SECONDS = 300.0
MISSING_CAMPAIGN_TTL_SECONDS = 1.0
CAMPAIGN_CACHE_MAX_ENTRIES = 256


class CachedCampaignRepository:
    """A read-through cache of a campaign repository, in this container's memory.

    `track_campaigns` reads the campaign of every pledge record it handles: from memory, a
    burst of pledges on a campaign's challenges costs one read per container, not one per
    pledge. `add` goes through and keeps what it wrote; lists go straight to the table.
    """

    def __init__(
        self,
        campaigns: CampaignRepository,
        *,
        ttl: float = CAMPAIGN_CACHE_TTL_SECONDS,
        missing_ttl: float = MISSING_CAMPAIGN_TTL_SECONDS,
        max_entries: int = CAMPAIGN_CACHE_MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._campaigns = campaigns
        self._cache: ReadThroughCache[str, tuple[Campaign, int]] = ReadThroughCache(
            ttl=ttl, missing_ttl=missing_ttl, max_entries=max_entries, monotonic=monotonic
        )

    def add(self, campaign: Campaign, *, counter_shards: int) -> None:
        self._campaigns.add(campaign, counter_shards=counter_shards)
        self._cache.remember(campaign.id, (campaign, counter_shards))

    def get(self, campaign_id: str) -> tuple[Campaign, int] | None:
        """The campaign and its number of counter shards."""
        return self._cache.get(campaign_id, self._campaigns.get)

    def list(
        self, *, limit: int, cursor: str | None, organization_id: str | None = None
    ) -> Page[Campaign]:
        return self._campaigns.list(limit=limit, cursor=cursor, organization_id=organization_id)
