"""Invariants under concurrency, on the real repositories and the embedded (moto) DynamoDB.

moto serialises each request (see EmbeddedAws), so races are decided by DynamoDB's
conditional writes and transactions, as in AWS: exactly what these tests are about.
"""

from __future__ import annotations

import contextlib
import copy
import random
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import app as app_module
from chalicelib.domain.errors import ContentionError, PledgeNotFoundError
from chalicelib.domain.model import Metric, Party, Principal, Target
from chalicelib.local.embedded_aws import EmbeddedAws, sent_emails
from chalicelib.local.stack import stream_bindings, streams_client
from chalicelib.local.stream_poller import LocalLambdaContext, StreamPoller
from chalicelib.services.challenges import ChallengeDraft
from chalicelib.services.pledges import PledgeRequest
from chalicelib.wiring import Container
from tests.functional.conftest import load_event, served_container

CONTEXT = LocalLambdaContext(
    function_name="test", invoked_function_arn="arn:aws:lambda:eu-west-3:123456789012:function:t"
)


@pytest.fixture
def container(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Container]:
    yield from served_container(aws, monkeypatch)


def _draft(target: int, domain: str = "burst.example") -> ChallengeDraft:
    return ChallengeDraft(
        title="Burst", action="I act", target=Target(Metric.PARTICIPANTS, target),
        sponsor=Party("Sponsor", f"sponsor@{domain}"),
        beneficiary=Party("Beneficiary", f"beneficiary@{domain}"),
        reward="€1,000", publish=True,
    )  # fmt: skip


def _poller(container: Container) -> StreamPoller:
    return StreamPoller(streams_client(container.settings), stream_bindings(app_module))


def test_concurrent_pledges_with_duplicates_count_each_participant_once(
    container: Container,
) -> None:
    challenge = container.challenges.create(_draft(target=10))
    participants = [f"p{n:02d}" for n in range(64)]
    calls = participants + participants[:16]
    random.Random(7).shuffle(calls)

    def pledge(sub: str) -> bool:
        outcome = container.pledges.pledge(Principal(sub=sub), challenge.id, PledgeRequest())
        return outcome.created

    with ThreadPoolExecutor(max_workers=32) as pool:
        created = list(pool.map(pledge, calls))
    assert created.count(True) == 64
    assert created.count(False) == 16
    _poller(container).drain()
    final = container.challenges.get_visible(challenge.id, None)
    assert final.totals.participants == 64
    assert final.reached
    log = container.notifications.log(challenge.id)
    assert sorted((d.recipient_role.value, d.status.value) for d in log) == [
        ("beneficiary", "sent"), ("sponsor", "sent")
    ]  # fmt: skip


def test_pledge_and_withdraw_racing_for_one_participant_stay_consistent(
    container: Container,
) -> None:
    challenge = container.challenges.create(_draft(target=1000))
    principal = Principal(sub="indecisive")
    operations = ["pledge", "withdraw"] * 20
    random.Random(3).shuffle(operations)

    def run(operation: str) -> None:
        if operation == "pledge":
            # Losing to one's own withdrawals three times running is a 503 "try again" (a
            # client would retry); what must hold is the count, checked below.
            with contextlib.suppress(ContentionError):
                container.pledges.pledge(principal, challenge.id, PledgeRequest())
            return
        with contextlib.suppress(PledgeNotFoundError):  # nothing to withdraw is fine
            container.pledges.withdraw(principal, challenge.id)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(run, operations))
    _poller(container).drain()
    live = container.pledges.list_mine(principal, limit=10, cursor=None).items
    final = container.challenges.get_visible(challenge.id, None)
    assert final.totals.participants == len(live)
    assert len(live) in (0, 1)


def test_concurrent_notifier_invocations_send_one_email_per_recipient(
    container: Container,
) -> None:
    # The embedded SES is shared by the module's tests: recipients unique to this one.
    domain = f"{uuid.uuid4().hex[:8]}.example"
    challenge = container.challenges.create(_draft(target=1, domain=domain))
    container.pledges.pledge(Principal(sub="only"), challenge.id, PledgeRequest())
    container.progress.refresh(challenge.id)  # writes the milestone; its record is not polled
    event = load_event(
        "milestone_inserted", challenge_id=challenge.id, participants="1", sequence_number="1"
    )

    def invoke(_: int) -> Any:
        return app_module.notify_milestones(copy.deepcopy(event), CONTEXT)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(invoke, range(16)))
    mine = [
        address
        for email in sent_emails(container.settings.region)
        for address in email.to
        if address.endswith(f"@{domain}")
    ]
    assert sorted(mine) == [f"beneficiary@{domain}", f"sponsor@{domain}"]
    log = container.notifications.log(challenge.id)
    assert [d.status.value for d in log] == ["sent", "sent"]
    assert sum(d.attempts for d in log) == 2
