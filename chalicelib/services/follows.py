"""Follow challenges and campaigns, opt out (signed in, or by an e-mail's unsubscribe link),
post and read a challenge's updates, and read one's feed (docs/decisions.md 115–120)."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from chalicelib.domain.access import AdminScope
from chalicelib.domain.errors import InvalidRequestError, NotFoundError
from chalicelib.domain.follows import (
    UPDATE_ID_PREFIX,
    ChallengeUpdate,
    Follow,
    FollowKind,
    FollowTarget,
    first_chunks,
    sign_unsubscribe,
    verify_unsubscribe,
)
from chalicelib.domain.locale import language_for
from chalicelib.domain.model import Challenge, Principal
from chalicelib.services.campaigns import CampaignService
from chalicelib.services.challenges import ChallengeService
from chalicelib.services.follow_ports import (
    FollowRepository,
    UnsubscribeSecret,
    UpdateDeliveryRecord,
    UpdateDeliveryRepository,
    UpdateRepository,
)
from chalicelib.services.ports import Clock, Page, PledgeRepository

# A feed merges the updates of this many followed or pledged challenges at most (the most
# recently followed or pledged first): each is one query per page (docs/decisions.md 115–120).
MAX_FEED_CHALLENGES = 50
# Campaign follows bring this many of the campaign's challenges into the feed at most.
MAX_CAMPAIGN_CHALLENGES = 50
MAX_CURSOR_LENGTH = 512


def _cursor(created_key: str | None) -> str | None:
    if created_key is None:
        return None
    return base64.urlsafe_b64encode(json.dumps({"b": created_key}).encode()).decode().rstrip("=")


def _position(cursor: str | None) -> str | None:
    """The `created_key` a cursor continues below; a 400 for one this API did not return."""
    if cursor is None:
        return None
    invalid = InvalidRequestError(
        "the cursor is not one this API returned",
        [{"loc": ["query", "cursor"], "msg": "invalid cursor"}],
    )
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        raise invalid
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise invalid from exc
    if not isinstance(state, dict) or not isinstance(state.get("b"), str) or not state["b"]:
        raise invalid
    position: str = state["b"]
    return position


def _in_feed(
    challenge: Challenge, followed: set[FollowTarget], opted_out: set[FollowTarget]
) -> bool:
    """A challenge followed, pledged to or in a followed campaign: in the feed unless opted
    out of it, or of its campaign without following the challenge itself (as e-mails)."""
    target = FollowTarget(FollowKind.CHALLENGE, challenge.id)
    if target in opted_out:
        return False
    if challenge.campaign_id is None or target in followed:
        return True
    return FollowTarget(FollowKind.CAMPAIGN, challenge.campaign_id) not in opted_out


@dataclass(frozen=True)
class UpdateDraft:
    title: str
    body: str
    locale: str


@dataclass(frozen=True)
class FeedItem:
    update: ChallengeUpdate
    challenge: Challenge


@dataclass(frozen=True)
class FollowRecords:
    """What the follow feature holds about a person (their export; their erasure)."""

    follows: list[Follow]
    update_emails: list[UpdateDeliveryRecord]


class FollowService:
    def __init__(
        self,
        follows: FollowRepository,
        updates: UpdateRepository,
        deliveries: UpdateDeliveryRepository,
        challenges: ChallengeService,
        campaigns: CampaignService,
        pledges: PledgeRepository,
        secret: UnsubscribeSecret,
        clock: Clock,
        *,
        pledge_buckets: int,
    ) -> None:
        self._follows = follows
        self._updates = updates
        self._deliveries = deliveries
        self._challenges = challenges
        self._campaigns = campaigns
        self._pledges = pledges
        self._secret = secret
        self._clock = clock
        self._buckets = pledge_buckets

    # --- following -------------------------------------------------------------------------

    def _check_visible(self, target: FollowTarget, principal: Principal) -> None:
        if target.kind is FollowKind.CHALLENGE:
            self._challenges.get_visible(target.id, principal)
        else:
            self._campaigns.get_visible(target.id, principal)

    def follow(self, principal: Principal, target: FollowTarget) -> Follow:
        """Follow a target the caller can see (again: the same follow, its address refreshed)."""
        self._check_visible(target, principal)
        follow = Follow(
            target=target,
            participant_id=principal.sub,
            following=True,
            updated_at=self._clock.now(),
            # Only an address the identity provider verified (as on a pledge).
            email=principal.email if principal.email_verified else None,
            locale=language_for(principal.locale),
        )
        self._follows.put(follow)
        return follow

    def unfollow(self, principal: Principal, target: FollowTarget, *, check: bool = True) -> None:
        """Stop a target's updates (also as a pledger); idempotent. `check`: only for a
        target the caller can see (`DELETE /me/follows` opts out of anything)."""
        if check:
            self._check_visible(target, principal)
        self._opt_out(principal.sub, target)

    def _opt_out(self, participant_id: str, target: FollowTarget) -> None:
        # The opted-out item keeps no address: nothing is sent to it any more.
        self._follows.put(
            Follow(target, participant_id, following=False, updated_at=self._clock.now())
        )

    def list_mine(self, principal: Principal) -> list[Follow]:
        """What the caller follows, most recently followed first."""
        follows = [f for f in self._follows.of_participant(principal.sub) if f.following]
        return sorted(follows, key=lambda f: f.updated_at, reverse=True)

    def unsubscribe_token(self, participant_id: str, target: FollowTarget) -> str:
        return sign_unsubscribe(self._secret.get(), participant_id, target)

    def read_unsubscribe(self, token: str) -> FollowTarget:
        """What a link's token opts out of (checked, nothing changed)."""
        return verify_unsubscribe(self._secret.get(), token)[1]

    def unsubscribe(self, token: str) -> FollowTarget:
        """Opt the token's person out of its target (no sign-in: the signature is the proof)."""
        participant_id, target = verify_unsubscribe(self._secret.get(), token)
        self._opt_out(participant_id, target)
        return target

    # --- updates ---------------------------------------------------------------------------

    def post_update(
        self, challenge_id: str, draft: UpdateDraft, scope: AdminScope
    ) -> tuple[ChallengeUpdate, Challenge]:
        """The update posted, and its challenge (whose organisation the audit entry names)."""
        challenge = self._challenges.get_for_admin(challenge_id, scope)
        update = ChallengeUpdate(
            id=UPDATE_ID_PREFIX + secrets.token_hex(8),
            challenge_id=challenge.id,
            title=draft.title,
            body=draft.body,
            locale=draft.locale,
            created_at=self._clock.now(),
        )
        chunks = first_chunks(
            update, campaign=challenge.campaign_id is not None, buckets=self._buckets
        )
        self._updates.add(update, chunks)
        return update, challenge

    def list_updates(
        self, principal: Principal | None, challenge_id: str, *, limit: int, cursor: str | None
    ) -> Page[ChallengeUpdate]:
        challenge = self._challenges.get_visible(challenge_id, principal)
        found = self._updates.list_for_challenge(
            challenge.id, limit=limit + 1, before=_position(cursor)
        )
        more = len(found) > limit
        found = found[:limit]
        return Page(found, _cursor(found[-1].created_key) if more else None)

    def feed(self, principal: Principal, *, limit: int, cursor: str | None) -> Page[FeedItem]:
        """The updates of what the caller follows or pledged to, newest first."""
        before = _position(cursor)
        items: list[FeedItem] = []
        for challenge in self._feed_challenges(principal):
            found = self._updates.list_for_challenge(challenge.id, limit=limit + 1, before=before)
            items.extend(FeedItem(update, challenge) for update in found)
        items.sort(key=lambda item: item.update.created_key, reverse=True)
        more = len(items) > limit
        items = items[:limit]
        return Page(items, _cursor(items[-1].update.created_key) if more else None)

    def _feed_challenges(self, principal: Principal) -> list[Challenge]:
        choices = sorted(
            self._follows.of_participant(principal.sub), key=lambda f: f.updated_at, reverse=True
        )
        followed = {f.target for f in choices if f.following}
        opted_out = {f.target for f in choices if not f.following}
        wanted: dict[str, Challenge | None] = {}
        for target in (f.target for f in choices if f.following):
            if target.kind is FollowKind.CHALLENGE:
                wanted.setdefault(target.id, None)
                continue
            for challenge in self._campaign_challenges(principal, target.id):
                wanted.setdefault(challenge.id, challenge)
        for pledged in self._pledged(principal.sub):
            wanted.setdefault(pledged, None)
        challenges: list[Challenge] = []
        for challenge_id, known in wanted.items():
            if len(challenges) >= MAX_FEED_CHALLENGES:
                break
            found = known or self._visible(challenge_id, principal)
            if found is not None and _in_feed(found, followed, opted_out):
                challenges.append(found)
        return challenges

    def _visible(self, challenge_id: str, principal: Principal) -> Challenge | None:
        try:
            return self._challenges.get_visible(challenge_id, principal)
        except NotFoundError:
            return None

    def _campaign_challenges(self, principal: Principal, campaign_id: str) -> list[Challenge]:
        try:
            page = self._challenges.list_visible(
                principal,
                status=None,
                campaign_id=campaign_id,
                limit=MAX_CAMPAIGN_CHALLENGES,
                cursor=None,
            )
        except NotFoundError:
            return []
        return page.items

    def _pledged(self, participant_id: str) -> Iterable[str]:
        cursor: str | None = None
        seen = 0
        while seen < MAX_FEED_CHALLENGES:
            page = self._pledges.list_for_participant(
                participant_id, limit=MAX_FEED_CHALLENGES, cursor=cursor
            )
            for pledge in page.items:
                seen += 1
                yield pledge.challenge_id
            cursor = page.next_cursor
            if cursor is None:
                return

    # --- personal data ---------------------------------------------------------------------

    def records(self, participant_id: str) -> FollowRecords:
        return FollowRecords(
            follows=self._follows.of_participant(participant_id),
            update_emails=self._deliveries.of_participant(participant_id),
        )

    def erase(self, participant_id: str) -> int:
        """Delete the person's follows, opt-outs and update e-mail claims: no figure counts
        them, so nothing needs keeping under a pseudonym. Returns how many were deleted."""
        follows = self._follows.of_participant(participant_id)
        for follow in follows:
            self._follows.delete(follow)
        return len(follows) + self._deliveries.delete_for_participant(participant_id)
