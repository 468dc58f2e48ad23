"""The Paint tab: a photo, a painting, Paint; the result streams in beside them. Also `/stylize`, the API.

`layout` builds the components in page order (`PaintControls`); `wire` connects their events. The page's own
handler takes and returns components by name (Gradio's dict inputs and outputs); `/stylize` keeps named
parameters, because they are its public API.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import gradio as gr
import pandas as pd
from PIL import Image

from artstyle import Progress
from artstyle.params import NONE_CHOICE
from artstyle.presets import Preset, PresetStatus

from .components import PARAM_FIELDS, control_for, editable, extra_kwargs, name_errors, photo_input, typed
from .devices import DeviceProfile, profile
from .estimate import DEFAULT_ASPECT, duration
from .paintings import example_rows, preset_gallery, unavailable_note
from .requests import BLEND_DEFAULT, STRENGTH_DEFAULT, Inputs, SecondPainting, as_int, drawn_mask, prepare
from .runs import Final, Preview, RunEvent, Runner

# Controls on the main panel or set by the app itself; every other StyleParams field goes under "Fine-tuning".
MAIN_FIELDS = ("size", "steps", "style_weight", "seed", "preserve_color", "scales")
APP_FIELDS = ("device", "preview_every")
# Paint: on a narrow screen the result sits below the controls; bring it into view when it is off screen.
# It runs before the run's handler and hands the inputs on unchanged.
SHOW_RESULT_JS = """(...inputs) => {
  const el = document.getElementById("result");
  const box = el ? el.getBoundingClientRect() : null;
  if (box && (box.top < 0 || box.bottom > window.innerHeight)) el.scrollIntoView({block: "start"});
  return inputs;
}"""
LOSS_COLOURS = {"total": "#1f77b4", "style": "#ff7f0e", "content": "#d62728"}
CONCURRENCY_ID = "optimise"  # the queue's limit shared by every event that runs an optimisation


@dataclasses.dataclass
class PaintTab:
    """The components the other tabs and the app's wiring read."""

    content: gr.Image
    style: gr.Image
    preset: gr.Dropdown
    seed: gr.Number
    # The time estimate as a visitor's page opens: by then the start-up probe has measured this host.
    refresh_expectation: tuple[Callable[..., str], Sequence[gr.components.Component], gr.Markdown]


@dataclasses.dataclass
class PaintControls:
    """Every component of the tab, in page order."""

    content: gr.Image
    gallery: gr.Gallery
    preset: gr.Dropdown
    run: gr.Button
    stop: gr.Button
    expect: gr.Markdown
    style_strength: gr.Slider
    size: gr.Slider
    steps: gr.Slider
    style: gr.Image
    preserve_color: gr.Radio
    preset2: gr.Dropdown
    style2: gr.Image
    blend: gr.Slider
    mask_draw: gr.ImageEditor
    mask_upload: gr.Image
    seed: gr.Number
    scales: gr.Number
    fine_tuning: dict[str, gr.components.Component]  # StyleParams field name -> its generated control
    result: gr.Image
    status: gr.Textbox
    download: gr.DownloadButton
    examples_slot: gr.Column
    before_after: gr.ImageSlider
    loss_plot: gr.LinePlot


def create(runner: Runner, catalogue: tuple[Preset, ...], statuses: list[PresetStatus], device_label: str) -> PaintTab:
    """Lay the tab out (inside the caller's `gr.Tab`) and wire its events; returns the shared inputs."""
    defaults = profile(runner.pool.names[0])

    def expectation(size: float, steps: float, photo: str | None = None, schedule: str | None = None,
                    scales: float | None = None) -> str:  # fmt: skip
        levels: dict[str, Any] = {"schedule": schedule} if schedule else {}
        if scales is not None and float(scales).is_integer():
            levels["scales"] = int(scales)
        seconds = runner.speed.seconds(size or 0, steps or 0, _aspect(photo), **levels)
        how = "measured on this machine" if runner.speed.measured() else "a first guess"
        return f"On **{device_label}**: about **{duration(seconds)}** ({how})."

    first_estimate = expectation(defaults.size, defaults.steps, None, defaults.schedule)
    controls = layout(catalogue, statuses, defaults, first_estimate)
    wire(controls, runner, catalogue, statuses, defaults, expectation)
    c = controls
    return PaintTab(c.content, c.style, c.preset, c.seed, (expectation, _estimate_inputs(c), c.expect))


