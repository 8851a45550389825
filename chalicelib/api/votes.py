"""Beneficiary vote routes: a participant's vote (cast, changed, read) and the tallies."""

from __future__ import annotations

from typing import Any

from chalicelib.api.routing import ApiRequest, endpoint
from chalicelib.api.schemas.votes import VoteIn, VoteOut, VoteTalliesOut
from chalicelib.domain.errors import NotFoundError


@endpoint(
    "/challenges/{challenge_id}/vote",
    "PUT",
    summary="Vote for a candidate of the challenge's beneficiary vote (one vote per pledge; "
    "voting again changes it until the vote closes)",
    auth="participant",
    response=VoteOut,
    body=VoteIn,
    errors=(404, 409),
    tag="participant",
)
def cast_vote(request: ApiRequest[VoteIn, Any], challenge_id: str) -> VoteOut:
    vote = request.container.votes.cast(request.caller, challenge_id, request.body.candidate_id)
    return VoteOut.from_vote(vote)


@endpoint(
    "/challenges/{challenge_id}/vote",
    "GET",
    summary="My vote on the challenge's beneficiary vote (404 if I have not voted)",
    auth="participant",
    response=VoteOut,
    errors=(404, 409),
    tag="participant",
)
def my_vote(request: ApiRequest[Any, Any], challenge_id: str) -> VoteOut:
    vote = request.container.votes.mine(request.caller, challenge_id)
    if vote is None:
        raise NotFoundError(f"you have not voted on challenge {challenge_id!r}")
    return VoteOut.from_vote(vote)


@endpoint(
    "/challenges/{challenge_id}/votes",
    "GET",
    summary="The beneficiary vote's tallies (final once closed, with the winner)",
    auth="optional",
    response=VoteTalliesOut,
    errors=(404, 409),
)
def vote_tallies(request: ApiRequest[Any, Any], challenge_id: str) -> VoteTalliesOut:
    return VoteTalliesOut.from_tallies(
        request.container.votes.tallies(request.principal, challenge_id)
    )
