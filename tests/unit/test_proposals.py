"""Citizen proposals on the fakes: who may decide, supports exact under concurrency, the
threshold recorded once, adoption, and the notifier's messages once each under redelivery,
concurrent runs and provider failures."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import pytest

from chalicelib.domain.access import AdminScope
from chalicelib.domain.areas import area_from_coordinates, nearby_cells
from chalicelib.domain.errors import InvalidTransitionError
from chalicelib.domain.model import (
    Challenge,
    ChallengeStatus,
    Metric,
    Organization,
    OrganizationKind,
    OrganizationProfile,
    Party,
    Principal,
    Target,
)
from chalicelib.domain.proposals import (
    ProposalDecidedError,
    ProposalEvent,
    ProposalNotFoundError,
    ProposalNotOpenError,
    ProposalStatus,
    is_proposal_event_key,
    proposal_event_from_key,
)
from chalicelib.notify.proposal_email import render_proposal_email
from chalicelib.services.challenges import ChallengeService
from chalicelib.services.ports import WebhookError
from chalicelib.services.proposal_mail import ProposalMail, ProposalMailRetryError
from chalicelib.services.proposals import Adoption, ProposalDraft, ProposalService
from tests.unit.fake_proposals import FakeProposalDeliveryRepository, FakeProposalRepository
from tests.unit.fakes import FakeChallengeRepository, FakeMailer
from tests.unit.support import Backend, build_backend, challenge_draft

ORG = "org_1"
CONTACT = Party("Mairie", "mairie@x.example", "https://hooks.x.example/p", "whsec_x")


class FakeOrganizations:
    def __init__(self) -> None:
        self.items = {
            ORG: Organization(
                ORG,
                "Clichy",
                OrganizationKind.CITY,
                created_at=build_backend().clock.now(),
                profile=OrganizationProfile(proposal_contact=CONTACT, support_threshold=3),
            )
        }

    def get(self, organization_id: str, *, consistent: bool = False) -> Organization | None:
        return self.items.get(organization_id)


class RecordingWebhook:
    def __init__(self) -> None:
        self.posted: list[tuple[str, str, bytes]] = []
        self.fail_next = 0
        self._lock = threading.Lock()

    def post(self, url: str, secret: str, *, event: str, delivery_id: str, body: bytes) -> None:
        with self._lock:
            if self.fail_next:
                self.fail_next -= 1
                raise WebhookError("503")
            self.posted.append((url, event, body))


@dataclass
class World:
    backend: Backend
    proposals: FakeProposalRepository
    deliveries: FakeProposalDeliveryRepository
    service: ProposalService
    mail: ProposalMail
    mailer: FakeMailer
    webhook: RecordingWebhook

    def deliver_outbox(self) -> None:
        for proposal_id, event in list(self.proposals.outbox):
            self.mail.notify(proposal_id, event)

    def sent(self) -> Counter[str]:
        return Counter(message.to for message in self.mailer.sent)


@pytest.fixture
def world() -> World:
    backend = build_backend()
    organizations = FakeOrganizations()
    proposals = FakeProposalRepository(backend.db)  # a publish writes to its outbox too
    deliveries = FakeProposalDeliveryRepository()
    mailer = FakeMailer()
    webhook = RecordingWebhook()

    def contact(organization_id: str) -> tuple[str, str | None, str | None] | None:
        organization = organizations.get(organization_id)
        party = organization.profile.proposal_contact if organization else None
        return (party.email, party.webhook_url, party.webhook_secret) if party else None

    return World(
        backend,
        proposals,
        deliveries,
        ProposalService(
            proposals, organizations, backend.challenges, backend.clock, deliveries=deliveries
        ),
        ProposalMail(
            proposals,
            deliveries,
            contact,
            mailer,
            webhook,
            render_proposal_email,
            (lambda pid: f"https://web/#/proposals/{pid}", lambda cid: f"https://web/#/c/{cid}"),
            backend.clock,
            max_attempts=3,
        ),
        mailer,
        webhook,
    )


def person(sub: str) -> Principal:
    return Principal(sub=sub, email=f"{sub}@people.example", email_verified=True, locale="en")


def draft(organization_id: str | None = ORG) -> ProposalDraft:
    return ProposalDraft(
        "Repair café",
        "I repair",
        "",
        Target(Metric.PARTICIPANTS, 100),
        area_from_coordinates(48.9, 2.3),
        organization_id,
    )


def test_a_proposal_takes_its_organisations_threshold_and_starts_pending(world: World) -> None:
    made = world.service.propose(person("ada"), draft())
    assert (made.status, made.support_threshold, made.proposer_email) == (
        ProposalStatus.PENDING,
        3,
        "ada@people.example",
    )
    unaddressed = world.service.propose(Principal(sub="bob", email="b@x.example"), draft(None))
    assert unaddressed.support_threshold == 10
    assert unaddressed.proposer_email is None  # not verified: never written to


def test_only_admins_of_its_organisation_decide(world: World) -> None:
    made = world.service.propose(person("ada"), draft())
    with pytest.raises(ProposalNotFoundError):
        world.service.approve(made.id, None, AdminScope("org_other"))
    world.service.approve(made.id, None, AdminScope(ORG))
    with pytest.raises(ProposalDecidedError):
        world.service.reject(made.id, "no")
    assert world.proposals.outbox == [(made.id, ProposalEvent.APPROVED)]


def test_pending_and_rejected_proposals_take_no_support(world: World) -> None:
    made = world.service.propose(person("ada"), draft())
    with pytest.raises(ProposalNotOpenError):
        world.service.support(person("s1"), made.id)
    world.service.reject(made.id, "done already")
    with pytest.raises(ProposalNotOpenError):
        world.service.support(person("s1"), made.id)
    with pytest.raises(ProposalNotFoundError):
        world.service.get_visible(made.id, person("s1"))
    assert world.service.get_visible(made.id, person("ada")).decision_reason == "done already"


def test_concurrent_supports_count_each_person_once_and_record_the_threshold_once(
    world: World,
) -> None:
    made = world.service.propose(person("ada"), draft())
    world.service.approve(made.id, None)
    people = [person(f"s{n:02d}") for n in range(40)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda p: world.service.support(p, made.id), people * 3))
    stored = world.proposals.get(made.id)
    assert stored is not None
    assert stored.supports == 40
    assert [e for _, e in world.proposals.outbox].count(ProposalEvent.THRESHOLD_REACHED) == 1


def test_the_threshold_is_told_once_by_email_and_webhook_even_redelivered(world: World) -> None:
    made = world.service.propose(person("ada"), draft())
    world.service.approve(made.id, None)
    for n in range(3):
        world.service.support(person(f"s{n}"), made.id)
    world.webhook.fail_next = 1
    with pytest.raises(ProposalMailRetryError):
        world.deliver_outbox()  # the webhook failed once: the record comes back
    for _ in range(3):
        world.deliver_outbox()
    assert world.sent()["mairie@x.example"] == 1
    assert world.sent()["ada@people.example"] == 1  # approved
    assert len(world.webhook.posted) == 1
    assert world.webhook.posted[0][1] == "proposal.threshold_reached"


def test_concurrent_notifier_runs_send_each_message_once(world: World) -> None:
    made = world.service.propose(person("ada"), draft())
    world.service.approve(made.id, None)
    for n in range(12):
        world.service.support(person(f"s{n:02d}"), made.id)
    world.service.support(person("ada"), made.id)  # the proposer supports it too
    _, challenge = world.service.adopt(
        made.id, Adoption(CONTACT, Party("Café", "c@x.example"), "a room")
    )
    world.backend.challenges.publish(challenge.id)  # puts `challenge_live` in the outbox
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: world.deliver_outbox(), range(8)))
    sent = world.sent()
    assert sent["ada@people.example"] == 2  # approved, live: once as proposer, not as supporter
    assert all(sent[f"s{n:02d}@people.example"] == 1 for n in range(12))
    assert sent["mairie@x.example"] == 1


def test_a_mail_that_keeps_failing_is_given_up_after_max_attempts(world: World) -> None:
    made = world.service.propose(person("ada"), draft())
    world.service.reject(made.id, "no")
    world.mailer.fail_next(10)
    for _ in range(2):
        with pytest.raises(ProposalMailRetryError):
            world.deliver_outbox()
    world.deliver_outbox()  # the third failure is the last: given up, nothing owed
    world.mailer.fail_next(0)
    world.deliver_outbox()
    assert world.sent()["ada@people.example"] == 0
    [record] = world.deliveries.of_participant("ada")
    assert (record.status, record.attempts) == ("failed", 3)


def test_adoption_makes_one_linked_draft_and_refuses_a_second(world: World) -> None:
    made = world.service.propose(person("ada"), draft())
    adoption = Adoption(CONTACT, Party("Café", "c@x.example"), "a room")
    with pytest.raises(ProposalDecidedError):
        world.service.adopt(made.id, adoption)  # pending
    world.service.approve(made.id, None)
    proposal, challenge = world.service.adopt(made.id, adoption)
    assert proposal.challenge_id == challenge.id
    assert challenge.proposal_id == made.id
    assert (challenge.title, challenge.target, challenge.organization_id) == (
        "Repair café",
        made.suggested_target,
        ORG,
    )
    with pytest.raises(ProposalDecidedError):
        world.service.adopt(made.id, adoption)
    with pytest.raises(ProposalNotOpenError):
        world.service.support(person("late"), made.id)


def test_a_publish_of_an_ordinary_challenge_records_nothing(world: World) -> None:
    challenge = world.backend.challenges.create(challenge_draft())
    world.backend.challenges.publish(challenge.id)
    assert world.proposals.outbox == []


class DiesAfterWriting(FakeChallengeRepository):
    """The process dies right after the publish's write, before anything else runs."""

    def transition(
        self,
        challenge_id: str,
        source: ChallengeStatus,
        target: ChallengeStatus,
        now: datetime,
        *,
        proposal_live: str | None = None,
    ) -> Challenge | None:
        super().transition(challenge_id, source, target, now, proposal_live=proposal_live)
        raise TimeoutError("the Lambda timed out here")


