"""Public routes: health, the OpenAPI document and challenge reads (token optional)."""

from __future__ import annotations

from typing import Any

from chalice.app import Response

from chalicelib.api.openapi import openapi_document
from chalicelib.api.routing import ApiRequest, endpoint
from chalicelib.api.schemas import (
    AreaFeatureCollection,
    AreaList,
    AreasQuery,
    CampaignDetail,
    ChallengeList,
    ChallengeListQuery,
    ChallengeOut,
    Health,
    NearbyOut,
    NearbyQuery,
    OrganizationSpaceOut,
)
from chalicelib.domain.model import ChallengeStatus


@endpoint("/health", "GET", summary="Liveness check", auth="none", response=Health)
def health(request: ApiRequest[Any, Any]) -> Health:
    return Health()


@endpoint(
    "/openapi.json",
    "GET",
    summary="This API's OpenAPI 3 document",
    auth="none",
    response=None,
)
def openapi(request: ApiRequest[Any, Any]) -> Response:
    return Response(body=openapi_document(), headers={"Content-Type": "application/json"})


@endpoint(
    "/challenges",
    "GET",
    summary="List live and ended challenges",
    auth="optional",
    response=ChallengeList,
    query=ChallengeListQuery,
)
def list_challenges(request: ApiRequest[Any, ChallengeListQuery]) -> ChallengeList:
    query = request.query
    page = request.container.challenges.list_visible(
        request.principal,
        status=ChallengeStatus(query.status) if query.status else None,
        campaign_id=query.campaign_id,
        limit=query.limit,
        cursor=query.cursor,
    )
    return ChallengeList(
        items=[ChallengeOut.from_challenge(c) for c in page.items], next_cursor=page.next_cursor
    )


@endpoint(
    "/challenges/{challenge_id}",
    "GET",
    summary="Get a challenge",
    auth="optional",
    response=ChallengeOut,
    errors=(404,),
)
def get_challenge(request: ApiRequest[Any, Any], challenge_id: str) -> ChallengeOut:
    challenge = request.container.challenges.get_visible(challenge_id, request.principal)
    return ChallengeOut.from_challenge(challenge)


@endpoint(
    "/campaigns/{campaign_id}",
    "GET",
    summary="Get a campaign with its challenges and totals (each person counted once)",
    auth="optional",
    response=CampaignDetail,
    errors=(404,),
)
def get_campaign(request: ApiRequest[Any, Any], campaign_id: str) -> CampaignDetail:
    return CampaignDetail.from_view(
        request.container.campaigns.view(campaign_id, request.principal)
    )


GEOJSON_CONTENT_TYPE = "application/geo+json"


@endpoint(
    "/challenges/{challenge_id}/areas",
    "GET",
    summary="Participants per coarse area; areas with fewer than 5 are only summed "
    "(?format=geojson: a GeoJSON FeatureCollection for maps)",
    auth="optional",
    response=AreaList,
    query=AreasQuery,
    errors=(404,),
    alternatives=((GEOJSON_CONTENT_TYPE, AreaFeatureCollection),),
)
def list_areas(request: ApiRequest[Any, AreasQuery], challenge_id: str) -> AreaList | Response:
    summary = request.container.areas.summary(challenge_id, request.principal)
    if request.query.format == "geojson":
        collection = AreaFeatureCollection.from_summary(summary)
        return Response(
            body=collection.model_dump_json(),
            headers={"Content-Type": GEOJSON_CONTENT_TYPE},
        )
    return AreaList.from_summary(summary)


@endpoint(
    "/challenges/{challenge_id}/nearby",
    "GET",
    summary="How many participants near a place (lat and lon, or postal_code and country); "
    "0 when fewer than 5",
    auth="optional",
    response=NearbyOut,
    query=NearbyQuery,
    errors=(404,),
)
def nearby(request: ApiRequest[Any, NearbyQuery], challenge_id: str) -> NearbyOut:
    count = request.container.areas.nearby(challenge_id, request.principal, request.query.area())
    return NearbyOut(area=count.area, participants=count.participants)


@endpoint(
    "/organizations/{slug}",
    "GET",
    summary="An organisation's public space: its profile, its challenges and campaigns",
    auth="optional",
    response=OrganizationSpaceOut,
    errors=(404,),
)
def organization_space(request: ApiRequest[Any, Any], slug: str) -> OrganizationSpaceOut:
    return OrganizationSpaceOut.from_space(
        request.container.organizations.space(slug, request.principal)
    )
