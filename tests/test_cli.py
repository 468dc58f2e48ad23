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


def test_list_presets_needs_no_photo_and_names_each_preset(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--list-presets"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("id") and "starry_night" in out and "The Starry Night" in out


def test_an_unknown_preset_id_is_one_line_before_any_work(capsys, tmp_path):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (32, 24)).save(photo)
    code = main([str(photo), "starry_nite", "-o", str(tmp_path / "out.png"), "--weights", str(tmp_path / "none")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == (
        "error: 'starry_nite' is neither a file nor a preset id; artstyle --list-presets lists the presets"
    )


@needs_shared
def test_a_preset_id_is_a_painting_with_its_recommended_settings(tmp_path, monkeypatch):
    from tests.conftest import STYLES_DIR

    monkeypatch.setenv("ARTSTYLE_PRESETS_DIR", str(STYLES_DIR))
    out = tmp_path / "out.png"
    code = main([str(ROOT / "examples" / "chelsea.jpg"), "starry_night", "-o", str(out), "--size", "48",
                 "--steps", "2", "--weights", str(REAL_WEIGHTS), "-q"])  # fmt: skip
    assert code == 0
    settings = read_settings(out)
    assert settings["style"] == ["starry_night"] and settings["style_weight"] == 3000.0  # the preset's, not 1e3