def test_a_crash_right_after_the_publish_still_tells_everyone_once(world: World) -> None:
    made = world.service.propose(person("ada"), draft())
    world.service.approve(made.id, None)
    for n in range(3):
        world.service.support(person(f"s{n}"), made.id)
    _, challenge = world.service.adopt(
        made.id, Adoption(CONTACT, Party("Café", "c@x.example"), "a room")
    )
    crashing = ChallengeService(
        DiesAfterWriting(world.backend.db),
        world.backend.progress,
        world.backend.clock,
        counter_shards=4,
    )
    with pytest.raises(TimeoutError):
        crashing.publish(challenge.id)
    # The status and the news were one write: nothing is left for a later step to do.
    assert world.backend.stored(challenge.id).status is ChallengeStatus.LIVE
    assert (made.id, ProposalEvent.CHALLENGE_LIVE) in world.proposals.outbox
    with pytest.raises(InvalidTransitionError):
        world.backend.challenges.publish(challenge.id)
    world.deliver_outbox()
    world.deliver_outbox()
    sent = world.sent()
    assert sent["ada@people.example"] == 2  # approved, then live
    assert [sent[f"s{n}@people.example"] for n in range(3)] == [1, 1, 1]


def test_nearby_cells_are_the_point_and_its_eight_neighbours() -> None:
    cells = nearby_cells(48.9, 2.3)
    assert len(cells) == 9
    assert cells[4] == area_from_coordinates(48.9, 2.3)
    assert len(nearby_cells(89.99, 179.99)) == 6  # the pole's edge has no row above


def test_event_keys_round_trip() -> None:
    for event in ProposalEvent:
        assert is_proposal_event_key(event.key)
        assert proposal_event_from_key(event.key) is event
    assert not is_proposal_event_key("fanout#challenge.reached#0#0")
    with pytest.raises(ValueError, match="not a proposal event"):
        proposal_event_from_key("challenge.reached")