def layout(
    catalogue: tuple[Preset, ...], statuses: list[PresetStatus], defaults: DeviceProfile, expectation: str
) -> PaintControls:
    """The tab's components. The first minute decides: photo, painting and Paint come first in the left column,
    the result streams in beside them (on a phone, the page scrolls to it on Paint), everything else waits in
    accordions."""
    first = _first_available(statuses)
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
            expect = gr.Markdown(expectation, elem_id="expect")
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
                preserve_color = typed(gr.Radio, control_for("preserve_color", label="Colours"))
            with gr.Accordion("Two paintings: mix them, or paint each in its own region", open=False):
                preset2, style2, blend, mask_draw, mask_upload = _second_painting_controls(catalogue)
            with gr.Accordion("Fine-tuning: seed, coarse-to-fine, optimiser, layers, smoothing …", open=False):
                seed = gr.Number(value=0, precision=0, minimum=0, label="Seed",
                                 info="Another number, another start: the same number repeats a result.")  # fmt: skip
                scales = typed(gr.Number, control_for("scales", label="Coarse-to-fine levels"))
                # The app's method (chosen blind), not the library's paper-faithful defaults:
                chosen = {"style_loss": defaults.style_loss, "schedule": defaults.schedule}
                fine_tuning = {name: control_for(name, value=chosen[name]) if name in chosen else control_for(name)
                               for name in _fine_tuning_fields()}  # fmt: skip
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
    return PaintControls(
        content, gallery, preset, run, stop, expect, style_strength, size, steps, style, preserve_color, preset2,
        style2, blend, mask_draw, mask_upload, seed, scales, fine_tuning, result, status, download, examples_slot,
        before_after, loss_plot,
    )  # fmt: skip


def wire(
    c: PaintControls,
    runner: Runner,
    catalogue: tuple[Preset, ...],
    statuses: list[PresetStatus],
    defaults: DeviceProfile,
    expectation: Callable[..., str],
) -> None:
    """The tab's events: Paint and Stop, `/stylize`, the gallery, the mask canvas, the estimate, the examples."""
    first = _first_available(statuses)

    def ui_run(page: dict[gr.components.Component, Any]) -> Iterator[dict[gr.components.Component, Any]]:
        inputs = _page_inputs(c, page)
        rows: list[dict[str, Any]] = []
        for event in runner.run(lambda device: prepare(inputs, device)):
            if isinstance(event, Preview | Final):
                rows.extend(_loss_rows(event.progress))
            update = _page_update(c, event, rows)
            if isinstance(event, Final):  # the estimate has learnt this machine's speed: say so before the next run
                update[c.expect] = expectation(*(page[control] for control in _estimate_inputs(c)))
            yield update

    def stylize(content, style=None, preset=first, size=defaults.size, steps=defaults.steps,
                style_strength=STRENGTH_DEFAULT, preserve_color=NONE_CHOICE, seed=0,
                style2=None, preset2=None, blend=BLEND_DEFAULT, mask=None, scales=None, style_loss=None,
                schedule=None):  # fmt: skip
        """Paint a photo in the style of a famous painting (neural style transfer, Gatys et al. 2015); streams
        downscaled previews while it paints and ends with the full-resolution PNG, whose metadata records every
        setting. Only `content` is required.

        Args:
            content: the photo to paint (an image file).
            style: your own style image instead of a preset painting (optional; wins over `preset`).
            preset: the painting's preset id, e.g. starry_night, the_scream, great_wave.
            size: long side of the result in pixels (default: this host's, 256 on a CPU).
            steps: optimisation iterations (default: this host's; more is finer and slower).
            style_strength: how much painting, 0 to 10; 5 is the painting's recommended balance, each step x2.5.
            preserve_color: "none", or keep the photo's colours: "luminance" or "histogram".
            seed: random seed; the same seed repeats a result.
            style2: a second style image to mix in or to place by `mask` (optional).
            preset2: a second preset painting's id (optional).
            blend: mix of the two paintings, 0 (first only) to 1 (second only).
            mask: greyscale image of the photo's shape: black where the first painting goes, white the second.
            scales: coarse-to-fine levels chosen by hand (optional).
            style_loss: the style statistic: "gram" (the paper), "moments" or "sliced" (default: "gram", chosen blind).
            schedule: "single" (the paper) or "coarse-to-fine" (default: "coarse-to-fine", chosen blind).

        Returns:
            The painted picture (a PNG file).
        """
        extra: dict[str, Any] = {} if scales is None else {"scales": as_int("scales", scales)}
        extra.update({"style_loss": style_loss or defaults.style_loss, "schedule": schedule or defaults.schedule})
        extra.update(extra_kwargs({"preserve_color": preserve_color}))
        inputs = Inputs(content, style, preset, size, steps, style_strength, seed, extra,
                        SecondPainting(style2, preset2, blend, mask))  # fmt: skip
        for event in runner.run(lambda device: prepare(inputs, device)):
            # Every event is a step, so that the first one holds nothing (see Runner.run) and Stop acts at once.
            yield (
                str(event.path)
                if isinstance(event, Final)
                else (event.image if isinstance(event, Preview) else gr.skip())
            )

    # The API's parameters, in the order of its signature, and the controls they come from.
    api_inputs = [c.content, c.style, c.preset, c.size, c.steps, c.style_strength, c.preserve_color, c.seed,
                  c.style2, c.preset2, c.blend, c.mask_upload, c.scales, c.fine_tuning["style_loss"],
                  c.fine_tuning["schedule"]]  # fmt: skip
    named = {"preset": c.preset, "size": c.size, "steps": c.steps, "seed": c.seed, "style_strength": c.style_strength,
             "preserve_color": c.preserve_color, "style_loss": c.fine_tuning["style_loss"],
             "schedule": c.fine_tuning["schedule"]}  # fmt: skip
    for name, control in named.items():
        name_errors(control, name)  # (photo_input words the image errors itself)
    # One optimisation per device: the page's runs, the API's and the Paper tab's share this limit.
    devices = len(runner.pool.names)
    run_event = c.run.click(
        ui_run, inputs={*api_inputs, c.mask_draw, *c.fine_tuning.values()},
        outputs=[c.result, c.status, c.loss_plot, c.before_after, c.download, c.expect],
        api_visibility="private", show_progress="minimal", js=SHOW_RESULT_JS, concurrency_id=CONCURRENCY_ID,
        concurrency_limit=devices,
    )  # fmt: skip
    c.stop.click(None, cancels=[run_event], api_visibility="private")
    api_button = gr.Button(visible=False)
    api_button.click(stylize, inputs=api_inputs, outputs=[c.result], api_name="stylize",
                     concurrency_id=CONCURRENCY_ID, concurrency_limit=devices)  # fmt: skip
    # The editor paints over the photo, so that the mask has the photo's shape and the user sees where.
    c.content.change(_mask_canvas, c.content, c.mask_draw, api_visibility="private", queue=False)
    rows = example_rows(statuses)
    if rows:  # loaded on click, never run (or cached) at start-up
        with c.examples_slot:
            gr.Examples(rows, inputs=[c.content, c.preset], cache_examples=False, examples_per_page=6,
                        label="Examples: a photo and a painting, one click", elem_id="examples")  # fmt: skip

    def pick(evt: gr.SelectData):
        return catalogue[evt.index].id, None  # a picked painting replaces an uploaded style image

    c.gallery.select(pick, None, [c.preset, c.style], api_visibility="private")
    for control in _estimate_inputs(c):
        control.change(expectation, _estimate_inputs(c), c.expect, api_visibility="private", queue=False)


