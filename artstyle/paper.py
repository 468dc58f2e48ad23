"""The paper's two demonstrations, for any content photo and painting (Gatys, Ecker & Bethge 2015).

Fig. 1: what each VGG19 layer keeps of an image. Content reconstructions from white noise, matching only
conv1_2, conv2_2, conv3_2, conv4_2 or conv5_2 of the photo (style weight 0), and style reconstructions
matching the Gram matrices of conv1_1, then conv1_1+conv2_1, ... up to conv5_1 of the painting (content
weight 0: texture synthesis).

Fig. 3: content and style are separable, and the trade-off is set by alpha/beta and by how deep the style
layers reach. Rows: style layers up to conv1_1 ... conv5_1; columns: alpha/beta = 1e-5 ... 1e-2; content
at conv4_2 throughout. alpha is `content_weight` and beta `style_weight`; we keep alpha = 1 and set
beta = 1 / (alpha/beta). Our losses are the paper's, with the content term computed as for a 512x512
image (see `losses.py`), so the ratios mean what they mean in the paper at that size, whatever `size` is.
As in the paper, the style layers of a run are weighted equally (w_l = 1 / number of layers).

`iter_reconstructions` and `iter_grid` yield each cell as soon as it is finished (for an app to stream);
`render_figure` lays the cells out as one labelled image; `python -m artstyle.paper` does both.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from .engine import WeightsInput, stylize_iter
from .images import ImageInput, fit_long_side, load_image
from .params import PAPER_CONTENT_LAYERS, PAPER_STYLE_LAYERS, StyleParams
from .weights import VGGWeights, WeightsError, cached_weights

#: Fig. 1, top row: one content layer per reconstruction.
FIG1_CONTENT_LAYERS: tuple[str, ...] = ("conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2")
#: Fig. 1, bottom row, and Fig. 3's rows: style layers up to (and including) each of these.
FIG_STYLE_LAYERS: tuple[str, ...] = PAPER_STYLE_LAYERS
#: Fig. 3's columns, alpha/beta.
FIG3_RATIOS: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2)

#: Small enough for a CPU: a Fig. 1 takes minutes, a Fig. 3 (20 cells) some tens of minutes on 2 cores.
DEFAULT_SIZE = 128
DEFAULT_STEPS = 100
#: `--paper-size`: the paper's figures are about 512 px; from white noise they need many iterations. GPU.
PAPER_SIZE = 512
PAPER_STEPS = 1000


@dataclass(frozen=True)
class Layout:
    """The shape of a figure: its title and the labels of its rows and columns, known before any run."""

    title: str
    row_labels: tuple[str, ...]
    col_labels: tuple[str, ...]
    cell_labels: tuple[tuple[str, ...], ...] = ()  # optional caption under each panel, row by row


@dataclass(frozen=True)
class PlannedCell:
    """One panel still to run: its place in the figure, its images (already at `size`) and its params."""

    row: int
    col: int
    content: Image.Image
    style: Image.Image
    params: StyleParams


@dataclass(frozen=True)
class Cell:
    """One finished panel of a figure."""

    row: int
    col: int
    image: Image.Image
    params: StyleParams  # exactly what was run, so a cell can be reproduced with `stylize`
    losses: dict[str, float]  # the weighted loss terms at the last step
    elapsed: float  # seconds this cell took


def reconstructions_layout() -> Layout:
    return Layout(
        title="Reconstructions from white noise (Gatys et al. 2015, Fig. 1)",
        row_labels=("content", "style"),
        col_labels=("a", "b", "c", "d", "e"),
        cell_labels=(
            FIG1_CONTENT_LAYERS,
            tuple(layer if i == 0 else f"+ {layer}" for i, layer in enumerate(FIG_STYLE_LAYERS)),
        ),
    )


def grid_layout(ratios: Sequence[float] = FIG3_RATIOS) -> Layout:
    return Layout(
        title="Style layers x alpha/beta, content conv4_2 (Gatys et al. 2015, Fig. 3)",
        row_labels=tuple(f"style {_up_to(s)}" for s in FIG_STYLE_LAYERS),
        col_labels=tuple(f"alpha/beta {format_ratio(r)}" for r in ratios),
    )


def iter_reconstructions(
    content: ImageInput,
    style: ImageInput,
    *,
    size: int = DEFAULT_SIZE,
    steps: int = DEFAULT_STEPS,
    weights: WeightsInput = None,
    **overrides: Any,
) -> Iterator[Cell]:
    """Fig. 1: yield the five content reconstructions (row 0), then the five style reconstructions (row 1).

    `overrides` are further `StyleParams` fields (seed, device, pooling, optimizer, init ...); the layers
    and weights are set per cell. Arguments are checked and images loaded here, before any work starts.
    """
    plan = plan_reconstructions(content, style, size=size, steps=steps, **overrides)
    return _run_cells(plan, _weights(weights))


def plan_reconstructions(
    content: ImageInput, style: ImageInput, *, size: int = DEFAULT_SIZE, steps: int = DEFAULT_STEPS, **overrides: Any
) -> list[PlannedCell]:
    """The cells of Fig. 1, not yet run (see `iter_reconstructions`): for a caller that runs each cell with
    `stylize_iter` itself, e.g. an app that must be able to stop within an iteration."""
    base = _base_params(size, steps, overrides)
    content_image = fit_long_side(load_image(content, name="content"), size, name="content")
    style_image = fit_long_side(load_image(style, name="style"), size, name="style")
    runs = [
        # Content only: the photo is also passed as the (unused) style image; no Gram is computed.
        (0, i, content_image, content_image, {"content_layers": (layer,), "style_layers": (), "style_weight": 0.0})
        for i, layer in enumerate(FIG1_CONTENT_LAYERS)
    ] + [
        # Style only: the painting is the canvas (its size and aspect), its content is never matched.
        (1, i, style_image, style_image, {"content_layers": (), "style_layers": layers, "content_weight": 0.0})
        for i, layers in enumerate(_cumulative(FIG_STYLE_LAYERS))
    ]
    return _plan(runs, base)


def iter_grid(
    content: ImageInput,
    style: ImageInput,
    *,
    size: int = DEFAULT_SIZE,
    steps: int = DEFAULT_STEPS,
    ratios: Sequence[float] = FIG3_RATIOS,
    weights: WeightsInput = None,
    **overrides: Any,
) -> Iterator[Cell]:
    """Fig. 3: yield the cells row by row (style layers up to conv1_1 ... conv5_1) x `ratios` (alpha/beta)."""
    plan = plan_grid(content, style, size=size, steps=steps, ratios=ratios, **overrides)
    return _run_cells(plan, _weights(weights))


def plan_grid(
    content: ImageInput,
    style: ImageInput,
    *,
    size: int = DEFAULT_SIZE,
    steps: int = DEFAULT_STEPS,
    ratios: Sequence[float] = FIG3_RATIOS,
    **overrides: Any,
) -> list[PlannedCell]:
    """The cells of Fig. 3, not yet run (see `iter_grid` and `plan_reconstructions`)."""
    base = _base_params(size, steps, overrides)
    ratios = _check_ratios(ratios)
    content_image = fit_long_side(load_image(content, name="content"), size, name="content")
    style_image = fit_long_side(load_image(style, name="style"), size, name="style")
    runs = [
        (
            row,
            col,
            content_image,
            style_image,
            {
                "content_layers": PAPER_CONTENT_LAYERS,
                "style_layers": layers,
                "content_weight": 1.0,  # alpha
                "style_weight": 1.0 / ratio,  # beta, so that alpha/beta = ratio
            },
        )
        for row, layers in enumerate(_cumulative(FIG_STYLE_LAYERS))
        for col, ratio in enumerate(ratios)
    ]
    return _plan(runs, base)


_Run = tuple[int, int, Image.Image, Image.Image, dict[str, Any]]  # row, col, content, style, per-cell settings


def _plan(runs: list[_Run], base: StyleParams) -> list[PlannedCell]:
    # Every cell's params are built (and so validated) now, before the first run starts.
    return [PlannedCell(r, c, ci, si, StyleParams.from_kwargs(base, **settings)) for r, c, ci, si, settings in runs]


def _run_cells(plan: list[PlannedCell], vgg: VGGWeights) -> Iterator[Cell]:
    for planned in plan:
        start = time.perf_counter()
        last = None
        for event in stylize_iter(planned.content, planned.style, params=planned.params, weights=vgg):
            last = event
        assert last is not None and last.image is not None
        yield Cell(planned.row, planned.col, last.image, planned.params, last.losses, time.perf_counter() - start)


def _base_params(size: int, steps: int, overrides: dict[str, Any]) -> StyleParams:
    fixed = {"content_layers", "style_layers", "content_weight", "style_weight"}
    clash = sorted(fixed & set(overrides))
    if clash:
        raise ValueError(f"{', '.join(clash)} are set per cell by the figure; leave them out")
    # White noise, as in the paper: starting from the photo would make every reconstruction look perfect.
    settings = {"init": "noise", "preview_every": 0, **overrides, "size": size, "steps": steps}
    return StyleParams.from_kwargs(None, **settings)


def _weights(weights: WeightsInput) -> VGGWeights:
    return weights if isinstance(weights, VGGWeights) else cached_weights(weights)


def _check_ratios(ratios: Sequence[float]) -> tuple[float, ...]:
    values = tuple(ratios)
    if not values or not all(isinstance(r, int | float) and math.isfinite(r) and r > 0 for r in values):
        raise ValueError(f"ratios must be a non-empty list of positive numbers (alpha/beta), got {ratios!r}")
    return values


def _cumulative(layers: Sequence[str]) -> list[tuple[str, ...]]:
    return [tuple(layers[: i + 1]) for i in range(len(layers))]


def _up_to(layer: str) -> str:
    return layer if layer == FIG_STYLE_LAYERS[0] else f"..{layer}"


def format_ratio(ratio: float) -> str:
    """1e-05 -> '1e-5', 0.002 -> '2e-3': the paper's way of writing alpha/beta."""
    exponent = math.floor(math.log10(ratio))
    mantissa = ratio / 10**exponent
    head = f"{mantissa:.3g}"
    return f"{head}e{exponent}" if head != "1" else f"1e{exponent}"


