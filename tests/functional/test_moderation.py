"""Moderation over HTTP on moto, with the stream triggers: a hidden name leaves every public
answer, a removal counts the pledge off once (however often, however concurrently it is asked
for) and a reached challenge stays reached; final figures answer 409 but to a platform admin's
removal."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.model import Metric, Party, Principal, Target
from chalicelib.local.embedded_aws import EmbeddedAws
from chalicelib.local.pledge_count import count_pledges_now
from chalicelib.services.challenges import ChallengeDraft
from chalicelib.services.moderation import PledgeStatus
from chalicelib.services.pledges import PledgeRequest
from chalicelib.storage.counters import DynamoCounterRepository
from chalicelib.storage.tables import ModerationItem, PledgeItem
from chalicelib.wiring import Container
from tests.functional.conftest import ADMIN, Api, bearer, served_container

PARIS = {"lat": 48.8566, "lon": 2.3522}
OWN = "org_own"
CSR = bearer("csr-own", groups=("org-admin",), org_id=OWN)
OTHER_CSR = bearer("csr-other", groups=("org-admin",), org_id="org_other")
NAME = "Léa la cycliste"


class _Later:
    """A clock a second ahead of another: a pledge made again has another `created_at`."""

    def __init__(self, clock: Any) -> None:
        self._clock = clock

    def now(self) -> datetime:
        return self._clock.now() + timedelta(seconds=1)  # type: ignore[no-any-return]


def _path(challenge_id: str, participant_id: str, action: str = "") -> str:
    return f"/admin/challenges/{challenge_id}/pledges/{participant_id}" + (
        f"/{action}" if action else ""
    )


def _reached(api: Api) -> str:
    """A challenge of O reached by three pledges, Léa's with her name; triggers drained."""
    api.seed_organization(OWN, "Own Co")
    challenge = api.create(organization_id=OWN, target={"metric": "participants", "value": 3})
    for sub, body in (
        ("lea", {"display_name": NAME, "location": PARIS}),
        ("marc", {"display_name": "Marc", "location": PARIS}),
        ("zoe", {"location": PARIS}),
    ):
        response = api.request("POST", f"/challenges/{challenge['id']}/pledges", body, bearer(sub))
        assert response.status_code == 201, response.body
    api.drain()
    assert api.challenge(challenge["id"])["progress"]["reached"] is True
    return str(challenge["id"])


def _public(api: Api, challenge_id: str) -> str:
    """Every public answer about the challenge, as one text."""
    paths = (
        f"/challenges/{challenge_id}",
        "/challenges",
        f"/challenges/{challenge_id}/areas",
        f"/challenges/{challenge_id}/nearby?lat={PARIS['lat']}&lon={PARIS['lon']}",
    )
    answers = []
    for path in paths:
        response = api.request("GET", path)
        assert response.status_code == 200, (path, response.body)
        answers.append(response.body.decode())
    return "\n".join(answers)


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.body
    body: dict[str, Any] = json.loads(response.body)
    return body


def test_a_hidden_name_is_shown_to_admins_and_its_owner_only(api: Api) -> None:
    challenge_id = _reached(api)
    assert NAME not in _public(api, challenge_id)  # no public answer names anyone, ever

    view = _ok(
        api.request("POST", _path(challenge_id, "lea", "hide-name"), {"reason": "rude"}, CSR)
    )

    assert (view["display_name"], view["name_hidden"], view["status"]) == (NAME, True, "live")
    assert [
        (m["action"], m["reason"], m["actor_sub"], m["actor_role"]) for m in view["moderation"]
    ] == [("hide_name", "rude", "csr-own", "org-admin")]
    assert view["area"]
    assert view["notify"] is True
    assert view["pseudonymised"] is False
    assert PledgeItem.get("lea", challenge_id).name_hidden is True
    again = _ok(api.request("POST", _path(challenge_id, "lea", "hide-name"), None, ADMIN))
    assert again == view  # idempotent: no second record
    assert _ok(api.request("GET", _path(challenge_id, "lea"), None, CSR)) == view
    mine = _ok(api.request("GET", "/me/pledges", None, bearer("lea")))
    assert [p["display_name"] for p in mine["items"]] == [NAME]  # her own view: unchanged
    api.drain()
    assert NAME not in _public(api, challenge_id)
    assert api.challenge(challenge_id)["progress"]["participants"] == 3


