"""ModerationService on the fakes: hiding a name and removing a pledge, each recorded with its
reason; a removal counts the pledge off once, keeps a reached challenge reached, and is refused
once the figures are final unless a platform admin makes it; the erasure moves the records."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from chalicelib.domain.errors import (
    ChallengeNotFoundError,
    ContentionError,
    FiguresFrozenError,
    ModeratedPledgeNotFoundError,
)
from chalicelib.domain.model import (
    Metric,
    ModerationKind,
    Principal,
    Target,
)
from chalicelib.services.moderation import PledgeModeration, PledgeStatus
from chalicelib.services.personal_data import PersonalDataService
from chalicelib.services.pledges import PledgeRequest
from tests.unit.fake_personal_data import FakePersonalData
from tests.unit.fakes import FakeReportRepository
from tests.unit.support import Backend, build_backend, participant

ADMIN = Principal(sub="admin-1", groups=frozenset({"admin"}))
CSR = Principal(sub="csr-1", groups=frozenset({"org-admin"}), org_id="org_own")
OTHER_CSR = Principal(sub="csr-2", groups=frozenset({"org-admin"}), org_id="org_other")
LEA = participant("lea")


def _with_lea(backend: Backend, **overrides: object) -> str:
    challenge = backend.live_challenge(organization_id="org_own", **overrides)
    backend.pledges.pledge(LEA, challenge.id, PledgeRequest(display_name="Léa", area="u09tv"))
    return challenge.id


def test_a_hidden_name_is_kept_for_its_owner_and_admins_and_gone_from_public_name() -> None:
    backend = build_backend()
    challenge_id = _with_lea(backend)

    view = backend.moderation.hide_name(CSR, challenge_id, LEA.sub, "an insult")

    assert view.status is PledgeStatus.LIVE
    assert (view.pledge.display_name, view.pledge.name_hidden) == ("Léa", True)
    stored = backend.pledge_repository.get(challenge_id, LEA.sub)
    assert stored is not None
    assert stored.name_hidden
    assert stored.public_name is None
    # Her own list still shows her name.
    assert [p.display_name for p in backend.pledges.list_mine(LEA, limit=5, cursor=None).items] == [
        "Léa"
    ]
    [action] = view.actions
    assert (action.action, action.reason, action.actor_sub, action.actor_role) == (
        ModerationKind.HIDE_NAME,
        "an insult",
        CSR.sub,
        "org-admin",
    )
    assert action.pledge.email is None  # a record keeps no private contact
    # Idempotent: the same answer, nothing more recorded, the count untouched.
    assert backend.moderation.hide_name(ADMIN, challenge_id, LEA.sub) == view
    assert backend.counted(challenge_id) == 1


def test_public_name_is_the_display_name_until_hidden() -> None:
    backend = build_backend()
    challenge_id = _with_lea(backend)
    pledge = backend.pledge_repository.get(challenge_id, LEA.sub)
    assert pledge is not None
    assert pledge.public_name == "Léa"
    assert replace(pledge, name_hidden=True).public_name is None


def test_a_removal_counts_the_pledge_off_once_and_answers_a_retry_the_same() -> None:
    backend = build_backend()
    challenge_id = _with_lea(backend)
    backend.pledge_many(challenge_id, 2)

    removed = backend.moderation.remove(CSR, challenge_id, LEA.sub, "duplicate account")

    assert removed.status is PledgeStatus.REMOVED
    assert (removed.pledge.display_name, removed.pledge.area) == ("Léa", "u09tv")
    assert [(a.action, a.reason, a.after_freeze) for a in removed.actions] == [
        (ModerationKind.REMOVE, "duplicate account", False)
    ]
    assert backend.counted(challenge_id) == 2
    assert backend.pledge_repository.get(challenge_id, LEA.sub) is None
    backend.later(minutes=1)
    assert backend.moderation.remove(ADMIN, challenge_id, LEA.sub, "again") == removed
    assert backend.moderation.view(ADMIN, challenge_id, LEA.sub) == removed
    assert backend.counted(challenge_id) == 2


def test_concurrent_removals_of_one_pledge_count_it_off_once() -> None:
    backend = build_backend()
    challenge_id = _with_lea(backend)
    backend.pledge_many(challenge_id, 3)
    start = threading.Barrier(8)

    def remove(number: int) -> PledgeStatus:
        start.wait()
        return backend.moderation.remove(ADMIN, challenge_id, LEA.sub, f"#{number}").status

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(remove, range(8)))

    assert statuses == [PledgeStatus.REMOVED] * 8
    assert backend.counted(challenge_id) == 3
    assert len(backend.moderation.view(ADMIN, challenge_id, LEA.sub).actions) == 1


def test_a_reached_challenge_stays_reached_after_a_removal() -> None:
    backend = build_backend()
    challenge_id = _with_lea(backend, target=Target(Metric.PARTICIPANTS, 3))
    backend.pledge_many(challenge_id, 2)
    reached = backend.progress.refresh(challenge_id)
    assert reached is not None
    assert reached.reached_at is not None

    backend.moderation.remove(ADMIN, challenge_id, LEA.sub, "fake account")
    backend.later(seconds=5)
    after = backend.progress.refresh(challenge_id)

    assert after is not None
    assert after.totals.participants == 2
    assert after.reached_at == reached.reached_at
    assert len([m for m in backend.db.milestones_for(challenge_id) if m.reached]) == 1


def test_final_figures_refuse_moderation_but_a_platform_admins_removal() -> None:
    backend = build_backend()
    challenge_id = _with_lea(backend)
    backend.pledge_many(challenge_id, 2)
    backend.challenges.close(challenge_id)

    for principal in (CSR, ADMIN):
        with pytest.raises(FiguresFrozenError):
            backend.moderation.hide_name(principal, challenge_id, LEA.sub, "late")
    with pytest.raises(FiguresFrozenError, match="only a platform admin"):
        backend.moderation.remove(CSR, challenge_id, LEA.sub, "late")
    assert backend.counted(challenge_id) == 3

    removed = backend.moderation.remove(ADMIN, challenge_id, LEA.sub, "fraud found in the audit")

    assert [(a.reason, a.actor_role, a.after_freeze) for a in removed.actions] == [
        ("fraud found in the audit", "admin", True)
    ]
    assert backend.counted(challenge_id) == 2


def test_a_challenge_past_its_end_is_final_too() -> None:
    backend = build_backend()
    challenge_id = _with_lea(backend, ends_at=backend.clock.now().replace(year=2100))
    backend.clock.set(backend.clock.now().replace(year=2101))
    with pytest.raises(FiguresFrozenError, match="is past its end"):
        backend.moderation.remove(CSR, challenge_id, LEA.sub, "late")


def test_another_organisations_challenge_and_an_unknown_pledge_are_not_found() -> None:
    backend = build_backend()
    challenge_id = _with_lea(backend)
    with pytest.raises(ChallengeNotFoundError):
        backend.moderation.view(OTHER_CSR, challenge_id, LEA.sub)
    with pytest.raises(ChallengeNotFoundError):
        backend.moderation.remove(OTHER_CSR, challenge_id, LEA.sub, "not mine")
    calls: tuple[Callable[[], PledgeModeration], ...] = (
        lambda: backend.moderation.view(ADMIN, challenge_id, "nobody"),
        lambda: backend.moderation.hide_name(ADMIN, challenge_id, "nobody"),
        lambda: backend.moderation.remove(ADMIN, challenge_id, "nobody", "why"),
    )
    for call in calls:
        with pytest.raises(ModeratedPledgeNotFoundError):
            call()
    assert backend.counted(challenge_id) == 1


def test_a_withdrawn_pledge_with_a_hidden_name_is_shown_as_withdrawn() -> None:
    backend = build_backend()
    challenge_id = _with_lea(backend)
    backend.moderation.hide_name(ADMIN, challenge_id, LEA.sub, "rude")
    backend.pledges.withdraw(LEA, challenge_id)

    view = backend.moderation.view(ADMIN, challenge_id, LEA.sub)

    assert view.status is PledgeStatus.WITHDRAWN
    assert view.pledge.display_name == "Léa"
    with pytest.raises(ModeratedPledgeNotFoundError):
        backend.moderation.remove(ADMIN, challenge_id, LEA.sub, "too late")


def test_a_new_pledge_after_a_removal_is_live_with_the_removal_in_its_history() -> None:
    backend = build_backend()
    challenge_id = _with_lea(backend)
    backend.moderation.remove(ADMIN, challenge_id, LEA.sub, "spam")
    backend.later(minutes=1)
    backend.pledges.pledge(LEA, challenge_id, PledgeRequest(display_name="Léa 2"))

    view = backend.moderation.view(ADMIN, challenge_id, LEA.sub)

    assert view.status is PledgeStatus.LIVE
    assert view.pledge.display_name == "Léa 2"
    assert [a.action for a in view.actions] == [ModerationKind.REMOVE]
    assert backend.counted(challenge_id) == 1


def test_a_pledge_being_erased_is_not_moderated_meanwhile() -> None:
    backend = build_backend()
    challenge_id = _with_lea(backend)
    backend.db.erasing[(LEA.sub, challenge_id)] = "erased_0"
    calls: tuple[Callable[[], PledgeModeration], ...] = (
        lambda: backend.moderation.hide_name(ADMIN, challenge_id, LEA.sub),
        lambda: backend.moderation.remove(ADMIN, challenge_id, LEA.sub, "spam"),
    )
    for call in calls:
        with pytest.raises(ContentionError):
            call()
    assert backend.counted(challenge_id) == 1
    assert backend.moderation.view(ADMIN, challenge_id, LEA.sub).actions == []


def _erasure(backend: Backend) -> PersonalDataService:
    store = FakePersonalData(backend.db, FakeReportRepository(backend.db))
    names = (f"erased_{n}" for n in itertools.count())
    return PersonalDataService(
        store, backend.challenge_repository, backend.clock, pseudonyms=lambda: next(names)
    )


def test_the_erasure_moves_the_moderation_records_and_a_pseudonymised_pledge_can_be_removed() -> (
    None
):
    backend = build_backend(counter_shards=4)
    challenge_id = _with_lea(backend)
    gone_id = _with_lea(backend)
    backend.pledge_many(challenge_id, 2)
    backend.moderation.hide_name(ADMIN, challenge_id, LEA.sub, "rude")
    backend.moderation.remove(ADMIN, gone_id, LEA.sub, "spam")
    erasure = _erasure(backend)
    assert [a.reason for a in erasure.export(LEA).records.moderation] == ["rude", "spam"]

    erased = erasure.erase(LEA)

    assert (erased.pledges, erased.moderation) == (1, 2)
    assert erasure.export(LEA).records.moderation == []
    with pytest.raises(ModeratedPledgeNotFoundError):
        backend.moderation.view(ADMIN, challenge_id, LEA.sub)
    moved = backend.moderation.view(ADMIN, challenge_id, "erased_0")
    assert moved.pledge.pseudonymised
    assert moved.pledge.display_name is None
    assert [(a.reason, a.pledge.display_name) for a in moved.actions] == [("rude", None)]
    assert backend.moderation.view(ADMIN, gone_id, "erased_0").status is PledgeStatus.REMOVED
    # The pseudonymised pledge is counted off once.
    before = backend.counted(challenge_id)
    backend.moderation.remove(ADMIN, challenge_id, "erased_0", "spam after all")
    assert backend.counted(challenge_id) == before - 1 == 2
