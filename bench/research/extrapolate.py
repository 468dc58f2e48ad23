"""Is L-BFGS's slow tail a straight drift that extrapolation could skip? (bench/README.md, round 5)

Minimises the objective of bench/research/optimizers.py with artstyle's L-BFGS (the engine's clamp to [0, 1]) for N
iterations, keeping every 10th iterate, then scores x_k + t (x_k - x_{k-d}) for a few k, d and t (t = -0.5: the
midpoint of the two) and says which iteration of the run itself first reached that value. If the tail were a
drift, t = 2 would land near iteration k + 2d; it lands far behind k: the iterates curve, so no extrapolation or
momentum on top of L-BFGS pays.

    python -m bench.research.extrapolate --size 192 --steps 300
"""

from __future__ import annotations

import argparse
import json

import torch
from PIL import Image

import artstyle
from artstyle.features import VGGFeatures
from artstyle.lbfgs import LBFGS
from artstyle.params import PAPER_STYLE_LAYERS
from bench import bench as B
from bench.research.optimizers import Objective


def trajectory(objective: Objective, steps: int) -> tuple[list[float], dict[int, torch.Tensor]]:
    """Objective values after each iteration, and every 10th iterate."""
    x = objective.content.clone().requires_grad_(True)
    optimizer = LBFGS(x, lr=1.0, history=100, lower=0.0, upper=1.0)
    scale: list[float] = []

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = objective(x)
        if not scale:
            scale.append(1.0 / float(loss.detach()))  # start at 1, as the engine does
        (loss * scale[0]).backward()
        return loss * scale[0]

    values, snapshots = [], {}
    for k in range(1, steps + 1):
        optimizer.step(closure)
        with torch.no_grad():
            values.append(float(objective(x)))
        if k % 10 == 0:
            snapshots[k] = x.detach().clone()
    return values, snapshots


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    content, style = Image.open(B.CONTENT).convert("RGB"), Image.open(B.STYLE).convert("RGB")
    model = VGGFeatures(artstyle.load_weights(str(B.WEIGHTS)), ("conv4_2", *PAPER_STYLE_LAYERS))
    objective = Objective(model, content, style, args.size)
    values, snapshots = trajectory(objective, args.steps)
    final = values[-1]

    def reached_at(value: float) -> int | None:  # the run's first iteration at or below `value`
        return next((i + 1 for i, v in enumerate(values) if v <= value), None)

    out = {"size": args.size, "steps": args.steps, "score_at": {}, "extrapolated": []}
    out["score_at"] = {
        k: round(values[k - 1] / final, 4) for k in (30, 60, 100, 150, 200, args.steps) if k <= args.steps
    }
    with torch.no_grad():
        for k in (60, 100, 150):
            for d in (10, 30):
                if k > args.steps or k - d not in snapshots:
                    continue
                for t in (-0.5, 0.5, 1, 2, 4):
                    value = float(objective((snapshots[k] + t * (snapshots[k] - snapshots[k - d])).clamp(0, 1)))
                    out["extrapolated"].append(
                        {
                            "k": k,
                            "d": d,
                            "t": t,
                            "score": round(value / final, 4),
                            "as_good_as_iteration": reached_at(value),
                        }
                    )
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
