"""What each style statistic (and schedule) costs on this machine: whole runs timed, interleaved, and the matrix
square root behind `moments` (one eigendecomposition, as shipped, against Newton-Schulz iterations differentiated
by autograd, as crowsonkb/style-transfer-pytorch does with its own backward).

Prints one JSON object: per configuration, seconds per run (the best of `--rounds`), seconds per iteration and the
ratio to the first configuration; and per channel count, milliseconds for tr(M^1/2) forward + backward. Run it
alone: two CPU-heavy jobs on 2 cores corrupt timings.

    python -m bench.statistics_cost --size 256 --steps 85 --rounds 2 \\
        --configs '{}' '{"style_loss": "moments"}' '{"style_loss": "sliced"}' '{"schedule": "coarse-to-fine"}'
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import artstyle
from artstyle.statistics import _TraceSqrt
from bench import bench as B


def run_seconds(vgg: artstyle.VGGWeights, size: int, steps: int, config: dict) -> tuple[float, int]:
    """Wall seconds of one whole run (weights already loaded), and its restarts."""
    start = time.perf_counter()
    # A configuration may set its own steps (a schedule compared at equal wall time).
    settings = {"size": size, "steps": steps, "device": "cpu", "preview_every": 0, **config}
    events = artstyle.stylize_iter(B.CONTENT, B.STYLE, weights=vgg, **settings)
    restarts = max(event.restarts for event in events)
    return time.perf_counter() - start, restarts


def newton_schulz_trace_sqrt(m: torch.Tensor, iterations: int = 12) -> torch.Tensor:
    """tr(M^1/2) by coupled Newton-Schulz iterations (Higham 2008), differentiated by autograd."""
    norm = m.norm()
    y = m / norm
    eye = torch.eye(m.shape[0], dtype=m.dtype)
    z = eye
    for _ in range(iterations):
        t = 0.5 * (3.0 * eye - z @ y)
        y, z = y @ t, t @ z
    return torch.trace(y) * norm.sqrt()


def sqrt_ms(channels: int, repeats: int) -> dict[str, float]:
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(channels, 4 * channels, generator=gen)
    m = a @ a.T / (4 * channels) + 1e-3 * torch.eye(channels)
    out = {}
    for name, fn in (("eigh", _TraceSqrt.apply), ("newton_schulz_12", newton_schulz_trace_sqrt)):
        best = float("inf")
        for _ in range(repeats):
            x = m.clone().requires_grad_(True)
            t0 = time.perf_counter()
            fn(x).backward()
            best = min(best, time.perf_counter() - t0)
        out[name] = round(best * 1e3, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=85)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--configs", nargs="+", default=["{}", '{"style_loss": "moments"}', '{"style_loss": "sliced"}'])
    ap.add_argument("--sqrt-repeats", type=int, default=3)
    args = ap.parse_args()
    vgg = artstyle.load_weights(str(B.WEIGHTS))
    configs = [json.loads(c) for c in args.configs]
    run_seconds(vgg, 64, 3, {})  # warm-up: allocator, kernels' first use
    seconds: list[list[float]] = [[] for _ in configs]
    restarts: list[list[int]] = [[] for _ in configs]
    for _ in range(args.rounds):  # interleaved, so that drift in the machine's speed hits every config alike
        for i, config in enumerate(configs):
            wall, restarted = run_seconds(vgg, args.size, args.steps, config)
            seconds[i].append(wall)
            restarts[i].append(restarted)
    best = [min(s) for s in seconds]
    print(json.dumps({
        "size": args.size, "steps": args.steps, "rounds": args.rounds,
        "runs": [{"config": c, "s_per_run": round(b, 2), "s_per_it": round(b / args.steps, 4),
                  "ratio_to_first": round(b / best[0], 3), "restarts": r}
                 for c, b, r in zip(configs, best, restarts, strict=True)],
        "trace_sqrt_ms": {str(n): sqrt_ms(n, args.sqrt_repeats) for n in (256, 512)},
    }))  # fmt: skip


if __name__ == "__main__":
    main()
