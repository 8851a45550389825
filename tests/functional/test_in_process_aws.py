"""The local stack's own AWS calls are answered by moto in this process, without a socket.

Nothing listens on ENDPOINT: a request the handler does not answer goes over HTTP and fails
with a connection error, so a call that succeeds was answered in process.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import botocore.session
import pytest
from botocore import UNSIGNED
from botocore.awsrequest import AWSPreparedRequest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from chalicelib.local.embedded_aws import MOTO_ACCOUNT_ID, sent_emails
from chalicelib.local.in_process_aws import InProcessAws

REGION = "eu-west-3"
ENDPOINT = "http://127.0.0.1:1"  # nothing listens there
OTHER_ENDPOINT = "http://127.0.0.1:2"
# One attempt: a request that escapes to HTTP fails at once, and is counted once.
ONE_ATTEMPT = Config(retries={"total_max_attempts": 1})
AUTHORIZATION = (
    f"AWS4-HMAC-SHA256 Credential=test/20261201/{REGION}/dynamodb/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0"
)


class CountingLock:
    """An RLock that counts how often it was entered."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.acquisitions = 0
        self.held = 0

    def __enter__(self) -> bool:
        entered = self._lock.__enter__()
        self.acquisitions += 1
        self.held += 1
        return entered

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.held -= 1
        self._lock.__exit__(exc_type, exc, tb)


@dataclass
class Transport:
    handler: InProcessAws
    session: botocore.session.Session
    lock: CountingLock

    def client(self, service: str, endpoint_url: str = ENDPOINT, **config: Any) -> Any:
        return self.session.create_client(
            service,
            region_name=REGION,
            endpoint_url=endpoint_url,
            config=ONE_ATTEMPT.merge(Config(**config)),
        )


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for variable in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(variable, raising=False)
    # No profile of the machine's user takes part.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))


@pytest.fixture
def transport() -> Iterator[Transport]:
    lock = CountingLock()
    # The handler only enters the lock; the stack passes embedded_aws.MOTO_LOCK.
    handler = InProcessAws(ENDPOINT, lock)
    session = botocore.session.get_session()  # its own: not chalicelib.aws_clients' shared one
    handler.install(session)
    yield Transport(handler, session, lock)
    handler.uninstall()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def create_table(dynamodb: Any, name: str, *, stream: bool = False) -> None:
    extra: dict[str, Any] = (
        {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}}
        if stream
        else {}
    )
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )


def signed_request(url: str, authorization: str | None = AUTHORIZATION) -> AWSPreparedRequest:
    """A DynamoDB ListTables request as botocore hands it to `before-send`."""
    headers = {
        "X-Amz-Target": "DynamoDB_20120810.ListTables",
        "Content-Type": "application/x-amz-json-1.0",
    }
    if authorization is not None:
        headers["Authorization"] = authorization
    return AWSPreparedRequest(
        method="POST", url=url, headers=headers, body=b"{}", stream_output=False
    )


# --- through botocore clients --------------------------------------------------------------------


def test_dynamodb_calls_are_answered_by_moto_in_process(transport: Transport) -> None:
    from moto.dynamodb.models import dynamodb_backends

    dynamodb = transport.client("dynamodb")
    table = unique("in-process")

    create_table(dynamodb, table)
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "pledge-1"}, "n": {"N": "3"}})
    item = dynamodb.get_item(TableName=table, Key={"pk": {"S": "pledge-1"}})["Item"]

    assert item == {"pk": {"S": "pledge-1"}, "n": {"N": "3"}}
    assert (transport.handler.answered, transport.handler.passed_on) == (3, 0)
    # moto's own state, in the region the request was signed for.
    assert table in dynamodb_backends[MOTO_ACCOUNT_ID][REGION].tables
    dynamodb.delete_table(TableName=table)


def test_every_answer_is_given_under_the_lock(transport: Transport) -> None:
    dynamodb = transport.client("dynamodb")

    dynamodb.list_tables()
    dynamodb.list_tables()

    assert transport.lock.acquisitions == transport.handler.answered == 2
    assert transport.lock.held == 0  # released after each


