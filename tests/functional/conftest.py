"""Functional fixtures: the real app and repositories on moto, driven by chalice.test.Client."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib.aws_clients import botocore_session
from chalicelib.local import moto_fixes
from chalicelib.local.embedded_aws import MOTO_LOCK, EmbeddedAws, SentEmail, sent_emails
from chalicelib.local.stack import prepare_aws, stream_bindings, streams_client
from chalicelib.local.stream_poller import StreamPoller
from chalicelib.local.tokens import mint_local_token
from chalicelib.services.ports import Mailer
from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT, Settings
from chalicelib.wiring import Container, build_container, set_container

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS = Path(__file__).parent / "events"
TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "eu-west-3",
    "AWS_REGION": "eu-west-3",
    "CROWDACT_STAGE": "local",
    "CROWDACT_COUNTER_SHARDS": "4",
    # Tallies read fresh: the tests check each vote is counted (the cache: tests/unit).
    "CROWDACT_VOTE_TALLIES_TTL_SECONDS": "0",
    "CROWDACT_LEADERBOARD_TTL_SECONDS": "0",
}


def token(sub: str, *, groups: tuple[str, ...] = (), org_id: str | None = None) -> str:
    return mint_local_token(LOCAL_JWT_SECRET_DEFAULT, sub, groups=groups, org_id=org_id)


def bearer(sub: str, **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(sub, **kwargs)}", "Content-Type": "application/json"}


ADMIN = bearer("admin-1", groups=("admin",))


def challenge_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Clichy à vélo",
        "action": "I cycle when I can",
        "target": {"metric": "participants", "value": 3},
        "sponsor": {"name": "Ville de Clichy", "email": "sponsor@clichy.example"},
        "beneficiary": {"name": "Solicycle", "email": "hello@solicycle.example"},
        "reward": "€5,000 to teach 500 pupils bike repair",
        "publish": True,
    }
    body.update(overrides)
    return body


def load_event(name: str, **substitutions: str) -> dict[str, Any]:
    """A Lambda event fixture from tests/functional/events, with {placeholders} filled in."""
    text = (EVENTS / f"{name}.json").read_text()
    for key, value in substitutions.items():
        text = text.replace("{" + key + "}", value)
    event: dict[str, Any] = json.loads(text)
    return event


@dataclass
class Api:
    """The app over chalice.test.Client, plus the stream poller the local stack runs."""

    client: Client
    poller: StreamPoller
    container: Container
    headers: dict[str, str] = field(default_factory=lambda: dict(ADMIN))

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        if body is None:
            raw = b""
        elif isinstance(body, bytes):
            raw = body
        else:
            raw = (body if isinstance(body, str) else json.dumps(body)).encode()
        return self.client.http.request(method, path, headers=headers or {}, body=raw)

    def create(self, **overrides: Any) -> dict[str, Any]:
        response = self.request("POST", "/admin/challenges", challenge_body(**overrides), ADMIN)
        assert response.status_code == 201, response.body
        created: dict[str, Any] = json.loads(response.body)
        return created

    def pledge(self, challenge_id: str, sub: str, body: Any = None) -> Any:
        return self.request("POST", f"/challenges/{challenge_id}/pledges", body, bearer(sub))

    def seed_organization(self, organization_id: str, name: str = "Humanis") -> None:
        """An organisation with a fixed id (as the demo seeds them), for challenges to name."""
        from chalicelib.domain.model import OrganizationKind
        from chalicelib.services.organizations import OrganizationDraft

        self.container.organizations.create(
            OrganizationDraft(name, OrganizationKind.COMPANY, id=organization_id)
        )

    def challenge(self, challenge_id: str) -> dict[str, Any]:
        response = self.request("GET", f"/challenges/{challenge_id}")
        assert response.status_code == 200, response.body
        result: dict[str, Any] = json.loads(response.body)
        return result

    def notifications(self, challenge_id: str) -> list[dict[str, Any]]:
        response = self.request(
            "GET", f"/admin/challenges/{challenge_id}/notifications", None, ADMIN
        )
        assert response.status_code == 200, response.body
        items: list[dict[str, Any]] = json.loads(response.body)["items"]
        return items

    def drain(self) -> int:
        """Run the stream triggers until nothing is left, as Lambda would."""
        return self.poller.drain()

    def emails(self) -> list[SentEmail]:
        return sent_emails(self.container.settings.region)


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    """The embedded AWS (moto over HTTP, one request at a time), one per test module."""
    with EmbeddedAws() as embedded:
        yield embedded


def served_container(
    aws: EmbeddedAws,
    monkeypatch: pytest.MonkeyPatch,
    *,
    taps: Mapping[str, Any] | None = None,
) -> Iterator[Container]:
    """A container on the embedded AWS server, which serialises requests as DynamoDB does its
    writes (moto under `mock_aws` is not thread-safe), on tables of its own (a unique prefix
    on the module's shared server). `taps`: botocore event handlers, registered on the
    clients built now only (clients copy the session's handlers when they are made)."""
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CROWDACT_AWS_ENDPOINT_URL", aws.endpoint_url)
    monkeypatch.setenv("CROWDACT_TABLE_PREFIX", f"t{uuid.uuid4().hex[:8]}-")
    settings = Settings.from_env()
    session = botocore_session()
    for event, handler in (taps or {}).items():
        session.register(event, handler)
    try:
        built = build_container(settings)
    finally:
        for event, handler in (taps or {}).items():
            session.unregister(event, handler)
    set_container(built)
    prepare_aws(settings)
    try:
        yield built
    finally:
        set_container(None)


def aws_client(aws: EmbeddedAws, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=aws.endpoint_url,
        region_name=TEST_ENV["AWS_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(REPO_ROOT)  # chalice.test.Client reads .chalice/config.json from here
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CROWDACT_AWS_ENDPOINT_URL", raising=False)
    return Settings.from_env()


def _serialise_moto_under_mock_aws() -> None:
    """Each request moto answers under `mock_aws` is taken under the embedded AWS's one lock.

    Under `mock_aws`, moto answers in the calling thread, and moto is not thread-safe: two
    test threads' transactions on one item interleave and one `ADD` is lost (seen as rare
    off-by-one failures of the concurrency tests). DynamoDB serialises the writes to an
    item; so does this, as the local stack's in-process AWS does
    (chalicelib/local/in_process_aws.py). Installed once, for every functional test.
    """
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.__call__
    if getattr(original, "serialised", False):
        return

    def serialised(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        with MOTO_LOCK:
            return original(self, event_name, request, **kwargs)

    serialised.serialised = True  # type: ignore[attr-defined]
    BotocoreStubber.__call__ = serialised  # type: ignore[method-assign]


_serialise_moto_under_mock_aws()


def make_api(settings: Settings, mailer: Mailer | None = None) -> Iterator[Api]:
    moto_fixes.apply()
    with mock_aws():
        container = build_container(settings, mailer=mailer)
        set_container(container)
        prepare_aws(settings)
        import app as app_module

        poller = StreamPoller(streams_client(settings), stream_bindings(app_module))
        try:
            with Client(app_module.app, stage_name="local") as client:
                yield Api(client, poller, container)
        finally:
            set_container(None)


@pytest.fixture
def api(env: Settings) -> Iterator[Api]:
    yield from make_api(env)


# --- a webhook receiver on loopback -------------------------------------------------------------


@dataclass
class Endpoint:
    """Answers each POST with the next scripted status (then 200), recording what came."""

    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    state = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.received.append((dict(self.headers.items()), body))
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            if status in (301, 302, 307):
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/crowdact"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
