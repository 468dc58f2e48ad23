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

`FIGURES` is the registry of the demonstrations (the CLI's and the app's menu). `iter_figure` runs one,
yielding a `PanelProgress` per optimiser step and as each panel finishes (an app streams them and can stop
within an iteration); `iter_reconstructions` and `iter_grid` yield only the finished cells; `render_figure`
(artstyle/figure.py) lays the cells out as one labelled image; `python -m artstyle.paper` does it all.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from .engine import Progress, stylize_iter
from .figure import Cell, Layout, render_figure
from .images import ImageInput, fit_long_side, load_image
from .params import PAPER_CONTENT_LAYERS, PAPER_STYLE_LAYERS, StyleParams
from .weights import VGGWeights, WeightsError, WeightsInput, resolve_weights

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
class PlannedCell:
    """One panel still to run: its place in the figure, its images (already at `size`) and its params."""

    row: int
    col: int
    content: Image.Image
    style: Image.Image
    params: StyleParams


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
    return _finished_cells(iter_figure("reconstructions", content, style, size=size, steps=steps,
                                       weights=weights, **overrides))  # fmt: skip


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
    events = iter_figure("grid", content, style, size=size, steps=steps, weights=weights, ratios=ratios, **overrides)
    return _finished_cells(events)


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


# --- the registry, and running a figure ----------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One of the paper's demonstrations: its menu label, its layout and the panels to run."""

    id: str
    label: str
    layout: Callable[[], Layout]
    plan: Callable[..., list[PlannedCell]]  # (content, style, *, size, steps, **overrides) -> the panels
    shows_inputs: bool = False  # a leading column with the photo and the painting (Fig. 1)

    def inputs(self, plan: Sequence[PlannedCell]) -> list[Image.Image]:
        return [plan[0].content, plan[-1].style] if self.shows_inputs else []


FIGURES: dict[str, Figure] = {
    figure.id: figure
    for figure in (
        Figure(
            "reconstructions",
            "Fig. 1: what each layer keeps (reconstructions)",
            reconstructions_layout,
            plan_reconstructions,
            shows_inputs=True,
        ),  # fmt: skip
        Figure("grid", "Fig. 3: style layers × α/β", grid_layout, plan_grid),
    )
}


def get_figure(figure_id: str) -> Figure:
    if figure_id not in FIGURES:
        raise ValueError(f"figure must be one of {', '.join(FIGURES)}, got {figure_id!r}")
    return FIGURES[figure_id]


@dataclass(frozen=True)
class PanelProgress:
    """One optimiser step of a figure's current panel; `finished` is set on the panel's last step."""

    figure: Figure
    layout: Layout
    index: int  # the current panel, 0 ... total - 1
    total: int
    planned: PlannedCell
    step: Progress
    cells: tuple[Cell, ...]  # the finished panels, including this one once `finished` is set
    inputs: tuple[Image.Image, ...] = ()

    @property
    def finished(self) -> Cell | None:
        return self.cells[-1] if self.step.done else None

    @property
    def caption(self) -> str:
        return self.layout.caption(self.planned.row, self.planned.col)

    def render(self) -> Image.Image:
        """The figure so far: finished panels in place, the others blank."""
        return render_figure(self.layout, self.cells, inputs=self.inputs)


def iter_figure(
    figure_id: str,
    content: ImageInput,
    style: ImageInput,
    *,
    size: int = DEFAULT_SIZE,
    steps: int = DEFAULT_STEPS,
    weights: WeightsInput = None,
    **overrides: Any,
) -> Generator[PanelProgress, None, None]:
    """Run the figure `figure_id` (a key of `FIGURES`) panel by panel, yielding every optimiser step.

    Arguments are checked, images loaded and every panel's params built here, before any work starts.
    Closing the generator stops the panel being optimised at once.
    """
    figure = get_figure(figure_id)
    plan = figure.plan(content, style, size=size, steps=steps, **overrides)
    return _run_panels(figure, plan, resolve_weights(weights))


def _run_panels(figure: Figure, plan: list[PlannedCell], vgg: VGGWeights) -> Generator[PanelProgress, None, None]:
    layout, inputs = figure.layout(), tuple(figure.inputs(plan))
    cells: tuple[Cell, ...] = ()
    for index, planned in enumerate(plan):
        start = time.perf_counter()
        with closing(stylize_iter(planned.content, planned.style, params=planned.params, weights=vgg)) as events:
            for event in events:
                if event.done:
                    assert event.image is not None  # the last event carries the result
                    cell = Cell(planned.row, planned.col, event.image, planned.params, event.losses,
                                time.perf_counter() - start)  # fmt: skip
                    cells = (*cells, cell)
                yield PanelProgress(figure, layout, index, len(plan), planned, event, cells, inputs)


def _finished_cells(events: Generator[PanelProgress, None, None]) -> Iterator[Cell]:
    with closing(events):
        for event in events:
            if event.finished is not None:
                yield event.finished


def _base_params(size: int, steps: int, overrides: dict[str, Any]) -> StyleParams:
    fixed = {"content_layers", "style_layers", "content_weight", "style_weight"}
    clash = sorted(fixed & set(overrides))
    if clash:
        raise ValueError(f"{', '.join(clash)} are set per cell by the figure; leave them out")
    # The paper's own settings (StyleParams.paper): white noise, as starting from the photo would make every
    # reconstruction look perfect, and no TV term, which would dominate a deep layer's tiny content term.
    settings = {"preview_every": 0, **overrides, "size": size, "steps": steps}
    return StyleParams.paper(**settings)


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


# --- command line --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m artstyle.paper",
        description="Render the demonstrations of Gatys, Ecker & Bethge (2015) for your own images: "
        + "; ".join(f"'{f.id}' ({f.label})" for f in FIGURES.values())
        + ".",
    )
    parser.add_argument("figure", choices=tuple(FIGURES))
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
    try:
        events = iter_figure(
            args.figure, args.content, args.style, size=size, steps=steps,
            weights=args.weights, seed=args.seed, device=args.device,
        )  # fmt: skip
    except (ValueError, WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    last = None
    for last in events:
        cell = last.finished
        if cell is not None and not args.quiet:
            print(f"[{last.index + 1}/{last.total}] {last.caption}: {cell.elapsed:.1f}s, "
                  f"loss {cell.losses.total:.3g}", file=sys.stderr)  # fmt: skip
    assert last is not None  # a figure has panels
    figure = last.render()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.save(output)
    print(
        f"wrote {output} ({figure.width}x{figure.height}; {last.total} panels at {size} px, {steps} steps, "
        f"{time.perf_counter() - start:.0f}s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
