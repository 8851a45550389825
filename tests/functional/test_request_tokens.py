"""Pledge transactions carry one ClientRequestToken per request, on the embedded (moto) DynamoDB.

moto accepts the token and ignores it, so these tests check what is sent and what our retries
do with it; DynamoDB's own replay of a token is the fakes' business (tests/unit).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from chalicelib.domain.model import Metric, Party, Pledge, Principal, Target
from chalicelib.local.embedded_aws import EmbeddedAws
from chalicelib.services.challenges import ChallengeDraft
from chalicelib.services.pledges import PledgeRequest, request_token
from chalicelib.storage.pledges import DynamoPledgeRepository
from chalicelib.wiring import Container
from tests.functional.conftest import served_container

TRANSACT = "before-call.dynamodb.TransactWriteItems"
LEA = Principal(sub="lea")


class TransactionTap:
    """Sees every TransactWriteItems request of the clients built while it is registered, and
    can answer the next ones with an error instead of sending them."""

    def __init__(self) -> None:
        self.tokens: list[str | None] = []
        self.answers: list[dict[str, Any]] = []

    def __call__(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, Any] | None:
        body = json.loads(params["body"])
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
    yield from served_container(aws, monkeypatch, taps={TRANSACT: tap})


def _challenge(container: Container) -> str:
    draft = ChallengeDraft(
        title="Tokens", action="I act", target=Target(Metric.PARTICIPANTS, 100),
        sponsor=Party("Sponsor", "sponsor@tokens.example"),
        beneficiary=Party("Beneficiary", "beneficiary@tokens.example"),
        reward="€1", publish=True,
    )  # fmt: skip
    return container.challenges.create(draft).id


def _counted(container: Container, challenge_id: str) -> int:
    refreshed = container.progress.refresh(challenge_id)
    assert refreshed is not None
    return refreshed.totals.participants


def test_a_pledge_with_an_idempotency_key_sends_its_derived_token(
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
    assert len(tap.tokens) == 3
    assert all(token is not None and 1 <= len(token) <= 36 for token in tap.tokens)
    assert len(set(tap.tokens)) == 3
    assert _counted(container, challenge_id) == 1


def test_a_conflicting_transaction_is_retried_under_the_same_token(
    container: Container, tap: TransactionTap
) -> None:
    challenge_id = _challenge(container)
    tap.fail_next_with("TransactionCanceledException", "None", "TransactionConflict")
    tap.fail_next_with("TransactionCanceledException", "TransactionConflict", "None")

    assert container.pledges.pledge(LEA, challenge_id, PledgeRequest()).created

    assert len(tap.tokens) == 3
    assert len(set(tap.tokens)) == 1
    assert _counted(container, challenge_id) == 1


def test_a_token_spent_on_other_parameters_is_replaced_and_the_pledge_goes_through(
    container: Container, tap: TransactionTap
) -> None:
    challenge_id = _challenge(container)
    tap.fail_next_with("IdempotentParameterMismatchException")

    outcome = container.pledges.pledge(LEA, challenge_id, PledgeRequest(idempotency_key="k-1"))

    assert outcome.created
    assert tap.tokens[0] == request_token(LEA.sub, challenge_id, "pledge", "k-1")
    assert len(tap.tokens) == 2
    assert tap.tokens[1] != tap.tokens[0]
    assert _counted(container, challenge_id) == 1


def test_moto_ignores_the_token_where_dynamodb_would_replay_success(
    container: Container, aws: EmbeddedAws
) -> None:
    # Pins moto's behaviour this suite relies on knowing: the second, identical transaction
    # fails its condition on moto; DynamoDB would answer success without applying it.
    challenge_id = _challenge(container)
    repository = DynamoPledgeRepository(container.settings)
    pledge = Pledge(
        challenge_id, LEA.sub, container.challenges.get_for_admin(challenge_id).created_at
    )

    assert repository.add(pledge, 0, request_token="same-token")
    assert not repository.add(pledge, 0, request_token="same-token")
    assert _counted(container, challenge_id) == 1
