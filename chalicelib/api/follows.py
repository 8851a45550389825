"""Follow routes: follow and unfollow a challenge or campaign, list one's follows and feed,
read a challenge's updates, post one (admins), and the unsubscribe link's route (no sign-in:
its signed token is the proof)."""

from __future__ import annotations

from typing import Any

from chalicelib.api.routing import ApiRequest, endpoint
from chalicelib.api.schemas.common import ListQuery
from chalicelib.api.schemas.follows import (
    FeedItemOut,
    FeedList,
    FollowList,
    FollowOut,
    UnsubscribeOut,
    UnsubscribeQuery,
    UpdateIn,
    UpdateList,
    UpdateOut,
)
from chalicelib.domain.follows import FollowKind, FollowTarget
from chalicelib.services.follows import UpdateDraft

CHALLENGE_UPDATE_POST = "challenge.post_update"


def _follow(request: ApiRequest[Any, Any], target: FollowTarget) -> FollowOut:
    return FollowOut.from_follow(request.container.follows.follow(request.caller, target))


@endpoint(
    "/challenges/{challenge_id}/follow",
    "PUT",
    summary="Follow a challenge: its updates by e-mail (to the token's verified address) "
    "and in my feed; following again changes nothing",
    auth="participant",
    response=FollowOut,
    errors=(404,),
    tag="participant",
)
def follow_challenge(request: ApiRequest[Any, Any], challenge_id: str) -> FollowOut:
    return _follow(request, FollowTarget(FollowKind.CHALLENGE, challenge_id))


@endpoint(
    "/challenges/{challenge_id}/follow",
    "DELETE",
    summary="Stop a challenge's updates, also those I would get as a pledger "
    "(204 also when I did not follow it)",
    auth="participant",
    response=None,
    status=204,
    errors=(404,),
    tag="participant",
)
def unfollow_challenge(request: ApiRequest[Any, Any], challenge_id: str) -> None:
    request.container.follows.unfollow(
        request.caller, FollowTarget(FollowKind.CHALLENGE, challenge_id)
    )


@endpoint(
    "/campaigns/{campaign_id}/follow",
    "PUT",
    summary="Follow a campaign: the updates of all its challenges; following again changes nothing",
    auth="participant",
    response=FollowOut,
    errors=(404,),
    tag="participant",
)
def follow_campaign(request: ApiRequest[Any, Any], campaign_id: str) -> FollowOut:
    return _follow(request, FollowTarget(FollowKind.CAMPAIGN, campaign_id))


@endpoint(
    "/campaigns/{campaign_id}/follow",
    "DELETE",
    summary="Stop a campaign's updates (204 also when I did not follow it)",
    auth="participant",
    response=None,
    status=204,
    errors=(404,),
    tag="participant",
)
def unfollow_campaign(request: ApiRequest[Any, Any], campaign_id: str) -> None:
    request.container.follows.unfollow(
        request.caller, FollowTarget(FollowKind.CAMPAIGN, campaign_id)
    )


@endpoint(
    "/me/follows",
    "GET",
    summary="What I follow, most recently followed first",
    auth="participant",
    response=FollowList,
    tag="participant",
)
def my_follows(request: ApiRequest[Any, Any]) -> FollowList:
    follows = request.container.follows.list_mine(request.caller)
    return FollowList(items=[FollowOut.from_follow(f) for f in follows])


@endpoint(
    "/me/follows/{kind}/{target_id}",
    "DELETE",
    summary="Stop the updates of a challenge or campaign (kind: challenges or campaigns), "
    "also those I would get as a pledger (204 also when I did not follow it)",
    auth="participant",
    response=None,
    status=204,
    errors=(404,),
    tag="participant",
)
def stop_follow(request: ApiRequest[Any, Any], kind: str, target_id: str) -> None:
    request.container.follows.unfollow(
        request.caller, FollowTarget.parse(kind, target_id), check=False
    )


@endpoint(
    "/me/feed",
    "GET",
    summary="The updates of what I follow or pledged to, newest first",
    auth="participant",
    response=FeedList,
    query=ListQuery,
    tag="participant",
)
def my_feed(request: ApiRequest[Any, ListQuery]) -> FeedList:
    page = request.container.follows.feed(
        request.caller, limit=request.query.limit, cursor=request.query.cursor
    )
    return FeedList(
        items=[FeedItemOut.from_item(item) for item in page.items], next_cursor=page.next_cursor
    )


@endpoint(
    "/challenges/{challenge_id}/updates",
    "GET",
    summary="A challenge's updates, newest first",
    auth="optional",
    response=UpdateList,
    query=ListQuery,
    errors=(404,),
)
def list_updates(request: ApiRequest[Any, ListQuery], challenge_id: str) -> UpdateList:
    page = request.container.follows.list_updates(
        request.principal, challenge_id, limit=request.query.limit, cursor=request.query.cursor
    )
    return UpdateList(
        items=[UpdateOut.from_update(u) for u in page.items], next_cursor=page.next_cursor
    )


@endpoint(
    "/admin/challenges/{challenge_id}/updates",
    "POST",
    summary="Post an update to a challenge: shown on it, and e-mailed once to each "
    "follower and pledger who did not opt out",
    auth="admin",
    tag="admin",
    response=UpdateOut,
    status=201,
    body=UpdateIn,
    errors=(404,),
    audit=CHALLENGE_UPDATE_POST,
)
def post_update(request: ApiRequest[UpdateIn, Any], challenge_id: str) -> UpdateOut:
    body = request.body
    update, challenge = request.container.follows.post_update(
        challenge_id, UpdateDraft(body.title, body.body, body.locale), request.scope
    )
    # In the challenge's organisation's trail, whoever posted it.
    request.audit_note.organization_id = challenge.organization_id
    return UpdateOut.from_update(update)


@endpoint(
    "/unsubscribe",
    "GET",
    summary="What an e-mail's unsubscribe link stops (changes nothing: POST does)",
    auth="none",
    response=UnsubscribeOut,
    query=UnsubscribeQuery,
)
def read_unsubscribe(request: ApiRequest[Any, UnsubscribeQuery]) -> UnsubscribeOut:
    target = request.container.follows.read_unsubscribe(request.query.token)
    return UnsubscribeOut.of(target, unsubscribed=False)


@endpoint(
    "/unsubscribe",
    "POST",
    summary="Stop the updates an e-mail's unsubscribe link names (no sign-in; again: 200)",
    auth="none",
    response=UnsubscribeOut,
    query=UnsubscribeQuery,
)
def unsubscribe(request: ApiRequest[Any, UnsubscribeQuery]) -> UnsubscribeOut:
    target = request.container.follows.unsubscribe(request.query.token)
    return UnsubscribeOut.of(target, unsubscribed=True)
