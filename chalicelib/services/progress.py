"""Progress: sum a challenge's counter shards, publish the totals, record `reached` once."""

from __future__ import annotations

from chalicelib.domain.model import (
    Challenge,
    ChallengeStatus,
    EventType,
    Milestone,
)
from chalicelib.services.ports import (
    NO_METRICS,
    ChallengeRepository,
    Clock,
    CounterRepository,
    MetricName,
    MetricsRecorder,
)


class ProgressService:
    def __init__(
        self,
        challenges: ChallengeRepository,
        counters: CounterRepository,
        clock: Clock,
        *,
        metrics: MetricsRecorder = NO_METRICS,
    ) -> None:
        self._challenges = challenges
        self._counters = counters
        self._clock = clock
        self._metrics = metrics

    def refresh(self, challenge_id: str) -> Challenge | None:
        """Bring a challenge's published totals up to date and reach it if its target is met.

        Safe to run any number of times and concurrently: totals are only replaced by a
        higher version, and the milestone write is conditional, so one caller wins.
        """
        # Consistent: right after a target change, an eventual read could miss the new target.
        challenge = self._challenges.get(challenge_id, consistent=True)
        if challenge is None:
            return None
        totals = self._counters.totals(challenge.id, challenge.counter_shards)
        if totals.version > challenge.totals.version:
            self._challenges.save_totals(challenge.id, totals)
            challenge = challenge.with_changes(totals=totals)
        if (
            not challenge.reached
            and challenge.status is not ChallengeStatus.DRAFT
            and challenge.is_target_met(totals)
        ):
            now = self._clock.now()
            milestone = Milestone(challenge.id, EventType.REACHED, now, totals, reached=True)
            if self._challenges.record_milestone(challenge, milestone):
                self._metrics.count(MetricName.CHALLENGES_REACHED)
                challenge = challenge.with_changes(reached_at=now)
            else:
                # Another refresh reached it first (or the target moved): report what is stored.
                challenge = self._challenges.get(challenge.id, consistent=True) or challenge
        return challenge
