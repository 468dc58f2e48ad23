"""The largest image that fits in the GPU's memory: the size cap's prediction against runs that try it.

Prints ONE JSON object. The prediction is artstyle/limits.py's for a default run (full L-BFGS history) of
Tübingen's aspect ratio on the memory free now. Then runs at that size and at larger factors (the size cap
bypassed), each for --iterations iterations of a run with the default steps (on CUDA the L-BFGS history is
allocated whole at the start, so a short run holds a full run's memory), until one runs out of memory:
peak `max_memory_allocated` and seconds per iteration of each. Run from the repository root:

    python -m bench.gpu_largest                  # CUDA only; says "no CUDA" and exits 0 without one
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from PIL import Image

import artstyle
import artstyle.engine
from artstyle import limits
from artstyle.params import MAX_SIZE, StyleParams
from bench.bench import CONTENT, STYLE, WEIGHTS, dims


def try_size(ctx: dict, size: int, iterations: int) -> dict:
    dev = ctx["device"]
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(dev)
    w, h = dims(ctx["content"], size)
    entry: dict = {"size": size, "width": w, "height": h, "estimate_mb": round(ctx["estimate"](w, h) / 2**20, 1)}
    stamps = []
    events = artstyle.stylize_iter(ctx["content"], ctx["style"], size=size, weights=ctx["vgg"], device=str(dev),
                                   preview_every=0)  # fmt: skip
    try:
        for _ in range(iterations):
            next(events)
            torch.cuda.synchronize(dev)
            stamps.append(time.perf_counter())
        entry["fits"] = True
    except torch.cuda.OutOfMemoryError:
        entry["fits"] = False
    finally:
        events.close()
    entry["peak_mb"] = round(torch.cuda.max_memory_allocated(dev) / 2**20, 1)
    if len(stamps) >= 2:
        entry["s_per_iter"] = round((stamps[-1] - stamps[0]) / (len(stamps) - 1), 4)
    return entry


def main() -> None:
    ap = argparse.ArgumentParser(description="largest size that fits on the GPU; prints one JSON object")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--factors", default="1.0,1.2,1.4,1.7,2.0", help="sizes tried, as factors of the prediction")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA: gpu_largest measures GPU memory only")
        return
    dev = torch.device(args.device)
    content, style = Image.open(CONTENT).convert("RGB"), Image.open(STYLE).convert("RGB")
    defaults = StyleParams()
    probe = dims(content, 1024)
    free = limits.available_bytes(dev)
    predicted = limits._largest_fitting(probe, defaults, int(free * limits.HEADROOM))
    ctx = {
        "device": dev,
        "content": content,
        "style": style,
        "vgg": artstyle.load_weights(str(WEIGHTS)),
        "estimate": lambda w, h: limits.estimate_bytes(w, h, defaults),
    }
    artstyle.engine.check_fits = lambda *a, **k: None  # the point is to try sizes the cap would refuse
    tried = []
    for factor in (float(f) for f in args.factors.split(",")):
        size = min(MAX_SIZE, round(predicted * factor))
        if tried and size == tried[-1]["size"]:
            break
        entry = try_size(ctx, size, args.iterations)
        entry["factor"] = factor
        tried.append(entry)
        if not entry["fits"]:
            break
    fitting = [e["size"] for e in tried if e["fits"]]
    result = {
        "device": torch.cuda.get_device_name(dev),
        "total_mb": round(torch.cuda.get_device_properties(dev).total_memory / 2**20),
        "free_mb_at_start": round(free / 2**20),
        "headroom": limits.HEADROOM,
        "default_steps": defaults.steps,
        "predicted_largest_size": predicted,
        "largest_size_run": max(fitting) if fitting else None,
        "first_oom_size": next((e["size"] for e in tried if not e["fits"]), None),
        "tried": tried,
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
