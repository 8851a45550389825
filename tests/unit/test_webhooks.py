"""Webhooks: which URLs may be called, the signature, and delivery through the notifier."""

from __future__ import annotations

import hashlib
import hmac
import socket
import ssl
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
from chalicelib.notify.webhook import (
    HttpWebhookSender,
    check_url,
    default_tls_context,
    is_public_address,
    resolve,
    sign,
)
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


# IPv6 forms that carry a non-public IPv4 address, or tunnel to an IPv4 host: Python 3.11's
# `is_global` says True for most of them.
EMBEDDED_OR_TUNNELLED = [
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254, the instance metadata service
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b:1::5db8:d822",  # local-use NAT64 (RFC 8215), even of a public IPv4: refused
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a00:1::",  # 6to4 of 10.0.0.1
    "2002:5db8:d822::1",  # 6to4, even of a public IPv4: refused
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo: refused
    "2001:0:5db8:d822::1",
    "::127.0.0.1",  # IPv4-compatible (deprecated): refused
    "::5db8:d822",
]
OTHER_NON_PUBLIC = [
    "fe80::1%eth0",  # a zone: refused, not a ValueError
    "2606:4700::1111%eth0",
    "fec0::1",  # site-local (deprecated)
    "224.0.0.1",  # multicast
    "ff02::1",
    "240.0.0.1",
    "not-an-address",
    "",
]
PUBLIC = [
    "93.184.216.34",
    "1.1.1.1",
    "2606:4700::1111",
    "2a00:1450:4007:80e::200e",
    "64:ff9b::5db8:d822",  # NAT64 of a public IPv4 (an IPv6-only network's DNS64): allowed
    "::ffff:93.184.216.34",  # IPv4-mapped public IPv4: the socket goes to that IPv4
]


@pytest.mark.parametrize("address", EMBEDDED_OR_TUNNELLED + OTHER_NON_PUBLIC)
def test_addresses_that_are_or_lead_to_non_public_ones_are_refused_for_good(address: str) -> None:
    assert is_public_address(address) is False
    with pytest.raises(WebhookError) as refused:
        check_url("https://hooks.example/x", allow_private=False, resolver=resolver(address))
    assert refused.value.retryable is False


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert is_public_address(address) is True
    check_url("https://hooks.example/x", allow_private=False, resolver=resolver(address))


def test_a_port_out_of_range_is_refused_for_good() -> None:
    with pytest.raises(WebhookError) as refused:
        check_url("https://hooks.example:99999/x", allow_private=False, resolver=resolver())
    assert refused.value.retryable is False


def test_the_default_tls_context_verifies_the_certificate_and_the_host_name() -> None:
    context = default_tls_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True


# --- the connection goes to the address that was checked ---------------------------------------


class RebindingResolver:
    """Answers with each list in turn, then the last for ever: a name that changes its mind."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        return self.answers[min(len(self.calls), len(self.answers)) - 1]


class RefusingNetwork:
    """Refuses every connection, recording where each one was dialled."""

    def __init__(self) -> None:
        self.dialled: list[tuple[str, int]] = []

    def __call__(self, address: tuple[str, int], timeout: float) -> socket.socket:
        self.dialled.append(address)
        raise ConnectionRefusedError(f"{address} refused")


def hooked(url: str) -> tuple[Delivery, Milestone, ChallengeModel]:
    challenge = ChallengeModel(
        id="ch_1", title="t", action="a", description="", target=Target(Metric.PARTICIPANTS, 1),
        sponsor=replace(HOOKED_SPONSOR, webhook_url=url), beneficiary=BENEFICIARY, reward="r",
        status=ChallengeStatus.LIVE, visibility=Visibility.PUBLIC,
        created_at=datetime(2026, 6, 1, tzinfo=UTC),
    )  # fmt: skip
    milestone = Milestone("ch_1", EventType.REACHED, challenge.created_at, Totals(), True)
    delivery = Delivery(
        challenge_id="ch_1", event=EventType.REACHED, recipient_role=RecipientRole.SPONSOR,
        channel=Channel.WEBHOOK, recipient_key="sponsor", to=url,
    )  # fmt: skip
    return delivery, milestone, challenge


def test_the_host_is_resolved_once_and_the_connection_dials_the_checked_address() -> None:
    rebinding = RebindingResolver(["93.184.216.34"], ["127.0.0.1"])
    network = RefusingNetwork()
    sender = HttpWebhookSender(allow_private=False, resolver=rebinding, connector=network)
    with pytest.raises(WebhookError) as failed:
        sender.send(*hooked("https://hooks.example/x"))
    assert failed.value.retryable is True  # refused by the endpoint: worth another try
    assert rebinding.calls == [("hooks.example", 443)]
    assert network.dialled == [("93.184.216.34", 443)]

    # The next try resolves again, sees loopback, and dials nothing.
    with pytest.raises(WebhookError) as refused:
        sender.send(*hooked("https://hooks.example/x"))
    assert refused.value.retryable is False
    assert len(rebinding.calls) == 2
    assert network.dialled == [("93.184.216.34", 443)]


def test_each_checked_address_is_dialled_in_order_and_nothing_else() -> None:
    network = RefusingNetwork()
    sender = HttpWebhookSender(
        allow_private=False,
        resolver=resolver("93.184.216.34", "2606:4700::1111", "93.184.216.34"),
        connector=network,
    )
    with pytest.raises(WebhookError) as failed:
        sender.send(*hooked("https://hooks.example:8443/x"))
    assert failed.value.retryable is True
    assert network.dialled == [("93.184.216.34", 8443), ("2606:4700::1111", 8443)]


def test_the_local_stage_dials_the_address_it_resolved_too() -> None:
    rebinding = RebindingResolver(["127.0.0.1"], ["10.9.9.9"])
    network = RefusingNetwork()
    sender = HttpWebhookSender(allow_private=True, resolver=rebinding, connector=network)
    with pytest.raises(WebhookError):
        sender.send(*hooked("http://receiver.local/x"))
    assert rebinding.calls == [("receiver.local", 80)]
    assert network.dialled == [("127.0.0.1", 80)]


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


@pytest.mark.parametrize("host", ["a" * 64 + ".example", "hooks..example"])
def test_a_host_name_the_resolver_cannot_encode_is_refused_for_good(host: str) -> None:
    with pytest.raises(WebhookError) as refused:
        check_url(f"https://{host}/hook", allow_private=False, resolver=resolve)
    assert refused.value.retryable is False
