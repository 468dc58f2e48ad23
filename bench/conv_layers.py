"""VGG19's convolutions one by one: NNPACK (artstyle/fastconv.py) against oneDNN, forward and input gradient.

Prints one JSON object: per layer, milliseconds and effective GFLOP/s (direct-convolution FLOPs over time) of
each backend, and which one `fastconv.winograd_usable` picks. This is the measurement behind fastconv's
MIN_WINOGRAD_PIXELS and MIN_WINOGRAD_CHANNELS (bench/README.md, rounds 3 and 5).

    python -m bench.conv_layers --size 384
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

import artstyle
from artstyle import fastconv
from artstyle.features import POOL_AFTER
from artstyle.params import VGG19_LAYERS
from bench import bench as B


def _ms(fn: Callable[[], torch.Tensor], repeats: int) -> float:
    fn()  # warm-up: allocations, NNPACK's first call
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def _time_layer(weight: torch.Tensor, bias: torch.Tensor, h: int, w: int, repeats: int) -> dict:
    flipped = fastconv.flipped_kernel(weight)
    x, grad = torch.randn(1, weight.shape[1], h, w), torch.randn(1, weight.shape[0], h, w)
    gflop = 2 * h * w * weight.shape[0] * weight.shape[1] * 9 / 1e9
    timed = {
        "forward_nnpack": _ms(lambda: fastconv._nnpack(x, weight, bias), repeats),
        "forward_onednn": _ms(lambda: F.conv2d(x, weight, bias, padding=1), repeats),
        "input_grad_nnpack": _ms(lambda: fastconv._nnpack(grad, flipped, None), repeats),
        "input_grad_onednn": _ms(lambda: F.conv_transpose2d(grad, weight, padding=1), repeats),
    }
    return {
        "map": [w, h],
        "channels": [weight.shape[1], weight.shape[0]],
        **{f"{k}_ms": round(v, 1) for k, v in timed.items()},
        **{f"{k}_gflops": round(gflop / v * 1e3) for k, v in timed.items()},
        "picked_forward": "nnpack" if fastconv.winograd_usable(x, weight) else "onednn",
        "picked_input_grad": "nnpack" if fastconv.winograd_usable(grad, weight) else "onednn",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=384, help="long side; the short side is 3/4 of it")
    ap.add_argument("--depth", default="conv4_2", help="last layer timed")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    if not torch.backends.nnpack.is_available():  # also initialises NNPACK for the raw calls below
        sys.exit("this PyTorch build has no NNPACK")
    weights = artstyle.load_weights(str(B.WEIGHTS))
    h, w = round(args.size * 3 / 4), args.size
    out = {"size": [w, h], "threads": torch.get_num_threads(), "layers": {}}
    for name, (weight, bias) in zip(VGG19_LAYERS, weights.convs, strict=False):
        out["layers"][name] = _time_layer(weight.float().contiguous(), bias.float(), h, w, args.repeats)
        if name == args.depth:
            break
        if name in POOL_AFTER:  # the network's own 2x2 pools, ceil mode
            h, w = (h + 1) // 2, (w + 1) // 2
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
