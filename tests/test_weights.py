"""VGG19 weights through huggingface_hub's real download code, against an imitation Hub on localhost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from artstyle.weights import CONV_INDICES, WeightsError, load_weights, parse_source
from tests.conftest import REAL_WEIGHTS, ROOT, needs_shared
from tests.fake_hub import FakeHub

REPO = "timm/vgg19.tv_in1k"
FILE = "model.safetensors"


def _features() -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return {k: v.float() for k, v in load_file(str(REAL_WEIGHTS)).items()}


@pytest.fixture(scope="module")
def timm_like_file(tmp_path_factory) -> bytes:
    """A file laid out like timm's vgg19.tv_in1k: fp32 features.* plus full-size classifier tensors, no metadata."""
    if not REAL_WEIGHTS.is_file():
        pytest.skip(f"real VGG19 weights not found at {REAL_WEIGHTS}")
    tensors = _features()
    tensors["pre_logits.fc1.weight"] = torch.zeros(4096, 512, 7, 7)
    tensors["pre_logits.fc1.bias"] = torch.zeros(4096)
    tensors["pre_logits.fc2.weight"] = torch.zeros(4096, 4096, 1, 1)
    tensors["pre_logits.fc2.bias"] = torch.zeros(4096)
    tensors["head.fc.weight"] = torch.zeros(1000, 4096)
    tensors["head.fc.bias"] = torch.zeros(1000)
    path = tmp_path_factory.mktemp("timm") / FILE
    save_file(tensors, str(path))
    return path.read_bytes()


@pytest.fixture
def hub(timm_like_file):
    server = FakeHub().start()
    server.add(REPO, FILE, timm_like_file)
    yield server
    server.stop()


