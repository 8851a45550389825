"""Follows and updates: people follow a challenge or campaign, admins post news to a challenge,
and every follower and pledger who did not opt out is e-mailed each update once."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from chalicelib.domain.errors import CrowdactError, InvalidRequestError, NotFoundError

UPDATE_ID_PREFIX = "upd_"
# Update fan-out chunks share the outbox with milestones and participant e-mail chunks; this
# prefix on their sort key tells them apart (see chalicelib/domain/fanout.py).
UPDATE_FANOUT_PREFIX = "update#"


class FollowKind(StrEnum):
    """What can be followed, spelt as in the paths (`/me/follows/{kind}/{id}`)."""

    CHALLENGE = "challenges"
    CAMPAIGN = "campaigns"


@dataclass(frozen=True)
class FollowTarget:
    kind: FollowKind
    id: str

    @property
    def key(self) -> str:
        return f"{self.kind}#{self.id}"

    @classmethod
    def from_key(cls, key: str) -> FollowTarget:
        kind, _, target_id = key.partition("#")
        return cls(FollowKind(kind), target_id)

    @classmethod
    def parse(cls, kind: str, target_id: str) -> FollowTarget:
        """A target named by a path (`challenges`, `ch_…`): an unknown kind is a 404."""
        try:
            return cls(FollowKind(kind), target_id)
        except ValueError:
            raise NotFoundError(f"there is nothing to follow under {kind[:32]!r}") from None


@dataclass(frozen=True)
class Follow:
    """One person's choice about one challenge or campaign: `following` (its updates are
    e-mailed to `email` and shown in their feed), or not (opted out: nothing more is sent
    for it, not even as a pledger). `email` is the token's verified address when they
    followed; None: their feed only."""

    target: FollowTarget
    participant_id: str
    following: bool
    updated_at: datetime
    email: str | None = None
    locale: str | None = None


@dataclass(frozen=True)
class ChallengeUpdate:
    """News an admin posted to a challenge."""

    id: str
    challenge_id: str
    title: str
    body: str
    locale: str
    created_at: datetime

    @property
    def created_key(self) -> str:
        """Sortable and unique: newest first is this key descending."""
        return f"{self.created_at.isoformat()}#{self.id}"


class UpdateSource(StrEnum):
    """Where an update's recipients are found: each source is read page by page."""

    CHALLENGE_FOLLOWERS = "followers"
    CAMPAIGN_FOLLOWERS = "campaign"
    PLEDGERS = "pledgers"  # one source per pledge-index bucket


@dataclass(frozen=True)
class UpdateChunk:
    """One page of an update's recipients: the source's entries after `after` (exclusive;
    None: from the first). Chunk `page` n+1 of a source is written by chunk n."""

    challenge_id: str
    update_id: str
    occurred_at: datetime
    source: UpdateSource
    bucket: int = 0
    page: int = 0
    after: str | None = None

    @property
    def key(self) -> str:
        """Deterministic, so a redelivered chunk writes the same successor, once."""
        return f"{UPDATE_FANOUT_PREFIX}{self.update_id}#{self.source}#{self.bucket}#{self.page}"

    @property
    def update_key(self) -> str:
        """The `created_key` of the chunk's update (its id and time: see ChallengeUpdate)."""
        return f"{self.occurred_at.isoformat()}#{self.update_id}"

    def successor(self, after: str) -> UpdateChunk:
        return replace(self, page=self.page + 1, after=after)

    @classmethod
    def from_key(
        cls, challenge_id: str, key: str, occurred_at: datetime, after: str | None
    ) -> UpdateChunk:
        parts = key.removeprefix(UPDATE_FANOUT_PREFIX).split("#")
        if not key.startswith(UPDATE_FANOUT_PREFIX) or len(parts) != 4:
            raise ValueError(f"{key!r} is not an update fan-out chunk")
        update_id, source, bucket, page = parts
        return cls(
            challenge_id,
            update_id,
            occurred_at,
            UpdateSource(source),
            int(bucket),
            int(page),
            after,
        )


def is_update_chunk_key(event_key: str) -> bool:
    return event_key.startswith(UPDATE_FANOUT_PREFIX)


def first_chunks(update: ChallengeUpdate, *, campaign: bool, buckets: int) -> list[UpdateChunk]:
    """An update's first chunk of each source, written with the update itself."""
    sources = [(UpdateSource.CHALLENGE_FOLLOWERS, 0)]
    if campaign:
        sources.append((UpdateSource.CAMPAIGN_FOLLOWERS, 0))
    sources.extend((UpdateSource.PLEDGERS, bucket) for bucket in range(buckets))
    return [
        UpdateChunk(update.challenge_id, update.id, update.created_at, source, bucket)
        for source, bucket in sources
    ]


@dataclass(frozen=True)
class Recipient:
    """Someone an update may be owed to, as one source found them."""

    participant_id: str
    email: str | None
    locale: str | None
    pledged: bool = False  # found among the pledgers (with notify on)


def owed_update(
    recipient: Recipient, on_challenge: Follow | None, on_campaign: Follow | None
) -> bool:
    """Whether a person is owed an update: not opted out of the challenge, and following it,
    or following its campaign, or a pledger (notify on) not opted out of the campaign."""
    if on_challenge is not None and not on_challenge.following:
        return False
    if on_challenge is not None or (on_campaign is not None and on_campaign.following):
        return True
    return recipient.pledged and on_campaign is None


# --- unsubscribe tokens ----------------------------------------------------------------------

TOKEN_VERSION = 1
MAX_TOKEN_LENGTH = 512
# Two URL-safe base64 parts: the payload and its signature.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class InvalidUnsubscribeTokenError(InvalidRequestError):
    """An unsubscribe token that this platform did not sign (or that was edited)."""

    def __init__(self) -> None:
        super().__init__(
            "this unsubscribe link is not valid",
            [{"loc": ["query", "token"], "msg": "invalid token"}],
        )


class UnsubscribeSecretMissingError(CrowdactError):
    """No signing secret is configured for unsubscribe links (a deployment fault)."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())


def sign_unsubscribe(secret: bytes, participant_id: str, target: FollowTarget) -> str:
    """A token that opts `participant_id` out of `target`, for a link that needs no sign-in.
    It does not expire: an unsubscribe link must work in an old e-mail too."""
    payload = _b64(
        json.dumps(
            {"v": TOKEN_VERSION, "s": participant_id, "k": str(target.kind), "i": target.id},
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
    )
    return f"{payload}.{_signature(secret, payload)}"


def verify_unsubscribe(secret: bytes, token: str) -> tuple[str, FollowTarget]:
    """Whose opt-out of what a token asks; InvalidUnsubscribeTokenError unless we signed it."""
    if len(token) > MAX_TOKEN_LENGTH or not TOKEN_PATTERN.fullmatch(token):
        raise InvalidUnsubscribeTokenError()
    payload, _, signature = token.partition(".")
    if not hmac.compare_digest(signature.encode(), _signature(secret, payload).encode()):
        raise InvalidUnsubscribeTokenError()
    try:
        claims = json.loads(_unb64(payload))
        if claims.get("v") != TOKEN_VERSION:
            raise ValueError("unknown version")
        participant_id, target = (
            str(claims["s"]),
            FollowTarget(FollowKind(claims["k"]), str(claims["i"])),
        )
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidUnsubscribeTokenError() from exc
    return participant_id, target
