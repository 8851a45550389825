"""HttpWebhookSender against a real HTTP endpoint on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from chalicelib.domain.model import (
    Challenge,
    ChallengeStatus,
    Channel,
    Delivery,
    EventType,
    Metric,
    Milestone,
    Party,
    RecipientRole,
    Target,
    Totals,
    Visibility,
)
from chalicelib.notify.webhook import HttpWebhookSender
from chalicelib.services.ports import WebhookError
from tests.functional.conftest import Endpoint

SECRET = "whsec-" + "x" * 26


def fixtures(url: str) -> tuple[Delivery, Milestone, Challenge]:
    created = datetime(2026, 6, 1, 9, tzinfo=UTC)
    challenge = Challenge(
        id="ch_webhook", title="Clichy à vélo", action="I cycle", description="",
        target=Target(Metric.PARTICIPANTS, 2),
        sponsor=Party("Ville de Clichy", "s@clichy.example", url, SECRET),
        beneficiary=Party("Solicycle", "b@solicycle.example"), reward="€5,000",
        status=ChallengeStatus.LIVE, visibility=Visibility.PUBLIC, created_at=created,
        totals=Totals(participants=2), reached_at=created,
    )  # fmt: skip
    milestone = Milestone(challenge.id, EventType.REACHED, created, Totals(participants=2), True)
    delivery = Delivery(
        challenge_id=challenge.id, event=EventType.REACHED, recipient_role=RecipientRole.SPONSOR,
        channel=Channel.WEBHOOK, recipient_key="sponsor", to=url,
    )  # fmt: skip
    return delivery, milestone, challenge


def test_the_endpoint_gets_a_signed_event_it_can_verify(endpoint: Endpoint) -> None:
    delivery, milestone, challenge = fixtures(endpoint.url)
    HttpWebhookSender(allow_private=True).send(delivery, milestone, challenge)
    [(headers, body)] = endpoint.received
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Crowdact-Signature"] == f"sha256={expected}"
    assert headers["X-Crowdact-Event"] == "challenge.reached"
    assert headers["X-Crowdact-Delivery"] == delivery.id
    assert headers["Content-Type"] == "application/json"
    event = json.loads(body)
    assert event["id"] == delivery.id
    assert event["event"] == "challenge.reached"
    assert event["occurred_at"] == "2026-06-01T09:00:00Z"
    assert event["challenge"]["id"] == "ch_webhook"
    assert event["challenge"]["progress"]["reached"] is True
    assert "@" not in body.decode()  # the public shape: no e-mail, no webhook secret
    assert SECRET not in body.decode()


@pytest.mark.parametrize("status", [500, 503, 404, 302])
def test_a_non_2xx_answer_is_a_retryable_failure(endpoint: Endpoint, status: int) -> None:
    endpoint.statuses = [status]
    delivery, milestone, challenge = fixtures(endpoint.url)
    with pytest.raises(WebhookError) as failed:
        HttpWebhookSender(allow_private=True).send(delivery, milestone, challenge)
    assert failed.value.retryable is True
    assert len(endpoint.received) == 1  # a redirect is not followed


def test_outside_the_local_stage_loopback_is_refused_before_any_request(
    endpoint: Endpoint,
) -> None:
    delivery, milestone, challenge = fixtures(endpoint.url)
    https = replace(delivery, to=endpoint.url.replace("http://", "https://"))
    for target in (delivery, https):
        with pytest.raises(WebhookError) as refused:
            HttpWebhookSender(allow_private=False).send(target, milestone, challenge)
        assert refused.value.retryable is False
    assert endpoint.received == []


def test_an_endpoint_that_does_not_answer_is_a_retryable_failure() -> None:
    delivery, milestone, challenge = fixtures("http://127.0.0.1:9/closed")  # discard port
    with pytest.raises(WebhookError) as failed:
        HttpWebhookSender(allow_private=True, timeout=1.0).send(delivery, milestone, challenge)
    assert failed.value.retryable is True
