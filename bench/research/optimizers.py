"""Does another optimiser set-up reach the reference's quality in fewer function evaluations?

Runs the reference (bench/reference.py) for N iterations at SIZE to fix the target, the float objective of
its last iterate, then minimises the same objective (artstyle's VGG19 and losses; E in the evaluator's units)
with each configuration and reports the evaluations it needed to get there. Evaluations, not seconds: every
configuration costs the same per evaluation, so the count does not depend on the machine's load. One thread,
so two of these can run side by side on two cores.

    python -m bench.research.optimizers --size 128 --steps 300 '{}' '{"clamp":"param"}' '{"line_search":true}'

A configuration is a JSON object:
    clamp        "graph" (x = clamp(content + z) inside the objective; default), "param" (the tutorial's: clamp
                 the variable after each step), "none" (no clamp while optimising; the clamped picture is scored)
    line_search  true: torch's strong-Wolfe line search (each of its evaluations counts)
    history      L-BFGS history size (default 100)
    precond      q > 0: optimise z with x = content + F^-1(|f|^-q F(z)), a Fourier preconditioner boosting low
                 frequencies (floor |f| >= 1/8 of Nyquist); q < 0 boosts high frequencies instead
    chroma       k: optimise z in YIQ with the two chroma channels scaled by k (a colour preconditioner)
    init         "content" (default) or "hist": the photo recoloured to the painting's mean and covariance
    skip         style layers left out of the objective being minimised for the whole run (e.g. ["conv5_1"], as
                 artstyle does while that layer is inert); the full objective is still what is scored
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from PIL import Image

import artstyle
from artstyle import color
from artstyle.features import VGGFeatures
from artstyle.images import fit_long_side, to_tensor
from artstyle.losses import content_loss, gram, style_loss
from artstyle.params import PAPER_STYLE_LAYERS
from bench import bench as B
from bench import reference

UNIT = 4 * 512 * 512  # artstyle's objective (content_weight 1, style_weight 1e3) is UNIT x the evaluator's E


class Objective:
    """E(x) at one size: content at conv4_2, Grams at conv1_1 ... conv5_1, as artstyle's defaults weigh them."""

    def __init__(self, model: VGGFeatures, content: Image.Image, style: Image.Image, size: int) -> None:
        self.model = model
        self.content = to_tensor(fit_long_side(content, size))
        self.style = to_tensor(fit_long_side(style, size))
        with torch.no_grad():
            self.content_target = model(self.content)["conv4_2"]
            feats = model(self.style)
            self.grams = {k: gram(feats[k]) for k in PAPER_STYLE_LAYERS}
        self.pixels = self.content.shape[-1] * self.content.shape[-2]

    def terms(self, x: torch.Tensor, *, skip: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
        """Each weighted term in artstyle's units (UNIT x E): content 1, each style layer 1e3 x 1/5."""
        feats = self.model(x)
        out = {"content conv4_2": content_loss(feats["conv4_2"], self.content_target, pixels=self.pixels)}
        for k in PAPER_STYLE_LAYERS:
            if k not in skip:  # weights stay 1/5 (artstyle's inert layers)
                out[f"style {k}"] = 1e3 * style_loss(gram(feats[k]), self.grams[k]) / len(PAPER_STYLE_LAYERS)
        return out

    def __call__(self, x: torch.Tensor, *, skip: tuple[str, ...] = ()) -> torch.Tensor:
        return sum(self.terms(x, skip=skip).values()) / UNIT


def reference_target(content: Image.Image, style: Image.Image, size: int, steps: int) -> float:
    """The float objective of the reference's iterate at its last evaluation (its own loss, in E units)."""
    values: list[float] = []
    original = reference.loss_terms

    def recording(feats, target_content, target_grams):
        c, s = original(feats, target_content, target_grams)
        values.append(float((c + reference.STYLE_WEIGHT * s).detach()))
        return c, s

    reference.loss_terms = recording
    try:
        net = reference.Net(str(B.WEIGHTS), torch.device("cpu"))
        reference.run(net, content, style, size=size, steps=steps, device=torch.device("cpu"))
    finally:
        reference.loss_terms = original
    return values[-1]


def race(objective: Objective, cfg: dict, evals: int, target: float) -> dict:
    c = objective.content
    h, w = c.shape[-2:]
    q = cfg.get("precond", 0.0)
    radius = (torch.fft.fftfreq(h)[:, None] ** 2 + torch.fft.rfftfreq(w)[None, :] ** 2).sqrt() / 0.5
    gain = radius.clamp(min=0.125) ** -q

    chroma = float(cfg.get("chroma", 1.0))
    yiq_gain = torch.tensor([1.0, chroma, chroma]).view(1, 3, 1, 1)

    def synthesis(z: torch.Tensor) -> torch.Tensor:
        z = torch.fft.irfft2(torch.fft.rfft2(z) * gain, s=(h, w)) if q else z
        return color.yiq_to_rgb(z * yiq_gain) if chroma != 1.0 else z

    start = color.match_histogram(c, objective.style) if cfg.get("init") == "hist" else c
    z = (start - c).clone().requires_grad_(True)
    line_search = bool(cfg.get("line_search"))
    opt = torch.optim.LBFGS([z], lr=1, max_iter=10**6 if line_search else 1, max_eval=10**6 if line_search else None,
                            history_size=cfg.get("history", 100), tolerance_grad=0, tolerance_change=0,
                            line_search_fn="strong_wolfe" if line_search else None)  # fmt: skip
    clamp = cfg.get("clamp", "graph")
    skip = tuple(cfg.get("skip", ()))
    if clamp == "param" and (q or chroma != 1.0):
        raise ValueError("clamp 'param' clamps the pixels themselves: use it without precond")
    values: list[float] = []
    scale: list[float] = []

    class Done(Exception):
        pass

    def closure() -> torch.Tensor:
        opt.zero_grad()
        x = c + synthesis(z)
        loss = objective(x.clamp(0, 1) if clamp == "graph" else x, skip=skip)
        if not scale:
            scale.append(1.0 / float(loss.detach()))  # as artstyle and the reference: start at 1
        (loss * scale[0]).backward()
        with torch.no_grad():
            exact = clamp == "graph" and not skip
            shown = loss if exact else objective((c + synthesis(z)).clamp(0, 1))
        values.append(float(shown.detach()))
        if len(values) >= evals:
            raise Done
        return loss * scale[0]

    t = time.perf_counter()
    try:
        while True:
            opt.step(closure)
            if clamp == "param":  # the tutorial's clamp of the variable: x = c + z back into [0, 1]
                with torch.no_grad():
                    z.clamp_(-c, 1 - c)
    except Done:
        pass
    reached = next((i + 1 for i, v in enumerate(values) if v <= target), None)
    marks = (10, 30, 60, 100, 150, 200, 300)
    return {
        "config": cfg,
        "evaluations_to_target": reached,
        "score_at": {k: round(values[k - 1] / target, 4) for k in marks if k <= len(values)},
        "seconds": round(time.perf_counter() - t, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=300, help="N, the reference's iterations")
    ap.add_argument("--evals", type=int, help="cap per configuration (default 1.1 N)")
    ap.add_argument("config", nargs="*", default=["{}"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    content, style = Image.open(B.CONTENT).convert("RGB"), Image.open(B.STYLE).convert("RGB")
    target = reference_target(content, style, args.size, args.steps)
    model = VGGFeatures(artstyle.load_weights(str(B.WEIGHTS)), ("conv4_2", *PAPER_STYLE_LAYERS))
    objective = Objective(model, content, style, args.size)
    print(json.dumps({"size": args.size, "reference_steps": args.steps, "target": round(target, 2)}), flush=True)
    for text in args.config:
        print(json.dumps(race(objective, json.loads(text), args.evals or int(1.1 * args.steps), target)), flush=True)


if __name__ == "__main__":
    main()
