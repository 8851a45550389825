"""Moderation: an administrator hides a participant's name or removes a pledge, with a reason.

A removal deletes the pledge and counts it off its counter shard in the transaction that
records it (storage/moderation.py), so the count goes down once however often it is asked
for; a reached milestone stays (`reached_at` is only ever set). Once a challenge's figures
are final only a platform admin may still remove a pledge, and the record says so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from chalicelib.domain.access import admin_scope
from chalicelib.domain.errors import (
    ContentionError,
    FiguresFrozenError,
    ModeratedPledgeNotFoundError,
    PledgeChangedError,
)
from chalicelib.domain.model import (
    ADMIN_GROUP,
    ORG_ADMIN_GROUP,
    Challenge,
    ChallengeStatus,
    ModerationAction,
    ModerationKind,
    Pledge,
    Principal,
)
from chalicelib.services.challenges import ChallengeService
from chalicelib.services.ports import Clock

# A pledge that keeps changing under a moderation (an erasure moving it, a withdrawal and a
# new pledge) is read again this often before the moderator is asked to retry (503).
MODERATION_ATTEMPTS = 3


class ModerationRepository(Protocol):
    def pledge(self, challenge_id: str, participant_id: str) -> Pledge | None:
        """The pledge as stored now (a consistent read), or None."""
        ...

    def actions(self, challenge_id: str, participant_id: str) -> list[ModerationAction]:
        """The moderation actions on this participant's pledge, oldest first."""
        ...

    def hide_name(self, pledge: Pledge, action: ModerationAction) -> bool:
        """Mark the pledge's name hidden and record `action`, together; False (nothing
        written) unless the pledge is still the one read (same `created_at`), not hidden yet
        and not being erased."""
        ...

    def remove(self, pledge: Pledge, action: ModerationAction, *, count_vote_out: bool) -> bool:
        """Delete the pledge and record `action`, in one transaction (the pledges stream
        counts the pledge off); False (nothing written) unless the pledge is still the one read (its
        vote included) and not being erased. `count_vote_out`: its beneficiary vote, if it
        carries one, is counted out too (False once the vote's result is fixed); False also
        when that vote's shard was closed meanwhile."""
        ...


class PledgeStatus(StrEnum):
    LIVE = "live"
    REMOVED = "removed"  # by a moderator
    WITHDRAWN = "withdrawn"  # by its participant, after a moderator hid its name


@dataclass(frozen=True)
class PledgeModeration:
    """The admin view of one pledge: as stored, or as it was when last moderated if it is
    gone, with every moderation action on it."""

    pledge: Pledge
    status: PledgeStatus
    actions: list[ModerationAction]


def actor_role(principal: Principal) -> str:
    return ADMIN_GROUP if principal.is_admin else ORG_ADMIN_GROUP


def _snapshot(pledge: Pledge) -> Pledge:
    """What a moderation record keeps of the pledge: not its private contact."""
    return replace(pledge, email=None, locale=None)


