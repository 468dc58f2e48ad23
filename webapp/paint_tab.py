"""The Paint tab: a photo, a painting, Paint; the result streams in beside them. Also `/stylize`, the API."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import gradio as gr
import pandas as pd
from PIL import Image

from artstyle import Progress
from artstyle.params import NONE_CHOICE
from artstyle.presets import Preset, PresetStatus

from .components import PARAM_FIELDS, control_for, editable, extra_kwargs, name_errors, photo_input
from .devices import profile
from .estimate import duration
from .paintings import example_rows, preset_gallery, unavailable_note
from .requests import BLEND_DEFAULT, STRENGTH_DEFAULT, Inputs, SecondPainting, as_int, drawn_mask, prepare
from .runs import Final, Preview, RunEvent, Runner

# Controls on the main panel or set by the app itself; every other StyleParams field goes under "Advanced".
MAIN_FIELDS = ("size", "steps", "style_weight", "seed", "preserve_color", "scales")
APP_FIELDS = ("device", "preview_every")
API_NAMES = ("content", "style", "preset", "size", "steps", "style_strength", "preserve_color", "seed")
# Paint: on a narrow screen the result sits below the controls; bring it into view when it is off screen.
# It runs before the run's handler and hands the inputs on unchanged.
SHOW_RESULT_JS = """(...inputs) => {
  const el = document.getElementById("result");
  const box = el ? el.getBoundingClientRect() : null;
  if (box && (box.top < 0 || box.bottom > window.innerHeight)) el.scrollIntoView({block: "start"});
  return inputs;
}"""
LOSS_COLOURS = {"total": "#1f77b4", "style": "#ff7f0e", "content": "#d62728"}


@dataclasses.dataclass
class PaintTab:
    """The components the other tabs and the app's wiring read."""

    content: gr.Image
    style: gr.Image
    preset: gr.Dropdown
    seed: gr.Number
    # The time estimate as a visitor's page opens: by then the start-up probe has measured this host.
    refresh_expectation: tuple[Callable[..., str], list[gr.components.Component], gr.Markdown]


