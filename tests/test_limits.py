"""The device-memory cap: runs that would not fit are refused up front with a size that would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import artstyle
from artstyle import limits
from artstyle.limits import FIXED_BYTES, check_fits, estimate_bytes
from artstyle.params import StyleParams
from tests.conftest import REAL_WEIGHTS, ROOT, needs_shared

CPU = torch.device("cpu")
GB = 2**30


def test_estimate_grows_with_pixels_and_lbfgs_history():
    p = StyleParams(size=512)
    assert estimate_bytes(512, 512, p) > estimate_bytes(512, 256, p) > estimate_bytes(256, 256, p) > FIXED_BYTES
    short, long = StyleParams(steps=5), StyleParams(steps=500)
    assert estimate_bytes(512, 512, short) < estimate_bytes(512, 512, long)
    assert estimate_bytes(512, 512, StyleParams(steps=100)) == estimate_bytes(512, 512, long)  # history is capped
    assert estimate_bytes(512, 512, StyleParams(optimizer="adam", steps=500)) < estimate_bytes(512, 512, long)
    assert 1 * GB < estimate_bytes(512, 512, long) < 2 * GB  # ~5.5 KB per pixel at full L-BFGS history


@pytest.mark.parametrize("size", [512, 1024, 2048, 4000])
@pytest.mark.parametrize("free_gb", [0.5, 2.0, 8.0])
def test_refusal_suggests_a_size_that_fits(size, free_gb):
    p = StyleParams(size=size)
    width, height = size, size * 2 // 3
    available = int(free_gb * GB)
    if estimate_bytes(width, height, p) <= available * limits.HEADROOM:
        check_fits((width, height), p, CPU, available=available)  # fits: no error
        return
    with pytest.raises(ValueError, match=rf"^size {size}: a {width}x{height} run needs about .* GB of cpu memory") as e:
        check_fits((width, height), p, CPU, available=available)
    largest = int(str(e.value).rsplit("at most ", 1)[1].split()[0])
    assert 16 <= largest < size
    smaller = StyleParams(size=largest)
    check_fits(
        (largest, round(height * largest / width)), smaller, CPU, available=available
    )  # the suggestion really fits


def test_nothing_fits_says_so():
    with pytest.raises(ValueError, match="free some memory first"):
        check_fits((512, 512), StyleParams(), CPU, available=FIXED_BYTES // 2)


def test_unknown_memory_is_not_checked():
    assert limits.available_bytes(torch.device("mps")) is None
    check_fits((8192, 8192), StyleParams(size=8192), torch.device("mps"))  # cannot tell: the run may try


def test_stylize_iter_refuses_before_loading_weights(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(limits, "available_bytes", lambda device: 512 * 2**20)
    image = np.random.default_rng(0).random((64, 48, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=r"^size 1024: a 768x1024 run needs"):
        artstyle.stylize_iter(image, image, weights=tmp_path / "missing.safetensors", size=1024, device="cpu")


def test_cpu_available_reads_meminfo_and_cgroups(tmp_path: Path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/meminfo").write_text("MemTotal:  32000000 kB\nMemFree: 1 kB\nMemAvailable:  8000000 kB\n")
    cgroup = tmp_path / "sys/fs/cgroup"
    cgroup.mkdir(parents=True)
    assert limits._cpu_available(tmp_path) == 8_000_000 * 1024  # no cgroup files: the host's figure
    (cgroup / "memory.max").write_text("max\n")
    (cgroup / "memory.current").write_text(str(3 * GB))
    assert limits._cpu_available(tmp_path) == 8_000_000 * 1024  # unlimited cgroup
    (cgroup / "memory.max").write_text(str(4 * GB))
    (cgroup / "memory.stat").write_text(f"anon 123\ninactive_file {GB // 2}\nactive_file 7\n")
    assert limits._cpu_available(tmp_path) == GB + GB // 2  # a container's limit is tighter than the host's
    (cgroup / "memory.current").write_text(str(6 * GB))  # over the limit (cache): nothing, not negative
    (cgroup / "memory.stat").write_text("")
    assert limits._cpu_available(tmp_path) == 0


def test_cgroup_v1_and_missing_files(tmp_path: Path):
    v1 = tmp_path / "memory"
    v1.mkdir()
    (v1 / "memory.limit_in_bytes").write_text(str(2 * GB))
    (v1 / "memory.usage_in_bytes").write_text(str(GB))
    (v1 / "memory.stat").write_text(f"cache 5\ntotal_inactive_file {GB // 4}\n")
    assert limits._cgroup_available(tmp_path) == GB + GB // 4
    (v1 / "memory.limit_in_bytes").write_text(str(2**63 - 4096))  # v1's "unlimited"
    assert limits._cgroup_available(tmp_path) is None
    assert limits._cpu_available(tmp_path / "nowhere") is None


@pytest.mark.slow
@needs_shared
def test_estimate_bounds_a_real_run():
    """Regression guard: a real run's peak memory (fresh process) stays under the estimate the cap uses."""
    from bench.memory_per_pixel import CHILD as child

    proc = subprocess.run(
        [sys.executable, "-c", child, "192", "lbfgs", str(REAL_WEIGHTS)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    assert 0 < row["run_bytes"] <= estimate_bytes(192, 192, StyleParams(size=192, steps=3))
