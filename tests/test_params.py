"""Hostile parameter values through the Python API and the CLI: one clear error naming the parameter."""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import artstyle
from artstyle.cli import _save, main
from artstyle.params import StyleParams
from tests.conftest import REAL_WEIGHTS, ROOT, needs_shared

NAN, INF = float("nan"), float("inf")
COMMON_BAD = [NAN, INF, -INF, "1", b"1", True, False, [1], (1,), {"v": 1}, 1j, object()]
BAD = {
    "size": [*COMMON_BAD, None, -512, 0, 15, 8193, 10**9, 10**400, 512.0, 512.5, np.float32(512)],
    "steps": [*COMMON_BAD, None, -1, 0, 100_001, 10**400, 10.0],
    "seed": [*COMMON_BAD, None, -1, 2**63, 1.5],
    "preview_every": [*COMMON_BAD, None, -1, 100_001],
    "content_weight": [*COMMON_BAD, None, -1, -1e-9, 1e13, 10**400, np.float64(NAN)],
    "style_weight": [*COMMON_BAD, None, -1e3, 1e300, Fraction(10**400, 3)],
    "tv_weight": [*COMMON_BAD, None, -0.1, 1e13],
    "lr": [*COMMON_BAD, 0, 0.0, -0.5, 1e13],  # None is valid: the optimiser's default
    "optimizer": [None, "", "sgd", "LBFGS", 1, ["adam"], True, NAN],
    "init": [None, "", "random", 0, ["noise"]],
    "pooling": [None, "", "min", 1, ["avg"]],
    "device": [None, "", "gpu", "cuda:", "cuda:x", "cpu ", 0, ["cpu"], True],
    "content_layers": [None, 5, [1], ["conv4_2", None], "conv9_9", ["conv4_2", "conv4_2"], "../etc/passwd"],
    "style_layers": [None, 5.0, [b"conv1_1"], "relu1_1", ["conv1_1", "pool1"]],
}


FIELDS = [f.name for f in dataclasses.fields(StyleParams)]


def test_hostile_table_names_real_fields():
    assert set(BAD) <= set(FIELDS)


@pytest.mark.parametrize("name", FIELDS)
@pytest.mark.parametrize("value", [object(), {"v": 1}, NAN, b"\xff"], ids=["object", "dict", "nan", "bytes"])
def test_every_field_refuses_nonsense(name, value):
    """Fields added later get no table entry above but must still refuse what no field accepts."""
    with pytest.raises(ValueError, match=f"^{name}"):
        StyleParams(**{name: value})


@pytest.mark.parametrize(("name", "value"), [(n, v) for n, values in BAD.items() for v in values])
def test_bad_value_raises_value_error_naming_the_parameter(name, value):
    with pytest.raises(ValueError) as info:
        StyleParams(**{name: value})
    message = str(info.value)
    assert message.startswith(name) and "\n" not in message


@pytest.mark.parametrize("name", ["size", "content_weight", "lr", "optimizer", "style_layers", "device"])
def test_stylize_iter_validates_before_any_work(name, tmp_path: Path):
    """A bad parameter is reported at the call, before images or weights are touched (both are missing)."""
    missing = tmp_path / "missing.jpg"
    with pytest.raises(ValueError, match=f"^{name}"):
        artstyle.stylize_iter(missing, missing, weights=tmp_path / "none.safetensors", **{name: BAD[name][0]})


def test_unknown_keyword_and_wrong_params_object(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown parameter.*sizee"):
        artstyle.stylize_iter(tmp_path / "a.jpg", tmp_path / "b.jpg", sizee=64)
    with pytest.raises(ValueError, match="params must be a StyleParams"):
        artstyle.stylize_iter(tmp_path / "a.jpg", tmp_path / "b.jpg", params={"size": 64})
    with pytest.raises(ValueError, match="both 0"):
        StyleParams(content_weight=0, style_weight=0.0)
    with pytest.raises(ValueError, match="both empty"):
        StyleParams(content_layers=(), style_layers="")


def test_numeric_types_are_accepted_and_normalised():
    p = StyleParams(
        size=np.int64(64),
        steps=np.uint16(3),
        seed=np.int32(7),
        content_weight=np.float32(0.5),
        style_weight=10**6,
        tv_weight=Fraction(1, 4),
        lr=np.float16(0.5),
        content_layers="conv4_2, ",
        style_layers=["conv1_1", " conv2_1"],
    )
    assert (p.size, p.steps, p.seed) == (64, 3, 7) and all(type(v) is int for v in (p.size, p.steps, p.seed))
    assert (p.content_weight, p.style_weight, p.tv_weight, p.lr) == (0.5, 1e6, 0.25, 0.5)
    assert all(type(v) is float for v in (p.content_weight, p.style_weight, p.tv_weight, p.lr))
    assert p.content_layers == ("conv4_2",) and p.style_layers == ("conv1_1", "conv2_1")
    assert StyleParams(content_layers="", style_layers=("conv1_1",)).content_layers == ()
    assert math.isclose(StyleParams(style_weight=1e12).style_weight, 1e12)


# ---------------------------------------------------------------- CLI


def run_cli(capsys, *args: str) -> tuple[int, str]:
    try:
        code = main(["content.jpg", "style.jpg", *args])
    except SystemExit as exc:  # argparse errors
        code = exc.code
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--size", "nan"], "argument --size: invalid int value: 'nan'"),
        (["--size", "1e3"], "argument --size: invalid int value"),
        (["--size", "abc"], "argument --size: invalid int value"),
        (["--size", "0"], "--size must be between 16 and 8192, got 0"),
        (["--size", "99999999999999999999"], "--size must be between 16 and 8192"),
        (["--steps", "-5"], "--steps must be between 1 and 100000, got -5"),
        (["--style-weight", "-inf"], "argument --style-weight: expected one argument"),  # argparse: an option
        (["--steps", "2.5"], "argument --steps: invalid int value"),
        (["--content-weight", "nan"], "--content-weight must be a finite number, got nan"),
        (["--style-weight", "inf"], "--style-weight must be a finite number, got inf"),
        (["--style-weight=-inf"], "--style-weight must be a finite number, got -inf"),
        (["--tv-weight=-1"], "--tv-weight must be >= 0, got -1.0"),
        (["--content-weight", "1e400"], "--content-weight must be a finite number, got inf"),
        (["--content-weight", "0", "--style-weight", "0"], "--content-weight and --style-weight are both 0"),
        (["--lr", "0"], "--lr must be > 0, got 0.0"),
        (["--lr", "nan"], "--lr must be a finite number"),
        (["--lr", "fast"], "argument --lr: invalid"),
        (["--seed=-1"], "--seed must be between 0 and"),
        (["--preview-every", "x"], "argument --preview-every: invalid int value"),
        (["--optimizer", "sgd"], "argument --optimizer: invalid choice: 'sgd'"),
        (["--init", ""], "argument --init: invalid choice"),
        (["--pooling", "MAX"], "argument --pooling: invalid choice"),
        (["--style-layers", "conv9_1"], "--style-layers: unknown layer(s) conv9_1"),
        (["--content-layers", "conv4_2,conv4_2"], "--content-layers lists a layer twice"),
        (["--content-layers", "", "--style-layers", ","], "--content-layers and --style-layers are both empty"),
        (["--device", "gpu"], "--device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got 'gpu'"),
        (["--no-such-option", "1"], "unrecognized arguments: --no-such-option 1"),
    ],
)
def test_cli_bad_options_exit_2_with_one_line(capsys, args, expected):
    code, err = run_cli(capsys, *args)
    assert code == 2
    assert err.startswith("error: ") and "\n" not in err, err
    assert expected in err


