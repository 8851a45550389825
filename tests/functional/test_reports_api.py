"""POST /challenges/{id}/reports and GET /me/reports on moto, through chalice.test.Client."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import app as app_module
from chalicelib.domain.model import Principal
from chalicelib.local.stream_poller import LocalLambdaContext
from chalicelib.services.reports import ReportRequest
from tests.functional.conftest import ADMIN, Api, bearer, load_event
from tests.functional.test_campaigns import campaign, create_campaign
from tests.functional.test_public_api import assert_problem

CONTEXT = LocalLambdaContext(
    function_name="test", invoked_function_arn="arn:aws:lambda:eu-west-3:123456789012:function:t"
)
KM = {"metric": "participants", "value": 3, "unit": "km"}
KG = {"metric": "quantity", "value": 100, "unit": "kg"}
REPORT_KEYS = {"id", "challenge_id", "quantity", "unit", "occurred_on", "created_at"}


def report(api: Api, challenge_id: str, sub: str, body: Any, *, key: str | None = None) -> Any:
    headers = {**bearer(sub), **({"Idempotency-Key": key} if key else {})}
    return api.request("POST", f"/challenges/{challenge_id}/reports", body, headers)


def reported(api: Api, challenge_id: str, sub: str, quantity: float, **fields: Any) -> Any:
    response = report(api, challenge_id, sub, {"quantity": quantity, **fields})
    assert response.status_code == 201, response.body
    return json.loads(response.body)


def my_reports(api: Api, sub: str, **params: Any) -> Any:
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return api.request("GET", f"/me/reports?{query}", None, bearer(sub))


def pledged(api: Api, *subs: str, **overrides: Any) -> dict[str, Any]:
    challenge = api.create(**{"target": KM, **overrides})
    for sub in subs:
        assert api.pledge(challenge["id"], sub).status_code == 201
    return challenge


def quantity(api: Api, challenge_id: str) -> Any:
    return api.challenge(challenge_id)["progress"]["quantity"]


def test_a_report_is_201_and_counted_once_the_stream_drains(api: Api) -> None:
    challenge = pledged(api, "lea")
    before = datetime.now(UTC).date().isoformat()

    response = report(api, challenge["id"], "lea", {"quantity": 12.5})

    assert response.status_code == 201, response.body
    body = json.loads(response.body)
    assert set(body) == {"report", "challenge"}
    assert set(body["report"]) == REPORT_KEYS
    created = body["report"]
    assert created["id"].startswith("rpt_")
    assert (created["challenge_id"], created["quantity"], created["unit"]) == (
        challenge["id"], 12.5, "km",
    )  # fmt: skip
    assert created["occurred_on"] in {before, datetime.now(UTC).date().isoformat()}
    assert created["created_at"].endswith("Z")
    assert body["challenge"]["id"] == challenge["id"]
    assert b"@" not in response.body
    api.drain()
    assert quantity(api, challenge["id"]) == 12.5
    assert api.challenge(challenge["id"])["progress"]["participants"] == 1
    pledges = json.loads(api.request("GET", "/me/pledges", None, bearer("lea")).body)
    assert [p["quantity_reported"] for p in pledges["items"]] == [12.5]


def test_quantities_add_up_exactly_and_the_unit_may_be_given(api: Api) -> None:
    challenge = pledged(api, "lea", "hugo")
    reported(api, challenge["id"], "lea", 0.1)
    reported(api, challenge["id"], "hugo", 0.2, unit="km")
    reported(api, challenge["id"], "hugo", 3)
    api.drain()

    assert quantity(api, challenge["id"]) == 3.3


def test_reached_fires_once_on_a_quantity_target(api: Api) -> None:
    challenge = pledged(api, "ana", "ben", "chloe", target=KG)
    reported(api, challenge["id"], "ana", 40)
    reported(api, challenge["id"], "ben", 40)
    api.drain()
    assert api.challenge(challenge["id"])["progress"]["reached"] is False
    assert api.notifications(challenge["id"]) == []

    reported(api, challenge["id"], "chloe", 30.5)
    reported(api, challenge["id"], "ana", 12)
    api.drain()
    # The same counter batches redelivered: the aggregator re-sums, it never adds twice.
    events = {
        "Records": [
            record
            for shard in range(4)
            for record in load_event(
                "counter_shard_modified",
                challenge_id=challenge["id"],
                shard=str(shard),
                sequence_number=str(700 + shard),
            )["Records"]
        ]
    }
    for _ in range(2):
        assert app_module.aggregate_progress(copy.deepcopy(events), CONTEXT) == {
            "batchItemFailures": []
        }
    api.drain()

    progress = api.challenge(challenge["id"])["progress"]
    assert progress["quantity"] == 122.5
    assert progress["reached"] is True
    assert progress["percent"] == 122.5
    log = api.notifications(challenge["id"])
    counterparts = sorted(
        (n["recipient_role"], n["channel"], n["status"])
        for n in log
        if n["event"] == "challenge.reached" and n["recipient_role"] != "participant"
    )
    assert counterparts == [("beneficiary", "email", "sent"), ("sponsor", "email", "sent")]
    participants = [n["to"] for n in log if n["recipient_role"] == "participant"]
    assert len(participants) == len(set(participants))


def test_quantities_do_not_reach_a_headcount_challenge(api: Api) -> None:
    challenge = pledged(api, "lea", target={"metric": "participants", "value": 2, "unit": "km"})
    reported(api, challenge["id"], "lea", 500)
    api.drain()

    progress = api.challenge(challenge["id"])["progress"]
    assert (progress["quantity"], progress["reached"], progress["percent"]) == (500, False, 50.0)


def test_the_same_idempotency_key_replays_the_answer_and_counts_once(api: Api) -> None:
    challenge = pledged(api, "lea")
    first = report(api, challenge["id"], "lea", {"quantity": 7}, key="k-1")
    again = report(api, challenge["id"], "lea", {"quantity": 7}, key="k-1")

    assert first.status_code == again.status_code == 201
    assert json.loads(again.body) == json.loads(first.body)
    assert again.headers["Idempotent-Replayed"] == "true"
    reused = report(api, challenge["id"], "lea", {"quantity": 8}, key="k-1")
    assert "idempotency-key-reused" in str(assert_problem(reused, 409)["type"])
    api.drain()
    assert quantity(api, challenge["id"]) == 7
    assert len(json.loads(my_reports(api, "lea").body)["items"]) == 1


def test_a_retry_after_a_first_attempt_that_left_no_answer_counts_once(api: Api) -> None:
    # The first attempt's transaction went through but its answer was never stored (the
    # function died, or raised after the write): the key's report id still dedupes it.
    challenge = pledged(api, "lea")
    first = api.container.reports.report(
        Principal(sub="lea"), challenge["id"], ReportRequest(7, idempotency_key="k-2")
    )

    retried = report(api, challenge["id"], "lea", {"quantity": 7}, key="k-2")
    assert retried.status_code == 201, retried.body
    assert json.loads(retried.body)["report"]["id"] == first.report.id
    other = report(api, challenge["id"], "lea", {"quantity": 9}, key="k-2")
    assert "idempotency-key-reused" in str(assert_problem(other, 409)["type"])
    api.drain()
    assert quantity(api, challenge["id"]) == 7


def test_keyless_reports_are_each_new(api: Api) -> None:
    challenge = pledged(api, "lea")
    ids = {reported(api, challenge["id"], "lea", 2)["report"]["id"] for _ in range(3)}
    api.drain()

    assert len(ids) == 3
    assert quantity(api, challenge["id"]) == 6


def test_reports_need_a_current_pledge_and_keep_counting_after_withdrawal(api: Api) -> None:
    challenge = pledged(api, "lea")
    not_pledged = report(api, challenge["id"], "hugo", {"quantity": 5})
    assert "not-pledged" in str(assert_problem(not_pledged, 409)["type"])

    reported(api, challenge["id"], "lea", 5)
    withdrawn = api.request("DELETE", f"/challenges/{challenge['id']}/pledges/me", None,
                            bearer("lea"))  # fmt: skip
    assert withdrawn.status_code == 204
    assert_problem(report(api, challenge["id"], "lea", {"quantity": 5}), 409)
    api.drain()

    progress = api.challenge(challenge["id"])["progress"]
    assert (progress["participants"], progress["quantity"]) == (0, 5)
    # Pledging again starts a new pledge; the earlier report stays in the participant's list.
    assert api.pledge(challenge["id"], "lea").status_code == 201
    pledges = json.loads(api.request("GET", "/me/pledges", None, bearer("lea")).body)
    assert [p["quantity_reported"] for p in pledges["items"]] == [0]
    assert len(json.loads(my_reports(api, "lea").body)["items"]) == 1


def test_state_conflicts_and_unknown_challenges(api: Api) -> None:
    closed = pledged(api, "lea")
    api.request("POST", f"/admin/challenges/{closed['id']}/close", None, ADMIN)
    assert "challenge-not-open" in str(
        assert_problem(report(api, closed["id"], "lea", {"quantity": 5}), 409)["type"]
    )
    headcount = pledged(api, "lea", target={"metric": "participants", "value": 3})
    no_unit = assert_problem(report(api, headcount["id"], "lea", {"quantity": 5}), 409)
    assert "reports-not-accepted" in str(no_unit["type"])
    draft = api.create(target=KM, publish=False)
    assert_problem(report(api, draft["id"], "lea", {"quantity": 5}), 404)
    assert_problem(report(api, "ch_unknown", "lea", {"quantity": 5}), 404)
    unauthenticated = api.request(
        "POST", f"/challenges/{closed['id']}/reports", {"quantity": 5}, {}
    )
    assert_problem(unauthenticated, 401)


def _tomorrow_everywhere() -> str:
    return (datetime.now(UTC) + timedelta(days=2)).date().isoformat()


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"quantity": -1}, ["body", "quantity"]),
        ({"quantity": 0}, ["body", "quantity"]),
        ({"quantity": "12"}, ["body", "quantity"]),
        ({"quantity": "NaN"}, ["body", "quantity"]),
        ('{"quantity": NaN}', ["body", "quantity"]),
        ('{"quantity": Infinity}', ["body", "quantity"]),
        ('{"quantity": 1e999}', ["body", "quantity"]),
        ({"quantity": 1e7}, ["body", "quantity"]),
        ({"quantity": 1.0001}, ["body", "quantity"]),
        ({"quantity": True}, ["body", "quantity"]),
        ({"quantity": 60}, ["body", "quantity"]),  # over the report_cap of 50
        ({}, ["body", "quantity"]),
        ({"quantity": 5, "unit": "mi"}, ["body", "unit"]),
        ({"quantity": 5, "unit": ""}, ["body", "unit"]),
        ({"quantity": 5, "occurred_on": "FUTURE"}, ["body", "occurred_on"]),
        ({"quantity": 5, "occurred_on": "2020-01-01"}, ["body", "occurred_on"]),
        ({"quantity": 5, "occurred_on": "2026-13-01"}, ["body", "occurred_on"]),
        ({"quantity": 5, "occurred_on": "01/06/2026"}, ["body", "occurred_on"]),
        ({"quantity": 5, "occurred_on": "2026-06-01T10:00:00Z"}, ["body", "occurred_on"]),
        ({"quantity": 5, "note": "extra"}, ["body", "note"]),
        ("[1, 2", ["body"]),
    ],
)
def test_bad_bodies_are_400_problems_and_count_nothing(api: Api, body: Any, loc: list[str]) -> None:
    challenge = pledged(api, "lea", report_cap=50)
    if isinstance(body, dict) and body.get("occurred_on") == "FUTURE":
        body = {**body, "occurred_on": _tomorrow_everywhere()}

    problem = assert_problem(report(api, challenge["id"], "lea", body), 400)

    errors = problem.get("errors")
    assert isinstance(errors, list)
    assert errors[0]["loc"][: len(loc)] == loc
    api.drain()
    assert quantity(api, challenge["id"]) == 0


def test_my_reports_are_mine_newest_first_by_page_and_by_challenge(api: Api) -> None:
    cycling = pledged(api, "lea", "hugo")
    coffee = pledged(api, "lea", target=KG)
    made = [
        reported(api, (cycling if n % 2 == 0 else coffee)["id"], "lea", n + 1)["report"]
        for n in range(5)
    ]
    reported(api, cycling["id"], "hugo", 99)

    seen: list[dict[str, Any]] = []
    sizes: list[int] = []
    cursor: str | None = None
    while True:
        response = my_reports(api, "lea", limit=2, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.body
        page = json.loads(response.body)
        seen.extend(page["items"])
        sizes.append(len(page["items"]))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [r["id"] for r in seen] == [r["id"] for r in reversed(made)]
    assert sizes in ([2, 2, 1], [2, 2, 1, 0])

    by_challenge = json.loads(my_reports(api, "lea", challenge_id=coffee["id"]).body)
    assert [r["quantity"] for r in by_challenge["items"]] == [4, 2]
    first = json.loads(my_reports(api, "lea", limit=1, challenge_id=cycling["id"]).body)
    assert first["items"][0]["quantity"] == 5
    # A cursor belongs to its list: not another challenge's, nor the unfiltered one.
    assert_problem(my_reports(api, "lea", challenge_id=coffee["id"],
                              cursor=first["next_cursor"]), 400)  # fmt: skip
    unfiltered = json.loads(my_reports(api, "lea", limit=1).body)["next_cursor"]
    assert_problem(my_reports(api, "lea", challenge_id=coffee["id"], cursor=unfiltered), 400)
    assert_problem(my_reports(api, "lea", cursor="not-a-cursor"), 400)
    assert_problem(my_reports(api, "lea", limit=0), 400)
    assert_problem(my_reports(api, "lea", challenge_id="no/such"), 400)
    assert json.loads(my_reports(api, "nobody").body) == {"items": [], "next_cursor": None}
    assert_problem(api.request("GET", "/me/reports"), 401)


def test_campaign_totals_sum_reported_quantities_per_unit(api: Api) -> None:
    week = create_campaign(api)
    coffee = pledged(api, "ana", "ben", target=KG, campaign_id=week["id"])
    cycling = pledged(api, "ana", "chloe", campaign_id=week["id"])
    walking = pledged(api, "dan", campaign_id=week["id"])
    reported(api, coffee["id"], "ana", 12.5)
    reported(api, coffee["id"], "ben", 7)
    reported(api, cycling["id"], "chloe", 31.2)
    reported(api, walking["id"], "dan", 4)
    api.drain()

    totals = json.loads(campaign(api, week["id"]).body)["totals"]
    assert totals == {
        "participants": 4, "pledges": 5, "quantity": {"kg": 19.5, "km": 35.2}, "promised": {}
    }  # fmt: skip


def test_openapi_documents_the_report_routes(api: Api) -> None:
    document = json.loads(api.request("GET", "/openapi.json").body)
    post = document["paths"]["/challenges/{challenge_id}/reports"]["post"]
    assert "201" in post["responses"]
    assert {"400", "401", "404", "409"} <= set(post["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"] if p["in"] == "header")
    listing = document["paths"]["/me/reports"]["get"]
    assert {"limit", "cursor", "challenge_id"} <= {p["name"] for p in listing["parameters"]}
