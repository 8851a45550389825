"""EmbeddedAws serves moto over HTTP one request at a time and exposes the mail SES accepted."""

from __future__ import annotations

import sys
import threading
import urllib.error
import uuid
from email.message import EmailMessage
from typing import Any

import pytest

from chalicelib.local.embedded_aws import EmbeddedAws, fetch_sent_emails, sent_emails
from tests.functional.conftest import aws_client

REGION = "eu-west-3"
THREADS = 32
UPDATES_PER_THREAD = 5


def test_serves_on_a_free_local_port_and_stops_cleanly() -> None:
    embedded = EmbeddedAws()
    with embedded:
        url = embedded.endpoint_url
        assert url.startswith("http://127.0.0.1:")
        assert not url.endswith(":0")
        assert aws_client(embedded, "dynamodb").list_tables()["TableNames"] is not None
        port = url.rsplit(":", 1)[1]
        serving = [t for t in threading.enumerate() if t.name == f"embedded-aws-{port}"]
        assert len(serving) == 1

    assert not embedded.is_running
    assert not any(thread.is_alive() for thread in serving)
    with pytest.raises(urllib.error.URLError):
        fetch_sent_emails(url, timeout=1)
    with pytest.raises(RuntimeError):
        _ = embedded.endpoint_url
    embedded.stop()  # a second stop is harmless


def test_concurrent_conditional_adds_are_serialised(aws: EmbeddedAws) -> None:
    ddb = aws_client(aws, "dynamodb")
    table = f"counter-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    # boto3 sessions are not thread-safe to create: one client per worker, made up front.
    clients = [aws_client(aws, "dynamodb") for _ in range(THREADS)]
    start = threading.Barrier(THREADS)
    seen: list[int] = []
    errors: list[BaseException] = []
    seen_lock = threading.Lock()

    def add(worker: Any) -> None:
        try:
            start.wait()
            for _ in range(UPDATES_PER_THREAD):
                response = worker.update_item(
                    TableName=table,
                    Key={"pk": {"S": "pledges"}},
                    UpdateExpression="ADD #n :one",
                    ConditionExpression="attribute_not_exists(#n) OR #n < :cap",
                    ExpressionAttributeNames={"#n": "n"},
                    ExpressionAttributeValues={":one": {"N": "1"}, ":cap": {"N": "100000"}},
                    ReturnValues="UPDATED_NEW",
                )
                with seen_lock:
                    seen.append(int(response["Attributes"]["n"]["N"]))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    # Switching threads every microsecond makes moto's races show up reliably without the lock
    # (duplicate UPDATED_NEW values and lost updates); the lock must hide all of them.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        workers = [threading.Thread(target=add, args=(c,)) for c in clients]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
    finally:
        sys.setswitchinterval(previous)

    total = THREADS * UPDATES_PER_THREAD
    assert errors == []
    assert sorted(seen) == list(range(1, total + 1))
    item = ddb.get_item(TableName=table, Key={"pk": {"S": "pledges"}}, ConsistentRead=True)
    assert item["Item"]["n"] == {"N": str(total)}


def test_sent_emails_reads_simple_and_raw_messages(aws: EmbeddedAws) -> None:
    ses = aws_client(aws, "ses")
    ses.verify_email_identity(EmailAddress="notifications@crowdact.local")
    tag = uuid.uuid4().hex[:8]
    text_id = ses.send_email(
        Source="crowdact <notifications@crowdact.local>",
        Destination={"ToAddresses": ["Ada <ada@example.com>"], "CcAddresses": ["cc@example.com"]},
        Message={"Subject": {"Data": f"Target reached {tag}"}, "Body": {"Text": {"Data": "Yes!"}}},
    )["MessageId"]
    ses.send_email(
        Source="notifications@crowdact.local",
        Destination={"ToAddresses": ["bob@example.com"]},
        Message={
            "Subject": {"Data": f"Html {tag}"},
            "Body": {"Text": {"Data": "dropped by moto"}, "Html": {"Data": "<p>Hi</p>"}},
        },
    )
    raw = EmailMessage()
    raw["Subject"] = f"Raw {tag}"
    raw["From"] = "notifications@crowdact.local"
    raw["To"] = "Cy <cy@example.com>"
    raw.set_content("plain part")
    raw.add_alternative("<b>html part</b>", subtype="html")
    ses.send_raw_email(RawMessage={"Data": raw.as_bytes()})

    in_process = {m.subject: m for m in sent_emails(REGION) if tag in m.subject}
    over_http = {m.subject: m for m in fetch_sent_emails(aws.endpoint_url) if tag in m.subject}

    assert in_process == over_http
    assert set(in_process) == {f"Target reached {tag}", f"Html {tag}", f"Raw {tag}"}
    text = in_process[f"Target reached {tag}"]
    assert text.source == "notifications@crowdact.local"
    assert text.to == ("ada@example.com",)
    assert text.cc == ("cc@example.com",)
    assert (text.text, text.html) == ("Yes!", None)
    assert text.message_id == text_id
    html = in_process[f"Html {tag}"]
    assert (html.to, html.text, html.html) == (("bob@example.com",), None, "<p>Hi</p>")
    raw_sent = in_process[f"Raw {tag}"]
    assert raw_sent.to == ("cy@example.com",)
    assert raw_sent.source == "notifications@crowdact.local"
    assert (raw_sent.text or "").strip() == "plain part"
    assert (raw_sent.html or "").strip() == "<b>html part</b>"


def test_sent_emails_is_per_region(aws: EmbeddedAws) -> None:
    ses = aws_client(aws, "ses")
    ses.verify_email_identity(EmailAddress="notifications@crowdact.local")
    subject = f"only in {REGION} {uuid.uuid4().hex[:8]}"
    ses.send_email(
        Source="notifications@crowdact.local",
        Destination={"ToAddresses": ["ada@example.com"]},
        Message={"Subject": {"Data": subject}, "Body": {"Text": {"Data": "x"}}},
    )

    assert [m.subject for m in sent_emails(REGION) if m.subject == subject] == [subject]
    assert [m for m in sent_emails("eu-central-1") if m.subject == subject] == []


def test_fetch_sent_emails_refuses_non_http_urls() -> None:
    with pytest.raises(ValueError, match="http"):
        fetch_sent_emails("file:///etc/passwd")
