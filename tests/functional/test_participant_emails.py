"""Participant e-mail on success, on moto: the fan-out through the outbox stream, exactly once
per participant under redelivery, crashes and SES failures; the paged delivery log."""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client
from moto import mock_aws

import app as app_module
from chalicelib.local import moto_fixes
from chalicelib.local.stack import prepare_aws, stream_bindings, streams_client
from chalicelib.local.stream_poller import LocalLambdaContext, StreamPoller
from chalicelib.local.tokens import mint_local_token
from chalicelib.notify.email import LazySesClient, SesMailer
from chalicelib.services.ports import EmailMessage, MailerError
from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT, Settings
from chalicelib.storage.pledges import hash_bucket
from chalicelib.storage.tables import ChallengeEventItem, PledgeItem
from chalicelib.wiring import build_container, set_container
from tests.functional.conftest import ADMIN, Api

CHUNK = 5


def invocation() -> LocalLambdaContext:
    """A fresh Lambda context: its remaining time counts from now (chunks stop early)."""
    return LocalLambdaContext(
        function_name="notify_milestones",
        invoked_function_arn="arn:aws:lambda:eu-west-3:123456789012:function:notify_milestones",
    )


class Crash(BaseException):
    """The notifier dies mid-chunk (not an error any handler catches)."""


