"""Webhooks: which URLs may be called, the signature, and delivery through the notifier."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from chalicelib.domain.model import Challenge as ChallengeModel
from chalicelib.domain.model import (
    ChallengeStatus,
    Channel,
    Delivery,
    DeliveryStatus,
    EventType,
    Metric,
    Milestone,
    RecipientRole,
    Target,
    Totals,
    Visibility,
)
from chalicelib.notify.email import JinjaEmailRenderer
from chalicelib.notify.webhook import check_url, sign
from chalicelib.services.notifications import NotificationService, milestone_recipients
from chalicelib.services.ports import WebhookError
from chalicelib.services.retry import RetryPolicy
from tests.unit.support import BENEFICIARY, SPONSOR, build_backend
from tests.unit.test_notification_retries import FakeSleeper, RecordingRandom, ScriptedMailer


def resolver(*addresses: str) -> Callable[[str, int], list[str]]:
    return lambda host, port: list(addresses)


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "192.168.0.10", "172.16.5.4", "169.254.169.254", "::1", "fd00::1",
     "0.0.0.0", "100.64.0.1"],  # noqa: S104 - an address to refuse, not to bind
)  # fmt: skip
def test_non_public_addresses_are_refused_for_good(address: str) -> None:
    with pytest.raises(WebhookError) as refused:
        check_url("https://hooks.example/x", allow_private=False, resolver=resolver(address))
    assert refused.value.retryable is False


def test_a_host_with_one_private_address_among_public_ones_is_refused() -> None:
    with pytest.raises(WebhookError):
        check_url(
            "https://hooks.example/x",
            allow_private=False,
            resolver=resolver("93.184.216.34", "10.0.0.1"),
        )


def test_public_https_is_allowed_and_http_is_not_outside_the_local_stage() -> None:
    check_url("https://hooks.example/x", allow_private=False, resolver=resolver("93.184.216.34"))
    with pytest.raises(WebhookError) as refused:
        check_url("http://hooks.example/x", allow_private=False, resolver=resolver("93.184.216.34"))
    assert refused.value.retryable is False


def test_the_local_stage_may_call_loopback_over_http() -> None:
    check_url("http://127.0.0.1:8999/hook", allow_private=True, resolver=resolver())
    with pytest.raises(WebhookError):
        check_url("ftp://127.0.0.1/hook", allow_private=True)


def test_a_dns_failure_is_worth_retrying() -> None:
    def failing(host: str, port: int) -> list[str]:
        raise OSError("temporary failure in name resolution")

    with pytest.raises(WebhookError) as refused:
        check_url("https://hooks.example/x", allow_private=False, resolver=failing)
    assert refused.value.retryable is True


def test_the_signature_is_the_hex_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"id":"d1"}'
    expected = hmac.new(b"s3cret-s3cret-s3cret", body, hashlib.sha256).hexdigest()
    assert sign("s3cret-s3cret-s3cret", body) == f"sha256={expected}"


# --- through the notifier ----------------------------------------------------------------------

HOOKED_SPONSOR = replace(SPONSOR, webhook_url="https://hooks.example/x", webhook_secret="k" * 32)


class ScriptedWebhooks:
    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls: list[str] = []

    def send(self, delivery: Delivery, milestone: Milestone, challenge: ChallengeModel) -> None:
        self.calls.append(delivery.id)
        if self.errors:
            raise self.errors.pop(0)


def notifier(webhooks: ScriptedWebhooks) -> tuple[NotificationService, Milestone]:
    backend = build_backend()
    clock = backend.clock
    service = NotificationService(
        backend.challenge_repository,
        backend.delivery_repository,
        ScriptedMailer(clock),
        JinjaEmailRenderer(),
        clock,
        max_attempts=5,
        retry=RetryPolicy(attempts=3, rng=RecordingRandom(), sleep=FakeSleeper(clock)),
        webhooks=webhooks,
    )
    challenge = backend.live_challenge(
        target=Target(Metric.PARTICIPANTS, 1), sponsor=HOOKED_SPONSOR
    )
    backend.pledge_many(challenge.id, 1)
    backend.progress.refresh(challenge.id)
    [milestone] = backend.db.milestones_for(challenge.id)
    return service, milestone


def test_a_sponsor_with_a_webhook_gets_one_delivery_on_that_channel() -> None:
    challenge = ChallengeModel(
        id="ch_1", title="t", action="a", description="", target=Target(Metric.PARTICIPANTS, 1),
        sponsor=HOOKED_SPONSOR, beneficiary=BENEFICIARY, reward="r",
        status=ChallengeStatus.LIVE, visibility=Visibility.PUBLIC,
        created_at=datetime(2026, 6, 1, tzinfo=UTC),
    )  # fmt: skip
    milestone = Milestone("ch_1", EventType.REACHED, challenge.created_at, Totals(), True)
    deliveries = milestone_recipients(milestone, challenge)
    webhooks = [(d.recipient_role, d.to) for d in deliveries if d.channel is Channel.WEBHOOK]
    assert webhooks == [(RecipientRole.SPONSOR, "https://hooks.example/x")]
    assert len(deliveries) == 3
    without = milestone_recipients(milestone, replace(challenge, sponsor=SPONSOR))
    assert [d.channel for d in without] == [Channel.EMAIL, Channel.EMAIL]


def test_a_failing_endpoint_is_retried_with_the_same_delivery_id_then_logged_sent() -> None:
    webhooks = ScriptedWebhooks(WebhookError("500"), WebhookError("timed out"))
    service, milestone = notifier(webhooks)
    service.notify(milestone)
    assert len(webhooks.calls) == 3
    assert len(set(webhooks.calls)) == 1  # one delivery id, reused
    [logged] = [d for d in service.log(milestone.challenge_id) if d.channel is Channel.WEBHOOK]
    assert logged.status is DeliveryStatus.SENT
    assert logged.attempts == 3
    assert logged.id == webhooks.calls[0]


def test_a_forbidden_url_fails_the_delivery_at_once() -> None:
    webhooks = ScriptedWebhooks(WebhookError("private address", retryable=False))
    service, milestone = notifier(webhooks)
    service.notify(milestone)  # nothing left to retry: the e-mails went out
    [logged] = [d for d in service.log(milestone.challenge_id) if d.channel is Channel.WEBHOOK]
    assert logged.status is DeliveryStatus.FAILED
    assert logged.attempts == 1
