"""The GPU call, prepared here: bench/gpu_prepare.sh, bench/gpu.sh's dry run and selection, and the CUDA switches
of artstyle/cuda_tuning.py being no-ops off CUDA."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import artstyle
from artstyle import cuda_tuning
from artstyle.cuda_tuning import ENV, CudaTuning, TunedFeatures
from artstyle.features import VGGFeatures
from tests.conftest import ROOT, SHARED, needs_shared

CARRIED = (
    "models/vgg19-caffe-features-fp16.safetensors",
    "images/content/tubingen.jpg",
    "images/styles/starry_night.jpg",
)
LIMIT = 64 * 2**20
GRADIO_LIKE = re.compile(r"^\s*(import|from)\s+(gradio|gradio_client|playwright|app|artstyle_app)\b|served_app", re.M)


def _selection() -> list[str]:
    lines = (ROOT / "bench" / "gpu_tests.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _no_cuda_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "CUDA_VISIBLE_DEVICES": "", **extra}


@needs_shared
def test_prepare_copies_what_the_device_needs_under_64_mib_and_prints_the_call(tmp_path):
    dest = tmp_path / "carry"
    proc = subprocess.run(
        ["bash", "bench/gpu_prepare.sh", str(dest)],
        cwd=ROOT, env={**os.environ, "ARTSTYLE_SHARED": str(SHARED)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert files == sorted(CARRIED)
    for name in CARRIED:
        assert (dest / name).read_bytes() == (SHARED / name).read_bytes()
    assert sum((dest / name).stat().st_size for name in CARRIED) < LIMIT
    assert 'command="bash bench/gpu.sh"' in proc.stdout
    assert 'carry=[".gpu_carry"]' in proc.stdout


@pytest.mark.slow  # a subprocess or a server
def test_prepare_refuses_without_the_shared_files(tmp_path):
    proc = subprocess.run(
        ["bash", "bench/gpu_prepare.sh", str(tmp_path / "carry")],
        cwd=ROOT, env={**os.environ, "ARTSTYLE_SHARED": str(tmp_path / "nothing")}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "missing" in proc.stderr
    assert not (tmp_path / "carry").exists()


def test_carry_folder_is_git_ignored():
    proc = subprocess.run(["git", "check-ignore", "-q", ".gpu_carry/models/x"], cwd=ROOT, check=False, timeout=30)
    assert proc.returncode == 0


def _fake_carry(root: Path) -> Path:
    for name in CARRIED:  # the dry run checks presence, not content
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    return root


@pytest.mark.slow  # a subprocess or a server
def test_gpu_sh_dry_run_without_cuda_checks_paths_and_selection_and_exits_0(tmp_path):
    carry, out = _fake_carry(tmp_path / "carry"), tmp_path / "out"
    proc = subprocess.run(
        ["bash", "bench/gpu.sh"], cwd=ROOT, env=_no_cuda_env(GPU_CARRY=str(carry), OUT=str(out)),
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no CUDA" in proc.stdout
    assert "gradio-like modules imported: none" in proc.stdout
    assert re.search(r"^interpreter: \S+ \(Python [\d.]+, torch \S+, huggingface_hub \S+", proc.stdout, re.M)
    collected = (out / "collect.txt").read_text()
    for module in _selection():
        assert module in collected
    assert not (out / "gpu.json").exists()  # nothing measured


@pytest.mark.slow  # a subprocess or a server
def test_gpu_sh_stops_when_carried_files_are_missing(tmp_path):
    proc = subprocess.run(
        ["bash", "bench/gpu.sh"], cwd=ROOT,
        env=_no_cuda_env(GPU_CARRY=str(tmp_path / "none"), OUT=str(tmp_path / "out")),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "MISSING" in proc.stdout and "gpu_prepare.sh" in proc.stdout


def test_gpu_selection_imports_no_gradio_and_leaves_out_every_app_test():
    selection = _selection()
    assert selection[0] == "tests/test_cuda.py"
    assert len(selection) == len(set(selection))
    for module in selection:
        assert (ROOT / module).is_file(), module
        assert not GRADIO_LIKE.search((ROOT / module).read_text()), f"{module} imports gradio, app or artstyle_app"
    app_tests = {f"tests/{p.name}" for p in (ROOT / "tests").glob("test_*.py") if GRADIO_LIKE.search(p.read_text())}
    assert {"tests/test_app.py", "tests/test_app_hostile.py", "tests/test_browser.py"} <= app_tests
    assert not app_tests & set(selection)


def test_switches_read_from_the_environment():
    assert CudaTuning.from_env({}) == CudaTuning()
    on = CudaTuning.from_env({var: "1" for var in ENV.values()})
    assert on == CudaTuning(tf32=True, channels_last=True, bf16=True, cuda_graph=True) and on.any
    assert CudaTuning.from_env({"ARTSTYLE_BF16": "on", "ARTSTYLE_TF32": "0"}) == CudaTuning(bf16=True)
    with pytest.raises(ValueError, match="ARTSTYLE_TF32"):
        CudaTuning.from_env({"ARTSTYLE_TF32": "maybe"})
    assert on.on(torch.device("cpu")) == CudaTuning()


def test_tune_leaves_a_cpu_network_alone_even_with_every_switch_set(monkeypatch):
    for var in ENV.values():
        monkeypatch.setenv(var, "not even read")  # off CUDA the variables are not parsed at all
    model = torch.nn.Identity()
    assert cuda_tuning.tune(model, torch.device("cpu")) is model
    assert cuda_tuning.tune(model, torch.device("cpu"), CudaTuning(True, True, True, True)) is model


def test_tuned_network_computes_the_same_features_in_channels_last(real_weights):
    # The eager path of the wrapper, on the CPU (bf16 and graphs need CUDA): same features, same sub-network API.
    net = VGGFeatures(real_weights, ("conv1_1", "conv2_1", "conv4_2"))
    tuned = TunedFeatures(net.to(memory_format=torch.channels_last), CudaTuning(channels_last=True))
    x = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(0), requires_grad=True)
    plain = VGGFeatures(real_weights, ("conv1_1", "conv2_1", "conv4_2"))(x)
    got = tuned(x)
    assert tuned.layers == net.layers
    for name, value in plain.items():
        torch.testing.assert_close(got[name].contiguous(), value, rtol=1e-4, atol=1e-4 * value.abs().max().item())
    got["conv4_2"].sum().backward()
    assert x.grad is not None and x.grad.is_contiguous()
    lean = tuned.subnetwork(("conv1_1",))
    assert isinstance(lean, TunedFeatures) and lean.layers == ("conv1_1",)
    assert lean.net.convs[0] is net.convs[0]


def test_switches_are_no_ops_on_cpu(monkeypatch, real_weights, tubingen, starry_night):
    kwargs = {"size": 40, "steps": 3, "preview_every": 0, "weights": real_weights, "device": "cpu"}
    plain = np.asarray(artstyle.stylize(tubingen, starry_night, **kwargs))
    for var in ENV.values():
        monkeypatch.setenv(var, "1")
    tuned = np.asarray(artstyle.stylize(tubingen, starry_night, **kwargs))
    np.testing.assert_array_equal(tuned, plain)


@pytest.mark.slow  # a subprocess or a server
def test_gpu_sh_names_a_missing_interpreter(tmp_path):
    env = _no_cuda_env(GPU_CARRY=str(_fake_carry(tmp_path / "carry")), OUT=str(tmp_path / "out"))
    proc = subprocess.run(
        ["bash", "bench/gpu.sh"], cwd=ROOT, env={**env, "GPU_PYTHON": "no-such-python3"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1 and "no interpreter 'no-such-python3'" in proc.stdout


def test_gpu_sh_runs_every_python_through_one_interpreter():
    """The GPU machine's Python is `python3` (there may be no `python`): gpu.sh calls "$py" everywhere."""
    script = (ROOT / "bench" / "gpu.sh").read_text()
    assert 'py="${GPU_PYTHON:-python3}"' in script
    code = [line for line in script.splitlines() if not line.lstrip().startswith("#")]
    bare = [line for line in code if re.search(r"(^|[\s(])python3?\s", line)]
    assert not bare, bare
