"""The stream triggers under redelivery, crashes and e-mail provider failures."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

import app as app_module
from chalicelib.local.pledge_count import count_pledges_now
from chalicelib.local.stream_poller import LocalLambdaContext
from chalicelib.notify.email import LazySesClient, SesMailer
from chalicelib.services.ports import EmailMessage, MailerError
from chalicelib.settings import Settings
from tests.functional.conftest import Api, load_event, make_api

CONTEXT = LocalLambdaContext(
    function_name="test", invoked_function_arn="arn:aws:lambda:eu-west-3:123456789012:function:test"
)


class FlakyMailer:
    """SES behind a switch: fails for chosen addresses, or for the next N sends."""

    def __init__(self, settings: Settings) -> None:
        self._ses = SesMailer(LazySesClient(settings), settings.mail_from)
        self.fail_next = 0
        self.failing_addresses: set[str] = set()
        self.attempts: list[str] = []
        self.crash_next: Exception | None = None

    def send(self, message: EmailMessage) -> str:
        self.attempts.append(message.to)
        if self.crash_next is not None:
            crash, self.crash_next = self.crash_next, None
            raise crash
        if message.to in self.failing_addresses:
            raise MailerError(f"mailbox {message.to} is unavailable")
        if self.fail_next > 0:
            self.fail_next -= 1
            raise MailerError("SES throttled the request")
        return self._ses.send(message)


@pytest.fixture
def mailer(env: Settings) -> FlakyMailer:
    return FlakyMailer(env)


@pytest.fixture
def flaky_api(env: Settings, mailer: FlakyMailer) -> Iterator[Api]:
    yield from make_api(env, mailer=mailer)


def reach(api: Api, *, notify: bool = True, **overrides: Any) -> str:
    """A live challenge with target 1 and one pledge, its counters aggregated (milestone written).

    With notify, the poller also runs the notifier, as Lambda would; without, the milestone
    waits in the outbox for the test to deliver it.
    """
    challenge = api.create(target={"metric": "participants", "value": 1}, **overrides)
    api.pledge(challenge["id"], "first")
    if notify:
        api.poller.drain()
    else:
        events = [
            load_event("counter_shard_modified", challenge_id=challenge["id"], shard=str(shard),
                       sequence_number=str(900 + shard))
            for shard in range(4)
        ]  # fmt: skip
        app_module.aggregate_progress(merged(*events), CONTEXT)
    return str(challenge["id"])


def milestone_event(challenge_id: str, sequence_number: str = "100") -> dict[str, Any]:
    return load_event(
        "milestone_inserted",
        challenge_id=challenge_id,
        participants="1",
        sequence_number=sequence_number,
    )


def merged(*events: dict[str, Any]) -> dict[str, Any]:
    return {"Records": [record for event in events for record in event["Records"]]}


def sent_to(api: Api) -> list[str]:
    return sorted(address for email in api.emails() for address in email.to)


def test_a_redelivered_batch_sends_nothing_twice(api: Api) -> None:
    challenge_id = reach(api)
    assert sent_to(api) == ["hello@solicycle.example", "sponsor@clichy.example"]
    event = milestone_event(challenge_id)
    for _ in range(3):
        assert app_module.notify_milestones(copy.deepcopy(event), CONTEXT) == {
            "batchItemFailures": []
        }
    assert sent_to(api) == ["hello@solicycle.example", "sponsor@clichy.example"]
    log = api.notifications(challenge_id)
    assert sorted((n["recipient_role"], n["status"], n["attempts"]) for n in log) == [
        ("beneficiary", "sent", 1), ("sponsor", "sent", 1)
    ]  # fmt: skip


def test_the_email_of_a_reached_challenge_names_challenge_count_and_reward(api: Api) -> None:
    reach(api, title="Clichy à vélo", reward="€5,000 to Solicycle")
    for email in api.emails():
        assert "Clichy à vélo" in email.subject
        body = email.html or email.text or ""
        assert "Clichy à vélo" in body
        assert "€5,000 to Solicycle" in body
        assert "1 participants" in body


def test_a_failing_record_is_reported_alone_and_the_others_complete(
    flaky_api: Api, mailer: FlakyMailer
) -> None:
    ok_id = reach(flaky_api, title="Fine")
    broken_id = reach(
        flaky_api, notify=False, title="Broken",
        beneficiary={"name": "B", "email": "down@broken.example"},
    )  # fmt: skip
    mailer.failing_addresses.add("down@broken.example")
    before = len(flaky_api.emails())
    batch = merged(milestone_event(ok_id, "200"), milestone_event(broken_id, "201"))
    response = app_module.notify_milestones(batch, CONTEXT)
    assert response == {"batchItemFailures": [{"itemIdentifier": "201"}]}
    # The healthy record had nothing left to send; the broken one's sponsor got its e-mail.
    assert len(flaky_api.emails()) == before + 1
    log = {n["recipient_role"]: n for n in flaky_api.notifications(broken_id)}
    assert log["sponsor"]["status"] == "sent"
    assert log["beneficiary"]["status"] == "pending"
    mailer.failing_addresses.clear()
    assert app_module.notify_milestones(batch, CONTEXT) == {"batchItemFailures": []}
    log = {n["recipient_role"]: n for n in flaky_api.notifications(broken_id)}
    assert log["beneficiary"]["status"] == "sent"
    assert sent_to(flaky_api).count("down@broken.example") == 1


def test_ses_failing_twice_then_succeeding_sends_once(flaky_api: Api, mailer: FlakyMailer) -> None:
    mailer.fail_next = 2
    challenge_id = reach(flaky_api)
    # The poller retried the record until SES took both messages.
    log = {n["recipient_role"]: n for n in flaky_api.notifications(challenge_id)}
    assert {role: entry["status"] for role, entry in log.items()} == {
        "sponsor": "sent", "beneficiary": "sent"
    }  # fmt: skip
    assert sum(entry["attempts"] for entry in log.values()) == 4
    assert sent_to(flaky_api) == ["hello@solicycle.example", "sponsor@clichy.example"]


def test_a_recipient_that_always_fails_ends_failed_without_blocking(
    flaky_api: Api, mailer: FlakyMailer, env: Settings
) -> None:
    mailer.failing_addresses.add("sponsor@clichy.example")
    challenge_id = reach(flaky_api, notify=False)
    event = milestone_event(challenge_id)
    for _ in range(env.notification_max_attempts + 2):
        app_module.notify_milestones(copy.deepcopy(event), CONTEXT)
    log = {n["recipient_role"]: n for n in flaky_api.notifications(challenge_id)}
    assert log["sponsor"]["status"] == "failed"
    assert log["sponsor"]["attempts"] == env.notification_max_attempts
    assert log["beneficiary"]["status"] == "sent"
    # Once it has failed for good, the record no longer asks to be retried.
    assert app_module.notify_milestones(copy.deepcopy(event), CONTEXT) == {"batchItemFailures": []}
    assert mailer.attempts.count("sponsor@clichy.example") == env.notification_max_attempts


def test_a_malformed_record_fails_alone(api: Api) -> None:
    challenge_id = reach(api)
    bad = milestone_event("ignored", "301")
    del bad["Records"][0]["dynamodb"]["NewImage"]["occurred_at"]
    response = app_module.notify_milestones(
        merged(milestone_event(challenge_id, "300"), bad), CONTEXT
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": "301"}]}


def test_counter_records_redelivered_keep_totals_exact_and_reach_once(api: Api) -> None:
    challenge = api.create(target={"metric": "participants", "value": 2})
    for sub in ("a", "b", "c"):
        api.pledge(challenge["id"], sub)
    count_pledges_now(api.container)  # the pledges stream's count, on the counter shards
    events = [
        load_event("counter_shard_modified", challenge_id=challenge["id"], shard=str(shard),
                   sequence_number=str(500 + shard))
        for shard in range(4)
    ]  # fmt: skip
    batch = merged(*events)
    for _ in range(3):  # the same batch, delivered three times
        assert app_module.aggregate_progress(copy.deepcopy(batch), CONTEXT) == {
            "batchItemFailures": []
        }
    progress = api.challenge(challenge["id"])["progress"]
    assert progress["participants"] == 3
    assert progress["reached"] is True
    api.poller.drain()
    milestones = [
        n for n in api.notifications(challenge["id"]) if n["event"] == "challenge.reached"
    ]
    assert len(milestones) == 2
    assert sent_to(api) == ["hello@solicycle.example", "sponsor@clichy.example"]


def test_progress_is_visible_after_the_trigger_runs(api: Api) -> None:
    challenge = api.create(target={"metric": "participants", "value": 100})
    for n in range(7):
        assert api.pledge(challenge["id"], f"p{n}").status_code == 201
    api.drain()
    body = api.challenge(challenge["id"])
    assert body["progress"]["participants"] == 7
    assert body["progress"]["percent"] == 7.0
    assert json.dumps(body).count("reached_at") == 1


def test_an_unexpected_error_while_sending_is_retried_not_lost(
    flaky_api: Api, mailer: FlakyMailer
) -> None:
    challenge_id = reach(flaky_api, notify=False)
    mailer.crash_next = TimeoutError("read timed out")
    event = milestone_event(challenge_id)
    first = app_module.notify_milestones(copy.deepcopy(event), CONTEXT)
    assert first == {"batchItemFailures": [{"itemIdentifier": "100"}]}
    log = {n["recipient_role"]: n for n in flaky_api.notifications(challenge_id)}
    assert log["sponsor"]["status"] == "pending"
    # The redelivery (at once: the failure released the lease) sends what is still owed.
    assert app_module.notify_milestones(copy.deepcopy(event), CONTEXT) == {"batchItemFailures": []}
    log = {n["recipient_role"]: n for n in flaky_api.notifications(challenge_id)}
    assert (log["sponsor"]["status"], log["sponsor"]["attempts"]) == ("sent", 2)
    assert sent_to(flaky_api) == ["hello@solicycle.example", "sponsor@clichy.example"]
