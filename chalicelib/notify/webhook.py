"""Webhooks: POST a signed JSON event to the sponsor's endpoint.

The body is `{"id", "event", "occurred_at", "challenge"}` (the challenge as the public API
shows it) and `X-Crowdact-Signature: sha256=<hex HMAC-SHA256 of the raw body>` keyed with
the sponsor's webhook secret. Outside the local stage the URL must be https and its host
must resolve only to public addresses (no private, loopback, link-local or reserved ones),
and redirects are not followed, so a webhook cannot be used to reach inside the network.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from chalicelib.domain.model import Challenge, Delivery, Milestone
from chalicelib.services.ports import WebhookError

USER_AGENT = "crowdact-webhooks/1"
TIMEOUT_SECONDS = 5.0
Resolver = Callable[[str, int], list[str]]


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


def check_url(url: str, *, allow_private: bool, resolver: Resolver = resolve) -> None:
    """Refuse (permanently) a URL the platform must not call."""
    parts = urlsplit(url)
    allowed_schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed_schemes or not parts.hostname:
        raise WebhookError(f"webhook URLs must be {' or '.join(allowed_schemes)}", retryable=False)
    if allow_private:
        return
    try:
        addresses = resolver(parts.hostname, parts.port or 443)
    except OSError as error:  # DNS may recover: worth retrying
        raise WebhookError(f"cannot resolve {parts.hostname}: {error}") from error
    if not addresses or not all(ipaddress.ip_address(a).is_global for a in addresses):
        raise WebhookError(f"{parts.hostname} resolves to a non-public address", retryable=False)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is then an answer like any other non-2xx


class HttpWebhookSender:
    def __init__(
        self,
        *,
        allow_private: bool,
        timeout: float = TIMEOUT_SECONDS,
        resolver: Resolver = resolve,
    ) -> None:
        self._allow_private = allow_private
        self._timeout = timeout
        self._resolver = resolver
        self._opener = urllib.request.build_opener(_NoRedirects)

    def send(self, delivery: Delivery, milestone: Milestone, challenge: Challenge) -> None:
        secret = challenge.sponsor.webhook_secret
        if not secret:
            raise WebhookError("the sponsor's webhook has no secret to sign with", retryable=False)
        check_url(delivery.to, allow_private=self._allow_private, resolver=self._resolver)
        body = event_body(delivery, milestone, challenge)
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            delivery.to,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Crowdact-Event": milestone.event.value,
                "X-Crowdact-Delivery": delivery.id,
                "X-Crowdact-Signature": sign(secret, body),
            },
        )
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                status = int(response.status)
        except urllib.error.HTTPError as error:
            status = int(error.code)
        except (OSError, ValueError) as error:  # refused, reset, timed out
            raise WebhookError(f"the endpoint did not answer: {error}") from error
        if not 200 <= status < 300:
            raise WebhookError(f"the endpoint answered {status}")
