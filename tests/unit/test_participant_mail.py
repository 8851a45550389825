"""ParticipantMail: every pledger of a reached challenge e-mailed once, chunk by chunk."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from chalicelib.api.schemas import PledgeOut
from chalicelib.domain.fanout import FanoutChunk, is_fanout_key
from chalicelib.domain.locale import language_for
from chalicelib.domain.model import (
    Challenge,
    DeliveryStatus,
    EventType,
    Metric,
    Milestone,
    Principal,
    RecipientRole,
    Target,
)
from chalicelib.services.notifications import DeliveryRetryError
from chalicelib.services.participant_mail import ChunkReport, ParticipantMail
from chalicelib.services.pledges import PledgeRequest
from chalicelib.services.ports import EmailMessage, MailerError, ParticipantPage
from chalicelib.settings import ConfigurationError, Settings
from chalicelib.storage.pledges import PLEDGE_INDEX_BUCKETS, hash_bucket
from tests.unit.fakes import FakeDatabase
from tests.unit.support import BENEFICIARY, SPONSOR, Backend, build_backend


class FakeFanoutRepository:
    """Chunk items and the pledge index over the fake tables; `inserted` is the outbox
    stream of chunk INSERTs, oldest first."""

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db
        self._chunks: dict[tuple[str, str], FanoutChunk] = {}
        self._lock = threading.Lock()
        self.inserted: list[FanoutChunk] = []

    def add_chunk(self, chunk: FanoutChunk) -> bool:
        with self._lock:
            if (chunk.challenge_id, chunk.key) in self._chunks:
                return False
            self._chunks[(chunk.challenge_id, chunk.key)] = chunk
            self.inserted.append(chunk)
            return True

    def get_chunk(self, challenge_id: str, key: str) -> FanoutChunk | None:
        with self._lock:
            return self._chunks.get((challenge_id, key))

    def participants(
        self,
        challenge_id: str,
        bucket: int,
        *,
        after: str | None,
        limit: int | None = None,
        until: str | None = None,
    ) -> ParticipantPage:
        with self._db.lock:
            pledges = sorted(
                (
                    pledge
                    for (participant_id, cid), pledge in self._db.pledges.items()
                    if cid == challenge_id and hash_bucket(participant_id) == bucket
                ),
                key=lambda pledge: pledge.participant_id,
            )
        pledges = [
            p
            for p in pledges
            if (after is None or p.participant_id > after)
            and (until is None or p.participant_id <= until)
        ][:limit]
        full = limit is not None and len(pledges) >= limit
        return ParticipantPage(pledges, pledges[-1].participant_id if full else None)


@dataclass
class Fanout:
    backend: Backend
    repository: FakeFanoutRepository
    mail: ParticipantMail
    # E-mails sent by each chunk run, in order.
    sends_per_run: list[int] = field(default_factory=list)

    def run(self, chunk: FanoutChunk, time_left: timedelta | None = None) -> ChunkReport:
        before = len(self.backend.mailer.sent)
        try:
            return self.mail.run(chunk, time_left=time_left)
        finally:
            self.sends_per_run.append(len(self.backend.mailer.sent) - before)

    def drain(self, *, deliveries: int = 1, time_left: timedelta | None = None) -> int:
        """Run every chunk inserted so far and since, as the stream would (each `deliveries`
        times); a chunk that raises is delivered again. Returns the chunk records handled."""
        handled = 0
        position = 0
        while position < len(self.repository.inserted):
            chunk = self.repository.inserted[position]
            for _ in range(deliveries):
                while True:
                    handled += 1
                    try:
                        self.run(chunk, time_left)
                        break
                    except DeliveryRetryError:
                        assert handled < 100_000, "the fan-out does not make progress"
            position += 1
        return handled


def build_fanout(*, chunk_size: int = 50, max_attempts: int = 5) -> Fanout:
    backend = build_backend(max_attempts=max_attempts)
    repository = FakeFanoutRepository(backend.db)
    mail = ParticipantMail(
        backend.challenge_repository,
        repository,
        backend.notifications,
        backend.clock,
        chunk_size=chunk_size,
        buckets=PLEDGE_INDEX_BUCKETS,
    )
    return Fanout(backend, repository, mail)


def address(number: int) -> str:
    return f"p{number}@example.org"


def pledger(number: int, **claims: object) -> Principal:
    defaults: dict[str, object] = {"email": address(number), "email_verified": True}
    defaults.update(claims)
    return Principal(sub=f"participant-{number:05d}", **defaults)  # type: ignore[arg-type]


def reach(fanout: Fanout, challenge: Challenge) -> Milestone:
    fanout.backend.progress.refresh(challenge.id)
    [milestone] = fanout.backend.db.milestones_for(challenge.id)
    return milestone


def challenge_with(fanout: Fanout, count: int, principal: Callable[[int], Principal]) -> Challenge:
    backend = fanout.backend
    challenge = backend.live_challenge(target=Target(Metric.PARTICIPANTS, count))
    for number in range(count):
        who = principal(number)
        backend.pledges.pledge(who, challenge.id, PledgeRequest(notify=number % 7 != 3))
    return challenge


def participant_emails(fanout: Fanout) -> Counter[str]:
    participants = {
        message.to
        for message in fanout.backend.mailer.sent
        if message.to not in (SPONSOR.email, BENEFICIARY.email)
    }
    return Counter(m.to for m in fanout.backend.mailer.sent if m.to in participants)


def test_a_thousand_participants_in_chunks_of_fifty_are_each_mailed_once() -> None:
    fanout = build_fanout(chunk_size=50)

    def principal(number: int) -> Principal:
        if number % 11 == 5:
            return pledger(number, email=None, email_verified=False)  # no e-mail
        if number % 13 == 6:
            return pledger(number, email_verified=False)  # not verified: maybe not theirs
        return pledger(number)

    challenge = challenge_with(fanout, 1000, principal)
    milestone = reach(fanout, challenge)

    assert fanout.mail.start(milestone) == PLEDGE_INDEX_BUCKETS
    fanout.drain()

    expected = {address(n) for n in range(1000) if n % 7 != 3 and n % 11 != 5 and n % 13 != 6}
    sent = participant_emails(fanout)
    assert set(sent) == expected
    assert set(sent.values()) == {1}
    assert max(fanout.sends_per_run) <= 50
    # About 1,000 / 50 chunks, spread over the buckets (plus one to find each bucket's end).
    assert len(fanout.repository.inserted) <= 1000 // 50 + 2 * PLEDGE_INDEX_BUCKETS
    log = fanout.backend.notifications.log(challenge.id)
    participants = [d for d in log if d.recipient_role is RecipientRole.PARTICIPANT]
    assert len(participants) == len(expected)
    assert all(d.status is DeliveryStatus.SENT and d.attempts == 1 for d in participants)
    assert {d.recipient_key for d in participants} == {
        f"participant-{n:05d}" for n in range(1000) if address(n) in expected
    }


def test_every_chunk_delivered_twice_and_the_milestone_thrice_still_mails_once() -> None:
    fanout = build_fanout(chunk_size=7)
    challenge = challenge_with(fanout, 120, pledger)
    milestone = reach(fanout, challenge)

    for _ in range(3):
        fanout.mail.start(milestone)
    chunks = fanout.drain(deliveries=2)

    assert set(participant_emails(fanout).values()) == {1}
    assert len(participant_emails(fanout)) == sum(1 for n in range(120) if n % 7 != 3)
    assert chunks == 2 * len(fanout.repository.inserted)
    assert len({(c.bucket, c.page) for c in fanout.repository.inserted}) == len(
        fanout.repository.inserted
    )


def test_only_a_reached_milestone_starts_the_fanout() -> None:
    fanout = build_fanout()
    challenge = challenge_with(fanout, 3, pledger)
    milestone = reach(fanout, challenge)
    ended = Milestone(
        challenge.id, EventType.ENDED, milestone.occurred_at, milestone.totals, reached=True
    )
    assert fanout.mail.start(ended) == 0
    assert fanout.mail.start(milestone) == PLEDGE_INDEX_BUCKETS
    assert fanout.mail.start(milestone) == 0
    assert all(is_fanout_key(chunk.key) for chunk in fanout.repository.inserted)


def test_the_participant_email_is_in_their_language_french_by_default() -> None:
    fanout = build_fanout()
    locales = {0: "en", 1: "en-GB", 2: None, 3: "de-DE", 4: "fr-FR", 5: "EN_us"}
    challenge = fanout.backend.live_challenge(target=Target(Metric.PARTICIPANTS, len(locales)))
    for number, locale in locales.items():
        fanout.backend.pledges.pledge(
            pledger(number, locale=locale, name=f"Name {number}"),
            challenge.id,
            PledgeRequest(display_name=f"Léa {number}"),
        )
    milestone = reach(fanout, challenge)
    fanout.backend.notifications.notify(milestone)
    fanout.mail.start(milestone)
    fanout.drain()

    messages: dict[str, EmailMessage] = {m.to: m for m in fanout.backend.mailer.sent}
    for number, locale in locales.items():
        message = messages[address(number)]
        english = number in (0, 1, 5)
        assert ("You made it happen" in message.text) is english, (locale, message.text)
        assert ("Vous l'avez fait" in message.text) is not english, (locale, message.text)
        greeting = "Hello" if english else "Bonjour"
        assert f"{greeting} Léa {number}," in message.text
        assert f"Léa {number}" in message.html
        assert challenge.title in message.subject
        assert challenge.reward in message.text
        assert challenge.reward in message.html
    # The sponsor and the beneficiary read their own e-mail, in French.
    assert "Bonjour Ville de Clichy" in messages[SPONSOR.email].text
    assert "Vous l'avez fait" not in messages[SPONSOR.email].text


def test_a_display_name_is_escaped_in_the_html_email() -> None:
    fanout = build_fanout()
    challenge = fanout.backend.live_challenge(target=Target(Metric.PARTICIPANTS, 1))
    fanout.backend.pledges.pledge(
        pledger(0), challenge.id, PledgeRequest(display_name="<script>x</script>")
    )
    fanout.mail.start(reach(fanout, challenge))
    fanout.drain()
    [message] = [m for m in fanout.backend.mailer.sent if m.to == address(0)]
    assert "<script>" not in message.html
    assert "&lt;script&gt;" in message.html


@pytest.mark.parametrize(
    ("locale", "language"),
    [
        (None, "fr"),
        ("", "fr"),
        ("en", "en"),
        ("EN", "en"),
        ("en-GB", "en"),
        ("en_US", "en"),
        ("fr-FR", "fr"),
        ("fr-CA", "fr"),
        ("de", "fr"),
        ("english", "fr"),
        ("e", "fr"),
    ],
)
def test_locale_claims_map_to_a_supported_language(locale: str | None, language: str) -> None:
    assert language_for(locale) == language


def test_the_pledge_keeps_contact_and_language_privately() -> None:
    backend = build_backend()
    challenge = backend.live_challenge()
    verified = backend.pledges.pledge(
        pledger(1, locale="en-GB"), challenge.id, PledgeRequest()
    ).pledge
    unverified = backend.pledges.pledge(
        pledger(2, email_verified=False), challenge.id, PledgeRequest()
    ).pledge

    assert (verified.email, verified.locale) == (address(1), "en")
    assert (unverified.email, unverified.locale) == (None, "fr")
    assert address(1) not in repr(verified)  # never in a log line
    shown = PledgeOut.from_pledge(verified).model_dump_json()
    assert address(1) not in shown
    assert "locale" not in shown
    assert "email" not in shown


def test_who_pledged_after_the_target_was_reached_or_withdrew_is_not_mailed() -> None:
    fanout = build_fanout()
    backend = fanout.backend
    challenge = challenge_with(fanout, 3, pledger)  # participant 3 opts out: not among these
    milestone = reach(fanout, challenge)
    fanout.mail.start(milestone)
    backend.later(seconds=1)
    backend.pledges.pledge(pledger(10), challenge.id, PledgeRequest())  # after reaching
    backend.pledges.withdraw(pledger(1), challenge.id)  # before the chunk runs

    fanout.drain()

    assert set(participant_emails(fanout)) == {address(0), address(2)}


def test_a_page_of_the_index_read_before_an_erasure_mails_nobody_erased() -> None:
    fanout = build_fanout()
    backend = fanout.backend
    challenge = challenge_with(fanout, 3, pledger)
    milestone = reach(fanout, challenge)
    fanout.mail.start(milestone)
    # The index the chunks read still shows participant 0 (a GSI lags the table), whose
    # pledge an erasure has since moved off their id.
    fanout.repository._db = FakeDatabase(pledges=dict(backend.db.pledges))
    del backend.db.pledges[(pledger(0).sub, challenge.id)]

    fanout.drain()

    assert set(participant_emails(fanout)) == {address(1), address(2)}


def test_an_address_refused_for_good_is_logged_failed_and_the_others_are_sent() -> None:
    fanout = build_fanout(chunk_size=50)
    backend = fanout.backend
    challenge = challenge_with(fanout, 40, pledger)
    refused = address(8)

    def refuse(message: EmailMessage) -> None:
        if message.to == refused:
            raise MailerError("the address does not exist", retryable=False)

    backend.mailer.on_send = refuse
    fanout.mail.start(reach(fanout, challenge))
    handled = fanout.drain()

    assert handled == len(fanout.repository.inserted)  # no chunk needed a retry
    sent = participant_emails(fanout)
    assert refused not in sent
    assert len(sent) == sum(1 for n in range(40) if n % 7 != 3) - 1
    [failed] = [d for d in backend.notifications.log(challenge.id) if d.to == refused]
    assert failed.status is DeliveryStatus.FAILED
    assert failed.attempts == 1


def test_a_transient_failure_fails_the_chunk_and_its_retry_sends_only_what_is_owed() -> None:
    fanout = build_fanout(chunk_size=50)
    backend = fanout.backend
    challenge = challenge_with(fanout, 40, pledger)
    fanout.mail.start(reach(fanout, challenge))
    flaky = address(9)
    failures = [2]

    def throttle(message: EmailMessage) -> None:
        if message.to == flaky and failures[0] > 0:
            failures[0] -= 1
            raise MailerError("throttled")

    backend.mailer.on_send = throttle
    [chunk] = [c for c in fanout.repository.inserted if c.bucket == hash_bucket(pledger(9).sub)]
    with pytest.raises(DeliveryRetryError):
        fanout.run(chunk)
    first = fanout.sends_per_run[-1]
    with pytest.raises(DeliveryRetryError):
        fanout.run(chunk)
    assert fanout.sends_per_run[-1] == 0  # the others were not sent again
    report = fanout.run(chunk)
    assert fanout.sends_per_run[-1] == 1
    assert (report.tried, report.settled, report.retry) == (1, first, 0)

    [entry] = [d for d in backend.notifications.log(challenge.id) if d.to == flaky]
    assert (entry.status, entry.attempts) == (DeliveryStatus.SENT, 3)
    fanout.drain()
    assert set(participant_emails(fanout).values()) == {1}


def test_a_chunk_that_runs_out_of_time_stops_and_its_retry_goes_on() -> None:
    fanout = build_fanout(chunk_size=50)
    backend = fanout.backend
    challenge = challenge_with(fanout, 200, pledger)
    # Each e-mail takes a (fake) second; an invocation has 17 s: 5 s after the reserve.
    backend.mailer.on_send = lambda message: backend.later(seconds=1)
    fanout.mail.start(reach(fanout, challenge))

    fanout.drain(time_left=timedelta(seconds=17))

    assert max(fanout.sends_per_run) == 5
    assert len(participant_emails(fanout)) == sum(1 for n in range(200) if n % 7 != 3)
    assert set(participant_emails(fanout).values()) == {1}


class Crash(BaseException):
    """The notifier process dies (not an error a handler could catch)."""


def test_a_redelivered_chunk_keeps_the_range_its_first_run_gave_its_successor() -> None:
    fanout = build_fanout(chunk_size=4)
    backend = fanout.backend
    challenge = backend.live_challenge(target=Target(Metric.PARTICIPANTS, 1))
    # Twelve participants in one bucket.
    numbers = [n for n in range(2000) if hash_bucket(pledger(n).sub) == 0][:12]
    for number in numbers:
        backend.pledges.pledge(pledger(number), challenge.id, PledgeRequest())
    fanout.mail.start(reach(fanout, challenge))
    [first] = [c for c in fanout.repository.inserted if c.bucket == 0]

    def crash(message: EmailMessage) -> None:
        raise Crash

    backend.mailer.on_send = crash
    with pytest.raises(Crash):
        fanout.run(first)  # wrote its successor, then died before sending anything
    [successor] = [c for c in fanout.repository.inserted if c.bucket == 0 and c.page == 1]
    assert successor.after == pledger(numbers[3]).sub
    backend.mailer.on_send = None
    backend.later(seconds=46)  # the dead sender's lease has ended
    # Before the redelivery, a late pledger sorts into the first page, which now ends one
    # short of where the first run ended it: that participant must not fall between chunks.
    late = next(
        sub
        for sub in (f"{pledger(numbers[0]).sub}-{i}" for i in range(1000))
        if hash_bucket(sub) == 0
    )
    backend.pledges.pledge(Principal(sub=late, email="late@example.org", email_verified=True),
                           challenge.id, PledgeRequest())  # fmt: skip

    fanout.drain()

    sent = participant_emails(fanout)
    assert set(sent) == {address(n) for n in numbers}
    assert set(sent.values()) == {1}


def test_a_participant_whose_sender_died_is_retried_once_the_lease_ends() -> None:
    fanout = build_fanout(chunk_size=50)
    backend = fanout.backend
    challenge = challenge_with(fanout, 30, pledger)
    fanout.mail.start(reach(fanout, challenge))
    chunk = next(c for c in fanout.repository.inserted if c.bucket == hash_bucket(pledger(0).sub))
    calls = [0]

    def crash_on_second(message: EmailMessage) -> None:
        calls[0] += 1
        if calls[0] == 2:
            raise Crash

    backend.mailer.on_send = crash_on_second
    with pytest.raises(Crash):
        fanout.run(chunk)
    backend.mailer.on_send = None
    with pytest.raises(DeliveryRetryError):
        fanout.run(chunk)  # the dead sender still holds its participant's lease
    backend.later(seconds=46)
    fanout.drain()
    assert set(participant_emails(fanout).values()) == {1}
    assert len(participant_emails(fanout)) == sum(1 for n in range(30) if n % 7 != 3)


def test_the_chunk_size_is_a_bounded_setting() -> None:
    assert Settings.from_env({}).participant_email_chunk == 100
    assert (
        Settings.from_env({"CROWDACT_PARTICIPANT_EMAIL_CHUNK": "25"}).participant_email_chunk == 25
    )
    for bad in ("0", "-3", "501", "many"):
        with pytest.raises(ConfigurationError):
            Settings.from_env({"CROWDACT_PARTICIPANT_EMAIL_CHUNK": bad})
