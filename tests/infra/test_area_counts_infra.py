"""The pledge tallies' infrastructure (the challenge's count, area counts and hourly
counts): their trigger on the pledges stream (every pledge made or withdrawn), its
least-privilege role, and the receipts' expiry."""

from __future__ import annotations

import json
from typing import Any

from infra.access import FUNCTION_ACCESS, TableAccess
from infra.functions import app_functions, load_app
from tests.infra.conftest import Synthesized
from tests.infra.test_tables import tables_by_name
from tests.infra.test_triggers import stream_event


def test_count_areas_reads_the_pledges_stream_with_old_images(
    stage: Synthesized, repo_root: Any
) -> None:
    functions = {f.name: f.stream_table for f in app_functions(load_app(repo_root))}
    assert functions["count_areas"] == "pledges"
    pledges = tables_by_name(stage)[f"{stage.stack.stage.table_prefix}pledges"]
    # A withdrawal's REMOVE record must carry the area it leaves.
    assert pledges["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_count_areas_sees_every_pledge_made_or_withdrawn(
    stage: Synthesized,
) -> None:
    event = stream_event(stage, "CountAreas")
    patterns = [json.loads(f["Pattern"]) for f in event["FilterCriteria"]["Filters"]]
    # Every pledge made or withdrawn, with an area or not: each is counted in its hour.
    assert patterns == [{"eventName": ["INSERT", "REMOVE"]}]
    # Big batches are what keep it to one write per counter shard, area and batch; no
    # window, so that a pledge is counted (then published) within the contract's 2 s.
    assert event["BatchSize"] == 1000
    assert event.get("MaximumBatchingWindowInSeconds", 0) == 0
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_count_areas_may_write_only_its_counts_and_receipts() -> None:
    access = FUNCTION_ACCESS["count_areas"]
    assert access.tables == {
        "counters": TableAccess.READ_WRITE,  # the challenge's count (issue 16)
        "area_counts": TableAccess.READ_WRITE,
        "pledge_hours": TableAccess.READ_WRITE,
        "stream_receipts": TableAccess.READ_WRITE,
    }
    assert access.sends_mail is False


def test_its_role_names_exactly_those_tables(stage: Synthesized) -> None:
    role = stage.logical_id(stage.stack.roles["count_areas"])
    policies = stage.properties(role)["Policies"]
    text = json.dumps(policies)
    for table in ("counters", "area_counts", "stream_receipts"):
        table_id = stage.logical_id(stage.stack.tables[table])
        assert table_id in text
    for other in ("challenges", "campaign_members", "deliveries"):
        assert stage.logical_id(stage.stack.tables[other]) not in text
    assert "ses:" not in text


def test_receipts_expire_and_area_counts_are_keyed_by_challenge_and_area(
    stage: Synthesized,
) -> None:
    tables = tables_by_name(stage)
    prefix = stage.stack.stage.table_prefix
    receipts = tables[f"{prefix}stream_receipts"]["Properties"]
    assert receipts["TimeToLiveSpecification"] == {
        "AttributeName": "expires_at",
        "Enabled": True,
    }
    assert receipts["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    counts = tables[f"{prefix}area_counts"]["Properties"]
    assert counts["KeySchema"] == [
        {"AttributeName": "challenge_id", "KeyType": "HASH"},
        {"AttributeName": "area", "KeyType": "RANGE"},
    ]
    assert "StreamSpecification" not in counts
