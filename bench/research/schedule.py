"""Which coarse-to-fine schedule reaches the reference's score with the least work?

Runs the reference once for N iterations at SIZE (or reuses its saved output), calibrates bench/evaluate.py on
it, then runs artstyle with each configuration, scoring the finest level's previews, until one scores <= 1.

Work is counted independently of machine load: each iteration costs (pixels of its level) / (pixels at SIZE),
so an iteration at half the side counts ~1/4 and the reference's N iterations count N. The wall time to the
score (evaluation excluded, setup included) is reported too, against the reference's.

    python -m bench.research.schedule --size 384 --steps 300 --ref-cache /tmp/ref384 \\
        --config '{"scales": [96, 192], "scale_steps": [150, 60, 90]}'

A config is a JSON object of StyleParams fields, plus "history" (the L-BFGS history size, patched in for the
experiment). The finest level's step count is a cap: the run stops at the first scored preview <= 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import torch
from PIL import Image

import artstyle
from artstyle import lbfgs
from bench import bench as B
from bench import reference
from bench.evaluate import Evaluator


def reference_output(ctx: dict, size: int, steps: int, cache: str | None) -> tuple[Image.Image, float]:
    """The reference's output after `steps` iterations and its wall time, from `cache`.png/.json when present."""
    png, meta = (Path(cache + ".png"), Path(cache + ".json")) if cache else (None, None)
    if png and png.is_file() and meta.is_file():
        return Image.open(png).convert("RGB"), json.loads(meta.read_text())["seconds"]
    t = time.perf_counter()
    out = reference.run(ctx["net"], ctx["content"], ctx["style"], size=size, steps=steps, device=ctx["device"])
    seconds = time.perf_counter() - t
    image = reference.tensor_to_image(out)
    if png:
        image.save(png)
        meta.write_text(json.dumps({"seconds": seconds, "size": size, "steps": steps}))
    return image, seconds


@contextlib.contextmanager
def lbfgs_history(history: int | None):
    """Run with another L-BFGS history size (an experiment, not a public parameter), restored afterwards."""
    saved = lbfgs.HISTORY
    lbfgs.HISTORY = history or saved
    try:
        yield
    finally:
        lbfgs.HISTORY = saved


def race(ctx: dict, evaluator: Evaluator, size: int, config: dict, every: int) -> dict:
    config = dict(config)
    history = config.pop("history", None)
    full = evaluator.shape[0] * evaluator.shape[1]
    work = wall = 0.0
    trace, reached = [], None
    # Each level builds its optimiser when the generator gets there: the history applies for the whole race.
    with lbfgs_history(history):
        t = time.perf_counter()
        events = artstyle.stylize_iter(ctx["content"], ctx["style"], size=size, weights=ctx["vgg"], device="cpu",
                                       preview_every=every, **config)  # fmt: skip
        wall += time.perf_counter() - t
        try:
            while True:
                t = time.perf_counter()
                event = next(events, None)
                wall += time.perf_counter() - t
                if event is None:
                    break
                work += event.size[0] * event.size[1] / full
                if event.image is not None and event.level == event.levels - 1:
                    score = evaluator.score(event.image)
                    trace.append([event.step, round(work, 1), round(wall, 1), round(score, 4)])
                    print(json.dumps(trace[-1]), file=sys.stderr, flush=True)  # progress of a long race
                    if score <= 1.0:
                        reached = (event.step, work, wall, score)
                        break
        finally:
            events.close()
    return {
        "config": {**config, **({"history": history} if history else {})},
        "steps_to_reach": reached and reached[0],
        "work_to_reach": reached and round(reached[1], 1),
        "seconds_to_reach": reached and round(reached[2], 1),
        "best_score": min(s for *_, s in trace) if trace else None,
        "trace_step_work_wall_score": trace,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--steps", type=int, default=300, help="N, the reference's iterations")
    ap.add_argument("--every", type=int, default=5, help="score every this many steps on the finest level")
    ap.add_argument("--ref-cache", help="path prefix for the reference's output (.png) and time (.json)")
    ap.add_argument("--config", action="append", default=[], help="JSON object of StyleParams fields")
    args = ap.parse_args()
    dev = torch.device("cpu")
    ctx = {
        "device": dev,
        "content": Image.open(B.CONTENT).convert("RGB"),
        "style": Image.open(B.STYLE).convert("RGB"),
        "vgg": artstyle.load_weights(str(B.WEIGHTS)),
        "net": reference.Net(str(B.WEIGHTS), dev),
    }
    ref_image, ref_seconds = reference_output(ctx, args.size, args.steps, args.ref_cache)
    evaluator = Evaluator(ctx["net"], ctx["content"], ctx["style"], size=args.size, device=dev)
    evaluator.calibrate(ref_image)
    print(json.dumps({"size": args.size, "reference_steps": args.steps, "reference_seconds": round(ref_seconds, 1)}))
    for text in args.config:
        r = race(ctx, evaluator, args.size, json.loads(text), args.every)
        r["work_ratio"] = r["work_to_reach"] and round(r["work_to_reach"] / args.steps, 3)
        r["wall_ratio"] = r["seconds_to_reach"] and round(r["seconds_to_reach"] / ref_seconds, 3)
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