@pytest.mark.slow  # a subprocess or a server
def test_cli_subprocess_reports_one_line(tmp_path: Path):
    """The real entry point: exit status 2, one stderr line, no traceback, nothing written."""
    out = tmp_path / "out.png"
    proc = subprocess.run(
        [sys.executable, "-m", "artstyle", "a.jpg", "b.jpg", "-o", str(out), "--size", "nan"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "usage:" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error")]  # not library warnings
    assert errors == ["error: argument --size: invalid int value: 'nan' (see python -m artstyle --help)"]
    assert not out.exists()


@pytest.mark.parametrize("name", ["out.xyz", "out", "out.pdf", "out.eps", "out.psd", "out.gif.txt"])
def test_cli_unknown_output_extension_is_refused_before_running(capsys, tmp_path: Path, name):
    target = tmp_path / "new-dir" / name
    code, err = run_cli(capsys, "-o", str(target))
    assert code == 2 and "unknown image extension" in err and ".png" in err
    assert not target.parent.exists()  # nothing created


def test_cli_unwritable_outputs_are_refused_before_running(capsys, tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, err = run_cli(capsys, "-o", str(blocker / "out.png"))  # a file where a directory should be
    assert code == 2 and "cannot be written" in err
    (tmp_path / "taken.png").mkdir()
    code, err = run_cli(capsys, "-o", str(tmp_path / "taken.png"))
    assert code == 2 and "is a directory" in err


def test_cli_refuses_to_overwrite_an_input(capsys, tmp_path: Path):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (32, 32)).save(photo)
    before = photo.read_bytes()
    code = main([str(photo), "style.jpg", "-o", str(tmp_path / "." / "photo.png")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "is one of the input images" in err
    assert photo.read_bytes() == before


def test_cli_ctrl_c_stops_the_run_and_writes_nothing(capsys, tmp_path: Path, monkeypatch):
    closed = []

    def interrupted_run(*args, **kwargs):
        try:
            yield artstyle.Progress(step=1, total=5, losses=artstyle.Losses(total=1.0, content=0.5, style=0.5, tv=0.0))
            raise KeyboardInterrupt
        finally:
            closed.append(True)

    monkeypatch.setattr("artstyle.cli.stylize_iter", interrupted_run)
    out = tmp_path / "out.png"
    assert main(["c.jpg", "s.jpg", "-o", str(out), "-q"]) == 130
    assert closed == [True] and not out.exists()
    assert capsys.readouterr().err.strip() == "error: interrupted; nothing written"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes through file permissions")
def test_cli_read_only_directory_is_refused(capsys, tmp_path: Path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        code, err = run_cli(capsys, "-o", str(locked / "out.png"))
    finally:
        locked.chmod(0o755)
    assert code == 2 and "cannot be written" in err and "Permission denied" in err


def test_cli_checks_output_then_images(capsys, tmp_path: Path):
    code, err = run_cli(capsys, "-o", str(tmp_path / "out.png"), "--weights", str(tmp_path / "w.safetensors"))
    assert code == 2 and err == "error: content: no such file 'content.jpg'"
    assert list(tmp_path.iterdir()) == []  # the writability probe left nothing behind


def test_result_is_rescued_when_the_final_save_fails(capsys, tmp_path: Path):
    image = Image.new("RGB", (8, 8), (1, 2, 3))
    target = tmp_path / "gone.png"
    target.mkdir()  # became unwritable during the run
    assert _save(image, target, {}) == 1
    err = capsys.readouterr().err.strip()
    rescue = Path(err.rsplit("saved to ", 1)[1])
    try:
        assert f"could not write {target}" in err
        assert Image.open(rescue).getpixel((0, 0)) == (1, 2, 3)
    finally:
        rescue.unlink()


@needs_shared
def test_cli_end_to_end_writes_a_jpeg(capsys, tmp_path: Path):
    content, style = tmp_path / "c.png", tmp_path / "s.bmp"
    Image.new("RGB", (40, 32), (200, 30, 30)).save(content)
    Image.effect_noise((32, 32), 60).convert("RGB").save(style)
    out = tmp_path / "deep" / "er" / "result.JPG"
    code = main(
        [str(content), str(style), "-o", str(out), "--weights", str(REAL_WEIGHTS)]
        + ["--size", "32"] * 1
        + ["--steps", "2", "--device", "cpu", "-q"]
    )
    assert code == 0, capsys.readouterr().err
    with Image.open(out) as result:
        assert result.format == "JPEG" and result.size == (32, 26)


@needs_shared
@pytest.mark.parametrize(
    "extreme",
    [
        {"lr": 1e12},  # L-BFGS steps far past the pixel range
        {"style_weight": 1e12, "content_weight": 0.0, "init": "noise"},
        {"content_weight": 1e-12, "style_weight": 1e-12, "tv_weight": 1e12, "optimizer": "adam", "lr": 1e12},
    ],
)
def test_extreme_but_valid_values_give_finite_losses_and_an_image(extreme):
    """The largest values validation lets through must not produce NaN losses or a crash."""
    rng = np.random.default_rng(0)
    content, style = rng.random((32, 32, 3)), rng.random((32, 32, 3))
    events = list(
        artstyle.stylize_iter(content, style, weights=REAL_WEIGHTS, size=32, steps=3, device="cpu", **extreme)
    )
    assert events[-1].done and events[-1].image.size == (32, 32)
    assert all(math.isfinite(v) for e in events for v in dataclasses.astuple(e.losses)), [e.losses for e in events]
