"""Deadlines: live challenges past their `ends_at` become `ended`, with one `challenge.ended`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from chalicelib.domain.model import ChallengeStatus, EventType, Milestone
from chalicelib.services.ports import (
    NO_METRICS,
    ChallengeRepository,
    Clock,
    MetricName,
    MetricsRecorder,
)
from chalicelib.services.progress import ProgressService

logger = logging.getLogger(__name__)

# A pledge checked against the clock just before `ends_at` commits its transaction a moment
# later; waiting this long after the deadline lets such pledges land before the final
# figures are read (see docs/decisions.md).
DEADLINE_SETTLE = timedelta(seconds=2)


class DeadlineRunError(Exception):
    """Some due challenges could not be ended in this run; the next run tries them again."""


@dataclass
class DeadlineRun:
    """What one run did, by challenge id."""

    ended: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # ended elsewhere, closed, or moved on
    failed: list[str] = field(default_factory=list)
    unvisited: int = 0  # left for the next run (time was running out)


class DeadlineService:
    def __init__(
        self,
        challenges: ChallengeRepository,
        progress: ProgressService,
        clock: Clock,
        *,
        settle: timedelta = DEADLINE_SETTLE,
        metrics: MetricsRecorder = NO_METRICS,
    ) -> None:
        # `challenges` is the container's cached repository: ending a challenge through it
        # drops this container's cached copy, as the admin's transitions do.
        self._challenges = challenges
        self._progress = progress
        self._clock = clock
        self._settle = settle
        self._metrics = metrics

    def end_due(self, *, should_stop: Callable[[], bool] = lambda: False) -> DeadlineRun:
        """End every live challenge whose deadline has passed. Safe to run concurrently and
        again after a crash: each challenge ends in one conditional write, so once."""
        run = DeadlineRun()
        due = self._challenges.list_due(self._clock.now() - self._settle)
        for index, challenge in enumerate(due):
            if should_stop():
                run.unvisited = len(due) - index
                break
            try:
                ended = self.end(challenge.id)
            except Exception:
                # One broken challenge must not hold back the others.
                logger.exception("ending challenge %s failed", challenge.id)
                run.failed.append(challenge.id)
                continue
            (run.ended if ended else run.skipped).append(challenge.id)
        return run

    def end(self, challenge_id: str) -> bool:
        """End this challenge if it is live and due; True if this call ended it.

        The final figures are summed from the counter shards first (so a target met by the
        last pledges still reaches, with its own `challenge.reached`), then the status change
        and the `challenge.ended` milestone are one conditional transaction.
        """
        challenge = self._progress.refresh(challenge_id)
        now = self._clock.now()
        if (
            challenge is None
            or challenge.status is not ChallengeStatus.LIVE
            or challenge.ends_at is None
            or challenge.ends_at > now - self._settle
        ):
            return False
        milestone = Milestone(
            challenge.id, EventType.ENDED, now, challenge.totals, reached=challenge.reached
        )
        ended = self._challenges.record_milestone(challenge, milestone)
        if ended:
            self._metrics.count(MetricName.CHALLENGES_ENDED)
        return ended
