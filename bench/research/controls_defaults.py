"""Measurements behind two defaults of the creative controls (ema, scales), printed as JSON lines.

- ema: does averaging the iterates lower the objective of the *output* at equal steps (per optimiser)?
- scales: time to the first preview and the output's objective, single level vs a pyramid, equal steps.

The output's objective is evaluated on the 8-bit result at full size in the paper's units (lower is better).
Usage: ARTSTYLE_WEIGHTS=... python -m bench.research.controls_defaults [ema|scales] SIZE STEPS
"""

from __future__ import annotations

import json
import sys
import time

import artstyle
from artstyle.engine import objective_terms
from artstyle.params import StyleParams

CONTENT = "../shared/images/content/tubingen.jpg"
STYLE = "../shared/images/styles/starry_night.jpg"


def objective(image, p: StyleParams, vgg) -> float:
    """The full-size objective of a finished picture: one evaluation, no step."""
    return objective_terms(CONTENT, image, STYLE, params=p, weights=vgg).total


def run(p: StyleParams, vgg) -> dict:
    start, first_preview, result = time.perf_counter(), None, None
    for event in artstyle.stylize_iter(CONTENT, STYLE, params=p, weights=vgg):
        if event.image is not None and first_preview is None:
            first_preview = round(time.perf_counter() - start, 2)
        result = event.image
    wall = round(time.perf_counter() - start, 1)
    single = StyleParams.from_kwargs(p, scales=1, scale_steps=None, ema=False)
    return {"first_preview_s": first_preview, "wall_s": wall, "loss": objective(result, single, vgg)}


def main() -> None:
    what, size, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    vgg = artstyle.load_weights()  # ARTSTYLE_WEIGHTS or the Hub default
    base = StyleParams(size=size, steps=steps, device="cpu", preview_every=10)
    if what == "ema":
        cases = [{"optimizer": o, "ema": e} for o in ("lbfgs", "adam") for e in (False, 0.9, 0.98)]
    else:
        cases = [{"scales": s} for s in (1, 2, 3)]
    for case in cases:
        p = StyleParams.from_kwargs(base, **case)
        print(json.dumps({**case, "size": size, "steps": steps, **run(p, vgg)}), flush=True)


if __name__ == "__main__":
    main()
