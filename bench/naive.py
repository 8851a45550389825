"""The naive baseline: one counter item per challenge, updated in the pledge's transaction."""

from __future__ import annotations

from chalicelib.services.challenges import ChallengeService
from chalicelib.services.pledges import PledgeService
from chalicelib.services.ports import SystemClock
from chalicelib.services.progress import ProgressService
from chalicelib.settings import Settings
from chalicelib.storage.challenges import DynamoChallengeRepository
from chalicelib.storage.pledges import DynamoPledgeRepository

# With one shard, every participant's pledge lands on `<challenge_id>#0`: the application's
# own pledge item, index entry and transaction, counted on a single counter item. That is
# the naive design, and the stream aggregator publishes its totals unchanged.
NAIVE_SHARDS = 1


def naive_services(
    settings: Settings, progress: ProgressService
) -> tuple[ChallengeService, PledgeService]:
    """Services whose challenges each have one counter item (create challenges through these)."""
    challenges = ChallengeService(
        DynamoChallengeRepository(settings), progress, SystemClock(), counter_shards=NAIVE_SHARDS
    )
    return challenges, PledgeService(challenges, DynamoPledgeRepository(settings), SystemClock())
