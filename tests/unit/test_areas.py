"""Coarse areas: a pledge's location is cut down to a ~5 km cell or a postal district."""

from __future__ import annotations

import pygeohash
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.areas import (
    GEOHASH_PRECISION,
    area_from_coordinates,
    area_from_postal_code,
    is_postal_code,
)

latitudes = st.floats(min_value=-90, max_value=90, allow_nan=False)
longitudes = st.floats(min_value=-180, max_value=180, allow_nan=False)


def test_a_point_becomes_its_geohash_cell_of_precision_5() -> None:
    assert GEOHASH_PRECISION == 5
    assert area_from_coordinates(48.8566, 2.3522) == "u09tv"


def test_neighbours_share_a_cell_and_distant_points_do_not() -> None:
    # Two addresses a few hundred metres apart in Paris 11e; Lyon is elsewhere.
    assert area_from_coordinates(48.8566, 2.3522) == area_from_coordinates(48.8590, 2.3560)
    assert area_from_coordinates(48.8566, 2.3522) != area_from_coordinates(45.7640, 4.8357)


@settings(max_examples=200, deadline=None)
@given(latitudes, longitudes)
def test_every_area_is_a_coarse_cell_without_the_coordinates(lat: float, lon: float) -> None:
    area = area_from_coordinates(lat, lon)

    assert len(area) == 5
    assert set(area) <= set("0123456789bcdefghjkmnpqrstuvwxyz")
    assert f"{lat:.2f}" not in area
    assert f"{lon:.2f}" not in area
    # The cell holds the point: the label is a coarsening, not another place.
    south, north, west, east = _bounds(area)
    assert south <= lat <= north
    assert west <= lon <= east


def _bounds(area: str) -> tuple[float, float, float, float]:
    lat, lon, lat_error, lon_error = pygeohash.decode_exactly(area)
    return lat - lat_error, lat + lat_error, lon - lon_error, lon + lon_error


def test_a_cell_is_about_5_km_wide() -> None:
    south, north, west, east = _bounds(area_from_coordinates(48.8566, 2.3522))

    assert 0.04 < north - south < 0.05  # ~4.9 km of latitude
    assert 0.04 < east - west < 0.05


@pytest.mark.parametrize(
    ("postal_code", "country", "district"),
    [
        ("75011", "fr", "FR-75"),
        ("92110", "FR", "FR-92"),
        ("SW1A 1AA", "gb", "GB-SW"),
        ("10-115", "de", "DE-10"),
        ("1 0115", "DE", "DE-10"),
    ],
)
def test_a_postal_code_becomes_its_district(postal_code: str, country: str, district: str) -> None:
    area = area_from_postal_code(postal_code, country)

    assert area == district
    assert postal_code.replace(" ", "").replace("-", "") not in area


@pytest.mark.parametrize("value", ["75011", "SW1A 1AA", "10-115", "A1"])
def test_postal_codes_are_recognised(value: str) -> None:
    assert is_postal_code(value)


@pytest.mark.parametrize("value", ["", "7", " 75011", "-75011", "75011<script>", "12345678901"])
def test_other_text_is_not_a_postal_code(value: str) -> None:
    assert not is_postal_code(value)
