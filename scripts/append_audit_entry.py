"""Store audit entries that the API could not (`AuditAppendFailed`), from its log lines:
`python scripts/append_audit_entry.py --table crowdact-prod-audit < lines.txt` (with AWS
credentials for the stage's account). Each line is the error line (`… the entry: {…}`), a
Powertools JSON log line (its `audit_entry` field) or the entry's JSON alone; each entry is
put only if absent, as the API puts it."""

from __future__ import annotations

import os
import sys

# Run as `python scripts/append_audit_entry.py`: the repo root must be importable.
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

import argparse  # noqa: E402
import json  # noqa: E402
from collections.abc import Iterable, Sequence  # noqa: E402
from typing import Any, TextIO  # noqa: E402

from chalicelib.domain.audit import AuditEntry  # noqa: E402
from chalicelib.services.audit import from_dict  # noqa: E402
from chalicelib.services.ports import AuditRepository  # noqa: E402

MARKER = "the entry: "


def entries_in(lines: Iterable[str]) -> list[AuditEntry]:
    """The audit entries the lines hold, in order (lines without one are skipped)."""
    found: list[AuditEntry] = []
    for line in lines:
        text = line.strip()
        if MARKER in text:
            text = text.split(MARKER, 1)[1]
        if not text.startswith("{"):
            continue
        fields: Any = json.loads(text)
        if isinstance(fields, dict) and isinstance(fields.get("audit_entry"), dict):
            fields = fields["audit_entry"]
        if isinstance(fields, dict) and "action" in fields and "request_id" in fields:
            found.append(from_dict(fields))
    return found


def append_all(entries: Iterable[AuditEntry], repository: AuditRepository, out: TextIO) -> int:
    stored = 0
    for entry in entries:
        added = repository.append(entry)
        stored += added
        out.write(
            f"{entry.id} {entry.action} {entry.target}: {'stored' if added else 'already there'}\n"
        )
    return stored


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Put audit entries from log lines on stdin.")
    parser.add_argument("--table", required=True, help="e.g. crowdact-prod-audit")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION", "eu-west-3"))
    parser.add_argument("--endpoint-url", default=os.environ.get("CROWDACT_AWS_ENDPOINT_URL"))
    args = parser.parse_args(argv)
    from chalicelib.storage.audit import DynamoAuditRepository
    from chalicelib.storage.tables import AuditItem

    AuditItem.Meta.table_name = args.table
    AuditItem.Meta.region = args.region
    AuditItem.Meta.host = args.endpoint_url
    AuditItem._connection = None
    append_all(entries_in(sys.stdin), DynamoAuditRepository(), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
