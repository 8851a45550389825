"""Citizen proposals' infrastructure: their three tables (derived from the models), and the
notifier's least-privilege access to them (it sends their e-mails and webhooks)."""

from __future__ import annotations

import json

from infra.access import FUNCTION_ACCESS, TableAccess
from tests.infra.conftest import Synthesized
from tests.infra.test_tables import tables_by_name


def test_the_proposal_tables_exist_with_their_indexes(stage: Synthesized) -> None:
    tables = tables_by_name(stage)
    prefix = stage.stack.stage.table_prefix
    proposals = tables[f"{prefix}proposals"]["Properties"]
    indexes = {index["IndexName"] for index in proposals["GlobalSecondaryIndexes"]}
    assert indexes == {"by_status", "by_open_area", "by_proposer"}
    supports = tables[f"{prefix}proposal_supports"]["Properties"]
    assert supports["KeySchema"] == [
        {"AttributeName": "proposal_id", "KeyType": "HASH"},
        {"AttributeName": "participant_id", "KeyType": "RANGE"},
    ]
    claims = tables[f"{prefix}proposal_deliveries"]["Properties"]
    assert claims["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_the_notifier_reads_proposals_and_writes_only_their_claims() -> None:
    tables = FUNCTION_ACCESS["notify_milestones"].tables
    assert tables is not None
    assert tables["proposals"] is TableAccess.READ
    assert tables["proposal_supports"] is TableAccess.READ
    assert tables["proposal_deliveries"] is TableAccess.READ_WRITE
    assert tables["organizations"] is TableAccess.READ
    for name, access in FUNCTION_ACCESS.items():
        if name not in ("api_handler", "notify_milestones"):
            assert access.tables is not None
            assert not {"proposals", "proposal_supports", "proposal_deliveries"} & set(
                access.tables
            ), name


def test_the_notifier_role_names_the_proposal_tables(stage: Synthesized) -> None:
    role = stage.logical_id(stage.stack.roles["notify_milestones"])
    text = json.dumps(stage.properties(role)["Policies"])
    for table in ("proposals", "proposal_supports", "proposal_deliveries", "organizations"):
        assert stage.logical_id(stage.stack.tables[table]) in text
