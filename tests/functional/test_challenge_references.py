"""A challenge's campaign and organisation on the real app (moto): they must exist, and a
published challenge keeps its campaign, so the campaign's totals stay exact."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

import app as app_module
from chalicelib.domain.errors import ConflictError
from chalicelib.domain.model import Campaign, Challenge, Metric, Party, Principal, Target
from chalicelib.local.embedded_aws import EmbeddedAws
from chalicelib.local.stack import stream_bindings, streams_client
from chalicelib.local.stream_poller import StreamPoller
from chalicelib.services.campaigns import CampaignDraft
from chalicelib.services.challenges import ChallengeDraft, ChallengeService
from chalicelib.services.pledges import PledgeRequest
from chalicelib.services.ports import ChallengeChanges, SystemClock
from chalicelib.settings import Settings
from chalicelib.storage.challenges import DynamoChallengeRepository
from chalicelib.wiring import Container
from tests.functional.conftest import ADMIN, Api, bearer, challenge_body, served_container
from tests.functional.test_public_api import assert_problem


def post(api: Api, path: str, body: dict[str, Any]) -> Any:
    return api.request("POST", path, body, ADMIN)


def created_id(response: Any) -> str:
    assert response.status_code == 201, response.body
    identifier: str = json.loads(response.body)["id"]
    return identifier


def new_campaign(api: Api, title: str = "No Impact Week") -> str:
    return created_id(post(api, "/admin/campaigns", {"title": title}))


def new_organization(api: Api, name: str = "Acme") -> str:
    return created_id(post(api, "/admin/organizations", {"name": name, "kind": "company"}))


def patch(api: Api, challenge_id: str, body: dict[str, Any]) -> Any:
    return api.request("PATCH", f"/admin/challenges/{challenge_id}", body, ADMIN)


def error_locs(problem: dict[str, object]) -> list[object]:
    errors = problem["errors"]
    assert isinstance(errors, list)
    return [entry["loc"] for entry in errors]


def admin_ids(api: Api) -> list[str]:
    response = api.request("GET", "/admin/challenges?limit=100", None, ADMIN)
    assert response.status_code == 200, response.body
    return [item["id"] for item in json.loads(response.body)["items"]]


def totals(api: Api, campaign_id: str) -> dict[str, Any]:
    response = api.request("GET", f"/campaigns/{campaign_id}")
    assert response.status_code == 200, response.body
    result: dict[str, Any] = json.loads(response.body)["totals"]
    return result


# --- creation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"campaign_id": "cmp_nope"}, [["body", "campaign_id"]]),
        ({"organization_id": "org_nope"}, [["body", "organization_id"]]),
        (
            {"visibility": "organization", "organization_id": "org_nope"},
            [["body", "organization_id"]],
        ),
        (
            {"campaign_id": "cmp_nope", "organization_id": "org_nope"},
            [["body", "campaign_id"], ["body", "organization_id"]],
        ),
        ({"visibility": "organization"}, [["body", "organization_id"]]),
    ],
)
def test_creating_with_a_missing_or_unknown_reference_is_a_400(
    api: Api, fields: dict[str, Any], expected: list[object]
) -> None:
    problem = assert_problem(post(api, "/admin/challenges", challenge_body(**fields)), 400)

    assert error_locs(problem) == expected
    assert admin_ids(api) == []  # nothing was created


def test_a_challenge_naming_a_campaign_and_organisation_that_exist_is_created(api: Api) -> None:
    campaign_id, organization_id = new_campaign(api), new_organization(api)

    created = api.create(
        campaign_id=campaign_id, organization_id=organization_id, visibility="organization"
    )

    assert (created["campaign_id"], created["organization_id"]) == (campaign_id, organization_id)


# --- PATCH -------------------------------------------------------------------------------------


def test_a_draft_may_change_campaign_but_only_to_one_that_exists(api: Api) -> None:
    spring, autumn = new_campaign(api, "Spring"), new_campaign(api, "Autumn")
    draft = api.create(campaign_id=spring, publish=False)

    problem = assert_problem(patch(api, draft["id"], {"campaign_id": "cmp_nope"}), 400)
    assert error_locs(problem) == [["body", "campaign_id"]]
    problem = assert_problem(patch(api, draft["id"], {"organization_id": "org_nope"}), 400)
    assert error_locs(problem) == [["body", "organization_id"]]
    moved = patch(api, draft["id"], {"campaign_id": autumn})
    assert moved.status_code == 200, moved.body
    assert json.loads(moved.body)["campaign_id"] == autumn
    left = patch(api, draft["id"], {"campaign_id": None})
    assert left.status_code == 200, left.body
    assert json.loads(left.body)["campaign_id"] is None


def test_a_live_challenge_keeps_its_campaign_and_the_totals_stay_exact(api: Api) -> None:
    spring, autumn = new_campaign(api, "Spring"), new_campaign(api, "Autumn")
    organization_id = new_organization(api)
    live = api.create(campaign_id=spring)
    for sub in ("ana", "ben"):
        assert api.pledge(live["id"], sub).status_code == 201
    api.drain()
    assert totals(api, spring)["participants"] == 2

    for body in (
        {"campaign_id": autumn},
        {"campaign_id": None},
        {"visibility": "organization", "organization_id": organization_id},
    ):
        problem = assert_problem(patch(api, live["id"], {"title": "Moved", **body}), 409)
        assert "campaign" in str(problem["detail"])
    stored = json.loads(api.request("GET", f"/admin/challenges/{live['id']}", None, ADMIN).body)
    assert (stored["campaign_id"], stored["visibility"]) == (spring, "public")
    assert stored["title"] == live["title"]
    renamed = patch(api, live["id"], {"title": "Renamed", "campaign_id": spring})
    assert renamed.status_code == 200, renamed.body

    # A withdrawal is uncounted where the pledge was counted: both campaigns stay exact.
    withdrawn = api.request("DELETE", f"/challenges/{live['id']}/pledges/me", None, bearer("ben"))
    assert withdrawn.status_code == 204
    api.drain()
    assert totals(api, spring)["participants"] == 1
    assert totals(api, autumn)["participants"] == 0


def test_a_live_challenge_outside_campaigns_cannot_join_one(api: Api) -> None:
    spring = new_campaign(api)
    live = api.create()

    assert_problem(patch(api, live["id"], {"campaign_id": spring}), 409)
    assert_problem(patch(api, live["id"], {"campaign_id": "cmp_nope"}), 400)  # 400 first


# --- racing a publish: real threads, the embedded AWS as a server ------------------------------


@pytest.fixture
def container(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Container]:
    yield from served_container(aws, monkeypatch)


PLEDGERS = 3


class _PausedAfterRead(DynamoChallengeRepository):
    """An admin's read that then waits: what another admin does meanwhile lands between the
    read and the write."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.read = threading.Event()
        self.resume = threading.Event()

    def get(self, challenge_id: str, *, consistent: bool = False) -> Challenge | None:
        challenge = super().get(challenge_id, consistent=consistent)
        self.read.set()
        assert self.resume.wait(timeout=30)
        return challenge


