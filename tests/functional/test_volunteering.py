"""Volunteering on moto, through the API: pledges that offer hours, counted in
`progress.promised` beside what is reported, exactly under concurrent offers and withdrawals;
bad offers are a 400 naming `offer`; campaigns and the sponsor's report show both."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.functional.conftest import ADMIN, Api, bearer


def hours_challenge(api: Api, **fields: Any) -> dict[str, Any]:
    return api.create(
        title="Maraudes solidaires",
        action="I give hours to the evening rounds",
        target={"metric": "quantity", "value": 500, "unit": "h"},
        **fields,
    )


def offer(api: Api, challenge_id: str, sub: str, quantity: Any, unit: str | None = "h") -> Any:
    body: dict[str, Any] = {"offer": {"quantity": quantity, **({"unit": unit} if unit else {})}}
    return api.request("POST", f"/challenges/{challenge_id}/pledges", body, bearer(sub))


def progress(api: Api, challenge_id: str) -> dict[str, Any]:
    api.drain()
    result: dict[str, Any] = api.challenge(challenge_id)["progress"]
    return result


def test_offers_are_promised_beside_what_is_reported(api: Api) -> None:
    challenge_id = hours_challenge(api)["id"]
    answer = offer(api, challenge_id, "lea", 3)
    assert answer.status_code == 201, answer.body
    assert json.loads(answer.body)["pledge"]["offered"] == 3
    assert offer(api, challenge_id, "hugo", 2.5, unit=None).status_code == 201
    report = api.request(
        "POST", f"/challenges/{challenge_id}/reports", {"quantity": 2}, bearer("lea")
    )
    assert report.status_code == 201, report.body
    figures = progress(api, challenge_id)
    assert (figures["promised"], figures["quantity"]) == (5.5, 2)
    withdrawn = api.request(
        "DELETE", f"/challenges/{challenge_id}/pledges/me", None, bearer("hugo")
    )
    assert withdrawn.status_code == 204
    assert progress(api, challenge_id)["promised"] == 3


def test_concurrent_offers_and_withdrawals_are_promised_exactly(api: Api) -> None:
    challenge_id = hours_challenge(api)["id"]
    people = [f"volunteer-{n}" for n in range(40)]

    def take_part(n: int) -> int:
        status: int = offer(api, challenge_id, people[n], 1 + n % 4).status_code
        if n % 5 == 0:
            gone = api.request(
                "DELETE", f"/challenges/{challenge_id}/pledges/me", None, bearer(people[n])
            )
            status = gone.status_code
        return status

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(take_part, range(len(people))))
    assert set(statuses) <= {201, 204}
    expected = sum(1 + n % 4 for n in range(len(people)) if n % 5 != 0)
    assert progress(api, challenge_id)["promised"] == expected


def test_a_bad_offer_is_a_400_naming_offer(api: Api) -> None:
    hours = hours_challenge(api)["id"]
    headcount = api.create()["id"]  # counts participants only: no unit
    for challenge_id, quantity, unit in (
        (hours, 2, "km"),
        (hours, -1, "h"),
        (hours, 1.2345, "h"),
        (headcount, 2, None),
    ):
        answer = offer(api, challenge_id, "max", quantity, unit)
        assert answer.status_code == 400, (quantity, unit, answer.body)
        problem = json.loads(answer.body)
        assert any("offer" in error["loc"] for error in problem["errors"]), problem


def test_campaigns_and_the_report_show_promised_and_reported(api: Api) -> None:
    campaign = api.request("POST", "/admin/campaigns", {"title": "Solidarity week"}, ADMIN)
    campaign_id = json.loads(campaign.body)["id"]
    challenge_id = hours_challenge(api, campaign_id=campaign_id)["id"]
    offer(api, challenge_id, "lea", 4)
    api.drain()
    view = json.loads(api.request("GET", f"/campaigns/{campaign_id}").body)
    assert view["totals"]["promised"] == {"h": 4}
    report = json.loads(
        api.request("GET", f"/admin/challenges/{challenge_id}/report", None, ADMIN).body
    )
    assert report["promised"] == {"h": 4}
    assert report["quantity"] == {"h": 0}
