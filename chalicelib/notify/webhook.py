"""Webhooks: POST a signed JSON event to the sponsor's endpoint, on the address that was checked.

The body is `{"id", "event", "occurred_at", "challenge"}` (the challenge as the public API
shows it) and `X-Crowdact-Signature: sha256=<hex HMAC-SHA256 of the raw body>` keyed with
the sponsor's webhook secret. Outside the local stage the URL must be https and every address
its host resolves to must be public (`is_public_address`: no private, loopback, link-local,
multicast or reserved address, nor an IPv6 form carrying one, and no tunnel to an IPv4 host).
The host is resolved once per delivery and the connection goes to an address from that answer
(DNS rebinding cannot swap it), while TLS verifies the certificate against the URL's host name,
which is also the SNI and the `Host` header. Redirects are not followed, so a webhook cannot be
used to reach inside the network.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from chalicelib.domain.model import Challenge, Delivery, Milestone
from chalicelib.services.ports import WebhookError

USER_AGENT = "crowdact-webhooks/1"
TIMEOUT_SECONDS = 5.0
DEFAULT_PORTS = {"https": 443, "http": 80}
Resolver = Callable[[str, int], list[str]]
# Opens a TCP connection to (address, port) within a timeout: `socket.create_connection`.
Connector = Callable[[tuple[str, int], float], socket.socket]

# RFC 6052's well-known NAT64 prefix: the gateway connects to the IPv4 address in the low 32
# bits, so that address is the one to judge.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Forms refused outright, whatever they carry: local-use NAT64 (RFC 8215; its prefix length and
# so the embedded address vary by network) and IPv4-compatible addresses (deprecated by RFC 4291;
# `::a.b.c.d`). 6to4 (2002::/16) and Teredo (2001::/32) are refused through `sixtofour` and
# `teredo`: both tunnel to an IPv4 host through relays we do not control (Teredo's client
# address is obfuscated too), and no real endpoint needs them.
_REFUSED_V6 = (ipaddress.IPv6Network("64:ff9b:1::/48"), ipaddress.IPv6Network("::/96"))


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def event_body(delivery: Delivery, milestone: Milestone, challenge: Challenge) -> bytes:
    from chalicelib.api.schemas import ChallengeOut

    document = {
        "id": delivery.id,
        "event": milestone.event.value,
        "occurred_at": milestone.occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "challenge": ChallengeOut.from_challenge(challenge).model_dump(mode="json"),
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def resolve(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def _is_global(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # Python 3.11's is_global lets multicast, 240/4-style reserved and fec0::/10 through.
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return False
    return address.is_global and not (address.is_multicast or address.is_reserved)


def is_public_address(address: str) -> bool:
    """Whether a webhook may connect to this address; anything unparsable is not."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return _is_global(ip)
    if ip.scope_id is not None:  # "fe80::1%eth0": a zone only makes sense on a local link
        return False
    if ip.sixtofour is not None or ip.teredo is not None or any(ip in n for n in _REFUSED_V6):
        return False
    if ip.ipv4_mapped is not None:
        return _is_global(ip.ipv4_mapped)
    if ip in _NAT64:
        return _is_global(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return _is_global(ip)


@dataclass(frozen=True)
class CheckedUrl:
    """A webhook URL as http.client needs it, with the addresses its host resolved to."""

    scheme: str
    host: str
    port: int
    target: str  # path and query
    addresses: tuple[str, ...] = ()


def _split(url: str, *, allow_private: bool) -> CheckedUrl:
    parts = urlsplit(url)
    allowed_schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed_schemes or not parts.hostname:
        raise WebhookError(f"webhook URLs must be {' or '.join(allowed_schemes)}", retryable=False)
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError as error:  # a port out of range
        raise WebhookError(f"invalid webhook URL: {error}", retryable=False) from error
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return CheckedUrl(parts.scheme, parts.hostname, port, target)


def checked_url(url: str, *, allow_private: bool, resolver: Resolver = resolve) -> CheckedUrl:
    """Split and resolve the URL, refusing (permanently) one the platform must not call.

    Outside the local stage every address must be public; the local stage may call any.
    """
    split = _split(url, allow_private=allow_private)
    try:
        answer = resolver(split.host, split.port)
    except UnicodeError as error:  # a label too long or empty: no name to resolve, ever
        raise WebhookError(f"invalid host name {split.host!r}", retryable=False) from error
    except OSError as error:  # DNS may recover: worth retrying
        raise WebhookError(f"cannot resolve {split.host}: {error}") from error
    addresses = tuple(dict.fromkeys(answer))  # in order, once each
    if not addresses:
        raise WebhookError(f"{split.host} resolves to no address", retryable=False)
    if not (allow_private or all(map(is_public_address, addresses))):
        raise WebhookError(f"{split.host} resolves to a non-public address", retryable=False)
    return CheckedUrl(split.scheme, split.host, split.port, split.target, addresses)


def check_url(url: str, *, allow_private: bool, resolver: Resolver = resolve) -> None:
    """Refuse (permanently) a URL the platform must not call (the local stage resolves nothing)."""
    if allow_private:
        _split(url, allow_private=True)
    else:
        checked_url(url, allow_private=False, resolver=resolver)


@functools.cache
def default_tls_context() -> ssl.SSLContext:
    """The system's CAs, certificate and host name verified (built on the first https call)."""
    return ssl.create_default_context()


class PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to the checked addresses, never to a later answer for the host.

    `self.host` stays the URL's host name: http.client sends it as `Host`, and TLS sends it as
    SNI and verifies the certificate against it.
    """

    def __init__(
        self, url: CheckedUrl, *, timeout: float, connector: Connector, tls: ssl.SSLContext | None
    ) -> None:
        super().__init__(url.host, url.port, timeout=timeout)
        self.default_port = DEFAULT_PORTS[url.scheme]  # `Host` names the port only if not this
        self._addresses = url.addresses
        self._connect_timeout = timeout
        self._connector = connector
        self._tls = tls

    def connect(self) -> None:
        sock = self._open_socket()
        if self._tls is None:
            self.sock = sock
            return
        try:
            self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise

    def _open_socket(self) -> socket.socket:
        """The first checked address that accepts, in the resolver's order."""
        refused: OSError = OSError(f"{self.host} has no address to connect to")
        for address in self._addresses:
            try:
                return self._connector((address, self.port), self._connect_timeout)
            except OSError as error:
                refused = error
        raise refused


def _connect(address: tuple[str, int], timeout: float) -> socket.socket:
    return socket.create_connection(address, timeout)


class HttpWebhookSender:
    def __init__(
        self,
        *,
        allow_private: bool,
        timeout: float = TIMEOUT_SECONDS,
        resolver: Resolver = resolve,
        connector: Connector = _connect,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._allow_private = allow_private
        self._timeout = timeout
        self._resolver = resolver
        self._connector = connector
        self._tls = tls

    def send(self, delivery: Delivery, milestone: Milestone, challenge: Challenge) -> None:
        secret = challenge.sponsor.webhook_secret
        if not secret:
            raise WebhookError("the sponsor's webhook has no secret to sign with", retryable=False)
        body = event_body(delivery, milestone, challenge)
        self.post(
            delivery.to, secret, event=milestone.event.value, delivery_id=delivery.id, body=body
        )

    def post(
        self, url_text: str, secret: str, *, event: str, delivery_id: str, body: bytes
    ) -> None:
        """POST a signed JSON body (a challenge's events, or an organisation's proposal
        contact's); raise WebhookError unless the endpoint took it."""
        if not secret:
            raise WebhookError("the webhook has no secret to sign with", retryable=False)
        url = checked_url(url_text, allow_private=self._allow_private, resolver=self._resolver)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Crowdact-Event": event,
            "X-Crowdact-Delivery": delivery_id,
            "X-Crowdact-Signature": sign(secret, body),
        }
        tls = (self._tls or default_tls_context()) if url.scheme == "https" else None
        connection = PinnedConnection(
            url, timeout=self._timeout, connector=self._connector, tls=tls
        )
        try:
            # http.client follows no redirect: a 3xx is an answer like any other non-2xx.
            connection.request("POST", url.target, body=body, headers=headers)
            with connection.getresponse() as response:
                status = int(response.status)
        except (OSError, http.client.HTTPException, ValueError) as error:  # refused, reset, ...
            raise WebhookError(f"the endpoint did not answer: {error}") from error
        finally:
            connection.close()
        if not 200 <= status < 300:
            raise WebhookError(f"the endpoint answered {status}")