def test_moto_errors_come_back_as_aws_errors(transport: Transport) -> None:
    dynamodb = transport.client("dynamodb")

    with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):
        dynamodb.get_item(TableName=unique("no-such-table"), Key={"pk": {"S": "x"}})
    assert transport.handler.answered == 1


def test_a_fault_in_moto_is_a_500_the_client_sees_as_an_aws_error(
    transport: Transport, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """As from moto's server: a bare exception inside moto (a KeyError, say) is a 500, which
    botocore retries and then raises as a ClientError, not an exception of moto's own."""

    class Broken:
        def process_request(self, request: Any) -> Any:
            raise KeyError("an iterator moto forgot")

    monkeypatch.setattr(transport.handler, "_dispatcher", Broken())
    dynamodb = transport.client("dynamodb")

    with pytest.raises(ClientError) as raised:
        dynamodb.get_item(TableName=unique("any"), Key={"pk": {"S": "x"}})
    assert raised.value.response["Error"]["Code"] == "InternalFailure"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert "an iterator moto forgot" in caplog.text
    assert transport.lock.held == 0


def test_dynamodb_streams_records_are_read_in_process(transport: Transport) -> None:
    dynamodb = transport.client("dynamodb")
    streams = transport.client("dynamodbstreams", account_id_endpoint_mode="disabled")
    table = unique("streamed")
    create_table(dynamodb, table, stream=True)
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "pledge-1"}})
    stream_arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]

    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]

    assert [(r["eventName"], r["dynamodb"]["Keys"]) for r in records] == [
        ("INSERT", {"pk": {"S": "pledge-1"}})
    ]
    assert transport.handler.passed_on == 0
    assert transport.handler.answered == 6
    dynamodb.delete_table(TableName=table)


def test_ses_mail_is_sent_in_process_and_readable_from_moto(transport: Transport) -> None:
    ses = transport.client("ses")
    sender = f"{unique('sender')}@crowdact.example"
    subject = unique("Your pledge")

    ses.verify_email_identity(EmailAddress=sender)
    message_id = ses.send_email(
        Source=sender,
        Destination={"ToAddresses": ["ana@acme.example"]},
        Message={"Subject": {"Data": subject}, "Body": {"Text": {"Data": "Thank you"}}},
    )["MessageId"]

    sent = [mail for mail in sent_emails(REGION) if mail.subject == subject]
    assert [(m.source, m.to, m.text, m.message_id) for m in sent] == [
        (sender, ("ana@acme.example",), "Thank you", message_id)
    ]
    assert (transport.handler.answered, transport.handler.passed_on) == (2, 0)


def test_a_client_of_another_endpoint_is_left_alone(transport: Transport) -> None:
    dynamodb = transport.client("dynamodb", endpoint_url=OTHER_ENDPOINT)

    with pytest.raises(EndpointConnectionError):
        dynamodb.list_tables()
    # Not counted: only requests for the embedded endpoint are.
    assert (transport.handler.answered, transport.handler.passed_on) == (0, 0)


@pytest.mark.parametrize(("service", "call"), [("sqs", "list_queues"), ("sns", "list_topics")])
def test_a_service_moto_is_not_asked_for_goes_over_http(
    transport: Transport, service: str, call: str
) -> None:
    client = transport.client(service)

    with pytest.raises(EndpointConnectionError):
        getattr(client, call)()
    assert (transport.handler.answered, transport.handler.passed_on) == (0, 1)
    assert transport.lock.acquisitions == 0


def test_an_unsigned_request_goes_over_http(transport: Transport) -> None:
    dynamodb = transport.client("dynamodb", signature_version=UNSIGNED)

    with pytest.raises(EndpointConnectionError):
        dynamodb.list_tables()
    assert (transport.handler.answered, transport.handler.passed_on) == (0, 1)


