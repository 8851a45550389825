"""Reduce a pledge's location to a coarse area on arrival; only the area is ever stored."""

from __future__ import annotations

import re

import pygeohash

# Precision 5 is a cell of about 4.9 km x 4.9 km: enough for "people near you", not a home.
GEOHASH_PRECISION = 5
_POSTAL_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{1,9}$")


def area_from_coordinates(lat: float, lon: float) -> str:
    return str(pygeohash.encode(lat, lon, precision=GEOHASH_PRECISION))


def area_from_postal_code(postal_code: str, country: str) -> str:
    """A postal district: the country and the first two characters of the code
    (a French département, a UK postcode area, a German Leitregion)."""
    compact = postal_code.replace(" ", "").replace("-", "").upper()
    return f"{country.upper()}-{compact[:2]}"


def is_postal_code(value: str) -> bool:
    return bool(_POSTAL_CODE.match(value))