class OffsetClock:
    """The real time, moved forward on demand (to outlive a dead sender's lease)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **parts: float) -> None:
        self.offset += timedelta(**parts)


class ScriptedMailer:
    """SES (moto's), with failures and crashes on chosen addresses; counts what it sent."""

    def __init__(self, settings: Settings) -> None:
        self._ses = SesMailer(LazySesClient(settings), settings.mail_from)
        self.refused: set[str] = set()  # permanently (MessageRejected)
        self.flaky: dict[str, int] = {}  # address -> transient failures left
        self.crash_on: set[str] = set()
        self.sent: list[str] = []
        self.attempts: list[str] = []
        self.lock = threading.Lock()

    def send(self, message: EmailMessage) -> str:
        with self.lock:
            self.attempts.append(message.to)
            if message.to in self.crash_on:
                self.crash_on.discard(message.to)
                raise Crash
            if message.to in self.refused:
                raise MailerError("MessageRejected: address blacklisted", retryable=False)
            if self.flaky.get(message.to, 0) > 0:
                self.flaky[message.to] -= 1
                raise MailerError("Throttling: maximum sending rate exceeded")
        message_id = self._ses.send(message)
        with self.lock:
            self.sent.append(message.to)
        return message_id


@dataclass
class Notifier:
    """Every event the notifier trigger was given, and the e-mails each invocation sent."""

    events: list[dict[str, Any]] = field(default_factory=list)
    sends: list[int] = field(default_factory=list)


@dataclass
class FanoutApi:
    api: Api
    mailer: ScriptedMailer
    clock: OffsetClock
    notifier: Notifier

    def pledge(
        self,
        challenge_id: str,
        sub: str,
        *,
        email: str | None = None,
        locale: str | None = None,
        **body: Any,
    ) -> dict[str, Any]:
        token = mint_local_token(
            LOCAL_JWT_SECRET_DEFAULT,
            sub,
            email=email if email is not None else f"{sub}@people.example",
            email_verified=True,
            locale=locale,
        )
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        response = self.api.request("POST", f"/challenges/{challenge_id}/pledges", body, headers)
        assert response.status_code == 201, response.body
        result: dict[str, Any] = json.loads(response.body)
        return result

    def log(self, challenge_id: str, role: str | None = None, limit: int = 100) -> list[Any]:
        """The whole delivery log, page after page."""
        items: list[Any] = []
        query = f"?limit={limit}" + (f"&recipient_role={role}" if role else "")
        cursor: str | None = None
        while True:
            path = f"/admin/challenges/{challenge_id}/notifications{query}"
            response = self.api.request(
                "GET", path + (f"&cursor={cursor}" if cursor else ""), None, ADMIN
            )
            assert response.status_code == 200, response.body
            page = json.loads(response.body)
            items.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return items

    def participant_emails(self) -> Counter[str]:
        return Counter(
            address
            for email in self.api.emails()
            for address in email.to
            if address.endswith("@people.example")
        )


def make_fanout_api(
    settings: Settings, mailer: ScriptedMailer, clock: OffsetClock
) -> Iterator[FanoutApi]:
    moto_fixes.apply()
    with mock_aws():
        container = build_container(settings, mailer=mailer, clock=clock)
        set_container(container)
        prepare_aws(settings)
        notifier = Notifier()
        bindings = []
        for binding in stream_bindings(app_module):
            if binding.name == "notify_milestones":
                binding = dataclasses.replace(
                    binding, handler=_recording(binding.handler, notifier, mailer)
                )
            bindings.append(binding)
        poller = StreamPoller(streams_client(settings), bindings)
        try:
            with Client(app_module.app, stage_name="local") as client:
                yield FanoutApi(Api(client, poller, container), mailer, clock, notifier)
        finally:
            set_container(None)


def _recording(handler: Any, notifier: Notifier, mailer: ScriptedMailer) -> Any:
    def run(event: dict[str, Any], context: Any) -> Any:
        notifier.events.append(copy.deepcopy(event))
        before = len(mailer.sent)
        try:
            return handler(event, context)
        finally:
            notifier.sends.append(len(mailer.sent) - before)

    return run


@pytest.fixture
def fanout(env: Settings) -> Iterator[FanoutApi]:
    settings = dataclasses.replace(env, participant_email_chunk=CHUNK)
    yield from make_fanout_api(settings, ScriptedMailer(settings), OffsetClock())


def reached_by(fanout: FanoutApi, count: int, **overrides: Any) -> str:
    """A challenge reached by `count` participants (p00…), its stream drained."""
    challenge = fanout.api.create(target={"metric": "participants", "value": count}, **overrides)
    for n in range(count):
        fanout.pledge(challenge["id"], f"p{n:02d}")
    fanout.api.drain()
    assert fanout.api.challenge(challenge["id"])["progress"]["reached"] is True
    return str(challenge["id"])


def chunk_items(challenge_id: str) -> list[ChallengeEventItem]:
    return [
        item
        for item in ChallengeEventItem.query(challenge_id)
        if str(item.event).startswith("fanout#")
    ]


def test_reaching_mails_every_participant_once_in_their_language(fanout: FanoutApi) -> None:
    challenge = fanout.api.create(target={"metric": "participants", "value": 12})
    challenge_id = challenge["id"]
    for n in range(12):
        body: dict[str, Any] = {"display_name": f"P{n}"}
        if n == 4:
            body["notify"] = False
        created = fanout.pledge(challenge_id, f"p{n:02d}", locale="en-GB" if n == 7 else None,
                                **body)  # fmt: skip
        assert "people.example" not in json.dumps(created)  # never in a response
    fanout.api.drain()

    sent = fanout.participant_emails()
    assert sent == Counter(f"p{n:02d}@people.example" for n in range(12) if n != 4)
    emails = {email.to[0]: email for email in fanout.api.emails()}
    english = emails["p07@people.example"]
    assert "You made it happen" in (english.html or "")
    assert "Hello P7," in (english.html or "")
    assert "Vous l'avez fait" in (emails["p01@people.example"].html or "")
    log = fanout.log(challenge_id)
    roles = Counter((entry["recipient_role"], entry["status"]) for entry in log)
    assert roles == {
        ("sponsor", "sent"): 1,
        ("beneficiary", "sent"): 1,
        ("participant", "sent"): 11,
    }
    # Sponsor and beneficiary lead the log, whatever follows them.
    assert [entry["recipient_role"] for entry in log[:2]] == ["sponsor", "beneficiary"]
    stored = PledgeItem.get("p07", challenge_id)
    assert (stored.email, stored.locale) == ("p07@people.example", "en")
    token = mint_local_token(
        LOCAL_JWT_SECRET_DEFAULT, "p07", email="p07@people.example", email_verified=True
    )
    mine = fanout.api.request("GET", "/me/pledges", None, {"Authorization": f"Bearer {token}"})
    assert mine.status_code == 200
    assert "people.example" not in mine.body.decode()
    assert max(fanout.notifier.sends) <= CHUNK


def test_every_notifier_record_delivered_again_sends_nothing_more(fanout: FanoutApi) -> None:
    challenge_id = reached_by(fanout, 9)
    chunks_before = len(chunk_items(challenge_id))
    assert chunks_before >= 16
    before = len(fanout.api.emails())

    for event in list(fanout.notifier.events):
        response = app_module.notify_milestones(copy.deepcopy(event), invocation())
        assert response == {"batchItemFailures": []}
    fanout.api.drain()

    assert len(fanout.api.emails()) == before
    assert set(fanout.participant_emails().values()) == {1}
    assert len(fanout.participant_emails()) == 9
    assert len(chunk_items(challenge_id)) == chunks_before


def test_a_crash_mid_chunk_then_redelivery_mails_each_participant_once(fanout: FanoutApi) -> None:
    challenge = fanout.api.create(target={"metric": "participants", "value": 14})
    # Crash while e-mailing the third participant of the biggest bucket.
    subs = [f"p{n:02d}" for n in range(14)]
    buckets = Counter(hash_bucket(sub) for sub in subs)
    biggest = max(buckets, key=lambda bucket: buckets[bucket])
    victim = sorted(sub for sub in subs if hash_bucket(sub) == biggest)[
        min(2, buckets[biggest] - 1)
    ]
    fanout.mailer.crash_on.add(f"{victim}@people.example")
    for sub in subs:
        fanout.pledge(challenge["id"], sub)

    with pytest.raises(Crash):
        fanout.api.drain()
    fanout.clock.advance(seconds=46)  # the dead sender's lease ends
    fanout.api.drain()

    assert fanout.participant_emails() == Counter(f"{sub}@people.example" for sub in subs)
    log = fanout.log(challenge["id"], role="participant")
    assert len(log) == 14
    assert all(entry["status"] == "sent" for entry in log)
    [entry] = [entry for entry in log if entry["to"] == f"{victim}@people.example"]
    assert entry["attempts"] == 2  # the crashed try, then the one that sent


def test_ses_failing_for_some_participants_does_not_block_the_others(
    fanout: FanoutApi, env: Settings
) -> None:
    fanout.mailer.refused.add("p03@people.example")
    fanout.mailer.flaky["p05@people.example"] = 4  # fails the first run's 3 tries, then 1
    challenge_id = reached_by(fanout, 10)

    sent = fanout.participant_emails()
    assert set(sent) == {f"p{n:02d}@people.example" for n in range(10) if n != 3}
    assert set(sent.values()) == {1}
    log = {entry["to"]: entry for entry in fanout.log(challenge_id, role="participant")}
    assert (log["p03@people.example"]["status"], log["p03@people.example"]["attempts"]) == (
        "failed",
        1,
    )
    assert (log["p05@people.example"]["status"], log["p05@people.example"]["attempts"]) == (
        "sent",
        5,
    )
    assert fanout.mailer.attempts.count("p05@people.example") == 5


def test_hundreds_of_pledges_never_more_than_a_chunk_per_invocation(fanout: FanoutApi) -> None:
    # moto takes ~0.2 s per e-mail (two conditional updates): the index holds 600 pledges,
    # and the first seven of each of eight buckets want the e-mail, so those buckets' first
    # chunks are full. (The unit tests mail 1,000 participants in chunks of 50 on fakes.)
    total = 600
    challenge = fanout.api.create(target={"metric": "participants", "value": 1})
    challenge_id = challenge["id"]
    subs = [f"bulk{n:05d}" for n in range(total)]
    mailed = {
        sub
        for bucket in range(8)
        for sub in sorted(s for s in subs if hash_bucket(s) == bucket)[:7]
    }
    # Pledged before the target was reached, written straight to the table (600 pledges over
    # the API would be slow here); one more pledge over the API reaches the target.
    earlier = fanout.clock.now() - timedelta(minutes=5)
    with PledgeItem.batch_write() as batch:
        for sub in subs:
            batch.save(PledgeItem(participant_id=sub, challenge_id=challenge_id,
                                  challenge_bucket=f"{challenge_id}#{hash_bucket(sub)}",
                                  email=f"{sub}@people.example", locale="fr",
                                  notify=sub in mailed, created_at=earlier))  # fmt: skip
    fanout.pledge(challenge_id, "reacher")
    fanout.api.poller.drain(max_rounds=10_000)

    sent = fanout.participant_emails()
    assert sent == Counter(f"{sub}@people.example" for sub in [*mailed, "reacher"])
    assert max(fanout.notifier.sends) == CHUNK  # full chunks, and never more
    assert len(fanout.log(challenge_id, role="participant")) == len(mailed) + 1
    chunks = chunk_items(challenge_id)
    assert len(chunks) >= total // CHUNK
    assert len({(item.fanout_bucket, item.fanout_page) for item in chunks}) == len(chunks)


def test_the_delivery_log_pages_and_filters_by_role(fanout: FanoutApi) -> None:
    challenge_id = reached_by(fanout, 7)
    pages = []
    cursor: str | None = None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        response = fanout.api.request(
            "GET", f"/admin/challenges/{challenge_id}/notifications?limit=3{suffix}", None, ADMIN
        )
        assert response.status_code == 200, response.body
        page = json.loads(response.body)
        assert len(page["items"]) <= 3
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    entries = [entry for page in pages for entry in page]
    assert [entry["recipient_role"] for entry in entries] == ["sponsor", "beneficiary"] + [
        "participant"
    ] * 7
    assert len({entry["id"] for entry in entries}) == 9
    assert [e["recipient_role"] for e in fanout.log(challenge_id, role="sponsor")] == ["sponsor"]
    assert len(fanout.log(challenge_id, role="participant", limit=1)) == 7
    # Without a limit: the first 20, as every list of the API.
    default = fanout.api.request(
        "GET", f"/admin/challenges/{challenge_id}/notifications", None, ADMIN
    )
    assert len(json.loads(default.body)["items"]) == 9
    assert json.loads(default.body)["next_cursor"] is None

    participant_page = fanout.api.request(
        "GET",
        f"/admin/challenges/{challenge_id}/notifications?recipient_role=participant&limit=2",
        None,
        ADMIN,
    )
    foreign_cursor = json.loads(participant_page.body)["next_cursor"]
    for query in (
        "recipient_role=donor",
        "limit=0",
        "limit=101",
        "cursor=not-a-cursor",
        f"recipient_role=sponsor&cursor={foreign_cursor}",
    ):
        response = fanout.api.request(
            "GET", f"/admin/challenges/{challenge_id}/notifications?{query}", None, ADMIN
        )
        assert response.status_code == 400, (query, response.body)
        assert response.headers["Content-Type"].startswith("application/problem+json")
