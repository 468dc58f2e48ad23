"""Colour speckle of the outputs (pixel-scale grain VGG's losses leave alone) against the photo's fine detail.

For each (photo, painting) pair and each setting, one run at the app's CPU defaults (or --size/--steps), and one
JSON line: mean |Laplacian| of the output and of the photo at the same size (0-255, per channel, 3x3 kernel)
and their ratio; the same for chroma alone (Cb, Cr: the "rainbow" part); the content and style distances of
bench/evaluate.py (the independent evaluator: its own VGG19 reader and losses, max pooling); seconds.
`--sheet out.png` lays the outputs out, a row per setting, per pair the output and a 3x crop of its sky.

    python -m bench.speckle --settings '{}' '{"tv_weight": 1e10}' '{"pooling": "max"}' --sheet speckle.jpg
    python -m bench.speckle --pairs tubingen:starry_night,stata_center:the_scream --size 512 --steps 85
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

import artstyle
from artstyle.gallery import DEFAULT_SIZE, DEFAULT_STEPS
from artstyle.images import fit_long_side, load_image
from bench import bench as B
from bench import reference
from bench.evaluate import Evaluator

PAIRS = "tubingen:starry_night,stata_center:the_scream,golden_gate:great_wave"
LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def _channels(image: Image.Image, chroma: bool) -> torch.Tensor:
    picture = image.convert("YCbCr") if chroma else image.convert("RGB")
    array = torch.from_numpy(np.asarray(picture, dtype=np.float32)).permute(2, 0, 1)
    return array[1:] if chroma else array


def mean_abs_laplacian(image: Image.Image, *, chroma: bool = False) -> float:
    """Mean |Laplacian| over pixels and channels, 0-255 units: how much fine, pixel-scale detail there is."""
    x = _channels(image, chroma)[:, None]
    return float(torch.nn.functional.conv2d(x, LAPLACIAN[None, None]).abs().mean())


def measure(image: Image.Image, photo: Image.Image, evaluator: Evaluator) -> dict:
    photo = photo.resize(image.size, Image.Resampling.LANCZOS)
    out = {}
    for name, chroma in (("laplacian", False), ("chroma_laplacian", True)):
        mine, theirs = mean_abs_laplacian(image, chroma=chroma), mean_abs_laplacian(photo, chroma=chroma)
        out[name] = {"output": round(mine, 2), "photo": round(theirs, 2), "ratio": round(mine / theirs, 3)}
    return {**out, **{k: float(f"{v:.4g}") for k, v in evaluator.distances(image).items()}}


def label(setting: dict) -> str:
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in setting.items()) or "defaults"


ZOOM = 3  # the speckle is a pixel-scale pattern: each output also shown as a crop at 3x, nearest-neighbour


def zoomed_crop(image: Image.Image, cell: int) -> Image.Image:
    """A `cell` x `cell` view at ZOOM x of the output's upper middle (skies: where speckle shows most)."""
    side = cell // ZOOM
    left, top = (image.width - side) // 2, image.height // 8
    return image.crop((left, top, left + side, top + side)).resize((cell, cell), Image.Resampling.NEAREST)


def sheet(rows: list[tuple[str, list[Image.Image]]], cell: int) -> Image.Image:
    """Rows of settings; per pair two cells: the output scaled to fit, and its zoomed crop."""
    font = ImageFont.load_default(size=14)
    band = 22
    page = Image.new("RGB", (2 * cell * len(rows[0][1]), (cell + band) * len(rows)), "white")
    draw = ImageDraw.Draw(page)
    for r, (text, images) in enumerate(rows):
        top = r * (cell + band)
        draw.text((6, top + 3), text, fill="black", font=font)
        for c, image in enumerate(images):
            thumb = image.copy()
            thumb.thumbnail((cell, cell), Image.Resampling.LANCZOS)
            page.paste(thumb, (2 * c * cell + (cell - thumb.width) // 2, top + band))
            page.paste(zoomed_crop(image, cell), ((2 * c + 1) * cell, top + band))
    return page


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", default=PAIRS, help="photo:painting,... (file stems in ../shared/images)")
    ap.add_argument("--settings", nargs="+", default=["{}"], help="JSON objects of StyleParams fields, one per row")
    ap.add_argument("--size", type=int, default=DEFAULT_SIZE)
    ap.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    ap.add_argument("--sheet", help="write the outputs as a contact sheet (rows: settings, columns: pairs)")
    ap.add_argument("--cell", type=int, default=256)
    args = ap.parse_args()
    vgg = artstyle.load_weights(str(B.WEIGHTS))
    net = reference.Net(str(B.WEIGHTS), torch.device("cpu"))
    pairs = [p.split(":") for p in args.pairs.split(",")]
    images = B.SHARED / "images"
    rows = []
    for setting in (json.loads(s) for s in args.settings):
        outputs = []
        for photo_name, painting_name in pairs:
            photo_path, painting_path = (
                images / "content" / f"{photo_name}.jpg",
                images / "styles" / f"{painting_name}.jpg",
            )
            photo, painting = load_image(photo_path), load_image(painting_path)
            start = time.perf_counter()
            result = artstyle.stylize(photo, painting, weights=vgg, size=args.size, steps=args.steps,
                                      preview_every=0, device="cpu", **setting)  # fmt: skip
            seconds = time.perf_counter() - start
            evaluator = Evaluator(net, photo, painting, size=args.size, device=torch.device("cpu"))
            line = {"pair": f"{photo_name}:{painting_name}", "setting": setting, "size": args.size,
                    "steps": args.steps, **measure(result, fit_long_side(photo, args.size), evaluator),
                    "seconds": round(seconds, 1)}  # fmt: skip
            print(json.dumps(line), flush=True)
            outputs.append(result)
        rows.append((label(setting), outputs))
    if args.sheet:
        sheet(rows, args.cell).save(args.sheet)


if __name__ == "__main__":
    main()
