"""VGG19 weights through huggingface_hub's real HTTP code, against an imitation Hub on localhost.

(Byte counts, Range-less servers and damaged ranges: test_weights_range.py.)
"""

from __future__ import annotations

import json
import time

import pytest
import torch
from huggingface_hub import hf_hub_download
from safetensors.torch import save_file

from artstyle.weights import CONV_INDICES, WeightsError, load_weights, parse_source
from tests.conftest import HUB_CLIENT_REFUSAL, REAL_WEIGHTS, ROOT, needs_hub_client, needs_shared
from tests.fake_hub import FakeHub, hub_dirs, run_offline, timm_like_vgg19

REPO = "timm/vgg19.tv_in1k"
FILE = "model.safetensors"


@pytest.fixture(scope="module")
def timm_like_file() -> tuple[bytes, str]:
    """(content, sha256) of a file laid out like timm's vgg19.tv_in1k: fp32 features.* plus full-size classifier."""
    if not REAL_WEIGHTS.is_file():
        pytest.skip(f"real VGG19 weights not found at {REAL_WEIGHTS}")
    return timm_like_vgg19(REAL_WEIGHTS)


@pytest.fixture
def hub(timm_like_file):
    content, sha256 = timm_like_file
    server = FakeHub().start()
    server.add(REPO, FILE, content, sha256=sha256)
    yield server
    server.stop()


@pytest.mark.slow  # a subprocess or a server
@needs_hub_client
def test_first_download_then_cache_hit(hub, tmp_path):
    weights = load_weights(None, endpoint=hub.endpoint, **hub_dirs(tmp_path))
    assert weights.convention == "torchvision"  # timm's file has no input_convention metadata
    assert len(weights.convs) == 16
    assert hub.downloads() == 2, "the header, then the convolutions' byte range"
    cached = list((tmp_path / "artstyle" / "weights").rglob(FILE))
    assert cached, "the convolutions must be stored in artstyle's cache"

    hub.requests.clear()
    again = load_weights(None, endpoint=hub.endpoint, **hub_dirs(tmp_path))
    assert hub.requests == [], "a stored copy needs no network at all"
    assert torch.equal(again.convs[9][0], weights.convs[9][0])


@pytest.mark.slow  # a subprocess or a server
@needs_hub_client
def test_pinned_revision_and_filename_from_spec(hub, tmp_path):
    hub.add(REPO, FILE, REAL_WEIGHTS.read_bytes(), revision="v1.0")  # another file at that tag: caffe's
    pinned = load_weights(f"{REPO}:{FILE}@v1.0", endpoint=hub.endpoint, **hub_dirs(tmp_path))
    assert any("/resolve/v1.0/model.safetensors" in path for _, path in hub.requests)
    assert pinned.convention == "caffe"
    assert load_weights(REPO, endpoint=hub.endpoint, **hub_dirs(tmp_path)).convention == "torchvision"


@pytest.mark.slow  # a subprocess or a server
def test_only_feature_tensors_are_read(hub, tmp_path):
    """A full copy (~570 MB, ~490 MB of it classifier) already in huggingface_hub's cache, as a Space's
    preload_from_hub leaves it: loading it offline must not bring the classifier into memory."""
    hf_hub_download(REPO, FILE, endpoint=hub.endpoint, cache_dir=str(tmp_path / "hub"))
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
    out = run_offline(script, tmp_path, ROOT)
    assert out.returncode == 0, out.stderr
    before, peak, numel = map(int, out.stdout.split())
    assert numel == 20_024_384  # VGG19's convolution parameters
    file_size = next((tmp_path / "hub").rglob(FILE)).stat().st_size
    assert file_size > 500e6
    assert peak - before < 300e6, f"loading grew the process by {(peak - before) / 1e6:.0f} MB"
    assert not (tmp_path / "artstyle").exists(), "the full copy is used as it is"


@pytest.mark.slow  # a subprocess or a server
@needs_hub_client
def test_offline_mode_uses_the_cache_and_explains_when_empty(hub, tmp_path):
    load_weights(None, endpoint=hub.endpoint, **hub_dirs(tmp_path))
    script = "import artstyle.weights as w; print(w.load_weights().source)"
    ok = run_offline(script, tmp_path, ROOT)
    assert ok.returncode == 0, ok.stderr
    assert "timm/vgg19.tv_in1k" in ok.stdout

    empty = tmp_path / "empty"
    script = "import artstyle.weights as w\ntry:\n    w.load_weights()\nexcept w.WeightsError as e:\n    print(e)\n"
    out = run_offline(script, empty, ROOT)
    assert "HF_HUB_OFFLINE" in out.stdout and "ARTSTYLE_WEIGHTS" in out.stdout, out.stdout + out.stderr


