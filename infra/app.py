"""Synthesize every stage into cdk.out/ (no CDK CLI, no AWS credentials needed).

    python -m infra.app [--stage dev] [--context crowdact:prod:mail_domain=example.org] ...

The CDK CLI runs the same module (infra/cdk.json) and passes its context and output directory
through the environment (CDK_CONTEXT_JSON, CDK_OUTDIR), which cdk.App reads itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import cx_api as cxapi

from infra.chalice_app import REPO_ROOT
from infra.stack import CrowdactStack
from infra.stages import STAGES, stage_config

DEFAULT_OUTDIR = REPO_ROOT / "cdk.out"


def build_app(
    stages: Sequence[str] = tuple(STAGES),
    *,
    context: dict[str, object] | None = None,
    outdir: Path | None = None,
    builtin_validation: bool = True,
    source_dir: Path = REPO_ROOT,
    web_dir: Path | None = None,
) -> tuple[cdk.App, dict[str, CrowdactStack]]:
    """The CDK app with a stack per stage. `builtin_validation=False` skips CDK's own
    template checks (most of a synth's time), for callers that run cfn-lint themselves;
    `source_dir` is what Chalice packages (the repository), `web_dir` the web client
    (`<source_dir>/web` by default)."""
    app = cdk.App(
        outdir=str(outdir) if outdir else os.environ.get("CDK_OUTDIR") or str(DEFAULT_OUTDIR),
        context=context or None,
        builtin_cloud_formation_validation=builtin_validation,
        stack_traces=False,
    )
    values = {**_cli_context(), **(context or {})}
    stacks = {
        name: CrowdactStack(app, stage_config(name, values), source_dir=source_dir, web_dir=web_dir)
        for name in stages
    }
    return app, stacks


def _cli_context() -> dict[str, object]:
    raw = os.environ.get("CDK_CONTEXT_JSON")
    loaded = json.loads(raw) if raw else {}
    return loaded if isinstance(loaded, dict) else {}


def _parse_context(pairs: Sequence[str]) -> dict[str, object]:
    context: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--context expects KEY=VALUE, got {pair!r}")
        context[key] = value
    return context


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stage", action="append", choices=sorted(STAGES), default=None)
    parser.add_argument("--context", "-c", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--outdir", type=Path, default=None)
    parser.add_argument(
        "--source-dir", type=Path, default=REPO_ROOT, help="what Chalice packages (the repo)"
    )
    parser.add_argument(
        "--web-dir", type=Path, default=None, help="the web client to deploy (<source-dir>/web)"
    )
    args = parser.parse_args(argv)
    app, _ = build_app(
        args.stage or tuple(STAGES),
        context=_parse_context(args.context),
        outdir=args.outdir,
        source_dir=args.source_dir,
        web_dir=args.web_dir,
    )
    assembly = app.synth()
    for stack in assembly.stacks:
        print(f"{stack.stack_name}: {Path(assembly.directory) / stack.template_file}")
        # The CDK CLI prints these; a plain synth has to say them itself.
        for message in stack.messages:
            if message.level is not cxapi.SynthesisMessageLevel.INFO:
                print(
                    f"  {message.level.value} {message.id}: {message.entry.data}", file=sys.stderr
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
