"""Pledge writes carry one request token per request, on the embedded (moto) DynamoDB: on
the item of a plain put (`write_token`), as the ClientRequestToken of a keyed pledge's
transaction.

moto accepts a ClientRequestToken and ignores it, so these tests check what is sent and what
our retries do with it; DynamoDB's own replay of a token is the fakes' business (tests/unit).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from chalicelib.domain.idempotency import keyed_answer
from chalicelib.domain.model import Metric, Party, Pledge, Principal, Target
from chalicelib.local.embedded_aws import EmbeddedAws
from chalicelib.local.pledge_count import count_pledges_now
from chalicelib.services.challenges import ChallengeDraft
from chalicelib.services.pledges import PledgeRequest, request_token
from chalicelib.storage.pledges import DynamoPledgeRepository
from chalicelib.wiring import Container
from tests.functional.conftest import served_container

TRANSACT = "before-call.dynamodb.TransactWriteItems"
PUT = "before-call.dynamodb.PutItem"
LEA = Principal(sub="lea")


class TransactionTap:
    """Sees every TransactWriteItems request (or PutItem of a pledge) of the clients built
    while it is registered, and can answer the next ones with an error instead of sending
    them. `tokens`: each one's ClientRequestToken (or the pledge item's `write_token`)."""

    def __init__(self) -> None:
        self.tokens: list[str | None] = []
        self.answers: list[dict[str, Any]] = []

    def __call__(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, Any] | None:
        body = json.loads(params["body"])
        if "Item" in body:  # a PutItem: only the pledges' carry a token
            if "write_token" not in body["Item"]:
                return None
            self.tokens.append(body["Item"]["write_token"]["S"])
        else:
            self.tokens.append(body.get("ClientRequestToken"))
        if not self.answers:
            return None
        return AWSResponse(params["url"], 400, {}, None), self.answers.pop(0)

    def fail_next_with(self, code: str, *reasons: str) -> None:
        answer: dict[str, Any] = {"Error": {"Code": code, "Message": code}}
        if reasons:
            answer["CancellationReasons"] = [{"Code": reason} for reason in reasons]
        self.answers.append(answer)


@pytest.fixture
def tap() -> TransactionTap:
    return TransactionTap()


@pytest.fixture
def container(
    aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch, tap: TransactionTap
) -> Iterator[Container]:
    yield from served_container(aws, monkeypatch, taps={TRANSACT: tap, PUT: tap})


def _challenge(container: Container) -> str:
    draft = ChallengeDraft(
        title="Tokens", action="I act", target=Target(Metric.PARTICIPANTS, 100),
        sponsor=Party("Sponsor", "sponsor@tokens.example"),
        beneficiary=Party("Beneficiary", "beneficiary@tokens.example"),
        reward="€1", publish=True,
    )  # fmt: skip
    return container.challenges.create(draft).id


def _counted(container: Container, challenge_id: str) -> int:
    count_pledges_now(container)
    refreshed = container.progress.refresh(challenge_id)
    assert refreshed is not None
    return refreshed.totals.participants


def test_a_pledge_with_an_idempotency_key_writes_its_derived_token(
    container: Container, tap: TransactionTap
) -> None:
    challenge_id = _challenge(container)

    outcome = container.pledges.pledge(LEA, challenge_id, PledgeRequest(idempotency_key="k-1"))
    container.pledges.withdraw(LEA, challenge_id)
    again = container.pledges.pledge(LEA, challenge_id, PledgeRequest())

    assert outcome.created
    assert again.created
    derived = request_token(LEA.sub, challenge_id, "pledge", "k-1")
    assert tap.tokens[0] == derived
    assert len(tap.tokens) == 2
    assert all(token is not None and 1 <= len(token) <= 36 for token in tap.tokens)
    assert len(set(tap.tokens)) == 2
    assert _counted(container, challenge_id) == 1


def test_a_put_refused_by_a_transaction_on_its_item_is_retried_with_the_same_token(
    container: Container, tap: TransactionTap
) -> None:
    challenge_id = _challenge(container)
    tap.fail_next_with("TransactionConflictException")
    tap.fail_next_with("TransactionConflictException")

    assert container.pledges.pledge(LEA, challenge_id, PledgeRequest()).created

    assert len(tap.tokens) == 3
    assert len(set(tap.tokens)) == 1
    assert _counted(container, challenge_id) == 1


def test_a_keyed_transaction_whose_token_was_spent_on_other_parameters_goes_through(
    container: Container, tap: TransactionTap
) -> None:
    challenge_id = _challenge(container)
    token = request_token(LEA.sub, challenge_id, "pledge", "k-1")
    written = int(container.challenges.get_for_admin(challenge_id).created_at.timestamp())
    answer = keyed_answer("pledge#lea#k-1", "k-1", b"{}", 201, "{}", written)
    tap.fail_next_with("IdempotentParameterMismatchException")

    request = PledgeRequest(idempotency_key="k-1", answer=lambda outcome: answer)
    assert container.pledges.pledge(LEA, challenge_id, request).created

    assert tap.tokens[0] == token
    assert len(tap.tokens) == 2
    assert tap.tokens[1] != tap.tokens[0]
    assert _counted(container, challenge_id) == 1


def test_a_put_retried_after_its_answer_was_lost_finds_its_token_and_is_done(
    container: Container,
) -> None:
    # What a botocore retry of a put that went through meets: its condition fails on the
    # item it wrote. The token on the item tells it apart from anyone else's pledge.
    challenge_id = _challenge(container)
    repository = DynamoPledgeRepository(container.settings)
    pledge = Pledge(
        challenge_id, LEA.sub, container.challenges.get_for_admin(challenge_id).created_at
    )

    assert repository.add(pledge, 0, request_token="same-token")
    assert repository.add(pledge, 0, request_token="same-token")
    assert not repository.add(pledge, 0, request_token="another-token")
    assert not repository.add(pledge, 0)
    assert _counted(container, challenge_id) == 1