class ModerationService:
    def __init__(
        self, challenges: ChallengeService, store: ModerationRepository, clock: Clock
    ) -> None:
        self._challenges = challenges
        self._store = store
        self._clock = clock

    def view(
        self, principal: Principal, challenge_id: str, participant_id: str
    ) -> PledgeModeration:
        challenge = self._challenges.get_for_admin(challenge_id, admin_scope(principal))
        return self._view(
            challenge.id, participant_id, self._store.pledge(challenge.id, participant_id)
        )

    def hide_name(
        self,
        principal: Principal,
        challenge_id: str,
        participant_id: str,
        reason: str | None = None,
        *,
        pledged_at: datetime | None = None,
    ) -> PledgeModeration:
        """Hide the pledge's name from every public answer; idempotent. `pledged_at`: only if
        the pledge is still the one made then."""
        challenge = self._challenges.get_for_admin(challenge_id, admin_scope(principal))
        for _ in range(MODERATION_ATTEMPTS):
            pledge = self._store.pledge(challenge.id, participant_id)
            if pledge is None:
                raise ModeratedPledgeNotFoundError(challenge.id, participant_id)
            if not _made_at(pledge, pledged_at):
                raise PledgeChangedError(_changed(challenge.id, participant_id))
            if pledge.name_hidden:
                return self._view(challenge.id, participant_id, pledge)
            self._check_open(challenge, principal, ModerationKind.HIDE_NAME)
            action = self._action(principal, pledge, ModerationKind.HIDE_NAME, reason, False)
            if self._store.hide_name(pledge, action):
                return self._view(challenge.id, participant_id, replace(pledge, name_hidden=True))
        raise ContentionError("this pledge kept changing while its name was being hidden")

    def remove(
        self,
        principal: Principal,
        challenge_id: str,
        participant_id: str,
        reason: str,
        *,
        pledged_at: datetime | None = None,
    ) -> PledgeModeration:
        """Remove the pledge and count it off once; asked again, the same answer. With
        `pledged_at`, only the pledge made then: a retry after the participant pledged
        again answers the removal made, and never removes the new pledge."""
        challenge = self._challenges.get_for_admin(challenge_id, admin_scope(principal))
        for _ in range(MODERATION_ATTEMPTS):
            pledge = self._store.pledge(challenge.id, participant_id)
            if pledged_at is not None and not _made_at(pledge, pledged_at):
                return self._removed_at(challenge.id, participant_id, pledged_at)
            if pledge is None:
                view = self._view(challenge.id, participant_id, None)
                if view.status is PledgeStatus.REMOVED:
                    return view  # a retry, or another moderator's removal: done
                raise ModeratedPledgeNotFoundError(challenge.id, participant_id)
            frozen = self._check_open(challenge, principal, ModerationKind.REMOVE)
            action = self._action(principal, pledge, ModerationKind.REMOVE, reason, frozen)
            choice = challenge.beneficiary_choice
            count_vote_out = choice is not None and not choice.closed
            if self._store.remove(pledge, action, count_vote_out=count_vote_out):
                return self._view(challenge.id, participant_id, None)
            if choice is not None:  # the vote may have closed meanwhile: read it again
                challenge = self._challenges.get_for_admin(challenge_id, admin_scope(principal))
        raise ContentionError("this pledge kept changing while it was being removed")

    def _removed_at(
        self, challenge_id: str, participant_id: str, pledged_at: datetime
    ) -> PledgeModeration:
        """The removal of the pledge made at `pledged_at`, if it was removed (a retry)."""
        actions = self._store.actions(challenge_id, participant_id)
        for action in reversed(actions):
            if action.action is ModerationKind.REMOVE and _made_at(action.pledge, pledged_at):
                return PledgeModeration(action.pledge, PledgeStatus.REMOVED, actions)
        raise PledgeChangedError(_changed(challenge_id, participant_id))

    def _check_open(self, challenge: Challenge, principal: Principal, kind: ModerationKind) -> bool:
        """Whether the figures are final; FiguresFrozenError unless a platform admin removes."""
        if not challenge.figures_frozen_at(self._clock.now()):
            return False
        if kind is ModerationKind.REMOVE and principal.is_admin:
            return True
        state = "past its end" if challenge.status is ChallengeStatus.LIVE else challenge.status
        only = ", and only a platform admin may still remove a pledge"
        raise FiguresFrozenError(
            f"challenge {challenge.id!r} is {state}: its figures are final"
            + (only if kind is ModerationKind.REMOVE else "")
        )

    def _action(
        self,
        principal: Principal,
        pledge: Pledge,
        kind: ModerationKind,
        reason: str | None,
        after_freeze: bool,
    ) -> ModerationAction:
        return ModerationAction(
            challenge_id=pledge.challenge_id,
            participant_id=pledge.participant_id,
            action=kind,
            at=self._clock.now(),
            actor_sub=principal.sub,
            actor_role=actor_role(principal),
            pledge=_snapshot(pledge),
            reason=reason,
            after_freeze=after_freeze,
        )

    def _view(
        self, challenge_id: str, participant_id: str, pledge: Pledge | None
    ) -> PledgeModeration:
        actions = self._store.actions(challenge_id, participant_id)
        if pledge is not None:
            return PledgeModeration(pledge, PledgeStatus.LIVE, actions)
        if not actions:
            raise ModeratedPledgeNotFoundError(challenge_id, participant_id)
        removals = [a for a in actions if a.action is ModerationKind.REMOVE]
        if removals:
            return PledgeModeration(removals[-1].pledge, PledgeStatus.REMOVED, actions)
        return PledgeModeration(actions[-1].pledge, PledgeStatus.WITHDRAWN, actions)


def _made_at(pledge: Pledge | None, pledged_at: datetime | None) -> bool:
    """Whether `pledge` is the one made at `pledged_at` (to the second, as the API shows
    times); any pledge when no time is given."""
    if pledged_at is None:
        return True
    if pledge is None:
        return False
    return pledge.created_at.replace(microsecond=0) == pledged_at.replace(microsecond=0)


def _changed(challenge_id: str, participant_id: str) -> str:
    return (
        f"the pledge of {participant_id!r} on {challenge_id!r} is not the one made at "
        "`pledged_at`: it was withdrawn or removed since, maybe made again; read it again"
    )
