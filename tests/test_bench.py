"""The benchmark's yardstick: reference, evaluator and FLOP count (the size cap is tested in test_limits.py)."""

from __future__ import annotations

import sys

import pytest
import torch
from PIL import Image

import artstyle
from tests.conftest import CONTENT_DIR, REAL_WEIGHTS, ROOT, STYLES_DIR, needs_shared

WEIGHTS = REAL_WEIGHTS
CONTENT = CONTENT_DIR / "tubingen.jpg"
STYLE = STYLES_DIR / "starry_night.jpg"


def test_flop_count_matches_vgg19_at_224():
    from bench import bench

    # VGG19's convolutions up to conv5_1 at 224x224: 18.13 GMAC forward (the 16 convs are 19.5 GMAC, the
    # three after conv5_1 1.39). Forward + input-gradient backward = 4 FLOPs per MAC, plus the Gram matrices.
    grams = 4 * sum(c * c * s * s for c, s in ((64, 224), (128, 112), (256, 56), (512, 28), (512, 14)))
    assert bench.flops_per_iteration(224, 224) == pytest.approx(4 * 18.13e9 + grams, rel=0.01)


@needs_shared
def test_reference_network_matches_artstyle_features():
    """Two independent readings of the Caffe weights and their input convention agree."""
    from artstyle.features import VGGFeatures
    from bench import reference

    x = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(0))
    ours = VGGFeatures(artstyle.load_weights(str(WEIGHTS)), ["conv1_1", "conv4_2", "conv5_1"])(x)
    theirs = reference.Net(str(WEIGHTS), torch.device("cpu"))(x)
    for name, value in ours.items():
        torch.testing.assert_close(theirs[name], value, rtol=1e-4, atol=1e-3 * value.abs().max().item())


@needs_shared
def test_reference_improves_and_evaluator_is_calibrated_on_it():
    from bench import reference
    from bench.evaluate import Evaluator

    cpu = torch.device("cpu")
    net = reference.Net(str(WEIGHTS), cpu)
    content, style = Image.open(CONTENT), Image.open(STYLE)
    out = reference.tensor_to_image(reference.run(net, content, style, size=64, steps=8, device=cpu))
    evaluator = Evaluator(net, content, style, size=64, device=cpu)
    start = evaluator.distances(content)
    done = evaluator.calibrate(out)
    assert out.size == evaluator.shape == (64, 48)
    assert done["objective"] < 0.8 * start["objective"]  # 8 iterations already cut the paper's objective
    assert evaluator.score(out) == pytest.approx(1.0)
    assert evaluator.score(content) > 1.2


def _run_bench_script(module: str, *args: str) -> dict:
    """`python -m MODULE ARGS...` from the repository root, as bench/README.md runs every script."""
    import json
    import subprocess

    done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@needs_shared
def test_conv_layers_script_times_both_backends_and_shows_the_pick():
    if not torch.backends.nnpack.is_available():
        pytest.skip("this PyTorch build has no NNPACK")
    out = _run_bench_script("bench.conv_layers", "--size", "64", "--depth", "conv2_1", "--repeats", "1")
    assert list(out["layers"]) == ["conv1_1", "conv1_2", "conv2_1"]
    conv1_1, conv1_2, conv2_1 = out["layers"].values()
    assert conv1_1["channels"] == [3, 64] and conv1_1["picked_input_grad"] == "onednn"  # 3 channels: oneDNN
    assert conv1_2["map"] == [64, 48] and conv1_2["picked_forward"] == "nnpack"  # 3072 px, 64 channels: NNPACK
    assert conv2_1["map"] == [32, 24] and conv2_1["picked_forward"] == "onednn"  # 768 px < MIN_WINOGRAD_PIXELS
    assert all(v > 0 for layer in out["layers"].values() for k, v in layer.items() if k.endswith("_ms"))


@needs_shared
def test_extrapolate_script_scores_points_off_the_path():
    out = _run_bench_script("bench.research.extrapolate", "--size", "48", "--steps", "70")
    assert out["score_at"]["70"] == 1.0 and out["score_at"]["30"] > 1.0  # the run itself improves
    assert {(r["k"], r["d"]) for r in out["extrapolated"]} == {(60, 10), (60, 30)}
    assert all(r["score"] > 0 for r in out["extrapolated"])


@needs_shared
def test_guard_cost_script_times_the_guard_against_none():
    out = _run_bench_script("bench.guard_cost", "--size", "48", "--steps", "4", "--rounds", "1")
    assert set(out["s_per_it"]) == {"guard", "no_guard"} and all(v > 0 for v in out["s_per_it"].values())
    assert out["ratio_guard_to_none"] > 0 and out["restarts"] == [0]
    assert out["final"]["guard"] <= out["final"]["no_guard"] * 1.0001  # the guard's output is never worse


@needs_shared
def test_same_pixels_script_saves_then_finds_the_same_run_and_a_changed_one(tmp_path):
    import json
    import subprocess

    def same_pixels(action: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "bench.same_pixels", action, str(tmp_path), "--cases", "blend"]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert same_pixels("save").returncode == 0
    checked = same_pixels("check")
    assert checked.returncode == 0, checked.stderr[-2000:]
    assert json.loads(checked.stdout.splitlines()[0]) == {"case": "blend", "same": True, "max_pixel_change": 0}
    saved = (tmp_path / "blend.npy").read_bytes()
    (tmp_path / "blend.npy").write_bytes(saved[:-1] + bytes([saved[-1] ^ 0xFF]))  # one pixel value changed
    changed = same_pixels("check")
    assert changed.returncode == 1 and json.loads(changed.stdout.splitlines()[0])["same"] is False
