"""Synthesizes every stage once per session; the infra tests read the templates it wrote.

These tests need requirements-infra.txt (aws-cdk-lib, Node.js, cfn-lint) and take tens of
seconds, so they run on their own: `pytest tests/infra` (marked `infra`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from aws_cdk.assertions import Template

    from infra.stack import CrowdactStack

# Without requirements-infra.txt there is nothing to collect here (and `pytest tests/infra`
# then exits 5, "no tests collected", rather than passing).
HAVE_CDK = importlib.util.find_spec("aws_cdk") is not None
if not HAVE_CDK:
    collect_ignore_glob = ["test_*.py"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "infra: synthesizes the CDK app (slow; needs Node.js)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.infra)


@dataclass(frozen=True)
class Synthesized:
    stack: CrowdactStack
    path: Path  # the template file, as `make synth` writes it
    json: dict[str, Any]
    template: Template

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.json["Resources"].items() if v["Type"] == type_}

    def properties(self, logical_id: str) -> dict[str, Any]:
        properties: dict[str, Any] = self.json["Resources"][logical_id]["Properties"]
        return properties

    def logical_id(self, construct: Any) -> str:
        """The logical id of an L2 construct's resource (or of an L1 resource itself)."""
        element = getattr(construct.node, "default_child", None) or construct
        logical_id: str = self.stack.get_logical_id(element)
        return logical_id


@dataclass(frozen=True)
class Synthesis:
    stages: dict[str, Synthesized]
    environ_before: dict[str, str]
    environ_after: dict[str, str]


def _source_without_dependencies(target: Path) -> Path:
    """The app's code with an empty requirements.txt: Chalice would otherwise download the
    dependencies' Linux wheels from PyPI to package them, and tests stay off the network.
    The templates do not depend on what the package holds."""
    root = Path(__file__).resolve().parents[2]
    (target / "app.py").symlink_to(root / "app.py")
    (target / "chalicelib").symlink_to(root / "chalicelib", target_is_directory=True)
    (target / ".chalice").mkdir()
    shutil.copy(root / ".chalice" / "config.json", target / ".chalice" / "config.json")
    (target / "requirements.txt").write_text("# dependencies left out of the test package\n")
    _web_client(target / "web")
    return target


# A stand-in for web/ (the client's own files change without the infrastructure's): what is
# served, and development files that must not be.
WEB_SERVED = ("index.html", "app.js", "style.css", "vendor/leaflet.js", "vendor/leaflet.css")
WEB_NOT_SERVED = (
    "README.md",
    "VENDOR.md",
    "package.json",
    "package-lock.json",
    "vendor.mjs",
    "node_modules/leaflet/leaflet.js",
)


def _web_client(web: Path) -> None:
    for name in (*WEB_SERVED, *WEB_NOT_SERVED):
        (web / name).parent.mkdir(parents=True, exist_ok=True)
        (web / name).write_text(f"/* {name} */\n")
    (web / "index.html").write_text(STAND_IN_INDEX)


STAND_IN_INDEX = '<!doctype html>\n<meta charset="utf-8">\n<script src="/web/app.js"></script>\n'


@pytest.fixture(scope="session")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the tests' synths package: see `_source_without_dependencies`."""
    return _source_without_dependencies(tmp_path_factory.mktemp("source"))


@pytest.fixture(scope="session")
def synthesis(tmp_path_factory: pytest.TempPathFactory, source: Path) -> Synthesis:
    from aws_cdk.assertions import Template

    from infra.app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    before = dict(os.environ)
    # CDK's own validation is skipped: test_cfn_lint lints the same files more thoroughly.
    app, stacks = build_app(outdir=outdir, builtin_validation=False, source_dir=source)
    assembly = app.synth()
    after = dict(os.environ)
    stages: dict[str, Synthesized] = {}
    for name, stack in stacks.items():
        path = Path(assembly.directory) / assembly.get_stack_by_name(stack.stack_name).template_file
        data = json.loads(path.read_text())
        stages[name] = Synthesized(stack, path, data, Template.from_json(data))
    return Synthesis(stages, before, after)


@pytest.fixture(scope="session", params=["dev", "prod"])
def stage(request: pytest.FixtureRequest, synthesis: Synthesis) -> Synthesized:
    """Each stage in turn."""
    return synthesis.stages[str(request.param)]


@pytest.fixture(scope="session")
def dev(synthesis: Synthesis) -> Synthesized:
    return synthesis.stages["dev"]


@pytest.fixture(scope="session")
def prod(synthesis: Synthesis) -> Synthesized:
    return synthesis.stages["prod"]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]