def create(runner: Runner, catalogue: tuple[Preset, ...], statuses: list[PresetStatus], device_label: str) -> PaintTab:
    """Lay the tab out (inside the caller's `gr.Tab`) and wire its events; returns the shared inputs.

    The first minute decides: photo, painting and Paint come first in the left column, the result streams
    in beside them (on a phone, the page scrolls to it on Paint), and everything else waits in accordions.
    """
    defaults = profile(runner.pool.names[0])
    first = next((s.preset.id for s in statuses if s.available), None)
    advanced_names = editable(n for n in PARAM_FIELDS if n not in MAIN_FIELDS + APP_FIELDS)

    def expectation(size: float, steps: float, photo: str | None = None) -> str:
        seconds = runner.speed.seconds(size or 0, steps or 0, _aspect(photo))
        how = "measured on this machine" if runner.speed.measured() else "a first guess"
        return f"On **{device_label}**: about **{duration(seconds)}** ({how})."

    with gr.Row(equal_height=False, elem_id="paint-row"):
        with gr.Column(min_width=320, elem_id="inputs"):
            content = photo_input(label="Your photo", sources=["upload", "webcam", "clipboard"], height=220,
                                  elem_id="content")  # fmt: skip
            gallery = gr.Gallery(
                value=preset_gallery(statuses), label="Pick a painting", columns=5, height=135,
                allow_preview=False, object_fit="cover", interactive=False, elem_id="preset-gallery",
            )  # fmt: skip
            with gr.Row(equal_height=True):
                preset = gr.Dropdown(choices=[(p.caption, p.id) for p in catalogue], value=first, label="Painting",
                                     scale=3, min_width=180, elem_id="preset")  # fmt: skip
                run = gr.Button("Paint", variant="primary", scale=1, min_width=90, elem_id="run")
                stop = gr.Button("Stop", variant="stop", scale=1, min_width=70, elem_id="stop")
            expect = gr.Markdown(expectation(defaults.size, defaults.steps), elem_id="expect")
            gr.Markdown(unavailable_note(statuses))
            style_strength = gr.Slider(
                0, 10, value=STRENGTH_DEFAULT, step=0.5, label="How much painting",
                info="5: the painting's recommended balance. Each step paints ×2.5 more (or less).",
            )  # fmt: skip
            with gr.Row():
                size = gr.Slider(64, defaults.max_size, value=defaults.size, step=32, label="Size (px, long side)",
                                 elem_id="size")  # fmt: skip
                steps = gr.Slider(1, 1000, value=defaults.steps, step=1, label="Steps (more: finer, slower)",
                                  elem_id="steps")  # fmt: skip
            with gr.Accordion("Your own painting instead of a preset", open=False):
                style = photo_input(label="Style image", sources=["upload", "clipboard"], elem_id="style-upload",
                                    height=160)  # fmt: skip
            with gr.Accordion("Keep the photo's colours", open=False):
                preserve_color = control_for("preserve_color", label="Colours")
            with gr.Accordion("Two paintings: mix them, or paint each in its own region", open=False):
                preset2, style2, blend, mask_draw, mask_upload = _second_painting_controls(catalogue)
            with gr.Accordion("Fine-tuning: seed, coarse-to-fine, optimiser, layers, smoothing …", open=False):
                seed = gr.Number(value=0, precision=0, minimum=0, label="Seed",
                                 info="Another number, another start: the same number repeats a result.")  # fmt: skip
                scales = control_for("scales", label="Coarse-to-fine levels")
                advanced = [control_for(n) for n in advanced_names]
        with gr.Column(min_width=320, elem_id="outputs"):
            result = gr.Image(label="Result", format="png", interactive=False, buttons=["download", "fullscreen"],
                              height=440, elem_id="result")  # fmt: skip
            status = gr.Textbox(show_label=False, placeholder="Progress appears here while it paints.",
                                interactive=False, elem_id="status")  # fmt: skip
            download = gr.DownloadButton("Download full-resolution PNG", visible=False)
            examples_slot = gr.Column()
            with gr.Accordion("Before / after", open=False):
                before_after = gr.ImageSlider(format="png", interactive=False, show_label=False)
            with gr.Accordion("Details: how the losses fall", open=False):
                loss_plot = gr.LinePlot(
                    x="step", y="log10 loss", color="term", color_map=LOSS_COLOURS,
                    label="Loss, log10 (blue: total, orange: style, red: content)", height=240, elem_id="loss",
                )  # fmt: skip

    extra_names = ["scales", *advanced_names]

    def ui_run(content, style, preset, size, steps, style_strength, preserve_color, seed,
               style2, preset2, blend, mask_upload, mask_draw, *extra_values):  # fmt: skip
        extra = {**extra_kwargs(extra_names, extra_values), **extra_kwargs(["preserve_color"], (preserve_color,))}
        second = SecondPainting(style2, preset2, blend, mask_upload or drawn_mask(mask_draw))
        inputs = Inputs(content, style, preset, size, steps, style_strength, seed, extra, second)
        rows: list[dict[str, Any]] = []
        for event in runner.run(lambda device: prepare(inputs, device)):
            if isinstance(event, Preview | Final):
                rows.extend(_loss_rows(event.progress))
            # After a run the estimate has learnt this machine's speed: say so before the next run.
            again = expectation(size, steps, content) if isinstance(event, Final) else gr.skip()
            yield (*_page_update(event, rows), again)

    def api_stylize(content, style=None, preset=first, size=defaults.size, steps=defaults.steps,
                    style_strength=STRENGTH_DEFAULT, preserve_color=NONE_CHOICE, seed=0,
                    style2=None, preset2=None, blend=BLEND_DEFAULT, mask=None, scales=None):  # fmt: skip
        """Stylise `content` after a preset painting (`preset` = its id) or an uploaded `style` image;
        streams downscaled previews and ends with the full-resolution PNG. Every parameter but `content` has
        a default: the host's size and steps, strength 5 (the painting's recommended balance). Optional: a
        second painting (`style2` upload or `preset2` id) mixed by `blend` (0: first only, 1: second only),
        or placed by a greyscale `mask` of the photo's shape (black: first painting, white: second);
        `scales` coarse-to-fine levels."""
        extra: dict[str, Any] = {} if scales is None else {"scales": as_int("scales", scales)}
        extra.update(extra_kwargs(["preserve_color"], (preserve_color,)))
        inputs = Inputs(content, style, preset, size, steps, style_strength, seed, extra,
                        SecondPainting(style2, preset2, blend, mask))  # fmt: skip
        for event in runner.run(lambda device: prepare(inputs, device)):
            # Every event is a step, so that the first one holds nothing (see Runner.run) and Stop acts at once.
            yield (
                str(event.path)
                if isinstance(event, Final)
                else (event.image if isinstance(event, Preview) else gr.skip())
            )

    main_inputs = [content, style, preset, size, steps, style_strength, preserve_color, seed]
    second_painting = [style2, preset2, blend, mask_upload]
    for name, control in zip(API_NAMES, main_inputs, strict=True):
        if name not in ("content", "style"):  # photo_input words the image errors itself
            name_errors(control, name)
    concurrency = {"concurrency_id": "optimise", "concurrency_limit": len(runner.pool.names)}
    run_event = run.click(
        ui_run, inputs=main_inputs + second_painting + [mask_draw, scales] + advanced,
        outputs=[result, status, loss_plot, before_after, download, expect],
        api_visibility="private", show_progress="minimal", js=SHOW_RESULT_JS, **concurrency,
    )  # fmt: skip
    stop.click(None, cancels=[run_event], api_visibility="private")
    api_button = gr.Button(visible=False)
    api_button.click(api_stylize, inputs=main_inputs + second_painting + [scales], outputs=[result], api_name="stylize",
                     **concurrency)  # fmt: skip
    # The editor paints over the photo, so that the mask has the photo's shape and the user sees where.
    content.change(_mask_canvas, content, mask_draw, api_visibility="private", queue=False)
    rows = example_rows(statuses)
    if rows:  # loaded on click, never run (or cached) at start-up
        with examples_slot:
            gr.Examples(rows, inputs=[content, preset], cache_examples=False, examples_per_page=4,
                        label="Examples: a photo and a painting, one click", elem_id="examples")  # fmt: skip

    def pick(evt: gr.SelectData):
        return catalogue[evt.index].id, None  # a picked painting replaces an uploaded style image

    gallery.select(pick, None, [preset, style], api_visibility="private")
    for control in (size, steps, content):
        control.change(expectation, [size, steps, content], expect, api_visibility="private", queue=False)
    return PaintTab(content, style, preset, seed, (expectation, [size, steps, content], expect))


