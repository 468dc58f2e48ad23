"""How long a run will take on this host, said before it starts."""

from __future__ import annotations

from .devices import profile

SETUP_S = 3.0


def estimate_seconds(size: float, steps: float, device: str) -> float:
    megapixels = size * size * 0.75 / 1e6  # a 4:3 photo
    return SETUP_S + steps * megapixels * profile(device).seconds_per_mpx_iter


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
