"""Does the divergence guard (artstyle/guard.py) fire on ordinary runs? A sweep of photo x preset runs.

Each run is the app's: the preset's recommended settings, at `--size` x `--steps` (the app's CPU defaults by
default; pass the GPU defaults too), plus `--set KEY=VALUE` overrides. `--damping` compares L-BFGS's Powell
damping thresholds (artstyle/lbfgs.py, DAMPING), passed in as the optimiser part. One JSON line per run: restarts,
the step of the first, the largest objective after the first step relative to the start (an overshoot), the
objective at step 20 and at the end relative to the start. A summary line ends each damping value.

    python -m bench.guard_sweep --size 256 --steps 85 --damping 0,0.05,0.2
    python -m bench.guard_sweep --size 512 --steps 300 --pairs 16
"""

from __future__ import annotations

import argparse
import itertools
import json

import artstyle
from artstyle import lbfgs
from artstyle.lbfgs import LBFGS
from artstyle.presets import get_preset
from artstyle.solver import Parts, make_optimizer
from bench import bench as B

PHOTOS = ("lion", "chicago", "golden_gate", "taj_mahal", "stata_center", "figures", "tubingen", "hoover_tower_night")
PRESETS = (
    "starry_night", "the_scream", "great_wave", "wheat_field_with_cypresses", "udnie", "the_kiss_detail",
    "composition_vii", "shipwreck_of_the_minotaur", "water_lilies", "woman_with_a_hat", "starry_night_over_the_rhone",
)  # fmt: skip


def pairs(count: int) -> list[tuple[str, str]]:
    """`count` (photo, preset) pairs: every photo in turn, with the presets cycling, no pair twice."""
    presets = itertools.cycle(PRESETS)
    return [(PHOTOS[i % len(PHOTOS)], next(presets)) for i in range(count)]


def optimiser_part(damping: float) -> Parts:
    def make(p, image, steps):
        if p.optimizer != "lbfgs":
            return make_optimizer(p, image, steps)
        history = max(1, min(lbfgs.HISTORY, steps))
        return LBFGS(image, lr=p.lr or 1.0, history=history, lower=0.0, upper=1.0, damping=damping, backtrack=True)

    return Parts(make_optimizer=make)


def painting(preset_id: str):
    styles = B.SHARED / "images" / "styles"
    return next(p for p in styles.glob(f"{preset_id}.*"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=85)
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--damping", default=str(lbfgs.DAMPING), help="comma-separated thresholds (0: none)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="a StyleParams override")
    args = ap.parse_args()
    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    vgg = artstyle.load_weights(str(B.WEIGHTS))
    for damping in (float(d) for d in args.damping.split(",")):
        restarted = 0
        for photo, preset_id in pairs(args.pairs):
            preset = get_preset(preset_id)
            settings = {**preset.recommended, "size": args.size, "steps": args.steps, **overrides}
            events = list(artstyle.stylize_iter(
                B.SHARED / "images" / "content" / f"{photo}.jpg", painting(preset_id), weights=vgg, device="cpu",
                preview_every=0, parts=optimiser_part(damping), **settings,
            ))  # fmt: skip
            totals = [e.losses.total for e in events]
            first = next((e.step for e in events if e.restarts), None)
            restarted += events[-1].restarts > 0
            print(json.dumps({
                "damping": damping, "photo": photo, "preset": preset_id, "restarts": events[-1].restarts,
                "first_restart_step": first, "max_after_step_1": round(max(totals[1:], default=1) / totals[0], 3),
                "at_20": round(totals[min(19, len(totals) - 1)] / totals[0], 4),
                "final": round(totals[-1] / totals[0], 4),
            }), flush=True)  # fmt: skip
        print(json.dumps({"damping": damping, "runs": args.pairs, "runs_with_a_restart": restarted}), flush=True)


if __name__ == "__main__":
    main()