def test_a_client_made_before_install_is_not_answered() -> None:
    session = botocore.session.get_session()
    early = session.create_client(
        "dynamodb", region_name=REGION, endpoint_url=ENDPOINT, config=ONE_ATTEMPT
    )
    handler = InProcessAws(ENDPOINT, threading.RLock())
    handler.install(session)
    try:
        with pytest.raises(EndpointConnectionError):
            early.list_tables()
        assert handler.answered == 0
    finally:
        handler.uninstall()


def test_after_uninstall_new_clients_are_no_longer_answered(transport: Transport) -> None:
    before = transport.client("dynamodb")

    transport.handler.uninstall()

    with pytest.raises(EndpointConnectionError):
        transport.client("dynamodb").list_tables()
    assert transport.handler.passed_on == 0  # the handler was not even asked
    before.list_tables()  # a client made before keeps the handler, as documented
    assert transport.handler.answered == 1


# --- the handler itself --------------------------------------------------------------------------


def test_the_handler_answers_a_copy_and_leaves_the_request_as_it_was(
    transport: Transport,
) -> None:
    request = signed_request(f"{ENDPOINT}/")
    headers = dict(request.headers)

    # Twice, as botocore sends the very same request object again on a retry.
    for _ in range(2):
        response = transport.handler(request, event_name="before-send.dynamodb.ListTables")
        assert response is not None
        assert response.status_code == 200
        assert "TableNames" in json.loads(response.content)
        assert request.url == f"{ENDPOINT}/"
        assert dict(request.headers) == headers
        assert request.body == b"{}"
    assert transport.handler.answered == 2


def test_the_handler_answers_in_the_region_the_request_was_signed_for(
    transport: Transport,
) -> None:
    dynamodb = transport.client("dynamodb")
    table = unique("regional")
    create_table(dynamodb, table)
    elsewhere = signed_request(f"{ENDPOINT}/", AUTHORIZATION.replace(REGION, "eu-west-1"))
    here = signed_request(f"{ENDPOINT}/")

    tables_elsewhere = transport.handler(elsewhere, event_name="before-send.dynamodb.ListTables")
    tables_here = transport.handler(here, event_name="before-send.dynamodb.ListTables")

    assert tables_elsewhere is not None
    assert tables_here is not None
    assert table not in json.loads(tables_elsewhere.content)["TableNames"]
    assert table in json.loads(tables_here.content)["TableNames"]
    dynamodb.delete_table(TableName=table)


@pytest.mark.parametrize(
    ("url", "authorization", "event_name", "counted"),
    [
        (f"{OTHER_ENDPOINT}/", AUTHORIZATION, "before-send.dynamodb.ListTables", False),
        ("https://dynamodb.eu-west-3.amazonaws.com/", AUTHORIZATION,
         "before-send.dynamodb.ListTables", False),
        (f"{ENDPOINT}/", None, "before-send.dynamodb.ListTables", True),
        (f"{ENDPOINT}/", "Bearer not-sigv4", "before-send.dynamodb.ListTables", True),
        (f"{ENDPOINT}/", "AWS4-HMAC-SHA256 Credential=test/20261201//dynamodb/aws4_request",
         "before-send.dynamodb.ListTables", True),
        (f"{ENDPOINT}/", AUTHORIZATION, "before-send.sqs.ListQueues", True),
        (f"{ENDPOINT}/", AUTHORIZATION, "before-send", True),
    ],
    ids=["other-endpoint", "real-aws", "unsigned", "not-sigv4", "no-region", "sqs", "no-service"],
)  # fmt: skip
def test_requests_the_handler_cannot_answer_are_passed_on(
    transport: Transport, url: str, authorization: str | None, event_name: str, counted: bool
) -> None:
    request = signed_request(url, authorization)

    assert transport.handler(request, event_name=event_name) is None
    assert request.url == url
    assert transport.handler.answered == 0
    assert transport.handler.passed_on == (1 if counted else 0)
    assert transport.lock.acquisitions == 0
