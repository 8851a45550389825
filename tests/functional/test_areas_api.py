"""GET /challenges/{id}/areas (JSON and GeoJSON) and /nearby: shapes, the privacy threshold,
input errors and hidden challenges; and the demo's map."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from chalicelib.domain.areas import area_from_coordinates, area_from_postal_code
from chalicelib.local.demo import load_demo
from tests.functional.conftest import ADMIN, Api, bearer
from tests.functional.test_public_api import assert_problem

CLICHY = {"lat": 48.9045, "lon": 2.3057}
LYON = {"lat": 45.7640, "lon": 4.8357}
CLICHY_CELL = area_from_coordinates(**CLICHY)
LYON_CELL = area_from_coordinates(**LYON)
GEOJSON = "application/geo+json"


def get(api: Api, path: str, headers: dict[str, str] | None = None, /, **params: Any) -> Any:
    query = f"?{urlencode(params)}" if params else ""
    return api.request("GET", path + query, None, headers)


def body_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.body
    result: dict[str, Any] = json.loads(response.body)
    return result


def pledge_in(api: Api, challenge_id: str, location: dict[str, Any], count: int, tag: str) -> None:
    for number in range(count):
        response = api.pledge(challenge_id, f"{tag}-{number}", {"location": location})
        assert response.status_code == 201, response.body


@pytest.fixture
def challenge_id(api: Api) -> str:
    """A live challenge (for the checks that need no counts)."""
    return str(api.create()["id"])


@pytest.fixture
def counted(api: Api) -> str:
    """5 pledges in Clichy's cell, 4 in Lyon's, 6 in the Hauts-de-Seine, 1 without a place."""
    challenge_id = str(api.create(target={"metric": "participants", "value": 100})["id"])
    pledge_in(api, challenge_id, CLICHY, 5, "clichy")
    pledge_in(api, challenge_id, LYON, 4, "lyon")
    pledge_in(api, challenge_id, {"postal_code": "92 110", "country": "fr"}, 6, "hds")
    assert api.pledge(challenge_id, "nowhere").status_code == 201
    api.drain()
    return challenge_id


def test_areas_list_five_and_more_and_sum_the_rest(api: Api, counted: str) -> None:
    response = get(api, f"/challenges/{counted}/areas")
    assert response.headers["Content-Type"] == "application/json"
    assert body_of(response) == {
        "areas": [
            {"area": "FR-92", "participants": 6},
            {"area": CLICHY_CELL, "participants": 5},
        ],
        "hidden_participants": 4,  # Lyon's cell: exactly 4, one under the threshold
    }
    # Nobody's identity is in the answer: no ids, names or e-mails.
    for leak in (b"clichy-", b"lyon-", b"hds-", b"@", b"display_name", b"participant_id"):
        assert leak not in response.body


def test_an_area_appears_at_its_fifth_participant_and_hides_again_at_four(
    api: Api, counted: str
) -> None:
    pledge_in(api, counted, LYON, 1, "lyon-fifth")
    api.drain()
    areas = body_of(get(api, f"/challenges/{counted}/areas"))
    assert {"area": LYON_CELL, "participants": 5} in areas["areas"]
    assert areas["hidden_participants"] == 0
    withdrawal = api.request(
        "DELETE", f"/challenges/{counted}/pledges/me", None, bearer("lyon-fifth-0")
    )
    assert withdrawal.status_code == 204, withdrawal.body
    api.drain()
    areas = body_of(get(api, f"/challenges/{counted}/areas"))
    assert LYON_CELL not in {a["area"] for a in areas["areas"]}
    assert areas["hidden_participants"] == 4


def test_equal_counts_are_ordered_by_label(api: Api) -> None:
    challenge_id = str(api.create()["id"])
    pledge_in(api, challenge_id, LYON, 5, "lyon")
    pledge_in(api, challenge_id, CLICHY, 5, "clichy")
    api.drain()
    areas = body_of(get(api, f"/challenges/{challenge_id}/areas"))["areas"]
    assert [a["area"] for a in areas] == sorted([LYON_CELL, CLICHY_CELL])


def test_a_challenge_without_pledges_has_no_areas(api: Api) -> None:
    challenge_id = api.create()["id"]
    assert body_of(get(api, f"/challenges/{challenge_id}/areas")) == {
        "areas": [],
        "hidden_participants": 0,
    }
    assert body_of(get(api, f"/challenges/{challenge_id}/areas", format="geojson")) == {
        "type": "FeatureCollection",
        "features": [],
        "hidden_participants": 0,
    }


def test_geojson_has_the_cells_as_polygons_and_districts_without_geometry(
    api: Api, counted: str
) -> None:
    response = get(api, f"/challenges/{counted}/areas", format="geojson")
    assert response.status_code == 200, response.body
    assert response.headers["Content-Type"] == GEOJSON
    collection = json.loads(response.body)
    assert collection["type"] == "FeatureCollection"
    assert collection["hidden_participants"] == 4
    features = {f["properties"]["area"]: f for f in collection["features"]}
    assert list(features) == ["FR-92", CLICHY_CELL]
    district = features["FR-92"]
    assert district == {
        "type": "Feature",
        "geometry": None,
        "properties": {"area": "FR-92", "participants": 6},
    }
    cell = features[CLICHY_CELL]
    assert cell["type"] == "Feature"
    assert cell["properties"] == {"area": CLICHY_CELL, "participants": 5}
    assert cell["geometry"]["type"] == "Polygon"
    (ring,) = cell["geometry"]["coordinates"]
    assert len(ring) == 5
    assert ring[0] == ring[-1]  # a closed ring
    longitudes = {position[0] for position in ring}
    latitudes = {position[1] for position in ring}
    # [lon, lat]: Clichy is at 2.3° E, 48.9° N, and the cell holds it.
    assert min(longitudes) <= CLICHY["lon"] <= max(longitudes) < 3
    assert min(latitudes) <= CLICHY["lat"] <= max(latitudes) < 49


@pytest.mark.parametrize("value", ["xml", "GEOJSON", ""])
def test_an_unknown_format_is_400(api: Api, challenge_id: str, value: str) -> None:
    assert_problem(get(api, f"/challenges/{challenge_id}/areas", format=value), 400)


def test_nearby_answers_with_the_count_of_the_callers_area(api: Api, counted: str) -> None:
    path = f"/challenges/{counted}/nearby"
    # A few hundred metres from the pledges: the same cell.
    assert body_of(get(api, path, lat=48.9050, lon=2.3050)) == {
        "area": CLICHY_CELL,
        "participants": 5,
    }
    assert body_of(get(api, path, postal_code="92200", country="FR")) == {
        "area": area_from_postal_code("92200", "FR"),
        "participants": 6,
    }
    # Lyon's 4 are too few to be shown; nowhere near anyone is 0 too.
    assert body_of(get(api, path, lat=LYON["lat"], lon=LYON["lon"])) == {
        "area": LYON_CELL,
        "participants": 0,
    }
    assert body_of(get(api, path, lat=-33.86, lon=151.21))["participants"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"lat": "48.9"},
        {"lon": "2.3"},
        {"postal_code": "92110"},
        {"country": "FR"},
        {"lat": "48.9", "lon": "2.3", "postal_code": "92110", "country": "FR"},
        {"lat": "48.9", "lon": "2.3", "country": "FR"},
        {"lat": "91", "lon": "2.3"},
        {"lat": "-90.5", "lon": "2.3"},
        {"lat": "48.9", "lon": "180.01"},
        {"lat": "nan", "lon": "2.3"},
        {"lat": "48.9", "lon": "inf"},
        {"lat": "1e400", "lon": "2.3"},
        {"lat": "north", "lon": "2.3"},
        {"lat": "", "lon": ""},
        {"postal_code": "7", "country": "FR"},
        {"postal_code": "75011<script>", "country": "FR"},
        {"postal_code": "12345678901", "country": "FR"},
        {"postal_code": "75011", "country": "FRA"},
        {"postal_code": "75011", "country": "F1"},
    ],
)
def test_nearby_refuses_incomplete_mixed_or_invalid_places(
    api: Api, challenge_id: str, params: dict[str, str]
) -> None:
    body = assert_problem(get(api, f"/challenges/{challenge_id}/nearby", **params), 400)
    assert body["errors"], body


def test_edges_of_the_map_are_valid_places(api: Api, challenge_id: str) -> None:
    for lat, lon in ((90, 180), (-90, -180), (0, 0)):
        response = get(api, f"/challenges/{challenge_id}/nearby", lat=lat, lon=lon)
        assert body_of(response)["participants"] == 0


def test_drafts_and_unknown_challenges_are_404(api: Api) -> None:
    draft = api.create(publish=False)
    for challenge_id in (draft["id"], "ch_doesnotexist"):
        assert_problem(get(api, f"/challenges/{challenge_id}/areas"), 404)
        assert_problem(get(api, f"/challenges/{challenge_id}/areas", None, format="geojson"), 404)
        assert_problem(get(api, f"/challenges/{challenge_id}/nearby", **CLICHY), 404)
    # Even for an admin: these are public views, and drafts are not public.
    assert_problem(get(api, f"/challenges/{draft['id']}/areas", ADMIN), 404)


def test_employee_only_areas_are_for_its_employees(api: Api) -> None:
    api.seed_organization("org_humanis")
    internal = api.create(visibility="organization", organization_id="org_humanis")
    for number in range(5):
        response = api.request(
            "POST",
            f"/challenges/{internal['id']}/pledges",
            {"location": CLICHY},
            bearer(f"emp-{number}", org_id="org_humanis"),
        )
        assert response.status_code == 201, response.body
    api.drain()
    employee = bearer("emp-9", org_id="org_humanis")
    areas_path = f"/challenges/{internal['id']}/areas"
    nearby_path = f"/challenges/{internal['id']}/nearby"
    assert body_of(get(api, areas_path, employee))["areas"] == [
        {"area": CLICHY_CELL, "participants": 5}
    ]
    assert body_of(get(api, nearby_path, employee, **CLICHY))["participants"] == 5
    for stranger in (None, bearer("out-1", org_id="org_other"), bearer("plain")):
        assert_problem(get(api, areas_path, stranger), 404)
        assert_problem(get(api, nearby_path, stranger, **CLICHY), 404)


def test_a_bad_token_is_401_even_on_these_public_reads(api: Api, challenge_id: str) -> None:
    broken = {"Authorization": "Bearer not-a-token"}
    assert_problem(get(api, f"/challenges/{challenge_id}/areas", broken), 401)
    assert_problem(get(api, f"/challenges/{challenge_id}/nearby", broken, **CLICHY), 401)


def test_the_openapi_document_describes_both_routes_and_the_geojson(api: Api) -> None:
    document = body_of(get(api, "/openapi.json"))
    areas = document["paths"]["/challenges/{challenge_id}/areas"]["get"]
    assert {p["name"] for p in areas["parameters"]} == {"challenge_id", "format"}
    content = areas["responses"]["200"]["content"]
    assert set(content) == {"application/json", GEOJSON}
    assert content[GEOJSON]["schema"] == {"$ref": "#/components/schemas/AreaFeatureCollection"}
    assert {"400", "404"} <= set(areas["responses"])
    nearby = document["paths"]["/challenges/{challenge_id}/nearby"]["get"]
    assert {p["name"] for p in nearby["parameters"]} == {
        "challenge_id", "lat", "lon", "postal_code", "country"
    }  # fmt: skip
    assert nearby["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NearbyOut"
    }
    schemas = document["components"]["schemas"]
    assert {"AreaList", "AreaOut", "AreaFeature", "CellPolygon", "NearbyOut"} <= set(schemas)


def test_the_demo_map_of_clichy_shows_several_areas_and_hides_some(api: Api) -> None:
    ids = load_demo(api.container)
    # The demo's reached challenge e-mails its updates and reaching news bucket by bucket,
    # each chunk writing the next: more rounds than a test's usual drain.
    api.poller.drain(max_rounds=500)
    areas = body_of(get(api, f"/challenges/{ids['clichy']}/areas"))
    assert len(areas["areas"]) >= 3
    assert all(a["participants"] >= 5 for a in areas["areas"])
    assert areas["hidden_participants"] > 0
    assert sum(a["participants"] for a in areas["areas"]) + areas["hidden_participants"] == 57
