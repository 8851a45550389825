"""Webhooks through the API: the secret shown once, URLs checked, the event received."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import replace

import pytest

from chalicelib.settings import Settings
from tests.functional.conftest import ADMIN, Api, Endpoint, challenge_body, make_api
from tests.functional.test_public_api import assert_problem


def sponsor(url: str, **extra: str) -> dict[str, str]:
    return {"name": "Ville de Clichy", "email": "s@clichy.example", "webhook_url": url, **extra}


def test_a_generated_secret_is_shown_once(api: Api, endpoint: Endpoint) -> None:
    created = api.create(sponsor=sponsor(endpoint.url))
    secret = created["sponsor"]["webhook_secret"]
    assert secret.startswith("whsec_")
    assert len(secret) > 40
    again = json.loads(api.request("GET", f"/admin/challenges/{created['id']}", None, ADMIN).body)
    assert again["sponsor"]["webhook_secret"] is None
    assert again["sponsor"]["webhook_url"] == endpoint.url
    public = api.request("GET", f"/challenges/{created['id']}").body
    assert endpoint.url.encode() not in public
    assert secret.encode() not in public


def test_a_secret_given_by_the_admin_is_kept_and_not_echoed(api: Api, endpoint: Endpoint) -> None:
    created = api.create(sponsor=sponsor(endpoint.url, webhook_secret="s" * 24))
    assert created["sponsor"]["webhook_secret"] is None


def test_the_sponsor_endpoint_receives_a_signed_event_after_one_failure(
    api: Api, endpoint: Endpoint
) -> None:
    endpoint.statuses = [500]  # the first try fails; the notifier retries with backoff
    created = api.create(
        sponsor=sponsor(endpoint.url), target={"metric": "participants", "value": 1}
    )
    secret = created["sponsor"]["webhook_secret"]
    assert api.pledge(created["id"], "ana").status_code == 201
    api.drain()
    assert len(endpoint.received) == 2
    deliveries = {headers["X-Crowdact-Delivery"] for headers, _ in endpoint.received}
    assert len(deliveries) == 1  # the retry reused the delivery id
    headers, body = endpoint.received[-1]
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Crowdact-Signature"] == f"sha256={expected}"
    event = json.loads(body)
    assert event["event"] == "challenge.reached"
    assert event["challenge"]["id"] == created["id"]
    [hook] = [n for n in api.notifications(created["id"]) if n["channel"] == "webhook"]
    assert hook["status"] == "sent"
    assert hook["attempts"] == 2
    assert hook["recipient_role"] == "sponsor"
    assert hook["id"] == deliveries.pop()


@pytest.fixture
def dev_api(env: Settings) -> Iterator[Api]:
    """The API as a non-local stage would check webhook URLs (tokens stay local ones)."""
    yield from make_api(replace(env, stage="dev"))


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.org/crowdact",  # not https
        "https://127.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.8/hook",
        "https://[::1]/hook",
    ],
)
def test_outside_the_local_stage_unsafe_urls_are_refused(dev_api: Api, url: str) -> None:
    response = dev_api.request(
        "POST", "/admin/challenges", challenge_body(sponsor=sponsor(url)), ADMIN
    )
    errors = assert_problem(response, 400)["errors"]
    assert isinstance(errors, list)
    assert errors[0]["loc"] == ["body", "sponsor", "webhook_url"]
