"""Lint the synthesized templates with cfn-lint (pinned in requirements-infra.txt).

    python -m infra.lint [cdk.out]

Every finding fails, warnings and informational ones included: the pinned cfn-lint finds
none today, and a new one deserves a look (or a reasoned `ignore_checks` entry here).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

# cfn-lint ships no type information (the second code keeps this valid once mypy is told so).
from cfnlint.api import lint_file  # type: ignore[import-untyped,unused-ignore]
from cfnlint.config import ManualArgs  # type: ignore[import-untyped,unused-ignore]
from cfnlint.rules import Match  # type: ignore[import-untyped,unused-ignore]

from infra.chalice_app import REPO_ROOT
from infra.stages import STAGES

IGNORE_CHECKS: list[str] = []


def lint_templates(paths: Sequence[Path]) -> list[Match]:
    regions = sorted({stage.region for stage in STAGES.values()})
    config = ManualArgs(regions=regions, ignore_checks=IGNORE_CHECKS)
    return [match for path in paths for match in lint_file(path, config=config)]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    directory = Path(args[0]) if args else REPO_ROOT / "cdk.out"
    templates = sorted(directory.glob("*.template.json"))
    if not templates:
        print(f"no *.template.json in {directory}: run `make synth` first", file=sys.stderr)
        return 2
    matches = lint_templates(templates)
    for match in matches:
        print(match)
    print(f"cfn-lint: {len(templates)} templates, {len(matches)} findings")
    return 1 if matches else 0


if __name__ == "__main__":
    sys.exit(main())
