"""cfn-lint finds nothing in the synthesized templates (the files `make synth` writes)."""

from __future__ import annotations

from infra.lint import lint_templates
from tests.infra.conftest import Synthesis


def test_templates_pass_cfn_lint(synthesis: Synthesis) -> None:
    paths = [synthesized.path for synthesized in synthesis.stages.values()]
    matches = lint_templates(paths)
    assert [str(match) for match in matches] == []