def _race_setup(container: Container) -> tuple[str, str, Challenge]:
    spring, autumn = (
        container.campaigns.create(CampaignDraft(title=title)).id for title in ("Spring", "Autumn")
    )
    draft = container.challenges.create(
        ChallengeDraft(
            title="Race", action="I act", target=Target(Metric.PARTICIPANTS, 100),
            sponsor=Party("Sponsor", "s@race.example"),
            beneficiary=Party("Beneficiary", "b@race.example"),
            reward="€1,000", campaign_id=spring,
        )
    )  # fmt: skip
    return spring, autumn, draft


def _publish_and_pledge(container: Container, challenge_id: str) -> None:
    container.challenges.publish(challenge_id)
    for number in range(PLEDGERS):
        outcome = container.pledges.pledge(
            Principal(sub=f"p{number}"), challenge_id, PledgeRequest()
        )
        assert outcome.created


def _participants(container: Container, campaign_id: str) -> int:
    return container.campaigns.view(campaign_id, None).participants


def test_a_campaign_change_that_read_a_draft_published_meanwhile_is_refused(
    container: Container,
) -> None:
    """One admin reads the draft to move it to another campaign; another publishes it and
    people pledge before the first one writes: the move is refused, and the pledges stay
    counted in the campaign the challenge is in."""
    spring, autumn, draft = _race_setup(container)
    paused = _PausedAfterRead(container.settings)
    slow_admin = ChallengeService(
        paused, container.progress, SystemClock(), counter_shards=4, campaigns=_Campaigns()
    )

    with ThreadPoolExecutor(max_workers=1) as pool:
        move = pool.submit(slow_admin.update, draft.id, ChallengeChanges(campaign_id=autumn))
        assert paused.read.wait(timeout=30)
        _publish_and_pledge(container, draft.id)
        paused.resume.set()
        with pytest.raises(ConflictError):
            move.result(timeout=30)
    StreamPoller(streams_client(container.settings), stream_bindings(app_module)).drain()

    assert container.challenges.get_for_admin(draft.id).campaign_id == spring
    assert _participants(container, spring) == PLEDGERS
    assert _participants(container, autumn) == 0


def test_a_draft_moved_before_it_is_published_counts_in_its_new_campaign(
    container: Container,
) -> None:
    spring, autumn, draft = _race_setup(container)

    container.challenges.update(draft.id, ChallengeChanges(campaign_id=autumn))
    _publish_and_pledge(container, draft.id)
    StreamPoller(streams_client(container.settings), stream_bindings(app_module)).drain()

    assert _participants(container, autumn) == PLEDGERS
    assert _participants(container, spring) == 0


class _Campaigns:
    """Every campaign exists (this test is about the race, not the reference check)."""

    def get(self, campaign_id: str) -> tuple[Campaign, int] | None:
        return Campaign(id=campaign_id, title=campaign_id, created_at=datetime.now(UTC)), 8