# --- rendering -----------------------------------------------------------------------------------------

_PAD = 6
_BG = (255, 255, 255)
_INK = (20, 20, 20)


def render_figure(
    layout: Layout, cells: Sequence[Cell], *, inputs: Sequence[Image.Image | None] = (), font_size: int = 13
) -> Image.Image:
    """Lay `cells` out on a white page with the title, row and column labels of `layout`.

    Every panel gets the same box (the largest cell), centred, so rows of different aspect ratios align.
    `inputs`, one per row, adds a leading "input" column (Fig. 1 shows the photo and the painting there).
    Missing cells (a run still going, or stopped) are left blank.
    """
    font = ImageFont.load_default(size=font_size)
    title_font = ImageFont.load_default(size=font_size + 2)
    images = [c.image for c in cells] + [i for i in inputs if i is not None]
    if not images:
        raise ValueError("render_figure needs at least one finished cell")
    box_w = max(i.width for i in images)
    box_h = max(i.height for i in images)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = max(_text_size(probe, t, font)[0] for t in layout.row_labels) + 2 * _PAD
    line_h = _text_size(probe, "Ag", font)[1] + _PAD
    captions = [t for row in layout.cell_labels for t in row]
    if captions:
        box_w = max(box_w, max(_text_size(probe, t, font)[0] for t in captions))
    caption_h = line_h if captions else 0
    col_labels = (("input",) if inputs else ()) + layout.col_labels
    box_w = max(box_w, max(_text_size(probe, t, font)[0] for t in col_labels))
    top = 2 * line_h + _PAD
    width = label_w + len(col_labels) * (box_w + _PAD) + _PAD
    width = max(width, _text_size(probe, layout.title, title_font)[0] + 2 * _PAD)
    height = top + len(layout.row_labels) * (box_h + caption_h + _PAD) + _PAD
    page = Image.new("RGB", (width, height), _BG)
    draw = ImageDraw.Draw(page)
    draw.text((_PAD, _PAD), layout.title, fill=_INK, font=title_font)
    for col, text in enumerate(col_labels):
        x = label_w + _col_x(col, (box_w, 0)) + (box_w - _text_size(draw, text, font)[0]) // 2
        draw.text((x, top - line_h), text, fill=_INK, font=font)
    for row, text in enumerate(layout.row_labels):
        y = top + row * (box_h + caption_h + _PAD) + (box_h - line_h) // 2
        draw.text((_PAD, y), text, fill=_INK, font=font)
    offset = 1 if inputs else 0
    box = (box_w, box_h + caption_h)
    for row, image in enumerate(inputs):
        if image is not None:
            _paste(page, image, (label_w + _col_x(0, box), top + _row_y(row, box)), (box_w, box_h))
    for cell in cells:
        origin = (label_w + _col_x(cell.col + offset, box), top + _row_y(cell.row, box))
        _paste(page, cell.image, origin, (box_w, box_h))
    for row, texts in enumerate(layout.cell_labels):
        for col, text in enumerate(texts):
            x = label_w + _col_x(col + offset, box) + (box_w - _text_size(draw, text, font)[0]) // 2
            draw.text((x, top + _row_y(row, box) + box_h + 2), text, fill=_INK, font=font)
    return page


