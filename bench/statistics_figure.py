"""The README's comparison figure: one photo and one painting, painted with each style statistic (`style_loss`).

Each picture is the app's: the preset's recommended settings at the app's CPU defaults (256 px, 145 coarse-to-fine
steps), only `style_loss` changes. The figure is photo | painting | gram | moments | sliced, captioned; one JSON
line per statistic gives its seconds (on a quiet machine: the statistic's cost beside Gram's).

    ARTSTYLE_PRESETS_DIR=../shared/images/styles python -m bench.statistics_figure \\
        examples/chelsea.jpg starry_night -o docs/statistics.jpg
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

import artstyle
from artstyle.gallery import APP_METHOD, DEFAULT_SIZE, DEFAULT_STEPS
from artstyle.images import fit_long_side, load_image
from artstyle.presets import get_preset, preset_image
from artstyle.statistics import STATISTICS
from artstyle.weights import resolve_weights

CAPTION_H = 28
GAP = 6


def paint_each(photo: Path, preset_id: str, *, size: int, steps: int) -> dict[str, Image.Image]:
    """style_loss -> the picture, every statistic in the registry, everything else as the app does it."""
    vgg = resolve_weights(None)  # ARTSTYLE_WEIGHTS, or the Hub download
    pictures = {}
    for name in STATISTICS:
        start = time.perf_counter()
        pictures[name] = artstyle.stylize(photo, preset_id, weights=vgg, size=size, steps=steps,
                                          **{**APP_METHOD, "style_loss": name})  # fmt: skip
        print(json.dumps({"style_loss": name, "seconds": round(time.perf_counter() - start, 1)}), flush=True)
    return pictures


def compose(panels: list[tuple[str, Image.Image]], height: int) -> Image.Image:
    """Panels side by side at one height, each captioned underneath."""
    fitted = [(caption, image.resize((round(image.width * height / image.height), height), Image.Resampling.LANCZOS))
              for caption, image in panels]  # fmt: skip
    width = sum(image.width for _, image in fitted) + GAP * (len(fitted) - 1)
    sheet = Image.new("RGB", (width, height + CAPTION_H), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=15)
    x = 0
    for caption, image in fitted:
        sheet.paste(image, (x, 0))
        draw.text((x + image.width / 2, height + CAPTION_H / 2), caption, fill=(20, 20, 20), font=font, anchor="mm")
        x += image.width + GAP
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", type=Path)
    parser.add_argument("preset", help="a preset id (its painting from ARTSTYLE_PRESETS_DIR or its public source)")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    args = parser.parse_args()
    pictures = paint_each(args.photo, args.preset, size=args.size, steps=args.steps)
    preset = get_preset(args.preset)
    painting = fit_long_side(load_image(preset_image(preset)), args.size)
    panels = [("photo", load_image(args.photo)), (preset.title, painting)]
    panels += [(f"style_loss={name}" + (" (the paper)" if name == "gram" else ""), image)
               for name, image in pictures.items()]  # fmt: skip
    compose(panels, height=min(image.height for image in pictures.values())).save(args.output, quality=88)
    print(json.dumps({"figure": str(args.output), "size": args.size, "steps": args.steps, **APP_METHOD}))


if __name__ == "__main__":
    main()
