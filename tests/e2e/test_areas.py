"""Geolocated social proof on the real local stack: pledges from two areas, counted by the
`count_areas` trigger through the stream poller, shown only from 5 participants."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.conftest import Stack, assert_problem

pytestmark = pytest.mark.e2e

WAIT_SECONDS = 30.0
CLICHY = {"lat": 48.9045, "lon": 2.3057}
NEAR_CLICHY = {"lat": 48.9050, "lon": 2.3050}  # a few dozen metres away: the same cell
LYON = {"lat": 45.7640, "lon": 4.8357}


def pledge_from(stack: Stack, challenge_id: str, location: dict[str, Any], count: int) -> None:
    for _ in range(count):
        token = stack.participant_token(f"areas-{uuid.uuid4().hex[:8]}")
        response = stack.request(
            "POST",
            f"/challenges/{challenge_id}/pledges",
            token=token,
            json={"location": location},
        )
        assert response.status_code == 201, response.text


def test_areas_show_five_and_more_hide_fewer_and_answer_nearby(stack: Stack) -> None:
    challenge = stack.create_challenge(target={"metric": "participants", "value": 100})
    challenge_id = challenge["id"]
    pledge_from(stack, challenge_id, CLICHY, 3)
    pledge_from(stack, challenge_id, NEAR_CLICHY, 2)
    pledge_from(stack, challenge_id, LYON, 3)
    pledge_from(stack, challenge_id, {"postal_code": "92110", "country": "FR"}, 1)

    def counted() -> dict[str, Any] | None:
        response = stack.request("GET", f"/challenges/{challenge_id}/areas")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body if body["hidden_participants"] == 4 and body["areas"] else None

    areas = stack.wait_until(counted, WAIT_SECONDS, message="areas counted")
    (clichy,) = areas["areas"]
    assert clichy["participants"] == 5
    assert "areas-" not in str(areas)  # nobody's id in the answer

    geojson = stack.request(
        "GET", f"/challenges/{challenge_id}/areas", params={"format": "geojson"}
    )
    assert geojson.status_code == 200, geojson.text
    assert geojson.headers["Content-Type"] == "application/geo+json"
    collection = geojson.json()
    assert collection["type"] == "FeatureCollection"
    (feature,) = collection["features"]
    assert feature["properties"] == {"area": clichy["area"], "participants": 5}
    (ring,) = feature["geometry"]["coordinates"]
    assert ring[0] == ring[-1]
    assert min(p[0] for p in ring) <= CLICHY["lon"] <= max(p[0] for p in ring)
    assert min(p[1] for p in ring) <= CLICHY["lat"] <= max(p[1] for p in ring)

    nearby = f"/challenges/{challenge_id}/nearby"
    near = stack.request("GET", nearby, params=NEAR_CLICHY)
    assert near.json() == {"area": clichy["area"], "participants": 5}
    lyon = stack.request("GET", nearby, params=LYON)
    assert lyon.status_code == 200, lyon.text
    assert lyon.json()["participants"] == 0  # 3 are too few to be shown
    assert_problem(stack.request("GET", nearby, params={"lat": 48.9}), 400)
    assert_problem(
        stack.request("GET", f"/challenges/{challenge_id}/areas", params={"format": "kml"}), 400
    )


def test_areas_of_a_challenge_nobody_may_see_are_404(stack: Stack) -> None:
    draft = stack.create_challenge(publish=False)
    assert_problem(stack.request("GET", f"/challenges/{draft['id']}/areas"), 404)
    assert_problem(stack.request("GET", f"/challenges/{draft['id']}/nearby", params=CLICHY), 404)
