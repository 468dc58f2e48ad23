"""Contact sheets: `contact_sheet()` and `python -m artstyle.gallery`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artstyle.gallery import APP_METHOD, DEFAULT_SIZE, DEFAULT_STEPS, contact_sheet, format_value, main, parse_setting
from artstyle.presets import get_preset
from tests.conftest import REAL_WEIGHTS, ROOT, STYLES_DIR, needs_shared

PHOTO = ROOT / "examples" / "chelsea.jpg"
PRESETS = ["starry_night", "the_scream"]


def test_defaults_are_the_apps_cpu_defaults():
    from artstyle_app.devices import profile

    cpu = profile("cpu")
    assert (cpu.size, cpu.steps) == (DEFAULT_SIZE, DEFAULT_STEPS)
    assert {"style_loss": cpu.style_loss, "schedule": cpu.schedule} == APP_METHOD


@needs_shared
def test_sheet_has_a_painted_cell_per_preset_and_photo(real_weights):
    lines: list[str] = []
    sheet = contact_sheet(
        [PHOTO], PRESETS, size=40, steps=3, paintings_dir=STYLES_DIR, weights=real_weights, report=lines.append
    )
    cells = sheet.info["cells"]
    assert set(cells) == {(p, 0) for p in PRESETS}
    for x0, y0, x1, y1 in cells.values():
        assert (x1 - x0, y1 - y0) == (40, 40)  # the cell defaults to the result's size
        assert min(x0, y0) >= 0 and x1 <= sheet.width and y1 <= sheet.height
    (a_x0, a_y0, *_), (b_x0, b_y0, *_) = cells[(PRESETS[0], 0)], cells[(PRESETS[1], 0)]
    assert a_x0 == b_x0 and b_y0 >= a_y0 + 40  # one row per preset, one column per photo
    assert sheet.width > 40 and sheet.height >= 2 * 40  # room for the labels and the header too
    pixels = [np.asarray(sheet.crop(box), dtype=np.float32) for box in cells.values()]
    for cell in pixels:
        assert cell.std() > 10  # a picture, not a blank square
    assert np.abs(pixels[0] - pixels[1]).mean() > 2  # each row its own painting
    assert len(lines) == 2 and lines[0].startswith("[1/2] starry_night x chelsea.jpg: 3 steps")
    labels = np.asarray(sheet.crop((0, b_y0, a_x0, b_y0 + 12)), dtype=np.float32)
    assert labels.min() < 128  # a row label is drawn left of the cells


@needs_shared
def test_cli_writes_a_png_with_its_settings(tmp_path):
    out = tmp_path / "sheet.png"
    result = subprocess.run(
        [sys.executable, "-m", "artstyle.gallery", str(PHOTO), "-o", str(out), "--presets", "starry_night",
         "--size", "32", "--steps", "2", "--cell", "48", "--paintings", str(STYLES_DIR), "--weights",
         str(REAL_WEIGHTS), "--set", "tv_weight=0"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "[1/1] starry_night x chelsea.jpg" in result.stderr and f"wrote {out}" in result.stderr
    with Image.open(out) as image:
        assert image.format == "PNG" and image.width >= 48
        settings = json.loads(image.text["artstyle"])
    assert settings["presets"] == ["starry_night"] and settings["photos"] == ["chelsea.jpg"]
    assert settings["size"] == 32 and settings["steps"] == 2
    assert settings["overrides"] == {**APP_METHOD, "tv_weight": 0.0}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--presets", "no_such_painting"], "not in the catalogue"),
        (["--set", "tv_weight"], "KEY=VALUE"),
        (["--set", "colour=1"], "unknown setting 'colour'"),
        (["--set", "seed=abc"], "seed=abc"),
        (["--set", "size=64"], "use --size"),
        (["--set", "optimizer=sgd"], "optimizer"),
        (["--size", "8"], "size"),
        (["--cell", "4"], "cell"),
        (["-o", "sheet.gif"], ".png or .jpg"),
        (["--paintings", "/no/such/dir"], "not a directory"),
        (["--presets", "gauguin_tahitian_women", "--paintings", "."], "unavailable"),
    ],
)
def test_bad_arguments_are_one_clear_error(args, message, capsys, tmp_path):
    argv = [str(PHOTO), "-o", str(tmp_path / "sheet.png"), "--weights", str(tmp_path / "unused.safetensors"), *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "sheet.png").exists()


def test_missing_photo_is_a_clear_error(capsys, tmp_path):
    assert main([str(tmp_path / "nope.jpg"), "-o", str(tmp_path / "s.png")]) == 2
    assert "photo not found" in capsys.readouterr().err


def test_settings_parse_like_the_cli():
    assert parse_setting("tv_weight=0") == ("tv_weight", 0.0)
    assert parse_setting("--style-scale=0.8") == ("style_scale", 0.8)
    assert parse_setting("preserve_color=none") == ("preserve_color", None)
    assert parse_setting("scales=2") == ("scales", 2)
    assert parse_setting("style_layers=conv1_1,conv2_1") == ("style_layers", ("conv1_1", "conv2_1"))


def test_labels_write_numbers_compactly():
    values = (1e4, 1000.0, 1e-3, 0.8, 2500.0, 0.0)
    assert [format_value(v) for v in values] == ["1e4", "1e3", "1e-3", "0.8", "2.5e3", "0"]


def test_no_photo_or_no_preset_is_refused():
    with pytest.raises(ValueError, match="at least one photo"):
        contact_sheet([], ["starry_night"])
    with pytest.raises(ValueError, match="at least one preset"):
        contact_sheet([PHOTO], [])
    with pytest.raises(ValueError, match="whole sheet"):
        contact_sheet([PHOTO], [get_preset("starry_night")], overrides={"size": 64})


@pytest.mark.slow  # a subprocess or a server
def test_gallery_imports_no_gradio():
    code = "import sys, artstyle.gallery; sys.exit('gradio' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(ROOT), timeout=120).returncode == 0
