"""Business events are counted once each: pledges, withdrawals, reached, notifications."""

from __future__ import annotations

from collections import Counter

from chalicelib.notify.email import JinjaEmailRenderer
from chalicelib.services.notifications import NotificationService
from chalicelib.services.pledges import PledgeRequest, PledgeService
from chalicelib.services.ports import MetricName
from chalicelib.services.progress import ProgressService
from tests.unit.support import Backend, build_backend, participant


class RecordingMetrics:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def count(self, name: str, value: int = 1) -> None:
        self.counts[name] += value


def _with_metrics(backend: Backend, metrics: RecordingMetrics) -> None:
    backend.progress = ProgressService(
        backend.challenge_repository, backend.counter_repository, backend.clock, metrics=metrics
    )
    backend.pledges = PledgeService(
        backend.challenges, backend.pledge_repository, backend.clock, metrics=metrics
    )
    backend.notifications = NotificationService(
        backend.challenge_repository,
        backend.delivery_repository,
        backend.mailer,
        JinjaEmailRenderer(),
        backend.clock,
        max_attempts=1,  # the first failure is final
        metrics=metrics,
    )


def test_pledges_withdrawals_and_reached_are_counted_once() -> None:
    backend, metrics = build_backend(), RecordingMetrics()
    _with_metrics(backend, metrics)
    challenge = backend.live_challenge()
    backend.pledge_many(challenge.id, 3)
    backend.pledges.pledge(participant(0), challenge.id, PledgeRequest())  # already pledged
    backend.pledges.withdraw(participant(2), challenge.id)
    for _ in range(2):
        backend.progress.refresh(challenge.id)
    assert metrics.counts[MetricName.PLEDGES_CREATED] == 3
    assert metrics.counts[MetricName.PLEDGES_WITHDRAWN] == 1
    # Summed after the withdrawal: 2 of the 3 needed.
    assert metrics.counts[MetricName.CHALLENGES_REACHED] == 0
    backend.pledge_many(challenge.id, 1, first=3)
    for _ in range(3):
        backend.progress.refresh(challenge.id)
    assert metrics.counts[MetricName.CHALLENGES_REACHED] == 1


def test_notifications_sent_and_failed_are_counted() -> None:
    backend, metrics = build_backend(), RecordingMetrics()
    _with_metrics(backend, metrics)
    challenge = backend.live_challenge()
    backend.pledge_many(challenge.id, 3)
    backend.progress.refresh(challenge.id)
    (milestone,) = backend.db.milestones_for(challenge.id)
    backend.mailer.fail_next(1)
    backend.notifications.notify(milestone)
    assert metrics.counts[MetricName.NOTIFICATIONS_SENT] == 1
    assert metrics.counts[MetricName.NOTIFICATIONS_FAILED] == 1
    backend.notifications.notify(milestone)  # settled: nothing sent or counted again
    assert metrics.counts[MetricName.NOTIFICATIONS_SENT] == 1
