"""Each term of the objective at the photo: its value and the norm of its gradient with respect to the pixels.

Shows which layers drive the optimisation with VGG19's published weights (bench/README.md, round 4): conv4_1's
Gram term dominates, conv5_1's is ~1e-5 of it (the reason artstyle skips conv5_1 while it is inert).

    python -m bench.research.terms --size 384
    python -m bench.research.terms --size 256 --content ../shared/images/content/chicago.jpg \\
        --style ../shared/images/styles/the_scream.jpg
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from PIL import Image

import artstyle
from artstyle.features import VGGFeatures
from artstyle.params import PAPER_STYLE_LAYERS
from bench import bench as B
from bench.research.optimizers import UNIT, Objective


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--content", default=str(B.CONTENT))
    ap.add_argument("--style", default=str(B.STYLE))
    args = ap.parse_args()
    content, style = Image.open(args.content).convert("RGB"), Image.open(args.style).convert("RGB")
    model = VGGFeatures(artstyle.load_weights(str(B.WEIGHTS)), ("conv4_2", *PAPER_STYLE_LAYERS))
    objective = Objective(model, content, style, args.size)
    x = objective.content.clone().requires_grad_(True)
    terms = objective.terms(x)  # weighted as in the objective: style_weight 1e3, layer weight 1/5
    out = {"size": args.size, "content": Path(args.content).name, "style": Path(args.style).name, "terms": {}}
    for name, term in terms.items():
        (grad,) = torch.autograd.grad(term / UNIT, x, retain_graph=True)
        out["terms"][name] = {"value": round(float(term.detach()) / UNIT, 3), "grad_norm": float(f"{grad.norm():.4g}")}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
