"""The "Explore the paper" tab and `/paper`: the paper's figures for the Paint tab's photo and painting,
each panel shown as soon as it is finished (the figures themselves are `artstyle.paper`'s registry)."""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Generator
from contextlib import closing
from typing import Any

import gradio as gr
from PIL import Image

from artstyle import load_image
from artstyle.metadata import PAPER_URL
from artstyle.paper import FIGURES, PanelProgress, iter_figure

from .devices import profile
from .paint_tab import CONCURRENCY_ID, PaintTab
from .requests import as_int, resolve_style
from .runs import STATUS_INTERVAL_S, Runner, Status
from .zerogpu import MAX_DURATION_S, lend_gpu

INTRO = (
    "The two demonstrations of [the paper](" + PAPER_URL + ") for the photo and painting chosen on the "
    "*Paint* tab. **Fig. 1**: starting from white noise, match only one layer's features of the photo "
    "(conv1_2 … conv5_2: pixel-perfect low, only the layout high), or the Gram matrices of the painting "
    "from conv1_1 up to conv5_1 (colour blotches growing into its texture). **Fig. 3**: content and "
    "style together, rows = how deep the style layers reach, columns = α/β. Each panel appears as soon "
    "as it is finished; panels are small so a figure takes minutes, not hours."
)


def _gpu_seconds(figure: str, content: Any, style: Any, **kwargs: Any) -> int:
    return MAX_DURATION_S  # a whole figure is one lending: tens of panels


@lend_gpu(duration=_gpu_seconds)
def run_figure(
    figure: str, content: Image.Image, style: Image.Image, **kwargs: Any
) -> Generator[PanelProgress, None, None]:
    """The GPU part: on ZeroGPU a GPU is lent for the whole figure."""
    with closing(iter_figure(figure, content, style, **kwargs)) as events:
        yield from events


def create(runner: Runner, paint: PaintTab) -> None:
    """Lay the tab out (inside the caller's `gr.Tab`) and wire `/paper`."""
    defaults = profile(runner.pool.names[0])
    gr.Markdown(INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(min_width=300):
            figure = gr.Radio([(f.label, f.id) for f in FIGURES.values()], value="reconstructions",
                              label="Demonstration", elem_id="paper-figure")  # fmt: skip
            with gr.Row():
                size = gr.Slider(32, 512, value=defaults.paper_size, step=16, label="Panel size (px)",
                                 elem_id="paper-size")  # fmt: skip
                steps = gr.Slider(1, 1000, value=defaults.paper_steps, step=1, label="Steps per panel",
                                  elem_id="paper-steps")  # fmt: skip
            with gr.Row():
                run = gr.Button("Run the demonstration", variant="primary", elem_id="paper-run")
                stop = gr.Button("Stop", variant="stop", elem_id="paper-stop")
            status = gr.Textbox(label="Progress", interactive=False, elem_id="paper-status")
        with gr.Column(min_width=300, scale=2):
            figure_image = gr.Image(label="Figure", format="png", interactive=False, elem_id="paper-figure-image")
            cells = gr.Gallery(label="Panels, as they finish", columns=5, height="auto", elem_id="paper-cells")

    def paper_figure(content, style, preset, figure, cell_size, cell_steps, seed):
        """Run one of the demonstrations of Gatys et al. (2015) for a photo and a painting, panel by panel;
        streams the gallery of finished panels, the labelled figure and a status line after each panel.

        Args:
            content: the photo (an image file).
            style: your own style image instead of a preset painting (optional).
            preset: the painting's preset id, e.g. starry_night.
            figure: "reconstructions" (Fig. 1: what each layer keeps) or "grid" (Fig. 3: depth x alpha/beta).
            cell_size: each panel's long side in pixels.
            cell_steps: optimisation iterations per panel.
            seed: random seed of the white-noise starts.

        Returns:
            The finished panels, the labelled figure, a status line.
        """
        job = functools.partial(_figure_job, runner, content=content, style=style, preset=preset, figure=figure,
                                size=cell_size, steps=cell_steps, seed=seed)  # fmt: skip
        for event in runner.stream(job, size_knob="panel size"):
            if isinstance(event, Panels):
                yield {cells: event.gallery, status: event.text,
                       **({figure_image: event.figure} if event.figure is not None else {})}  # fmt: skip
            else:
                yield {status: event.text}

    event = run.click(
        paper_figure, inputs=[paint.content, paint.style, paint.preset, figure, size, steps, paint.seed],
        outputs=[cells, figure_image, status], api_name="paper", show_progress="minimal",
        concurrency_id=CONCURRENCY_ID, concurrency_limit=len(runner.pool.names),
    )  # fmt: skip
    stop.click(None, cancels=[event], api_visibility="private")


@dataclasses.dataclass(frozen=True)
class Panels:
    """The panels finished so far (gallery items) and the figure with them in place (None: unchanged)."""

    gallery: list[tuple[Image.Image, str]]
    figure: Image.Image | None
    text: str


def _figure_job(runner: Runner, device: str, *, content: Any, style: Any, preset: Any, figure: Any, size: Any,
                steps: Any, seed: Any) -> Generator[Panels | Status, None, None]:  # fmt: skip
    """The figure on `device`: the panels after each one finishes, and a status line at least every
    STATUS_INTERVAL_S in between (each yield is where Stop takes effect)."""
    if not content:
        raise ValueError("add a photo first (on the Paint tab)")
    if figure not in FIGURES:
        raise ValueError(f"figure must be one of {', '.join(FIGURES)}, got {figure!r}")
    photo = load_image(content, name="photo")
    painting, _ = resolve_style(style, preset)
    kwargs = {"size": as_int("size", size), "steps": as_int("steps", steps), "device": device,
              "seed": as_int("seed", seed if seed is not None else 0)}  # fmt: skip
    layout = FIGURES[figure].layout()
    yield Panels([], None, f"Starting {len(layout.row_labels) * len(layout.col_labels)} panels on {device} …")
    with closing(run_figure(figure, photo, painting, **kwargs)) as events:
        last_status = 0.0
        for event in events:
            runner.counters.reached(event.step.step, event.step.total)
            if event.finished is not None:
                gallery = [(c.image, event.layout.caption(c.row, c.col)) for c in event.cells]
                yield Panels(gallery, event.render(), _figure_status(event, device))
            elif time.monotonic() - last_status >= STATUS_INTERVAL_S:
                last_status = time.monotonic()
                yield Status(f"Panel {event.index + 1}/{event.total} ({event.caption}): "
                             f"step {event.step.step}/{event.step.total}")  # fmt: skip


def _figure_status(event: PanelProgress, device: str) -> str:
    done = len(event.cells)
    spent = sum(c.elapsed for c in event.cells)
    left = spent / done * (event.total - done)
    eta = "done" if done == event.total else f"about {left:.0f} s left"
    return f"{done}/{event.total} panels · {spent:.0f} s · {eta} · {device}"
