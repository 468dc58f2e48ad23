"""Why a converged reconstruction from noise diverged, measured variant by variant.

The run: taj_mahal x great_wave, 64 px, 150 L-BFGS steps, init noise, style_weight 0, content_layers conv1_2
(a content-only reconstruction, the paper's Fig. 1 kind). Each variant changes one thing about the optimiser
(history, torch.optim.LBFGS, the clamp, the curvature pair) with the guard taken out, and prints a JSON line:
best objective and its step, final objective, the output's mean absolute error against the photo.

    python -m bench.research.divergence --seeds 0,3
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import torch

import artstyle
from artstyle.images import fit_long_side, load_image
from artstyle.lbfgs import LBFGS
from bench import bench as B
from bench.guard_cost import NO_GUARD

CONTENT = B.SHARED / "images" / "content" / "taj_mahal.jpg"
STYLE = B.SHARED / "images" / "styles" / "great_wave.jpg"


class ComputedStepPairs(LBFGS):
    """The tutorial's and torch.optim.LBFGS's pair: the step as computed, before the clamp."""

    @torch.no_grad()
    def step(self, closure):
        lower, upper = self.lower, self.upper
        self.lower = self.upper = None  # step unclamped: the pair is the computed step ...
        try:
            loss = super().step(closure)
        finally:
            self.lower, self.upper = lower, upper
        self.param.clamp_(lower, upper)  # ... then clamp, as the tutorial does
        return loss


class TorchLBFGS(torch.optim.LBFGS):
    """torch.optim.LBFGS, one iteration per step, no line search, clamped after each step (the tutorial)."""

    def __init__(self, param: torch.Tensor, clamp: bool = True) -> None:
        super().__init__([param], lr=1, max_iter=1, history_size=100, tolerance_grad=0, tolerance_change=0)
        self.param, self.clamp = param, clamp

    def step(self, closure):
        loss = super().step(closure)
        if self.clamp:
            with torch.no_grad():
                self.param.clamp_(0.0, 1.0)
        return loss


VARIANTS = {
    "clamped pairs, history 100 (artstyle)": lambda x: LBFGS(x, lower=0.0, upper=1.0),
    "computed-step pairs, history 100 (before)": lambda x: ComputedStepPairs(x, lower=0.0, upper=1.0),
    "computed-step pairs, history 50": lambda x: ComputedStepPairs(x, history=50, lower=0.0, upper=1.0),
    "computed-step pairs, history 200": lambda x: ComputedStepPairs(x, history=200, lower=0.0, upper=1.0),
    "no clamp": lambda x: LBFGS(x),
    "torch.optim.LBFGS, clamp after step": lambda x: TorchLBFGS(x),
    "torch.optim.LBFGS, no clamp": lambda x: TorchLBFGS(x, clamp=False),
}


def run(vgg, make, seed: int, size: int, steps: int) -> dict:
    parts = dataclasses.replace(NO_GUARD, make_optimizer=lambda p, image, steps: make(image))
    events = list(artstyle.stylize_iter(
        CONTENT, STYLE, weights=vgg, size=size, steps=steps, seed=seed, init="noise", style_weight=0,
        content_layers=["conv1_2"], preview_every=0, device="cpu", parts=parts,
    ))  # fmt: skip
    losses = np.array([e.losses.total for e in events])
    photo = np.asarray(fit_long_side(load_image(CONTENT), size), dtype=np.float64) / 255
    mae = float(np.abs(np.asarray(events[-1].image, dtype=np.float64) / 255 - photo).mean())
    return {"best": float(losses.min()), "best_step": int(losses.argmin()) + 1, "final": float(losses[-1]),
            "mae": round(mae, 3)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,3")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=150)
    args = ap.parse_args()
    vgg = artstyle.load_weights(str(B.WEIGHTS))
    for seed in (int(s) for s in args.seeds.split(",")):
        for name, make in VARIANTS.items():
            result = run(vgg, make, seed, args.size, args.steps)
            print(json.dumps({"seed": seed, "variant": name, **result}), flush=True)


if __name__ == "__main__":
    main()
