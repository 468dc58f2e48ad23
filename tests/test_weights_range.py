"""A first run fetches only VGG19's convolutions (the header and one byte range), counted by the imitation Hub.

The served file has timm's real layout (574.7 MB: 80.1 MB of float32 `features.*`, then `head.*`/`pre_logits.*`),
so the byte counts are the ones a user's first run transfers. Damaged answers, Range-less servers, bad headers
and retries use the real (fp16, 40 MB) features file where the size does not matter.
"""

from __future__ import annotations

import json
import struct
import time
import tracemalloc

import pytest
import torch
from huggingface_hub import hf_hub_download
from safetensors.torch import load_file, save

from artstyle.hub_range import PREFIX_BYTES
from artstyle.weights import CONV_INDICES, WeightsError, load_weights
from tests.conftest import REAL_WEIGHTS, needs_hub_client, needs_shared
from tests.fake_hub import FakeHub, hub_dirs, timm_like_vgg19

pytestmark = [needs_shared, needs_hub_client, pytest.mark.slow]  # an imitation Hub server each
REPO, FILE, SMALL = "timm/vgg19.tv_in1k", "model.safetensors", "small/vgg19"


def features_end(content: bytes) -> int:
    """The byte just past the last `features.*` tensor: the header and everything a first run needs."""
    (length,) = struct.unpack("<Q", content[:8])
    header = json.loads(content[8 : 8 + length])
    return 8 + length + max(v["data_offsets"][1] for k, v in header.items() if k.startswith("features."))


def stored_files(home) -> list:
    return sorted((home / "artstyle").rglob("*safetensors*")) if (home / "artstyle").exists() else []


@pytest.fixture
def timm_hub():
    content, sha256 = timm_like_vgg19(REAL_WEIGHTS)
    hub = FakeHub().start()
    hub.add(REPO, FILE, content, sha256=sha256)
    yield hub, content
    hub.stop()


@pytest.fixture
def small_hub():
    hub = FakeHub().start()
    hub.add(SMALL, FILE, REAL_WEIGHTS.read_bytes())
    yield hub
    hub.stop()


def load(hub: FakeHub, home, source: str | None = None):
    return load_weights(source, endpoint=hub.endpoint, **hub_dirs(home))


def load_watching_memory(hub: FakeHub, home):
    """(weights, peak bytes of Python objects while loading): the fetch streams to disk, gathering nothing."""
    tracemalloc.start()
    try:
        return load(hub, home), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_first_run_transfers_only_the_convolutions(timm_hub, tmp_path):
    hub, content = timm_hub
    weights, peak = load_watching_memory(hub, tmp_path)
    end = features_end(content)
    assert len(content) > 570e6 and end > 80e6  # timm's proportions
    assert hub.bytes_served <= 85e6, f"{hub.bytes_served / 1e6:.1f} MB served"
    assert hub.bytes_served <= end + PREFIX_BYTES, "the header's request, then the convolutions' range: no more"
    assert hub.ranges == [f"bytes=0-{PREFIX_BYTES - 1}", f"bytes={8 + struct.unpack('<Q', content[:8])[0]}-{end - 1}"]
    assert peak < 32e6, f"streamed to disk, not gathered in memory: {peak / 1e6:.0f} MB of Python objects at peak"

    expected = load_file(str(REAL_WEIGHTS))
    for (weight, bias), idx in zip(weights.convs, CONV_INDICES, strict=True):
        assert torch.equal(weight, expected[f"features.{idx}.weight"].float())
        assert torch.equal(bias, expected[f"features.{idx}.bias"].float())
    (stored,) = [p for p in stored_files(tmp_path) if p.suffix == ".safetensors"]
    assert stored.relative_to(tmp_path / "artstyle" / "weights").parts == (
        "timm--vgg19.tv_in1k",
        hub.commit(REPO),
        FILE,
    )
    assert 80e6 < stored.stat().st_size < end  # the convolutions alone, still float32
    record = json.loads(stored.with_name(FILE + ".json").read_text())
    assert record["commit"] == hub.commit(REPO) and len(record["sha256"]) == 64
    assert not (tmp_path / "hub").exists(), "no full copy was downloaded"


def test_a_server_that_ignores_range_is_read_only_as_far_as_needed(timm_hub, tmp_path):
    hub, content = timm_hub
    hub.honour_range = False  # 200 and the whole 575 MB body to every GET
    weights, peak = load_watching_memory(hub, tmp_path)
    assert len(weights.convs) == 16
    # Read up to the features' end, then the connection is closed; what the socket buffers held is the slack.
    assert hub.bytes_served < features_end(content) + 24e6, f"{hub.bytes_served / 1e6:.1f} MB of 575 served"
    assert peak < 32e6, f"{peak / 1e6:.0f} MB of Python objects at peak"


