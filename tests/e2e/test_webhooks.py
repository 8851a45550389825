"""A sponsor's webhook on the real local stack: a receiver on loopback that fails the first
delivery with a 500 gets it again, signed, under the same delivery id, and takes it once."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

WAIT_SECONDS = 30.0
TARGET = 2
EMAIL_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


@dataclass(frozen=True)
class Received:
    """One request the receiver got, and the status it answered."""

    headers: dict[str, str]  # names in lower case
    body: bytes
    status: int


@dataclass
class Receiver:
    """A webhook endpoint that answers 500 to the first request and 204 to every later one."""

    url: str = ""
    _received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            status = 500 if not self._received else 204
            self._received.append(Received(headers, body, status))
            return status

    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            self.send_response(state.answer(headers, body))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass  # keep the test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/crowdact"
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def expected_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_failed_webhook_is_retried_signed_under_one_delivery_id_and_taken_once(
    stack: Stack, receiver: Receiver
) -> None:
    tag = uuid.uuid4().hex[:8]
    challenge = stack.create_challenge(
        title=f"Webhook {tag}",
        target={"metric": "participants", "value": TARGET},
        sponsor={
            "name": "Ville de Test",
            "email": f"sponsor-{tag}@sponsor.example",
            "webhook_url": receiver.url,
        },
    )
    challenge_id = challenge["id"]
    contacts = [challenge["sponsor"]["email"], challenge["beneficiary"]["email"]]

    # The secret the server generated is in the 201 answer, and nowhere after it.
    secret = challenge["sponsor"]["webhook_secret"]
    assert isinstance(secret, str)
    assert len(secret) >= 16
    assert challenge["sponsor"]["webhook_url"] == receiver.url
    admin_view = stack.request(
        "GET", f"/admin/challenges/{challenge_id}", token=stack.admin_token()
    )
    assert admin_view.status_code == 200, admin_view.text
    assert admin_view.json()["sponsor"]["webhook_url"] == receiver.url
    assert admin_view.json()["sponsor"]["webhook_secret"] is None
    assert secret not in admin_view.text
    public_view = stack.request("GET", f"/challenges/{challenge_id}")
    assert public_view.status_code == 200, public_view.text
    for private in (secret, receiver.url, *contacts):
        assert private not in public_view.text

    for number in range(TARGET):
        token = stack.participant_token(f"e2e-hook-{tag}-{number}")
        response = stack.request(
            "POST", f"/challenges/{challenge_id}/pledges", token=token, json={}
        )
        assert response.status_code == 201, response.text

    def settled_log() -> list[dict[str, Any]] | None:
        """The reached log once the webhook and both e-mails are sent."""
        log = [e for e in stack.notifications(challenge_id) if e["event"] == "challenge.reached"]
        settled = len(log) == 3 and all(entry["status"] == "sent" for entry in log)
        return log if settled else None

    log = stack.wait_until(settled_log, WAIT_SECONDS, message="the webhook and e-mails sent")

    # The delivery log: one webhook entry (its tries counted) and one e-mail per contact.
    [webhook] = [entry for entry in log if entry["channel"] == "webhook"]
    assert webhook["recipient_role"] == "sponsor"
    assert webhook["to"] == receiver.url
    assert webhook["attempts"] >= 2
    assert webhook["sent_at"] is not None
    emails = sorted((e["recipient_role"], e["to"]) for e in log if e["channel"] == "email")
    assert emails == [("beneficiary", contacts[1]), ("sponsor", contacts[0])]
    sent = stack.sent_emails()
    for address in contacts:
        assert sum(address in email.to for email in sent) == 1

    # What the receiver got: the failed try and its retry, the same event each time.
    received = receiver.received()
    assert len(received) >= 2
    assert [request.status for request in received] == [500] + [204] * (len(received) - 1)
    assert len([request for request in received if request.status == 204]) == 1
    assert len(received) == webhook["attempts"]  # every call to the endpoint is logged
    delivery_ids = {request.headers.get("x-crowdact-delivery") for request in received}
    assert delivery_ids == {webhook["id"]}
    for request in received:
        assert request.headers.get("x-crowdact-event") == "challenge.reached"
        assert request.headers.get("content-type") == "application/json"
        signature = request.headers.get("x-crowdact-signature", "")
        assert hmac.compare_digest(signature, expected_signature(secret, request.body))
        assert not hmac.compare_digest(signature, expected_signature(secret + "x", request.body))

        body = json.loads(request.body)
        assert body["id"] == webhook["id"]
        assert body["event"] == "challenge.reached"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", body["occurred_at"])
        assert body["challenge"]["id"] == challenge_id
        assert body["challenge"]["sponsor"] == {"name": "Ville de Test"}
        assert body["challenge"]["progress"]["reached"] is True
        text = request.body.decode()
        assert EMAIL_ADDRESS.search(text) is None, text  # no e-mail address anywhere
        assert secret not in text
        assert receiver.url not in text
