"""The whole app: header, the two tabs, the queue. `build_demo()` is what app.py launches and what another
Gradio or FastAPI app embeds."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import gradio as gr

from artstyle.metadata import PAPER_URL
from artstyle.presets import load_catalogue, offered

from . import paint_tab, paper_tab
from .devices import DevicePool, RunCounters, describe_device, device_pool_names
from .estimate import SpeedModel
from .paintings import resolve_presets
from .runs import RESULT_TTL_S, Runner
from .weights import WeightsStatus
from .zerogpu import on_zerogpu

TITLE = "artstyle — paint your photo like a famous painting"
MAX_QUEUE = 16  # waiting runs; beyond that users are told the app is busy (ARTSTYLE_QUEUE_SIZE overrides)
MAX_UPLOAD = "20mb"  # launch(max_file_size=...): Gradio refuses larger uploads before any handler runs


HEADER = (
    f"<h1 class='artstyle-title'>{TITLE}</h1><p class='artstyle-lede'>Neural style transfer after "
    f"<a href='{PAPER_URL}' target='_blank'>Gatys, Ecker &amp; Bethge (2015)</a>: your photo's pixels are "
    "optimised until a VGG19 network sees its content painted with the textures of the painting.</p>"
)
CSS = """
.artstyle-title { font-size: 1.45rem; margin: 0 0 .15rem 0; }
.artstyle-lede { margin: 0; opacity: .8; font-size: .9rem; }
/* The result fills its panel: Gradio's own rule (object-fit: scale-down) never enlarges a small image. */
#result img { width: 100%; height: 100%; object-fit: contain !important; }
#preset-gallery .caption-label { font-size: .7rem; }
@media (max-width: 640px) { #result { height: 300px !important; } }
"""


def queue_size(value: int | str | None = None) -> int:
    """Waiting runs allowed before new ones are refused ("Queue is full"): `value`, else the
    ARTSTYLE_QUEUE_SIZE environment variable, else MAX_QUEUE."""
    raw = value if value is not None else os.environ.get("ARTSTYLE_QUEUE_SIZE") or MAX_QUEUE
    try:
        size = int(raw)
    except ValueError:
        size = -1
    if size < 1:
        raise ValueError(f"ARTSTYLE_QUEUE_SIZE (queue_size) must be a whole number of at least 1, got {raw!r}")
    return size


def _show_weights(demo: gr.Blocks, weights: WeightsStatus, note: gr.Markdown) -> None:
    """Keep the page's note on the weights current: every second while they are being fetched, then quiet."""
    timer = gr.Timer(1.0, active=weights.state == "fetching")

    def refresh() -> tuple[str, gr.Timer]:
        return weights.markdown(), gr.Timer(active=weights.state == "fetching")

    timer.tick(refresh, None, [note, timer], api_visibility="private", queue=False, show_progress="hidden")
    demo.load(refresh, None, [note, timer], api_visibility="private", queue=False)


def build_demo(*, max_queue: int | None = None) -> gr.Blocks:
    """The whole app as a Blocks; embed it with `demo.render()` or `gr.mount_gradio_app`.

    `max_queue`: waiting runs before new ones are told the app is busy (default: `queue_size()`).
    """
    waiting = queue_size(max_queue)  # checked before the presets are fetched: a typo fails fast
    weights = WeightsStatus()
    weights.start()  # at launch, beside the presets' fetch: ready before the first visitor, in most cases
    pool = DevicePool(device_pool_names())
    # Only paintings that can be had are offered (a preset with no verified download needs a local copy).
    statuses = offered(resolve_presets(load_catalogue()))
    catalogue = tuple(s.preset for s in statuses)
    speed = SpeedModel(pool.names[0])
    if not on_zerogpu():  # there the main process must not touch CUDA: the profile's figure it is
        speed.probe_in_background(pool, weights)
    runner = Runner(pool, RunCounters(), Path(tempfile.mkdtemp(prefix="artstyle-results-")), speed, weights)
    # Uploaded and generated files are deleted after an hour.
    with gr.Blocks(title="artstyle", delete_cache=(RESULT_TTL_S, RESULT_TTL_S)) as demo:
        # The page's CSS rides in the header's <head>, so that it holds where the app is embedded too.
        gr.HTML(HEADER, head=f"<style>{CSS}</style>", js_on_load=None, elem_id="header")
        weights_note = gr.Markdown(weights.markdown(), elem_id="weights-note")
        with gr.Tabs():
            with gr.Tab("Paint", id="paint"):
                paint = paint_tab.create(runner, catalogue, statuses, describe_device(pool.names))
            with gr.Tab("Explore the paper", id="paper"):
                paper_tab.create(runner, paint)
        demo.load(*paint.refresh_expectation, api_visibility="private", queue=False)
        _show_weights(demo, weights, weights_note)
    demo.queue(max_size=waiting)
    demo.artstyle_runs = runner.counters  # read by the tests
    demo.artstyle_pool = pool
    demo.artstyle_speed = speed
    demo.artstyle_results = runner.results  # where results are written
    demo.artstyle_weights = weights
    return demo
