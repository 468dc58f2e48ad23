"""Which devices the app runs on, what each kind can do in about a minute, and handing them to runs."""

from __future__ import annotations

import dataclasses
import os
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .zerogpu import on_zerogpu


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeviceProfile:
    """The app's defaults on one kind of device."""

    size: int  # default output size (long side, px): a pleasing result in about a minute on this kind
    steps: int
    max_size: int  # the size slider's top
    seconds_per_mpx_iter: float  # a first guess for the time estimate, until this host has measured itself
    paper_size: int  # Paper tab: panel size and steps that make a figure in a few minutes
    paper_steps: int
    preview_every: int  # a preview image every Nth step (0: by steps, see `preview_every_for`)
    # The picture's method, chosen by blind side-by-side judgement (bench/README.md, 'blind_pairs.py'): coarse-to-fine
    # beat the paper's single scale 32 to 4 at equal wall time; the Gram statistic beat moments 25-11 and sliced 28-8.
    style_loss: str = "gram"
    schedule: str = "coarse-to-fine"


#: The app's defaults per device kind (`python -m artstyle.gallery` starts from the CPU's size and steps too).
PROFILES: dict[str, DeviceProfile] = {
    # CPU: converting every step's image costs ~1 ms against ~0.5 s of optimisation, and lets the API stream
    # (and notice a cancel) at the throttle's pace. The time per Mpx-iteration (of the full size): measured,
    # bench/README.md, 'app_time.py'. 145 coarse-to-fine steps take the wall time 85 single-scale steps took
    # (bench/README.md, 'statistics_cost.py'), most of them at 128 and 181 px.
    "cpu": DeviceProfile(
        size=256, steps=145, max_size=1024, seconds_per_mpx_iter=14.0, paper_size=96, paper_steps=40, preview_every=1
    ),
    # GPUs: converting every step would stall the device; about 50 previews a run. Coarse-to-fine at the steps the
    # single scale had: about a quarter of its work at 512 px (not measured on a GPU here: none was lent).
    "mps": DeviceProfile(
        size=384, steps=200, max_size=1536, seconds_per_mpx_iter=1.5, paper_size=128, paper_steps=100, preview_every=0
    ),
    "cuda": DeviceProfile(
        size=512, steps=300, max_size=2048, seconds_per_mpx_iter=0.1, paper_size=256, paper_steps=300, preview_every=0
    ),
}


def profile(device: str) -> DeviceProfile:
    """The profile of a device name such as 'cpu', 'mps' or 'cuda:1'."""
    return PROFILES.get(device.split(":")[0], PROFILES["cuda"])


def preview_every_for(steps: int, device: str) -> int:
    return profile(device).preview_every or max(1, round(steps / 50))


def device_pool_names() -> list[str]:
    """One entry per run that may go at once: each GPU, or the single CPU/MPS device (two CPU runs on
    the same cores only slow each other down)."""
    if on_zerogpu():
        return ["cuda"]  # ZeroGPU lends one GPU per decorated call
    if torch.cuda.is_available():
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        return ["mps"]
    return ["cpu"]


def describe_device(names: list[str]) -> str:
    if on_zerogpu():
        return "ZeroGPU (a GPU lent per run)"  # the main process must not query CUDA on ZeroGPU
    if names[0].startswith("cuda"):
        label = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "GPU"
        return f"{len(names)} × {label}" if len(names) > 1 else label
    if names[0] == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({os.cpu_count()} cores)"


class DeviceBusy(RuntimeError):
    """No device became free in time."""


class DevicePool:
    """Hands each run its own device; the queue's concurrency limit equals the pool size."""

    def __init__(self, names: list[str]) -> None:
        self.names = list(names)
        self._free: queue.Queue[str] = queue.Queue()
        for name in names:
            self._free.put(name)

    @property
    def kind(self) -> str:
        """'cpu', 'mps' or 'cuda'."""
        return self.names[0].split(":")[0]

    @contextmanager
    def acquire(self, timeout: float = 120.0) -> Iterator[str]:
        # The queue's concurrency limit means a device is normally free at once. A timeout turns a device
        # held by a run that was never closed into a clear error instead of a worker blocked forever.
        try:
            name = self._free.get(timeout=timeout)
        except queue.Empty:
            raise DeviceBusy("All devices are busy with other runs; please try again in a minute.") from None
        try:
            yield name
        finally:
            self._free.put(name)


@dataclasses.dataclass
class RunCounters:
    """Counts of this app's optimisations and the step the latest one reached; the tests read them to
    check that Stop stops the work on the server."""

    active: int = 0
    started: int = 0
    finished: int = 0
    last_step: int = 0
    last_total: int = 0
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    def reached(self, step: int, total: int) -> None:
        """The latest run's progress: `step` of `total` iterations."""
        self.last_step, self.last_total = step, total

    @contextmanager
    def track(self) -> Iterator[RunCounters]:
        with self.lock:
            self.active += 1
            self.started += 1
        try:
            yield self
        finally:  # runs on completion, on error and when Gradio closes the generator (Stop, closed tab)
            with self.lock:
                self.active -= 1
                self.finished += 1
                idle = self.active == 0
            if idle:
                release_freed_memory()


def release_freed_memory() -> None:
    """Give memory freed by finished runs back to the operating system.

    glibc's malloc keeps freed blocks in per-thread arenas, and each run executes on one of Gradio's worker
    threads: without this a server's RSS stays ~150-200 MB above its idle level after a burst of jobs,
    although nothing leaked. A no-op where the C library has no malloc_trim (macOS, musl, Windows).
    """
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass
