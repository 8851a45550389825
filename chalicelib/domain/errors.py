"""Domain errors: what went wrong in crowdact's words, with no HTTP knowledge."""

from __future__ import annotations


class CrowdactError(Exception):
    """Base class of every error the application raises on purpose."""


class NotFoundError(CrowdactError):
    """The thing asked for does not exist (or must look as if it did not)."""


class ChallengeNotFoundError(NotFoundError):
    def __init__(self, challenge_id: str) -> None:
        super().__init__(f"challenge {challenge_id!r} does not exist")


class PledgeNotFoundError(NotFoundError):
    def __init__(self, challenge_id: str) -> None:
        super().__init__(f"you have no pledge on challenge {challenge_id!r}")


class OrganizationNotFoundError(NotFoundError):
    def __init__(self, organization_id: str) -> None:
        super().__init__(f"organization {organization_id!r} does not exist")


class CampaignNotFoundError(NotFoundError):
    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"campaign {campaign_id!r} does not exist")


class ConflictError(CrowdactError):
    """The request is valid but the current state does not allow it."""


class ModeratedPledgeNotFoundError(NotFoundError):
    def __init__(self, challenge_id: str, participant_id: str) -> None:
        super().__init__(
            f"participant {participant_id!r} has no pledge on challenge {challenge_id!r}"
        )


class ChallengeExistsError(ConflictError):
    """A challenge with this id exists already (an adopted proposal's, made by a racing
    adoption)."""

    def __init__(self, challenge_id: str) -> None:
        super().__init__(f"challenge {challenge_id!r} already exists")


class ChallengeNotOpenError(ConflictError):
    """Pledges and withdrawals need a live challenge within its dates."""


class InvalidTransitionError(ConflictError):
    """A status change that the challenge's life cycle does not allow."""


class TargetFrozenError(ConflictError):
    """The target of a reached, ended or closed challenge cannot change."""


class ChallengeFrozenError(ConflictError):
    """An ended or closed challenge keeps its final figures and fields."""


class PledgeChangedError(ConflictError):
    """Moderation of a pledge that is no longer the one the moderator saw (`pledged_at`): it
    was withdrawn or removed, and maybe made again."""


class FiguresFrozenError(ConflictError):
    """Moderation of a challenge whose figures are final (closed, ended, past its end): only
    a platform admin may still remove a pledge, and the removal says so."""


class MembershipFrozenError(ConflictError):
    """A published challenge keeps its campaign, and in a campaign its audience: the pledges
    already counted in the campaign's totals were counted under them."""


class NotPledgedError(ConflictError):
    """Reports and votes need a current pledge on the challenge."""

    def __init__(self, challenge_id: str, then: str = "report what you did") -> None:
        super().__init__(
            f"you have no current pledge on challenge {challenge_id!r}: pledge first, then {then}"
        )


class NoVoteError(ConflictError):
    """The challenge names its beneficiary: there is nothing to vote on."""

    def __init__(self, challenge_id: str) -> None:
        super().__init__(f"challenge {challenge_id!r} has no beneficiary vote")


class VoteClosedError(ConflictError):
    """The beneficiary vote closed (its deadline, the target reached, or the challenge's end)."""


class ReportsNotAcceptedError(ConflictError):
    """The challenge declares no unit, so it has no quantity to report against."""


class ChallengeNotReachedError(ConflictError):
    """Payouts are recorded only for a challenge that reached its target."""

    def __init__(self, challenge_id: str) -> None:
        super().__init__(
            f"challenge {challenge_id!r} has not reached its target: nothing is paid out yet"
        )


class ContentionError(CrowdactError):
    """Storage kept refusing a write because of concurrent writers; the client may retry."""


class InvalidRequestError(CrowdactError):
    """The request is malformed; `errors` lists each problem with its location."""

    def __init__(self, detail: str, errors: list[dict[str, object]] | None = None) -> None:
        super().__init__(detail)
        self.errors = errors or []


class InvalidFieldsError(InvalidRequestError):
    """Values the domain refuses, by the name of the field that carried each (the API layer
    says where that field was: the body)."""

    def __init__(self, detail: str, fields: dict[str, str]) -> None:
        super().__init__(detail)
        self.fields = dict(fields)


class PayloadTooLargeError(CrowdactError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


class RateLimitedError(CrowdactError):
    """A participant went over their rate of pledges or reports; try again later."""

    def __init__(self, action: str, retry_after_seconds: float) -> None:
        super().__init__(
            f"too many {action}s from this participant: try again in "
            f"{max(1, round(retry_after_seconds))} s"
        )
        self.retry_after_seconds = retry_after_seconds


class AuthenticationError(CrowdactError):
    """No token, or a token that is malformed, expired or badly signed."""


class PermissionDeniedError(CrowdactError):
    """A valid token without the role or organisation the operation needs."""


class IdempotencyKeyReusedError(ConflictError):
    """An Idempotency-Key came back with a different body than its first use."""


class RequestInProgressError(ConflictError):
    """The first request with this Idempotency-Key has not finished yet; retry shortly."""


class SlugTakenError(ConflictError):
    """Another organisation already has this slug (its public space's address)."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"the slug {slug!r} is already taken")


class NotReportableError(ConflictError):
    """A draft has no figures yet: its report would be empty, and it may still change."""


class NotAcceptableError(CrowdactError):
    """The Accept header names no representation this resource has."""


class EventNotFoundError(NotFoundError):
    def __init__(self, event_id: str) -> None:
        super().__init__(f"event {event_id!r} does not exist")


class EventPastError(ConflictError):
    """Sign-ups and cancellations close when the event starts."""


class CapacityBelowConfirmedError(ConflictError):
    """A capacity cannot drop below the number of people already confirmed."""


class TeamNameTakenError(ConflictError):
    """An organisation's team names are unique (compared without case)."""