def _fine_tuning_fields() -> list[str]:
    """The StyleParams fields under "Fine-tuning", each with a generated control (seed and scales sit there too)."""
    return editable(n for n in PARAM_FIELDS if n not in MAIN_FIELDS + APP_FIELDS)


def _estimate_inputs(c: PaintControls) -> list[gr.Slider | gr.Image | gr.Radio | gr.Number]:
    """The controls the time estimate depends on, in `expectation`'s order."""
    return [c.size, c.steps, c.content, typed(gr.Radio, c.fine_tuning["schedule"]), c.scales]


def _first_available(statuses: list[PresetStatus]) -> str | None:
    return next((s.preset.id for s in statuses if s.available), None)


def _page_inputs(c: PaintControls, page: dict[gr.components.Component, Any]) -> Inputs:
    """The run the page asks for, from its controls' values."""
    fields = {name: page[control] for name, control in c.fine_tuning.items()}
    extra = extra_kwargs({**fields, "scales": page[c.scales], "preserve_color": page[c.preserve_color]})
    second = SecondPainting(page[c.style2], page[c.preset2], page[c.blend],
                            page[c.mask_upload] or drawn_mask(page[c.mask_draw]))  # fmt: skip
    return Inputs(page[c.content], page[c.style], page[c.preset], page[c.size], page[c.steps],
                  page[c.style_strength], page[c.seed], extra, second)  # fmt: skip


def _aspect(photo: str | None) -> float:
    """Short side over long side of the photo (a file the page uploaded; only its header is read), else 4:3."""
    if photo:
        try:
            with Image.open(photo) as image:
                width, height = image.size
            return min(width, height) / max(width, height)
        except (OSError, ValueError, ZeroDivisionError):
            pass
    return DEFAULT_ASPECT


def _page_update(c: PaintControls, event: RunEvent, rows: list[dict[str, Any]]) -> dict[gr.components.Component, Any]:
    """What one event changes on the page; components left out keep what they show."""
    if isinstance(event, Final):
        path = str(event.path)
        return {
            c.result: path, c.status: event.text, c.loss_plot: pd.DataFrame(rows), c.before_after: (event.before, path),
            c.download: gr.DownloadButton(value=path, visible=True),
        }  # fmt: skip
    if isinstance(event, Preview):
        return {c.result: event.image, c.status: event.text, c.loss_plot: pd.DataFrame(rows)}
    return {c.status: event.text}


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
    losses = event.losses
    return [
        {"step": event.step, "term": term, "log10 loss": math.log10(value)}
        for term, value in (("total", losses.total), ("content", losses.content), ("style", losses.style))
        if value > 0.0
    ]