def test_pinned_revision_fetches_that_commits_bytes(small_hub, tmp_path):
    tensors = load_file(str(REAL_WEIGHTS))
    small_hub.add(SMALL, FILE, save({k: -v for k, v in tensors.items()}), revision="v2")  # no metadata: torchvision
    v2 = load(small_hub, tmp_path, f"{SMALL}@v2")
    commit = small_hub.commit(SMALL, "v2")
    assert v2.convention == "torchvision" and torch.equal(v2.convs[0][0], -tensors["features.0.weight"].float())
    assert all(f"/resolve/{commit}/" in path for method, path in small_hub.requests if method == "GET")
    main = load(small_hub, tmp_path, SMALL)
    assert main.convention == "caffe" and torch.equal(main.convs[0][0], tensors["features.0.weight"].float())
    by_commit = load(small_hub, tmp_path, f"{SMALL}@{commit}")  # a commit sha is a revision too
    assert torch.equal(by_commit.convs[0][0], v2.convs[0][0])
    small_hub.requests.clear()  # each revision's convolutions are stored under its own commit: no network now
    for source, convention in ((f"{SMALL}@v2", "torchvision"), (SMALL, "caffe"), (f"{SMALL}@{commit}", "torchvision")):
        assert load(small_hub, tmp_path, source).convention == convention
    assert small_hub.requests == []


@pytest.mark.parametrize("corruption", ["nan", "truncate"])
def test_a_damaged_range_is_fetched_again_once_then_reported(small_hub, tmp_path, corruption):
    entry = small_hub.files[(SMALL, small_hub.commit(SMALL), FILE)]
    entry.corruption, entry.corrupt = corruption, 1
    weights = load(small_hub, tmp_path, SMALL)
    assert weights.convention == "caffe" and all(torch.isfinite(w).all() for w, _ in weights.convs)
    assert small_hub.downloads() == 4, "header and range, twice"

    entry.corrupt = 2
    home = tmp_path / "again"
    with pytest.raises(WeightsError) as info:
        load(small_hub, home, SMALL)
    message = str(info.value)
    assert "arrived damaged twice" in message and ("NaN" in message or "cut off" in message), message
    assert "ARTSTYLE_WEIGHTS" in message and "\n" not in message
    assert stored_files(home) == [], "nothing damaged is kept, no partial file is left"


def test_a_stored_copy_damaged_on_disk_is_fetched_again(small_hub, tmp_path):
    load(small_hub, tmp_path, SMALL)
    (stored,) = [p for p in stored_files(tmp_path) if p.suffix == ".safetensors"]
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01  # a flipped low bit: still a finite number, only the recorded sha256 can tell
    stored.write_bytes(bytes(data))
    served = small_hub.bytes_served
    assert torch.equal(load(small_hub, tmp_path, SMALL).convs[8][0], load_weights(REAL_WEIGHTS).convs[8][0])
    assert small_hub.bytes_served > served + 39e6, "fetched again"


def test_a_full_copy_in_the_hub_cache_is_used_with_no_network(small_hub, tmp_path):
    hf_hub_download(SMALL, FILE, endpoint=small_hub.endpoint, cache_dir=str(tmp_path / "hub"))
    small_hub.requests.clear()
    weights = load(small_hub, tmp_path, SMALL)
    assert small_hub.requests == [], "not even a HEAD"
    assert weights.source == f"hf://{SMALL}/{FILE}" and weights.convention == "caffe"
    assert stored_files(tmp_path) == []


def _conv0(**overrides) -> dict[str, torch.Tensor]:
    return {"features.0.weight": torch.zeros(64, 3, 3, 3), "features.0.bias": torch.zeros(64)} | overrides


def _misplaced_first_tensor() -> bytes:
    data = save(_conv0())
    return data.replace(b'"data_offsets":[0,', b'"data_offsets":[9,', 1)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: struct.pack("<Q", 10**6) + b"{}" + bytes(100), "does not fit"),
        (lambda: struct.pack("<Q", 8) + b"not json" + bytes(100), "not valid JSON"),
        (lambda: save(_conv0()), "features.2.weight is missing"),
        (lambda: save(_conv0(**{"features.0.weight": torch.zeros(64, 3, 5, 5)})), "expected a float tensor of shape"),
        (lambda: save(_conv0(**{"features.0.weight": torch.zeros(64, 3, 3, 3, dtype=torch.int16)})), "I16"),
        (lambda: REAL_WEIGHTS.read_bytes()[:2_000_000], "truncated"),
        (_misplaced_first_tensor, "malformed"),
    ],
    ids=["header-too-long", "not-json", "missing-tensor", "wrong-shape", "integer-dtype", "cut-short", "bad-offsets"],
)
def test_the_header_is_checked_before_any_range_is_asked_for(small_hub, tmp_path, make, words):
    content = make()
    small_hub.add("bad/file", FILE, content)
    with pytest.raises(WeightsError, match=words) as info:
        load(small_hub, tmp_path, "bad/file")
    assert "hf://bad/file" in str(info.value) and "ARTSTYLE_WEIGHTS" in str(info.value)
    assert small_hub.ranges == [f"bytes=0-{min(PREFIX_BYTES, len(content)) - 1}"], "only the header's request"
    assert stored_files(tmp_path) == []


def test_transient_server_errors_are_retried(small_hub, tmp_path, monkeypatch):
    waits = []
    monkeypatch.setattr(time, "sleep", waits.append)  # huggingface_hub's backoff, without the waiting
    small_hub.fail_next = 2
    assert load(small_hub, tmp_path, SMALL).convention == "caffe"
    assert waits == [1, 2], "two 503s, two retries with huggingface_hub's backoff"