def test_a_removal_counts_off_once_and_a_reached_challenge_stays_reached(api: Api) -> None:
    challenge_id = _reached(api)
    before = api.challenge(challenge_id)["progress"]
    reached_at = api.challenge(challenge_id)["progress"]["reached_at"]
    assert reached_at is not None

    removed = _ok(
        api.request("POST", _path(challenge_id, "lea", "remove"), {"reason": "fake account"}, CSR)
    )
    api.drain()

    assert removed["status"] == "removed"
    assert (removed["display_name"], removed["participant_id"]) == (NAME, "lea")
    assert [(m["action"], m["reason"], m["after_freeze"]) for m in removed["moderation"]] == [
        ("remove", "fake account", False)
    ]
    after = api.challenge(challenge_id)["progress"]
    assert after["participants"] == before["participants"] - 1
    assert (after["reached"], after["reached_at"]) == (True, reached_at)
    areas = _ok(api.request("GET", f"/challenges/{challenge_id}/nearby?lat=48.8566&lon=2.3522"))
    # A retry, or a second moderator: the same answer, nothing counted off again.
    for headers in (CSR, ADMIN):
        again = api.request(
            "POST", _path(challenge_id, "lea", "remove"), {"reason": "twice"}, headers
        )
        assert _ok(again) == removed
    api.drain()
    assert api.challenge(challenge_id)["progress"] == after
    assert (
        _ok(api.request("GET", f"/challenges/{challenge_id}/nearby?lat=48.8566&lon=2.3522"))
        == areas
    )
    assert _ok(api.request("GET", _path(challenge_id, "lea"), None, ADMIN)) == removed
    # Her own list no longer has it; her withdrawal finds nothing.
    assert _ok(api.request("GET", "/me/pledges", None, bearer("lea")))["items"] == []
    withdrawal = api.request(
        "DELETE", f"/challenges/{challenge_id}/pledges/me", None, bearer("lea")
    )
    assert withdrawal.status_code == 404


def test_a_removal_of_the_pledge_seen_never_removes_a_pledge_made_since(api: Api) -> None:
    challenge_id = _reached(api)
    seen = _ok(api.request("GET", _path(challenge_id, "lea"), None, ADMIN))
    body = {"reason": "duplicate account", "pledged_at": seen["created_at"]}
    removed = _ok(api.request("POST", _path(challenge_id, "lea", "remove"), body, ADMIN))
    assert removed["status"] == "removed"
    # Léa pledges again (a second later), then the moderator's client retries the removal.
    api.container.pledges._clock = _Later(api.container.pledges._clock)
    again = api.request("POST", f"/challenges/{challenge_id}/pledges", {}, bearer("lea"))
    assert again.status_code == 201, again.body
    api.drain()
    retried = _ok(api.request("POST", _path(challenge_id, "lea", "remove"), body, ADMIN))
    assert retried["status"] == "removed"
    assert retried["created_at"] == seen["created_at"]  # the removal made, answered again
    assert _ok(api.request("GET", _path(challenge_id, "lea"), None, ADMIN))["status"] == "live"
    assert api.challenge(challenge_id)["progress"]["participants"] == 3  # 3 - 1 + 1
    # Hiding the name of the pledge seen before is refused: it is not that pledge any more.
    hide = {"pledged_at": seen["created_at"]}
    refused = api.request("POST", _path(challenge_id, "lea", "hide-name"), hide, ADMIN)
    assert refused.status_code == 409
    assert json.loads(refused.body)["type"].endswith("pledge-changed")