def _run_offline(script: str, cache: Path) -> subprocess.CompletedProcess[str]:
    """`script` in a fresh Python with HF_HUB_OFFLINE=1 and `cache` as huggingface_hub's cache (both are read
    once, at import, so a subprocess is the honest way to test them)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "ARTSTYLE_"))}
    env.update(HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=ROOT)


def test_first_download_then_cache_hit(hub, tmp_path):
    weights = load_weights(None, endpoint=hub.endpoint, cache_dir=str(tmp_path))
    assert weights.convention == "torchvision"  # timm's file has no input_convention metadata
    assert len(weights.convs) == 16
    assert hub.downloads() == 1
    cached = list(tmp_path.rglob(FILE))
    assert cached, "the file must land in huggingface_hub's cache"

    again = load_weights(None, endpoint=hub.endpoint, cache_dir=str(tmp_path))
    assert hub.downloads() == 1, "a cached file must not be downloaded again"
    assert torch.equal(again.convs[9][0], weights.convs[9][0])


def test_pinned_revision_and_filename_from_spec(hub, tmp_path):
    load_weights(f"{REPO}:{FILE}@v1.0", endpoint=hub.endpoint, cache_dir=str(tmp_path))
    assert any("/resolve/v1.0/model.safetensors" in path for _, path in hub.requests)


def test_only_feature_tensors_are_read(hub, tmp_path):
    """The file is ~570 MB, ~490 MB of it classifier: loading must not bring those bytes into memory."""
    load_weights(None, endpoint=hub.endpoint, cache_dir=str(tmp_path))
    # VmHWM (this process image's peak RSS), not ru_maxrss, which Linux carries over from the forking parent.
    script = (
        "import torch, artstyle.weights as w\n"
        "def hwm():\n"
        "    line = next(x for x in open('/proc/self/status') if x.startswith('VmHWM'))\n"
        "    return int(line.split()[1]) * 1024\n"
        "before = hwm()\n"
        "vgg = w.load_weights()\n"
        "print(before, hwm(), sum(t.numel() for pair in vgg.convs for t in pair))\n"
    )
    out = _run_offline(script, tmp_path)
    assert out.returncode == 0, out.stderr
    before, peak, numel = map(int, out.stdout.split())
    assert numel == 20_024_384  # VGG19's convolution parameters
    file_size = next(tmp_path.rglob(FILE)).stat().st_size
    assert file_size > 500e6
    assert peak - before < 300e6, f"loading grew the process by {(peak - before) / 1e6:.0f} MB"


def test_offline_mode_uses_the_cache_and_explains_when_empty(hub, tmp_path):
    load_weights(None, endpoint=hub.endpoint, cache_dir=str(tmp_path))
    script = "import artstyle.weights as w; print(w.load_weights().source)"
    ok = _run_offline(script, tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "timm/vgg19.tv_in1k" in ok.stdout

    empty = tmp_path / "empty"
    script = "import artstyle.weights as w\ntry:\n    w.load_weights()\nexcept w.WeightsError as e:\n    print(e)\n"
    out = _run_offline(script, empty)
    assert "HF_HUB_OFFLINE" in out.stdout and "ARTSTYLE_WEIGHTS" in out.stdout, out.stdout + out.stderr


def test_no_network_gives_a_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="cannot be reached.*HF_HUB_OFFLINE.*ARTSTYLE_WEIGHTS"):
        load_weights(None, endpoint="http://127.0.0.1:9", cache_dir=str(tmp_path))


def test_missing_repo_gives_a_clear_error(hub, tmp_path):
    with pytest.raises(WeightsError, match="nobody/nothing"):
        load_weights("nobody/nothing", endpoint=hub.endpoint, cache_dir=str(tmp_path))


@needs_shared
def test_corrupted_cache_is_fetched_again_once(tmp_path):
    hub = FakeHub().start()
    try:
        hub.add("small/vgg19", FILE, REAL_WEIGHTS.read_bytes())
        load_weights(f"small/vgg19:{FILE}", endpoint=hub.endpoint, cache_dir=str(tmp_path))
        blob = next(p for p in tmp_path.rglob("*") if p.parent.name == "blobs")
        data = bytearray(blob.read_bytes())
        data[len(data) // 2] ^= 0xFF  # one flipped byte inside a tensor: only the hash can tell
        blob.write_bytes(bytes(data))
        weights = load_weights(f"small/vgg19:{FILE}", endpoint=hub.endpoint, cache_dir=str(tmp_path))
        assert weights.convention == "caffe"
        assert hub.downloads() == 2, "the corrupted file is downloaded again exactly once"
    finally:
        hub.stop()


@needs_shared
def test_truncated_download_is_detected(tmp_path):
    hub = FakeHub().start()
    try:
        full = REAL_WEIGHTS.read_bytes()
        truncated = full[: len(full) // 3]
        # The server consistently serves a truncated copy while advertising the full file's hash.
        hub.add("small/vgg19", FILE, truncated, sha256=FakeHub().add("x/y", "z", full).sha256)
        with pytest.raises(WeightsError, match="corrupted|truncated"):
            load_weights(f"small/vgg19:{FILE}", endpoint=hub.endpoint, cache_dir=str(tmp_path))
        assert hub.downloads() == 2, "one retry, then a clear error"
    finally:
        hub.stop()


def test_local_file_errors(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        load_weights(tmp_path / "missing.safetensors")
    with pytest.raises(WeightsError, match="only .safetensors"):
        parse_source("vgg19.pth")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(WeightsError, match="truncated or not a valid safetensors"):
        load_weights(bad)
    wrong = tmp_path / "wrong.safetensors"
    save_file({f"features.{i}.weight": torch.zeros(1) for i in CONV_INDICES}, str(wrong))
    with pytest.raises(WeightsError, match="not a VGG19"):
        load_weights(wrong)


@needs_shared
def test_caffe_convention_is_read_from_metadata():
    from safetensors import safe_open

    with safe_open(str(REAL_WEIGHTS), "pt") as fh:
        assert json.loads(json.dumps(fh.metadata()))["input_convention"] == "caffe"
    assert load_weights(REAL_WEIGHTS).convention == "caffe"


def test_env_var_selects_source(monkeypatch, tmp_path):
    monkeypatch.setenv("ARTSTYLE_WEIGHTS", "someone/vgg:weights.safetensors@main")
    hub_file = parse_source(None)
    assert (hub_file.repo_id, hub_file.filename, hub_file.revision) == ("someone/vgg", "weights.safetensors", "main")
    monkeypatch.setenv("ARTSTYLE_WEIGHTS", str(tmp_path / "w.safetensors"))
    with pytest.raises(WeightsError, match="does not exist"):
        parse_source(None)