@needs_hub_client
@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9", "http://no-such-host.invalid"])  # refused; no DNS
def test_no_network_is_said_at_once(tmp_path, monkeypatch, endpoint):
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    waits = []
    monkeypatch.setattr(time, "sleep", waits.append)  # any backoff would show here
    started = time.monotonic()
    with pytest.raises(WeightsError, match="cannot be reached.*no network.*HF_HUB_OFFLINE.*ARTSTYLE_WEIGHTS"):
        load_weights(None, endpoint=endpoint, **hub_dirs(tmp_path))
    assert waits == [] and time.monotonic() - started < 3.0  # not after huggingface_hub's half-minute of retries


@pytest.mark.slow  # a subprocess or a server
@needs_hub_client
def test_two_callers_at_once_share_one_download_with_its_progress(hub, tmp_path):
    """The app's start-up fetch and a first visitor's run: the second waits for the first's download."""
    from concurrent.futures import ThreadPoolExecutor

    from artstyle.weights import cached_weights

    hub.rate = 40e6  # ~2 s for the convolutions: time for the second caller to arrive mid-download
    seen: list[tuple[int, int]] = []
    dirs = hub_dirs(tmp_path)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(cached_weights, REPO, endpoint=hub.endpoint, progress=lambda *p: seen.append(p), **dirs)
        time.sleep(0.5)
        second = pool.submit(cached_weights, REPO, endpoint=hub.endpoint, **dirs)
        assert first.result() is second.result()
    conv_bytes = sum(t.numel() * 4 for pair in first.result().convs for t in pair)
    assert hub.bytes_served < 1.2 * conv_bytes  # one download, not two
    assert seen and seen[-1][0] == seen[-1][1] >= conv_bytes and len(seen) > 5  # it heard the bytes arrive


@pytest.mark.slow  # a subprocess or a server
@needs_hub_client
def test_missing_repo_gives_a_clear_error(hub, tmp_path):
    with pytest.raises(WeightsError, match="nobody/nothing"):
        load_weights("nobody/nothing", endpoint=hub.endpoint, **hub_dirs(tmp_path))


@needs_shared
@needs_hub_client
def test_corrupted_full_copy_is_replaced_by_a_ranged_fetch(tmp_path):
    hub = FakeHub().start()
    try:
        hub.add("small/vgg19", FILE, REAL_WEIGHTS.read_bytes())
        hf_hub_download("small/vgg19", FILE, endpoint=hub.endpoint, cache_dir=str(tmp_path / "hub"))
        blob = next(p for p in tmp_path.rglob("*") if p.parent.name == "blobs")
        data = bytearray(blob.read_bytes())
        data[len(data) // 2] ^= 0xFF  # one flipped byte inside a tensor: only the hash can tell
        blob.write_bytes(bytes(data))
        hub.requests.clear()
        weights = load_weights(f"small/vgg19:{FILE}", endpoint=hub.endpoint, **hub_dirs(tmp_path))
        assert weights.convention == "caffe"
        assert hub.downloads() == 2, "the damaged copy is ignored: the header and the convolutions are fetched"
    finally:
        hub.stop()


@needs_shared
@needs_hub_client
def test_truncated_download_is_detected(tmp_path):
    hub = FakeHub().start()
    try:
        full = REAL_WEIGHTS.read_bytes()
        truncated = full[: len(full) // 3]
        # The server consistently serves a truncated copy while advertising the full file's hash.
        hub.add("small/vgg19", FILE, truncated, sha256=FakeHub().add("x/y", "z", full).sha256)
        with pytest.raises(WeightsError, match="corrupted|truncated"):
            load_weights(f"small/vgg19:{FILE}", endpoint=hub.endpoint, **hub_dirs(tmp_path))
        assert hub.downloads() == 1, "the header shows it, before any tensor's bytes are asked for"
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


def test_an_old_huggingface_hub_is_refused_with_one_sentence():
    from artstyle.hub_range import HubError, check_hub_version

    check_hub_version("2.0.0")
    check_hub_version("2.4.0rc1")
    with pytest.raises(HubError, match=r"needs huggingface_hub >= 2\.0, and this Python has 1\.33\.0: run pip"):
        check_hub_version("1.33.0")


@pytest.mark.skipif(HUB_CLIENT_REFUSAL is None, reason="this huggingface_hub is supported: the refusal is tested above")
def test_on_an_old_huggingface_hub_a_download_says_what_to_do(tmp_path):
    with pytest.raises(WeightsError, match=r"needs huggingface_hub >= 2\.0, and this Python has .*local \.safetensors"):
        load_weights(
            "timm/vgg19.tv_in1k", endpoint="http://127.0.0.1:9", cache_dir=str(tmp_path), features_dir=str(tmp_path)
        )
