"""Reports under concurrency and retries, on the real repositories and the embedded DynamoDB.

moto serialises each request (see EmbeddedAws), so races are decided by DynamoDB's
conditional writes and transactions, as in AWS.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from chalice.app import Request

from chalicelib.domain.errors import ChallengeNotOpenError, NotPledgedError
from chalicelib.domain.model import Metric, Party, Principal, Target
from chalicelib.local.embedded_aws import EmbeddedAws
from chalicelib.local.stream_poller import LocalLambdaContext
from chalicelib.local.tokens import mint_local_token
from chalicelib.services.challenges import ChallengeDraft
from chalicelib.services.pledges import PledgeRequest, request_token
from chalicelib.services.reports import ReportRequest, report_id
from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT
from chalicelib.wiring import Container
from tests.functional.conftest import served_container
from tests.functional.test_request_tokens import TRANSACT, TransactionTap

LEA = Principal(sub="lea")
CONTEXT = LocalLambdaContext(
    function_name="test", invoked_function_arn="arn:aws:lambda:eu-west-3:123456789012:function:t"
)
REPORTS_PATH = "/challenges/{challenge_id}/reports"


@pytest.fixture
def tap() -> TransactionTap:
    return TransactionTap()


@pytest.fixture
def container(
    aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch, tap: TransactionTap
) -> Iterator[Container]:
    yield from served_container(aws, monkeypatch, taps={TRANSACT: tap})


def _challenge(container: Container, *subs: str) -> str:
    draft = ChallengeDraft(
        title="Reports", action="I cycle", target=Target(Metric.QUANTITY, 1_000, "km"),
        sponsor=Party("Sponsor", "sponsor@reports.example"),
        beneficiary=Party("Beneficiary", "beneficiary@reports.example"),
        reward="€1", publish=True,
    )  # fmt: skip
    challenge_id = container.challenges.create(draft).id
    for sub in subs:
        container.pledges.pledge(Principal(sub=sub), challenge_id, PledgeRequest())
    return challenge_id


def _counted(container: Container, challenge_id: str) -> int | float:
    refreshed = container.progress.refresh(challenge_id)
    assert refreshed is not None
    return refreshed.totals.quantity


def _stored(container: Container, sub: str) -> list[Any]:
    page = container.reports.list_mine(Principal(sub=sub), limit=100, cursor=None)
    return page.items


def _post(challenge_id: str, sub: str, body: dict[str, Any], key: str) -> Request:
    """The API Gateway event Chalice would build for this request."""
    token = mint_local_token(LOCAL_JWT_SECRET_DEFAULT, sub)
    return Request(
        {
            "multiValueQueryStringParameters": None,
            "headers": {
                "authorization": f"Bearer {token}",
                "content-type": "application/json",
                "idempotency-key": key,
            },
            "pathParameters": {"challenge_id": challenge_id},
            "requestContext": {"httpMethod": "POST", "resourcePath": REPORTS_PATH},
            "stageVariables": None,
            "body": json.dumps(body),
            "isBase64Encoded": False,
        }
    )


def test_concurrent_requests_with_one_key_make_one_report(container: Container) -> None:
    from chalicelib.api.routes import ROUTES

    route = next(r for r in ROUTES if (r.path, r.method) == (REPORTS_PATH, "POST"))
    handler = route.handler()
    challenge_id = _challenge(container, "lea")

    def send(_: int) -> tuple[int, str | None]:
        response = handler(_post(challenge_id, "lea", {"quantity": 4.5}, "same-key"), CONTEXT,
                           challenge_id=challenge_id)  # fmt: skip
        body = json.loads(response.body)
        return response.status_code, body.get("report", {}).get("id")

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(send, range(16)))

    assert {status for status, _ in answers} <= {201, 409}  # 409: the first is in progress
    assert {rid for status, rid in answers if status == 201} == {
        report_id("lea", challenge_id, "same-key")
    }
    assert len(_stored(container, "lea")) == 1
    assert _counted(container, challenge_id) == 4.5


def test_reports_racing_withdrawals_count_exactly_the_stored_reports(
    container: Container,
) -> None:
    subs = [f"p{n:02d}" for n in range(24)]
    challenge_id = _challenge(container, *subs)

    def report(sub: str) -> bool:
        with contextlib.suppress(NotPledgedError):
            return container.reports.report(
                Principal(sub=sub), challenge_id, ReportRequest(2.5)
            ).created
        return False

    def withdraw(sub: str) -> None:
        container.pledges.withdraw(Principal(sub=sub), challenge_id)

    with ThreadPoolExecutor(max_workers=16) as pool:
        reports = [pool.submit(report, sub) for sub in subs]
        withdrawals = [pool.submit(withdraw, sub) for sub in subs]
        created = [future.result() for future in reports]
        for future in withdrawals:
            future.result()

    stored = [r for sub in subs for r in _stored(container, sub)]
    assert len(stored) == created.count(True)
    assert _counted(container, challenge_id) == 2.5 * len(stored)
    refreshed = container.progress.refresh(challenge_id)
    assert refreshed is not None
    assert refreshed.totals.participants == 0
    with pytest.raises(NotPledgedError):
        container.reports.report(Principal(sub="p00"), challenge_id, ReportRequest(1))


def test_a_report_with_a_key_sends_its_derived_token_and_a_retry_counts_once(
    container: Container, tap: TransactionTap
) -> None:
    challenge_id = _challenge(container, "lea")
    tap.tokens.clear()

    first = container.reports.report(LEA, challenge_id, ReportRequest(3, idempotency_key="k"))
    # moto ignores the token (DynamoDB would answer success): the report's own id catches it.
    again = container.reports.report(LEA, challenge_id, ReportRequest(3, idempotency_key="k"))
    container.reports.report(LEA, challenge_id, ReportRequest(3))

    assert first.created
    assert not again.created
    assert again.report.id == first.report.id
    derived = request_token(LEA.sub, challenge_id, "report", "k")
    assert tap.tokens[:2] == [derived, derived]
    assert tap.tokens[2] not in (None, derived)
    assert _counted(container, challenge_id) == 6


def test_a_conflicting_report_is_retried_under_the_same_token(
    container: Container, tap: TransactionTap
) -> None:
    challenge_id = _challenge(container, "lea")
    tap.tokens.clear()
    tap.fail_next_with("TransactionCanceledException", "None", "None", "TransactionConflict")

    assert container.reports.report(LEA, challenge_id, ReportRequest(3)).created

    assert len(tap.tokens) == 2
    assert len(set(tap.tokens)) == 1
    assert _counted(container, challenge_id) == 3


def test_a_token_spent_on_other_parameters_is_replaced_and_the_report_counts_once(
    container: Container, tap: TransactionTap
) -> None:
    challenge_id = _challenge(container, "lea")
    tap.tokens.clear()
    tap.fail_next_with("IdempotentParameterMismatchException")

    outcome = container.reports.report(LEA, challenge_id, ReportRequest(3, idempotency_key="k"))

    assert outcome.created
    assert len(tap.tokens) == 2
    assert tap.tokens[1] != tap.tokens[0]
    assert _counted(container, challenge_id) == 3


def test_a_closed_challenge_takes_no_reports(container: Container) -> None:
    challenge_id = _challenge(container, "lea")
    container.challenges.close(challenge_id)

    with pytest.raises(ChallengeNotOpenError):
        container.reports.report(LEA, challenge_id, ReportRequest(3))
    assert _counted(container, challenge_id) == 0
