"""The command line: a thin shell over stylize_iter whose options come from StyleParams."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from PIL import Image

from artstyle.cli import build_parser, main
from artstyle.metadata import read_settings
from artstyle.params import StyleParams
from tests.conftest import REAL_WEIGHTS, ROOT, needs_shared


def test_help_lists_every_parameter_with_its_default():
    text = " ".join(build_parser().format_help().split())
    for f in dataclasses.fields(StyleParams):
        assert f"--{f.name.replace('_', '-')}" in text
    assert "(default: 512)" in text and "(default: conv4_2)" in text


@needs_shared
def test_cli_writes_the_result(tmp_path, tubingen, starry_night):
    out = tmp_path / "sub" / "out.png"
    code = main(
        [
            str(tubingen),
            str(starry_night),
            "-o",
            str(out),
            "--size",
            "48",
            "--steps",
            "3",
            "--weights",
            str(REAL_WEIGHTS),
            "--style-layers",
            "conv1_1,conv2_1",
            "-q",
        ]
    )
    assert code == 0
    assert Image.open(out).size == (48, 36)
    # The PNG carries every setting, as the app's download does.
    settings = read_settings(out)
    assert settings["size"] == 48 and settings["steps"] == 3 and settings["style_layers"] == ["conv1_1", "conv2_1"]
    assert settings["content"] == tubingen.name and settings["style"] == [starry_night.name]


@pytest.mark.slow  # a subprocess or a server
def test_cli_rejects_bad_values_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "artstyle", "a.jpg", "b.jpg", "--steps", "0"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --steps must be between 1 and 100000, got 0"
    result = subprocess.run(
        [sys.executable, "-m", "artstyle", "a.jpg", "b.jpg", "-o", "x.doc"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 2 and "unknown image extension" in result.stderr


def test_paper_flag_restores_the_papers_settings_unless_an_option_says_otherwise():
    from artstyle.cli import _params
    from artstyle.params import PAPER_SETTINGS

    paper = _params(build_parser().parse_args(["c.jpg", "s.jpg", "--paper"]))
    assert {k: getattr(paper, k) for k in PAPER_SETTINGS} == PAPER_SETTINGS
    assert paper == StyleParams.paper()
    mixed = _params(build_parser().parse_args(["c.jpg", "s.jpg", "--paper", "--init", "style", "--size", "64"]))
    assert (mixed.init, mixed.size, mixed.tv_weight) == ("style", 64, 0.0)
