"""HttpWebhookSender against a real HTTP(S) endpoint on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import pathlib
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

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


# --- https: the checked address, and TLS against the host name ---------------------------------

HOOKS_HOST = "hooks.example"
PUBLIC_ADDRESS = "93.184.216.34"


def self_signed(host: str) -> tuple[bytes, bytes]:
    """A certificate for `host` (and only that name) and its key, both PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


@dataclass
class TlsEndpoint:
    """An https endpoint on loopback with a certificate for `hooks.example`; it answers 204."""

    certificate: bytes
    port: int = 0
    server_names: list[str | None] = field(default_factory=list)  # the SNI of each handshake
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def client_context(self) -> ssl.SSLContext:
        """The platform's context, trusting this endpoint's certificate instead of the CAs."""
        return ssl.create_default_context(cadata=self.certificate.decode())


@pytest.fixture
def tls_endpoint(tmp_path: pathlib.Path) -> Iterator[TlsEndpoint]:
    certificate, key = self_signed(HOOKS_HOST)
    (tmp_path / "cert.pem").write_bytes(certificate)
    (tmp_path / "key.pem").write_bytes(key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    state = TlsEndpoint(certificate)
    context.sni_callback = lambda sock, name, ctx: state.server_names.append(name)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.received.append((dict(self.headers.items()), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


class Rebinding:
    """The name's first answer is a public address; every later one is loopback."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        return [PUBLIC_ADDRESS] if len(self.calls) == 1 else ["127.0.0.1"]


@dataclass
class LoopbackNetwork:
    """Routes every connection to the endpoint on loopback, recording the address dialled."""

    port: int
    dialled: list[tuple[str, int]] = field(default_factory=list)

    def __call__(self, address: tuple[str, int], timeout: float) -> socket.socket:
        self.dialled.append(address)
        return socket.create_connection(("127.0.0.1", self.port), timeout)


def test_https_goes_to_the_checked_address_and_verifies_the_host_name(
    tls_endpoint: TlsEndpoint,
) -> None:
    rebinding, network = Rebinding(), LoopbackNetwork(tls_endpoint.port)
    sender = HttpWebhookSender(
        allow_private=False,
        resolver=rebinding,
        connector=network,
        tls=tls_endpoint.client_context(),
    )
    delivery, milestone, challenge = fixtures(f"https://{HOOKS_HOST}/hooks/crowdact")
    sender.send(delivery, milestone, challenge)
    assert rebinding.calls == [(HOOKS_HOST, 443)]  # once: the check's answer is the one used
    assert network.dialled == [(PUBLIC_ADDRESS, 443)]
    assert tls_endpoint.server_names == [HOOKS_HOST]  # SNI: the host name, not the address
    [(headers, body)] = tls_endpoint.received
    assert headers["Host"] == HOOKS_HOST
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Crowdact-Signature"] == f"sha256={expected}"


def test_a_certificate_for_another_name_fails_the_try(tls_endpoint: TlsEndpoint) -> None:
    network = LoopbackNetwork(tls_endpoint.port)
    sender = HttpWebhookSender(
        allow_private=False,
        resolver=lambda host, port: [PUBLIC_ADDRESS],
        connector=network,
        tls=tls_endpoint.client_context(),
    )
    delivery, milestone, challenge = fixtures("https://other.example/hooks/crowdact")
    with pytest.raises(WebhookError, match="certificate") as failed:
        sender.send(delivery, milestone, challenge)
    assert failed.value.retryable is True
    assert network.dialled == [(PUBLIC_ADDRESS, 443)]
    assert tls_endpoint.received == []
