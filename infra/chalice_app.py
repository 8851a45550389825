"""The Chalice app packaged into the stack (`chalice.cdk.Chalice`), without side effects.

`chalice.cdk.Chalice` packages into `./chalice.out` and imports `app.py` with the stage's
environment variables written into `os.environ`; both are kept out of the repository and of
the calling process (tests synthesize several stages in one process).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from aws_cdk import aws_sam as sam
from chalice.cdk import Chalice

from infra.functions import ChaliceFunction
from infra.stages import StageConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
REST_API = "RestAPI"


@contextlib.contextmanager
def _isolated_packaging(region: str) -> Iterator[None]:
    saved = os.environ.copy()
    with (
        tempfile.TemporaryDirectory(prefix="crowdact-chalice-") as workdir,
        contextlib.chdir(workdir),
    ):
        # Chalice resolves service principals for a region, even to package.
        os.environ.setdefault("AWS_DEFAULT_REGION", region)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


def package_app(
    stack: Any,
    stage: StageConfig,
    *,
    environment: Mapping[str, str],
    api_role_arn: str,
    source_dir: Path = REPO_ROOT,
) -> Chalice:
    """Package the app as the stack's stage. The stack's id must be the Chalice stage name:
    chalice.cdk takes the stage (and so `.chalice/config.json`'s stage section) from it."""
    if stack.node.id != stage.name:
        raise ValueError(f"the stack id must be the stage name {stage.name!r}")
    stage_config = {
        "autogen_policy": False,
        "manage_iam_role": False,
        "iam_role_arn": api_role_arn,
        "environment_variables": dict(environment),
    }
    with _isolated_packaging(stage.region):
        return Chalice(stack, "ChaliceApp", source_dir=str(source_dir), stage_config=stage_config)


def function(chalice: Chalice, function: ChaliceFunction) -> sam.CfnFunction:
    resource = chalice.get_resource(function.cfn_name)
    if not isinstance(resource, sam.CfnFunction):  # pragma: no cover - Chalice's SAM output
        raise TypeError(f"{function.name} is a {type(resource).__name__}, not a SAM function")
    return resource


def rest_api(chalice: Chalice) -> sam.CfnApi:
    resource = chalice.get_resource(REST_API)
    if not isinstance(resource, sam.CfnApi):  # pragma: no cover - Chalice's SAM output
        raise TypeError(f"{REST_API} is a {type(resource).__name__}, not a SAM API")
    return resource