def _aspect(photo: str | None) -> float:
    """Short side over long side of the photo (a file the page uploaded; only its header is read), else 4:3."""
    if photo:
        try:
            with Image.open(photo) as image:
                width, height = image.size
            return min(width, height) / max(width, height)
        except (OSError, ValueError, ZeroDivisionError):
            pass
    return 0.75


def _page_update(event: RunEvent, rows: list[dict[str, Any]]) -> tuple[Any, ...]:
    """(result, status, loss curve, before/after, download) for one event."""
    if isinstance(event, Final):
        path = str(event.path)
        return path, event.text, pd.DataFrame(rows), (event.before, path), gr.DownloadButton(value=path, visible=True)
    if isinstance(event, Preview):
        return event.image, event.text, pd.DataFrame(rows), gr.skip(), gr.skip()
    return gr.skip(), event.text, gr.skip(), gr.skip(), gr.skip()


def _second_painting_controls(catalogue: tuple[Preset, ...]) -> tuple[Any, ...]:
    preset2 = gr.Dropdown(choices=[(p.caption, p.id) for p in catalogue], value=None, label="Second painting",
                          info="Leave empty for one painting.", elem_id="preset2")  # fmt: skip
    style2 = photo_input(label="or your own second style image", sources=["upload", "clipboard"], height=140)
    blend = gr.Slider(
        0, 1, value=BLEND_DEFAULT, step=0.05, label="Mix", elem_id="blend",
        info="0: the first painting only, 1: the second only. With a mask: how strongly each region is painted.",
    )  # fmt: skip
    mask_draw = gr.ImageEditor(
        type="pil", sources=[],  # the background is the photo, set when the photo changes
        label="Mask: paint over the photo where the second painting goes (unpainted: the first)",
        brush=gr.Brush(colors=["#ffffff"], default_color="#ffffff", color_mode="fixed", default_size=24),
        layers=False, transforms=(), height=320, elem_id="mask-draw",
    )  # fmt: skip
    mask_upload = photo_input(
        label="or upload a mask (greyscale, the photo's shape: black = first painting, white = second)",
        sources=["upload", "clipboard"], height=140, elem_id="mask-upload",
    )  # fmt: skip
    return preset2, style2, blend, mask_draw, mask_upload


def _mask_canvas(content: str | None) -> Any:
    return {"background": content, "layers": [], "composite": content} if content else None


def _loss_rows(event: Progress) -> list[dict[str, Any]]:
    # Zero terms (the content loss at step 1 of a content-initialised run) have no logarithm: left out.
    return [
        {"step": event.step, "term": term, "log10 loss": math.log10(event.losses[term])}
        for term in ("total", "content", "style")
        if event.losses.get(term, 0.0) > 0.0
    ]
