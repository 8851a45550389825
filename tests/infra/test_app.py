"""The CDK app: stages, context overrides, and a synth that leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.app import _parse_context, main
from infra.stages import STAGES, stage_config
from tests.infra.conftest import Synthesis


def test_one_stack_per_stage(synthesis: Synthesis) -> None:
    assert set(synthesis.stages) == set(STAGES)
    for name, synthesized in synthesis.stages.items():
        assert synthesized.stack.stack_name == f"crowdact-{name}"
        assert synthesized.path.name == f"{name}.template.json"


def test_only_prod_is_termination_protected(synthesis: Synthesis) -> None:
    assert synthesis.stages["prod"].stack.termination_protection is True
    assert synthesis.stages["dev"].stack.termination_protection is False


def test_synth_leaves_the_environment_and_the_repository_alone(
    synthesis: Synthesis, repo_root: Path
) -> None:
    # chalice.cdk writes the stage's variables into os.environ and packages into ./chalice.out.
    assert synthesis.environ_after == synthesis.environ_before
    assert not (repo_root / "chalice.out").exists()


def test_context_overrides_a_stage() -> None:
    context = _parse_context(
        [
            "crowdact:prod:mail_domain=mail.crowdact.org",
            "crowdact:prod:api_rate_limit=250",
            "crowdact:prod:waf_enabled=false",
            "crowdact:dev:alarm_email=ops@crowdact.org",
        ]
    )
    prod = stage_config("prod", context)
    assert prod.mail_domain == "mail.crowdact.org"
    assert prod.mail_from == "crowdact <notifications@mail.crowdact.org>"
    assert not prod.mail_domain_is_placeholder
    assert prod.api_rate_limit == 250.0
    assert prod.waf_enabled is False
    assert prod.alarm_email is None
    assert stage_config("dev", context).alarm_email == "ops@crowdact.org"


@pytest.mark.parametrize(
    "pair", ["crowdact:prod:api_burst_limit=lots", "crowdact:prod:waf_enabled=maybe"]
)
def test_bad_context_values_are_refused(pair: str) -> None:
    with pytest.raises(ValueError, match="context"):
        stage_config("prod", _parse_context([pair]))


def test_unknown_stage_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown stage"):
        stage_config("staging")


def test_the_command_line_synthesizes_a_stage(
    tmp_path: Path, source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["--stage", "dev", "--outdir", str(tmp_path), "--source-dir", str(source)]
    assert main([*arguments, "-c", "crowdact:dev:api_rate_limit=7"]) == 0
    assert "crowdact-dev" in capsys.readouterr().out
    template = json.loads((tmp_path / "dev.template.json").read_text())
    assert not (tmp_path / "prod.template.json").exists()
    (api,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Api"]
    assert api["Properties"]["MethodSettings"][0]["ThrottlingRateLimit"] == 7
