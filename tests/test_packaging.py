"""The package's single description (pyproject.toml) against requirements.txt, and what an install offers."""

from __future__ import annotations

import tomllib
from packaging.requirements import Requirement

import artstyle
from tests.conftest import ROOT


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _requirements(path) -> dict[str, Requirement]:
    lines = [line.split("#")[0].strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return {r.name.lower(): r for r in (Requirement(line) for line in lines if line and not line.startswith("-"))}


def test_requirements_txt_agrees_with_pyproject():
    """Spaces installs requirements.txt; pip installs pyproject's dependencies and its app extra: the same
    packages, each pin of requirements.txt inside pyproject's range."""
    project = _pyproject()["project"]
    declared = {
        r.name.lower(): r for r in map(Requirement, project["dependencies"] + project["optional-dependencies"]["app"])
    }
    pinned = _requirements(ROOT / "requirements.txt")
    assert set(pinned) == set(declared), (sorted(pinned), sorted(declared))
    for name, requirement in pinned.items():
        exact = [s.version for s in requirement.specifier if s.operator == "=="]
        if exact:
            assert declared[name].specifier.contains(exact[0]), (name, str(requirement), str(declared[name]))
        else:
            assert requirement.specifier == declared[name].specifier, (name, str(requirement), str(declared[name]))


def test_the_core_has_no_gradio_and_the_commands_are_declared():
    project = _pyproject()["project"]
    assert not any(Requirement(r).name == "gradio" for r in project["dependencies"])
    assert set(project["scripts"]) == {"artstyle", "artstyle-app", "artstyle-paper", "artstyle-sheet"}
    assert project["scripts"]["artstyle"] == "artstyle.cli:main"
    assert project["scripts"]["artstyle-app"] == "artstyle_app.cli:main"


def test_the_version_is_written_once():
    project = _pyproject()
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "artstyle.__version__"}
    assert artstyle.__version__.count(".") == 2


def test_the_catalogue_is_package_data():
    from artstyle.presets import CATALOGUE, load_catalogue

    assert CATALOGUE.is_file() and str(CATALOGUE).endswith("artstyle/presets.json")
    assert "presets.json" in _pyproject()["tool"]["setuptools"]["package-data"]["artstyle"]
    listed = (ROOT / "presets" / "README.md").read_text(encoding="utf-8")
    for preset in load_catalogue():
        assert f"`{preset.id}`" in listed, f"presets/README.md does not list {preset.id}"


def test_artstyle_app_flags(monkeypatch):
    from artstyle_app.cli import ENV_MCP, build_parser

    monkeypatch.delenv(ENV_MCP, raising=False)
    assert build_parser().parse_args([]).mcp is False
    assert build_parser().parse_args(["--mcp", "--port", "8080", "--share"]).mcp is True
    monkeypatch.setenv(ENV_MCP, "1")
    assert build_parser().parse_args([]).mcp is True
