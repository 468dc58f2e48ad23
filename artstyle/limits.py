"""Refuse a run that would not fit in the device's memory, before it starts.

On a GPU an oversized run fails with a catchable out-of-memory error; on a CPU the operating system's
OOM killer ends the whole process (a server, for the app) without a word. So the engine estimates a
run's peak memory from its pixel count and refuses, with the largest size that would fit, when the
device has not got it.

The estimate is measured, not derived: peak memory is fitted as fixed + k * pixels over runs at several sizes
in fresh processes, and rounded up. NNPACK's Winograd convolutions (artstyle/fastconv.py) add transform buffers
and the flipped kernels of the backward pass to what the network alone needs. L-BFGS also keeps `history_size`
pairs of image-sized float32 vectors (24 bytes per pixel per pair) once it has run that many iterations, which
a 3-step measurement cannot see: added separately.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from . import lbfgs
from .params import StyleParams

#: Activations, their gradients, convolution workspaces, the image and its optimiser state, per output pixel.
# measured: bench/README.md, 'memory_per_pixel.py'
BYTES_PER_PIXEL = 3584
#: Per L-BFGS history pair: two (1, 3, H, W) float32 vectors.
LBFGS_BYTES_PER_PIXEL_PER_PAIR = 2 * 3 * 4
#: The network's convolutions and their flipped copies for the backward pass (~85 MB), NNPACK's transformed
#: kernels and working buffers not proportional to pixels.
# measured: bench/README.md, 'memory_per_pixel.py' and 'bench.py' (memory)
FIXED_BYTES = 320 * 2**20
#: Never plan to use more than this share of what is free: other allocations and fragmentation need room.
HEADROOM = 0.8


def estimate_bytes(width: int, height: int, p: StyleParams) -> int:
    """Peak memory of a run producing a `width` x `height` image with parameters `p`."""
    per_pixel = BYTES_PER_PIXEL
    if p.optimizer == "lbfgs":
        per_pixel += LBFGS_BYTES_PER_PIXEL_PER_PAIR * min(p.steps, lbfgs.HISTORY)
    return FIXED_BYTES + per_pixel * width * height


def available_bytes(device: torch.device) -> int | None:
    """Memory this process could still allocate on `device`, or None when it cannot be told (mps, non-Linux)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        index = device.index if device.index is not None else torch.cuda.current_device()
        # Blocks torch's caching allocator holds but no tensor uses are free to us as well.
        return free + torch.cuda.memory_reserved(index) - torch.cuda.memory_allocated(index)
    if device.type == "cpu":
        return _cpu_available()
    return None


def check_fits(size: tuple[int, int], p: StyleParams, device: torch.device, *, available: int | None = None) -> None:
    """Raise `ValueError` naming `size` when a run of `size` (width, height) would not fit on `device`."""
    if available is None:
        available = available_bytes(device)
    if available is None:
        return
    need = estimate_bytes(*size, p)
    budget = int(available * HEADROOM)
    if need <= budget:
        return
    largest = _largest_fitting(size, p, budget)
    hint = f"choose a size of at most {largest} px" if largest >= 16 else "free some memory first"
    raise ValueError(
        f"size {p.size}: a {size[0]}x{size[1]} run needs about {need / 2**30:.1f} GB of {device.type} memory "
        f"but only {available / 2**30:.1f} GB is free; {hint}"
    )


def _largest_fitting(size: tuple[int, int], p: StyleParams, budget: int) -> int:
    """The largest long side whose run fits in `budget`, for images of `size`'s aspect ratio."""
    long_side = max(size)
    per_pixel = (estimate_bytes(*size, p) - FIXED_BYTES) / (size[0] * size[1])
    largest = math.floor(long_side * math.sqrt(max(0.0, budget - FIXED_BYTES) / per_pixel / (size[0] * size[1])))
    # Step down past rounding: fit_long_side rounds each side, which can add a row or column.
    while largest >= 16 and estimate_bytes(*_scaled(size, largest / long_side), p) > budget:
        largest -= 1
    return largest


def _scaled(size: tuple[int, int], factor: float) -> tuple[int, int]:
    """`size` times `factor`, each side rounded as fit_long_side rounds it, at least 1."""
    return max(1, round(size[0] * factor)), max(1, round(size[1] * factor))


def _cpu_available(root: Path = Path("/")) -> int | None:
    """MemAvailable, lowered to the container's cgroup limit when there is one (Spaces, Docker, CI)."""
    candidates = [_meminfo_available(root / "proc/meminfo"), _cgroup_available(root / "sys/fs/cgroup")]
    known = [c for c in candidates if c is not None]
    return min(known) if known else None


def _meminfo_available(path: Path) -> int | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available(cgroup: Path) -> int | None:
    layouts = (  # cgroup v2, then v1: (limit, usage, statistics file, reclaimable page-cache key)
        ("memory.max", "memory.current", "memory.stat", "inactive_file"),
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes", "memory/memory.stat", "total_inactive_file"),
    )
    for limit_name, usage_name, stat_name, cache_key in layouts:
        try:
            limit = (cgroup / limit_name).read_text().strip()
            usage = int((cgroup / usage_name).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit == "max" or int(limit) >= 2**60:  # "max" (v2) or a huge number (v1): no limit
            return None
        # Usage counts the page cache too; its inactive part is given back under pressure.
        return max(0, int(limit) - usage + _stat_value(cgroup / stat_name, cache_key))
    return None


def _stat_value(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0
