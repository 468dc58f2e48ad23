"""Did a change of the library keep its pixels? Save a set of small runs' outputs before, check them after.

Each case is a short CPU run through `artstyle.stylize_iter` covering one path of the engine (each optimiser,
noise and content starts, blends, two- and three-style masks, pyramids with and without `ema`, both colour
modes, `style_scale`, style- and content-only runs, max pooling), plus one `objective_terms` call. `save` writes
each final image, its per-step losses, restart counts and preview hashes; `check` reruns them and says, per case,
SAME (bit-identical) or how far it moved. Prints one JSON line per case; `check` exits 1 if any differs.

    python -m bench.same_pixels save /tmp/pixels          # on the commit before the change
    python -m bench.same_pixels check /tmp/pixels         # on the change (same machine, same torch)
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

import artstyle
from bench import bench as B

CONTENT = B.SHARED / "images" / "content"
STYLES = B.SHARED / "images" / "styles"


def _masks() -> tuple[Image.Image, Image.Image]:
    halves = Image.new("L", (96, 72))
    halves.paste(255, (48, 0, 96, 72))
    thirds = Image.new("RGB", (96, 72))
    thirds.paste((255, 0, 0), (32, 0, 64, 72))
    thirds.paste((255, 255, 255), (64, 0, 96, 72))
    return halves, thirds


def cases() -> dict[str, tuple[Any, Any, Any, dict[str, Any]]]:
    """name -> (content, style(s), mask, keyword arguments)."""
    tub, chi = CONTENT / "tubingen.jpg", CONTENT / "chicago.jpg"
    sn, wave, scream = STYLES / "starry_night.jpg", STYLES / "great_wave.jpg", STYLES / "the_scream.jpg"
    halves, thirds = _masks()
    return {
        "lbfgs": (tub, sn, None, dict(size=96, steps=30)),
        "lbfgs_long": (chi, scream, None, dict(size=80, steps=60)),
        "adam_noise": (tub, sn, None, dict(size=64, steps=20, optimizer="adam", init="noise", seed=3)),
        "blend": (tub, [sn, wave], None, dict(size=64, steps=15, style_blend=(0.7, 0.3))),
        "mask2": (tub, [sn, wave], halves, dict(size=96, steps=15)),
        "mask3_adam": (tub, [sn, wave, scream], thirds, dict(size=96, steps=12, optimizer="adam")),
        "scales_ema": (tub, sn, None, dict(size=96, steps=24, scales=2, ema=True)),
        "scales_list": (chi, sn, None, dict(size=128, steps=21, scales=(64, 96), scale_steps=(9, 7, 5))),
        "luminance": (tub, sn, None, dict(size=64, steps=15, preserve_color="luminance")),
        "histogram_scale": (tub, wave, None, dict(size=64, steps=15, preserve_color="histogram", style_scale=0.5)),
        "style_only": (tub, sn, None, dict(size=64, steps=15, content_weight=0, init="noise", tv_weight=0)),
        "content_only": (tub, sn, None, dict(size=64, steps=15, style_weight=0, init="noise", tv_weight=0)),
        "paper": (tub, sn, None, dict(size=64, steps=15, init="noise", tv_weight=0.0)),
        "style_init_max": (tub, scream, None, dict(size=64, steps=10, init="style", pooling="max")),
    }


def run(case: tuple[Any, Any, Any, dict[str, Any]], vgg: artstyle.VGGWeights) -> tuple[np.ndarray, dict[str, Any]]:
    content, style, mask, kwargs = case
    events = list(artstyle.stylize_iter(content, style, mask=mask, weights=vgg, device="cpu", preview_every=5,
                                        **kwargs))  # fmt: skip
    record = {
        "losses": [[e.step, e.restarts, *dataclasses.astuple(e.losses)] for e in events],
        "previews": [hashlib.sha1(np.asarray(e.image).tobytes()).hexdigest() for e in events if e.image is not None],
    }
    return np.asarray(events[-1].image), record


def objective(vgg: artstyle.VGGWeights) -> list[float]:
    tub, sn = CONTENT / "tubingen.jpg", STYLES / "starry_night.jpg"
    return list(dataclasses.astuple(artstyle.objective_terms(tub, sn, sn, weights=vgg, device="cpu", size=64)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=("save", "check"))
    ap.add_argument("folder", type=Path)
    ap.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    args = ap.parse_args()
    vgg = artstyle.load_weights(str(B.WEIGHTS))
    chosen = [c for c in args.cases.split(",") if c] or list(cases())
    args.folder.mkdir(parents=True, exist_ok=True)
    differ = 0
    for name in chosen:
        image, record = run(cases()[name], vgg)
        if args.action == "save":
            np.save(args.folder / f"{name}.npy", image)
            (args.folder / f"{name}.json").write_text(json.dumps(record))
            print(json.dumps({"case": name, "saved": list(image.shape)}), flush=True)
            continue
        before = np.load(args.folder / f"{name}.npy")
        old = json.loads((args.folder / f"{name}.json").read_text())
        same = np.array_equal(before, image) and old == json.loads(json.dumps(record))
        moved = int(np.abs(before.astype(int) - image.astype(int)).max()) if before.shape == image.shape else None
        print(json.dumps({"case": name, "same": same, "max_pixel_change": moved}), flush=True)
        differ += not same
    terms = objective(vgg)
    path = args.folder / "objective_terms.json"
    if args.action == "save":
        path.write_text(json.dumps(terms))
    else:
        old_terms = json.loads(path.read_text())
        rel = max(abs(a - b) / max(abs(a), 1e-30) for a, b in zip(old_terms, terms, strict=True))
        print(json.dumps({"case": "objective_terms", "same": old_terms == terms, "max_relative_change": rel}))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
