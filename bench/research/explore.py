"""Which settings reach the reference's quality fastest? Runs artstyle's public API (and a coarse-to-fine
prototype built on bench/reference.py) against the score of the reference after N iterations.

    python -m bench.research.explore --size 128 --steps 30 > bench/explore-128.json

Reports, per configuration, the first evaluated step whose output scores <= 1 (the reference's score after N
iterations), the wall time to it (evaluation excluded) and that time over the reference's.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import artstyle
from bench import bench as B
from bench import reference
from bench.evaluate import Evaluator

CONFIGS = [{}, {"optimizer": "adam", "lr": 0.05}, {"optimizer": "adam"}, {"init": "noise"}]


def coarse_to_fine(ctx: dict, evaluator: Evaluator, size: int, coarse_steps: int, cap: int, every: int) -> dict:
    """Prototype: coarse_steps L-BFGS iterations at size/2, upsampled, then full size until score <= 1."""
    dev = ctx["device"]
    t = time.perf_counter()
    coarse = reference.run(ctx["net"], ctx["content"], ctx["style"], size=size // 2, steps=coarse_steps, device=dev)
    wall = [time.perf_counter() - t]
    found: list = []
    last = [time.perf_counter()]

    def on_step(step: int, image: torch.Tensor) -> None:
        wall[0] += time.perf_counter() - last[0]
        if step % every == 0 and not found:
            score = evaluator.score(reference.tensor_to_image(image))  # not timed
            if score <= 1.0:
                found.append((step, wall[0], score))
        last[0] = time.perf_counter()

    last[0] = time.perf_counter()
    reference.run(ctx["net"], ctx["content"], ctx["style"], size=size, steps=cap, device=dev, init=coarse,
                  on_step=on_step)  # fmt: skip
    return {
        "coarse_steps_at_half_size": coarse_steps,
        "fine_steps_to_reach": found[0][0] if found else None,
        "seconds_to_reach": round(found[0][1], 2) if found else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--every", type=int, default=3)
    ap.add_argument("--configs", type=int, default=len(CONFIGS), help="how many of CONFIGS to run")
    ap.add_argument("--c2f", type=lambda s: [int(x) for x in s.split(",")], default=[])
    args = ap.parse_args()
    dev = torch.device("cpu")
    ctx = {
        "device": dev,
        "content": B.Image.open(B.CONTENT).convert("RGB"),
        "style": B.Image.open(B.STYLE).convert("RGB"),
        "vgg": artstyle.load_weights(str(B.WEIGHTS)),
        "net": reference.Net(str(B.WEIGHTS), dev),
    }
    cfg = {"ttq_size": args.size, "ttq_steps": args.steps, "ttq_every": args.every}
    ref = B.reference_quality(ctx, cfg)  # once: every configuration races the same reference run
    evaluator = ref[1]
    print(json.dumps({"reference_seconds": round(ref[0], 2), "steps": args.steps, "size": args.size}), flush=True)
    for k in args.c2f:
        r = coarse_to_fine(ctx, evaluator, args.size, k, 2 * args.steps, args.every)
        r["ratio"] = r["seconds_to_reach"] and round(r["seconds_to_reach"] / ref[0], 3)
        print(json.dumps({"coarse_to_fine": r}), flush=True)
    for overrides in CONFIGS[: args.configs]:
        r = B.time_to_quality(ctx, cfg, cap_factor=2.0, ref=ref, **overrides)
        r.pop("reference_distances")
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
