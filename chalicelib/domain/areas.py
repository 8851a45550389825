"""Coarse areas: a pledge's location is reduced to one on arrival (only the area is ever
stored), and only areas with enough participants are ever shown."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

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


# An area with fewer participants than this is not shown on its own: a handful of people in
# one ~5 km cell could be recognised by their neighbours. They are only counted in a total.
MIN_PARTICIPANTS_SHOWN = 5
_GEOHASH_ALPHABET = frozenset("0123456789bcdefghjkmnpqrstuvwxyz")


@dataclass(frozen=True)
class AreaCount:
    area: str
    participants: int


@dataclass(frozen=True)
class AreaSummary:
    """What may be shown of a challenge's areas: the areas with enough participants, most
    first, and how many participants are in the others together."""

    areas: tuple[AreaCount, ...]
    hidden_participants: int


def summarize(counts: Iterable[AreaCount]) -> AreaSummary:
    shown: list[AreaCount] = []
    hidden = 0
    for count in counts:
        if count.participants >= MIN_PARTICIPANTS_SHOWN:
            shown.append(count)
        elif count.participants > 0:
            hidden += count.participants
    shown.sort(key=lambda count: (-count.participants, count.area))
    return AreaSummary(tuple(shown), hidden)


def shown_participants(participants: int) -> int:
    """ "n people near you", or 0 when n is too small to be shown."""
    return participants if participants >= MIN_PARTICIPANTS_SHOWN else 0


def is_geohash_cell(area: str) -> bool:
    """Whether the label is a geohash cell (postal districts look like `FR-92`)."""
    return len(area) == GEOHASH_PRECISION and set(area) <= _GEOHASH_ALPHABET


@dataclass(frozen=True)
class CellBounds:
    south: float
    west: float
    north: float
    east: float


def cell_bounds(area: str) -> CellBounds:
    if not is_geohash_cell(area):
        raise ValueError(f"{area!r} is not a geohash cell")
    box = pygeohash.get_bounding_box(area)
    return CellBounds(
        south=float(box.min_lat),
        west=float(box.min_lon),
        north=float(box.max_lat),
        east=float(box.max_lon),
    )


def nearby_cells(lat: float, lon: float) -> list[str]:
    """The cell of the point and its eight neighbours (a point near a cell's edge is as near
    to the proposals of the next cell)."""
    centre = area_from_coordinates(lat, lon)
    bounds = cell_bounds(centre)
    height, width = bounds.north - bounds.south, bounds.east - bounds.west
    mid_lat, mid_lon = (bounds.north + bounds.south) / 2, (bounds.east + bounds.west) / 2
    cells: list[str] = []
    for dlat in (-1, 0, 1):
        for dlon in (-1, 0, 1):
            lat_n = mid_lat + dlat * height
            lon_n = ((mid_lon + dlon * width + 180) % 360) - 180
            if -90 <= lat_n <= 90:
                cell = area_from_coordinates(lat_n, lon_n)
                if len(cell) == GEOHASH_PRECISION and cell not in cells:
                    cells.append(cell)
    return cells