def _col_x(col: int, box: tuple[int, int]) -> int:
    return col * (box[0] + _PAD)


def _row_y(row: int, box: tuple[int, int]) -> int:
    return row * (box[1] + _PAD)


def _paste(page: Image.Image, image: Image.Image, origin: tuple[int, int], box: tuple[int, int]) -> None:
    """Paste `image` centred in the `box` whose top-left corner is `origin`."""
    page.paste(image, (origin[0] + (box[0] - image.width) // 2, origin[1] + (box[1] - image.height) // 2))


def _text_size(draw: ImageDraw.ImageDraw, text: str, font: Any) -> tuple[int, int]:
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    return x1 - x0, y1 - y0


# --- command line --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m artstyle.paper",
        description="Render the demonstrations of Gatys, Ecker & Bethge (2015) for your own images: "
        "'reconstructions' (Fig. 1: what each layer keeps) or 'grid' (Fig. 3: style layers x alpha/beta).",
    )
    parser.add_argument("figure", choices=("reconstructions", "grid"))
    parser.add_argument("content", help="content photo")
    parser.add_argument("style", help="style image (a painting)")
    parser.add_argument("-o", "--output", required=True, help="the figure, as one labelled PNG")
    parser.add_argument("--size", type=int, default=None, help=f"long side of each panel (default {DEFAULT_SIZE})")
    parser.add_argument("--steps", type=int, default=None, help=f"L-BFGS steps per panel (default {DEFAULT_STEPS})")
    parser.add_argument(
        "--paper-size",
        action="store_true",
        help=f"{PAPER_SIZE} px and {PAPER_STEPS} steps per panel, as in the paper: meant for a GPU",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the white-noise start")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--weights", default=None, help="VGG19 weights (see python -m artstyle --help)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-panel progress lines")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    size = args.size or (PAPER_SIZE if args.paper_size else DEFAULT_SIZE)
    steps = args.steps or (PAPER_STEPS if args.paper_size else DEFAULT_STEPS)
    output = Path(args.output)
    if output.suffix.lower() != ".png":
        print(f"error: {output}: the figure is written as PNG; name it *.png", file=sys.stderr)
        return 2
    common = {"size": size, "steps": steps, "weights": args.weights, "seed": args.seed, "device": args.device}
    try:
        if args.figure == "reconstructions":
            layout = reconstructions_layout()
            cells_iter = iter_reconstructions(args.content, args.style, **common)
            inputs = [fit_long_side(load_image(p), size) for p in (args.content, args.style)]
        else:
            layout = grid_layout()
            cells_iter = iter_grid(args.content, args.style, **common)
            inputs = []
    except (ValueError, WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    total = len(layout.row_labels) * len(layout.col_labels)
    cells = []
    for n, cell in enumerate(cells_iter, 1):
        cells.append(cell)
        if not args.quiet:
            print(
                f"[{n}/{total}] {layout.row_labels[cell.row]} | {layout.col_labels[cell.col]}: "
                f"{cell.elapsed:.1f}s, loss {cell.losses['total']:.3g}",
                file=sys.stderr,
            )
    figure = render_figure(layout, cells, inputs=inputs)
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.save(output)
    print(
        f"wrote {output} ({figure.width}x{figure.height}; {total} panels at {size} px, {steps} steps, "
        f"{time.perf_counter() - start:.0f}s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
