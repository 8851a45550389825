"""Citizen proposals on the fakes: who may decide, supports exact under concurrency, the
threshold recorded once, adoption, and the notifier's messages once each under redelivery,
concurrent runs and provider failures."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

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
from chalicelib.services.participant_mail import TIME_RESERVE
from chalicelib.services.ports import WebhookError
from chalicelib.services.proposal_mail import ProposalMail, ProposalMailRetryError
from chalicelib.services.proposals import Adoption, ProposalDraft, ProposalService
from tests.unit.fake_proposals import FakeProposalDeliveryRepository, FakeProposalRepository
from tests.unit.fakes import FakeChallengeRepository, FakeMailer
from tests.unit.support import Backend, build_backend, challenge_draft

ORG = "org_1"
CHUNK = 40  # supporters e-mailed per chunk
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
        """Every outbox record once, then every supporters' chunk once (those written
        meanwhile too), as the stream would."""
        for proposal_id, event in list(self.proposals.outbox):
            self.mail.notify(proposal_id, event)
        done: set[tuple[str, str]] = set()
        while pending := [k for k in list(self.proposals.chunks) if k not in done]:
            for key in pending:
                done.add(key)
                self.mail.run(self.proposals.chunks[key])

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
            chunk_size=CHUNK,
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


class Died(BaseException):
    """The invocation dies mid-send (not an error any handler catches)."""


def live_with_supporters(world: World, supporters: int) -> str:
    made = world.service.propose(person("ada"), draft())
    world.service.approve(made.id, None)
    for n in range(supporters):
        world.service.support(person(f"s{n:03d}"), made.id)
    world.service.support(person("ada"), made.id)  # told once, as the proposer
    world.service.support(Principal(sub="quiet", email="q@x.example"), made.id)  # unverified
    _, challenge = world.service.adopt(
        made.id, Adoption(CONTACT, Party("Café", "c@x.example"), "a room")
    )
    world.backend.challenges.publish(challenge.id)
    return made.id


def test_250_supporters_are_told_in_chunks_once_each_despite_redelivery_and_timeouts(
    world: World,
) -> None:
    pid = live_with_supporters(world, 250)
    sends_per_run: list[int] = []
    world.mail.notify(pid, ProposalEvent.CHALLENGE_LIVE)
    world.mail.notify(pid, ProposalEvent.CHALLENGE_LIVE)  # redelivered: no second first chunk
    assert list(world.proposals.chunks) == [(pid, "supporters#challenge_live#0")]
    assert world.sent()["ada@people.example"] == 1  # the live message (approval's not run)

    # The first chunk (40 supports: ada and quiet, then s000-s037) dies after 5 e-mails,
    # during the 6th; its redelivery sends the other 32 and is retried for the 6th, whose
    # lease still runs; once it ran out the next one sends it, and a further one nothing.
    first = world.proposals.chunks[(pid, "supporters#challenge_live#0")]
    died_after = 5
    sent_before = len(world.mailer.sent)

    def die(_: object) -> None:
        if len(world.mailer.sent) - sent_before >= died_after:
            world.mailer.on_send = None
            raise Died

    world.mailer.on_send = die
    with pytest.raises(Died):
        world.mail.run(first)
    before = len(world.mailer.sent)
    with pytest.raises(ProposalMailRetryError):
        world.mail.run(first)
    sends_per_run.append(len(world.mailer.sent) - before)
    world.backend.later(seconds=46)
    for _ in range(2):
        before = len(world.mailer.sent)
        world.mail.run(first)
        sends_per_run.append(len(world.mailer.sent) - before)
    assert sends_per_run == [38 - died_after - 1, 1, 0]

    # The second chunk runs out of time half-way (each send takes a second of a fake
    # clock): it stops before its reserve and the redelivery finishes it.
    second = world.proposals.chunks[(pid, "supporters#challenge_live#1")]
    world.mailer.on_send = lambda _: world.backend.later(seconds=1)
    with pytest.raises(ProposalMailRetryError):
        world.mail.run(second, time_left=TIME_RESERVE + timedelta(seconds=10))
    world.mailer.on_send = None
    world.mail.run(second, time_left=timedelta(seconds=30))

    world.deliver_outbox()  # everything, every chunk once more
    world.deliver_outbox()
    sent = world.sent()
    assert [sent[f"s{n:03d}@people.example"] for n in range(250)] == [1] * 250
    assert sent["ada@people.example"] == 2  # approved, live
    assert sent["q@x.example"] == 0
    pages = sorted(int(key.rsplit("#", 1)[1]) for _, key in world.proposals.chunks)
    # 252 supports, 40 a chunk: 7 chunks, each written once.
    assert pages == list(range(7))


def test_each_chunk_sends_at_most_chunk_size(world: World) -> None:
    pid = live_with_supporters(world, 3 * CHUNK + 1)
    world.mail.notify(pid, ProposalEvent.CHALLENGE_LIVE)
    counts: list[int] = []
    done: set[tuple[str, str]] = set()
    while pending := [k for k in list(world.proposals.chunks) if k not in done]:
        for key in pending:
            done.add(key)
            before = len(world.mailer.sent)
            world.mail.run(world.proposals.chunks[key])
            counts.append(len(world.mailer.sent) - before)
    assert max(counts) <= CHUNK
    assert sum(counts) == 3 * CHUNK + 1
