"""Participants per coarse area (JSON or GeoJSON) and the nearby query that reduces a location
to its area."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from chalicelib.domain.areas import (
    AreaSummary,
    area_from_coordinates,
    area_from_postal_code,
    cell_bounds,
    is_geohash_cell,
    is_postal_code,
)

AREA_DESCRIPTION = (
    "a geohash cell of precision 5 (about 5 km wide, e.g. u09wj) or a postal district "
    "(the country and the first two characters of the code, e.g. FR-92)"
)


class AreaOut(BaseModel):
    area: str = Field(description=AREA_DESCRIPTION)
    participants: int


class AreaList(BaseModel):
    """Participants per area: areas with fewer than 5 are not listed, only summed."""

    areas: list[AreaOut] = Field(description="most participants first, then by label")
    hidden_participants: int = Field(
        description="participants in the areas not listed (fewer than 5 each), together"
    )

    @classmethod
    def from_summary(cls, summary: AreaSummary) -> AreaList:
        return cls(
            areas=[AreaOut(area=a.area, participants=a.participants) for a in summary.areas],
            hidden_participants=summary.hidden_participants,
        )


class AreasQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    format: Literal["json", "geojson"] = Field(
        default="json",
        description="geojson: a GeoJSON FeatureCollection (application/geo+json) for maps",
    )


Position = tuple[float, float]  # [longitude, latitude], as GeoJSON orders them


class CellPolygon(BaseModel):
    type: Literal["Polygon"] = "Polygon"
    coordinates: list[list[Position]] = Field(
        description="one closed ring, counter-clockwise: the cell's corners in [lon, lat]"
    )


class AreaFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: CellPolygon | None = Field(
        description="the geohash cell; null for a postal district (no shape is known)"
    )
    properties: AreaOut


class AreaFeatureCollection(BaseModel):
    """The listed areas as GeoJSON (RFC 7946); `hidden_participants` is a foreign member."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[AreaFeature]
    hidden_participants: int

    @classmethod
    def from_summary(cls, summary: AreaSummary) -> AreaFeatureCollection:
        return cls(
            features=[
                AreaFeature(
                    geometry=_cell_polygon(a.area),
                    properties=AreaOut(area=a.area, participants=a.participants),
                )
                for a in summary.areas
            ],
            hidden_participants=summary.hidden_participants,
        )


def _cell_polygon(area: str) -> CellPolygon | None:
    if not is_geohash_cell(area):
        return None
    cell = cell_bounds(area)
    ring = [
        (cell.west, cell.south),
        (cell.east, cell.south),
        (cell.east, cell.north),
        (cell.west, cell.north),
        (cell.west, cell.south),
    ]
    return CellPolygon(coordinates=[ring])


def _postal_code(value: str) -> str:
    if not is_postal_code(value):
        raise ValueError("must be a postal code: 2 to 10 letters, digits, spaces or hyphens")
    return value


Coordinate = Annotated[float, Field(allow_inf_nan=False)]


class NearbyQuery(BaseModel):
    """Where the caller is: `lat` and `lon`, or `postal_code` and `country`; it is reduced to
    a coarse area exactly as a pledge's location is, and not kept."""

    model_config = ConfigDict(extra="ignore")

    lat: Annotated[Coordinate, Field(ge=-90, le=90)] | None = None
    lon: Annotated[Coordinate, Field(ge=-180, le=180)] | None = None
    postal_code: Annotated[str, AfterValidator(_postal_code)] | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")] | None = None

    @model_validator(mode="after")
    def _one_location(self) -> NearbyQuery:
        coordinates = (self.lat, self.lon)
        postal = (self.postal_code, self.country)
        given = [any(v is not None for v in form) for form in (coordinates, postal)]
        if given == [True, True]:
            raise ValueError("give lat and lon, or postal_code and country, not both")
        if given == [False, False]:
            raise ValueError("give lat and lon, or postal_code and country")
        form = coordinates if given[0] else postal
        if any(v is None for v in form):
            raise ValueError("lat needs lon, and postal_code needs country (and vice versa)")
        return self

    def area(self) -> str:
        """The coarse area, by the same functions as a pledge's location."""
        if self.lat is not None and self.lon is not None:
            return area_from_coordinates(self.lat, self.lon)
        if self.postal_code is not None and self.country is not None:
            return area_from_postal_code(self.postal_code, self.country)
        raise AssertionError("unreachable: the validator requires one complete location")


class NearbyOut(BaseModel):
    area: str = Field(description=AREA_DESCRIPTION)
    participants: int = Field(description="participants in this area; 0 when fewer than 5")