def test_final_figures_answer_409_but_to_a_platform_admins_removal(api: Api) -> None:
    challenge_id = _reached(api)
    closed = api.request("POST", f"/admin/challenges/{challenge_id}/close", None, ADMIN)
    assert closed.status_code == 200, closed.body
    participants = api.challenge(challenge_id)["progress"]["participants"]

    for path, body, headers in (
        (_path(challenge_id, "lea", "hide-name"), {}, CSR),
        (_path(challenge_id, "lea", "hide-name"), {}, ADMIN),
        (_path(challenge_id, "lea", "remove"), {"reason": "late"}, CSR),
    ):
        refused = api.request("POST", path, body, headers)
        assert refused.status_code == 409, refused.body
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert json.loads(refused.body)["type"].endswith("/figures-frozen")

    removed = _ok(
        api.request("POST", _path(challenge_id, "lea", "remove"), {"reason": "audit"}, ADMIN)
    )
    api.drain()

    assert [(m["reason"], m["actor_role"], m["after_freeze"]) for m in removed["moderation"]] == [
        ("audit", "admin", True)
    ]
    shown = api.challenge(challenge_id)["progress"]
    assert shown["participants"] == participants - 1
    assert shown["reached"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (None, "reason"),
        ({}, "reason"),
        ({"reason": ""}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"reason": "spam", "notify": False}, "notify"),
    ],
)
def test_a_removal_needs_a_reason_of_1_to_500_characters(api: Api, body: Any, field: str) -> None:
    challenge_id = _reached(api)
    response = api.request("POST", _path(challenge_id, "lea", "remove"), body, ADMIN)
    assert response.status_code == 400, response.body
    problem = json.loads(response.body)
    assert ["body", field] in [error["loc"][:2] for error in problem["errors"]]
    assert api.challenge(challenge_id)["progress"]["participants"] == 3


def test_unknown_pledges_and_other_organisations_answer_404(api: Api) -> None:
    challenge_id = _reached(api)
    for method, action, body in (
        ("GET", "", None),
        ("POST", "hide-name", {}),
        ("POST", "remove", {"reason": "spam"}),
    ):
        for participant_id, headers in (("nobody", ADMIN), ("lea", OTHER_CSR)):
            answer = api.request(method, _path(challenge_id, participant_id, action), body, headers)
            assert answer.status_code == 404, (method, action, participant_id, answer.body)
            assert json.loads(answer.body)["status"] == 404
    assert api.challenge(challenge_id)["progress"]["participants"] == 3
    assert list(ModerationItem.scan()) == []


def test_a_pledge_being_erased_answers_503_and_is_not_counted_off(api: Api) -> None:
    challenge_id = _reached(api)
    PledgeItem.get("lea", challenge_id).update(
        actions=[PledgeItem.erasing.set("erased_0123456789abcdef01234567")]
    )
    for action, body in (("hide-name", {}), ("remove", {"reason": "spam"})):
        busy = api.request("POST", _path(challenge_id, "lea", action), body, ADMIN)
        assert busy.status_code == 503, busy.body
        assert busy.headers["Retry-After"] == "1"
    api.drain()
    assert api.challenge(challenge_id)["progress"]["participants"] == 3
    assert list(ModerationItem.scan()) == []


# --- concurrency, on the embedded AWS (one request at a time, as DynamoDB decides) ---------


@pytest.fixture
def container(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Container]:
    yield from served_container(aws, monkeypatch)


def test_eight_concurrent_removals_count_the_pledge_off_exactly_once(container: Container) -> None:
    challenge = container.challenges.create(
        ChallengeDraft(
            title="Race",
            action="I act",
            target=Target(Metric.PARTICIPANTS, 100),
            sponsor=Party("Sponsor", "sponsor@race.example"),
            beneficiary=Party("Beneficiary", "beneficiary@race.example"),
            reward="€1,000",
            publish=True,
        )
    )
    for sub in ("lea", "marc", "zoe"):
        container.pledges.pledge(Principal(sub=sub), challenge.id, PledgeRequest(display_name=sub))
    counters = DynamoCounterRepository()
    count_pledges_now(container)  # the pledges stream's count
    before = counters.totals(challenge.id, challenge.counter_shards)
    admin = Principal(sub="admin-1", groups=frozenset({"admin"}))
    start = threading.Barrier(8)

    def remove(number: int) -> PledgeStatus:
        start.wait()
        return container.moderation.remove(admin, challenge.id, "lea", f"attempt {number}").status

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(remove, range(8)))

    assert statuses == [PledgeStatus.REMOVED] * 8
    count_pledges_now(container)
    after = counters.totals(challenge.id, challenge.counter_shards)
    assert after.participants == before.participants - 1
    assert after.version == before.version + 1
    records = [i for i in ModerationItem.query(challenge.id) if i.participant_id == "lea"]
    assert [r.action for r in records] == ["remove"]
