"""The Gradio app, launched in-process and driven through gradio_client like any API user would."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
from PIL import Image

from artstyle import Losses
from tests.conftest import CLIENT_HTTP, STYLES_DIR, needs_shared, served_app

pytestmark = [needs_shared, pytest.mark.slow]  # a real server, real weights


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(demo, client) for one app launched in this process with the real weights and local presets."""
    from gradio_client import Client

    with served_app(tmp_path_factory.mktemp("gradio")) as (demo, url):
        yield demo, Client(url, verbose=False, httpx_kwargs=CLIENT_HTTP)


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> str:
    """A small synthetic photo (4:3): sky, ground and a sun, so that there is content to keep."""
    image = Image.new("RGB", (160, 120), (90, 140, 220))
    image.paste((60, 120, 40), (0, 80, 160, 120))
    image.paste((250, 220, 80), (110, 15, 140, 45))
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    image.save(path)
    return str(path)


def _args(photo, *, preset="starry_night", style=None, size=64, steps=10, strength=5, seed=0):
    from gradio_client import handle_file

    return dict(
        content=handle_file(photo),
        style=handle_file(style) if style else None,
        preset=preset,
        size=size,
        steps=steps,
        style_strength=strength,
        preserve_color=None,
        seed=seed,
        api_name="/stylize",
    )


def test_api_streams_previews_and_ends_with_full_resolution_png(served, photo):
    demo, client = served
    outputs = list(client.submit(**_args(photo, preset="the_scream", steps=10)))
    assert len(outputs) >= 2  # intermediate previews, then the result
    final = Image.open(outputs[-1])
    assert final.format == "PNG" and final.size == (64, 48)
    settings = json.loads(final.text["artstyle"])
    assert settings["preset"] == "the_scream" and settings["steps"] == 10 and settings["size"] == 64
    assert settings["style_weight"] == pytest.approx(1e3)  # strength 5 = the preset's recommendation
    assert demo.artstyle_runs.active == 0 and demo.artstyle_runs.last_step == 10


def test_api_accepts_an_uploaded_style_image(served, photo):
    _, client = served
    final = Image.open(client.predict(**_args(photo, preset=None, style=photo, steps=2, strength=7)))
    settings = json.loads(final.text["artstyle"])
    assert settings["preset"] is None and settings["style_weight"] == pytest.approx(1e3 * 10**0.8)


def test_cancel_stops_the_server_side_run(served, photo):
    demo, client = served
    runs = demo.artstyle_runs
    finished = runs.finished
    job = client.submit(**_args(photo, steps=500))
    deadline = time.monotonic() + 60
    while not job.outputs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.outputs(), "no preview arrived"
    job.cancel()
    while runs.finished == finished and time.monotonic() < deadline:
        time.sleep(0.05)
    stopped_at = runs.last_step
    assert runs.finished == finished + 1 and runs.active == 0  # the generator's finally ran
    assert stopped_at < 500
    time.sleep(1.0)
    assert runs.last_step == stopped_at  # and no iteration ran after it


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"content": "bad"}, "not an image file"),
        ({"preset": "no_such_painting"}, "not in the list of choices"),
        ({"steps": 0}, "less than minimum value 1"),
        ({"content": "strip"}, "below the 16 px VGG19 needs"),
        ({"preset": None}, "Pick a painting"),
        ({"strength": 11}, "greater than maximum value 10"),
    ],
)
def test_bad_input_is_one_clear_error(served, photo, tmp_path, kwargs, message):
    from gradio_client import handle_file

    _, client = served
    args = _args(photo, preset=kwargs.get("preset", "starry_night"), steps=kwargs.get("steps", 2))
    if "strength" in kwargs:
        args["style_strength"] = kwargs["strength"]
    if kwargs.get("content") == "bad":
        bad = tmp_path / "holiday.jpg"
        bad.write_bytes(b"this is not a JPEG")
        args["content"] = handle_file(str(bad))
    if kwargs.get("content") == "strip":  # decodes fine, but the library refuses it: its sentence comes through
        Image.new("RGB", (400, 20)).save(tmp_path / "strip.png")
        args["content"] = handle_file(str(tmp_path / "strip.png"))
    with pytest.raises(Exception, match=message) as info:
        client.predict(**args)
    assert "Traceback" not in str(info.value)


def test_strength_maps_to_style_weight_on_a_log_scale():
    from artstyle_app.requests import strength_to_style_weight

    assert strength_to_style_weight(5, 1e3) == pytest.approx(1e3)
    assert strength_to_style_weight(0, 1e3) == pytest.approx(10)
    assert strength_to_style_weight(10, 1e3) == pytest.approx(1e5)


def test_cpu_defaults_take_about_a_minute():
    from artstyle_app.devices import profile
    from artstyle_app.estimate import SpeedModel

    defaults = profile("cpu")  # before any measurement the estimate is the profile's first guess
    assert 30 <= SpeedModel("cpu").seconds(defaults.size, defaults.steps) <= 120


def test_embeddable_in_another_blocks_and_fastapi(monkeypatch):
    import fastapi
    import gradio as gr

    import app

    monkeypatch.setenv("ARTSTYLE_PRESETS_DIR", str(STYLES_DIR))
    inner = app.build_demo()
    with gr.Blocks() as outer:
        gr.Markdown("host app")
        inner.render()
    assert any(getattr(fn, "api_name", None) == "stylize" for fn in outer.fns.values())
    mounted = gr.mount_gradio_app(fastapi.FastAPI(), inner, path="/art")
    assert any(getattr(route, "path", "").startswith("/art") for route in mounted.routes)


def _half_mask(tmp_path, size=(160, 120)) -> str:
    """Greyscale mask of the photo's shape: left half black (first painting), right half white (second)."""
    mask = Image.new("L", size, 0)
    mask.paste(255, (size[0] // 2, 0, size[0], size[1]))
    path = tmp_path / "mask.png"
    mask.save(path)
    return str(path)


def test_api_two_paintings_with_a_mask_and_preserved_colours(served, photo, tmp_path):
    import numpy as np
    from gradio_client import handle_file

    _, client = served
    single = _args(photo, preset="starry_night", steps=12, strength=10)  # strong, so a dozen steps paint
    one = Image.open(client.predict(**{**single, "preserve_color": "luminance"}))
    two = Image.open(
        client.predict(
            **{**single, "preserve_color": "luminance"},
            preset2="the_scream",
            blend=0.5,
            mask=handle_file(_half_mask(tmp_path)),
        )
    )
    assert one.size == two.size == (64, 48)
    settings = json.loads(two.text["artstyle"])
    assert settings["preset2"] == "the_scream" and settings["mask"] is True
    assert settings["style_blend"] == [0.5, 0.5] and settings["preserve_color"] == "luminance"
    a, b = (np.asarray(i.convert("RGB"), dtype=np.float32) for i in (one, two))
    right = slice(40, 64)  # the second painting's half (away from the soft edge)
    diff = np.abs(a[:, right] - b[:, right]).mean()
    print(f"mean |single - two paintings| on the mask's white half: {diff:.1f} grey levels")
    assert diff > 3.0  # the second painting changed its region
    # Luminance mode keeps the photo's chroma: both results' colours sit on the photo's (YIQ's I and Q).
    yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=np.float32)
    photo_iq = (np.asarray(Image.open(photo).convert("RGB").resize((64, 48)), np.float32) @ yiq.T)[..., 1:]
    for result in (a, b):
        chroma = np.abs((result @ yiq.T)[..., 1:] - photo_iq).mean()
        print(f"mean |IQ - photo's IQ|: {chroma:.2f}")
        assert chroma < 3.0


def test_api_blend_without_mask_and_mask_needs_a_second_painting(served, photo, tmp_path):
    from gradio_client import handle_file

    _, client = served
    mixed = Image.open(client.predict(**_args(photo, steps=2), preset2="the_scream", blend=0.25))
    assert json.loads(mixed.text["artstyle"])["style_blend"] == [0.75, 0.25]
    with pytest.raises(Exception, match="choose a second painting") as info:
        client.predict(**_args(photo, steps=2), mask=handle_file(_half_mask(tmp_path)))
    assert "Traceback" not in str(info.value)


def test_paper_endpoint_streams_each_panel(served, photo):
    from gradio_client import handle_file

    demo, client = served
    job = client.submit(
        content=handle_file(photo),
        style=None,
        preset="starry_night",
        figure="reconstructions",
        cell_size=32,
        cell_steps=2,
        seed=0,
        api_name="/paper",
    )
    galleries = []
    try:
        for output in job:  # stop after three panels: the whole figure is test_paper.py's job
            if not (isinstance(output, list | tuple) and len(output) == 3):
                continue  # an update that only skips outputs carries no (gallery, figure, status) triple
            gallery, figure, status = output
            if gallery:
                galleries.append((gallery, figure, status))
            if gallery and len(gallery) >= 3:
                break
    finally:
        job.cancel()
        deadline = time.monotonic() + 60  # the next test counts runs: let this one end first
        while demo.artstyle_runs.active and time.monotonic() < deadline:
            time.sleep(0.05)
    # Streamed: one panel more each time (status lines in between leave the gallery as it was).
    assert {len(g) for g, _, _ in galleries} == {1, 2, 3}
    gallery, figure, status = galleries[-1]
    assert [item["caption"] for item in gallery] == ["content: conv1_2", "content: conv2_2", "content: conv3_2"]
    assert status.startswith("3/10 panels")
    width, height = Image.open(figure).size
    assert width > 6 * 32 and height > 2 * 24  # the whole labelled figure, panels still to come left blank


def test_paper_stop_ends_the_server_side_run(served, photo):
    from gradio_client import handle_file

    demo, client = served
    runs = demo.artstyle_runs
    finished = runs.finished
    job = client.submit(
        content=handle_file(photo), style=None, preset="starry_night", figure="grid",
        cell_size=48, cell_steps=500, seed=0, api_name="/paper",
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while runs.active == 0 and runs.finished == finished and time.monotonic() < deadline:
        time.sleep(0.05)
    while runs.last_step < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    job.cancel()
    while runs.finished == finished and time.monotonic() < deadline:
        time.sleep(0.05)
    stopped_at = runs.last_step
    assert runs.finished == finished + 1 and runs.active == 0
    assert stopped_at < 500  # within the first panel, not after it
    time.sleep(1.0)
    assert runs.last_step == stopped_at


def test_drawn_mask_is_white_where_painted():
    from artstyle_app.requests import drawn_mask

    assert drawn_mask(None) is None
    blank = Image.new("RGBA", (40, 30), (0, 0, 0, 0))
    assert drawn_mask({"background": None, "layers": [blank], "composite": None}) is None
    stroke = blank.copy()
    stroke.paste((255, 255, 255, 255), (20, 0, 40, 30))
    mask = drawn_mask({"background": None, "layers": [blank, stroke], "composite": None})
    assert mask.size == (40, 30) and mask.getpixel((5, 5)) == 0 and mask.getpixel((30, 5)) == 255


LOSSES = Losses(total=1.0, content=0.5, style=0.5, tv=0.0)


def test_the_estimate_learns_this_hosts_pace_from_a_run():
    from artstyle import Progress
    from artstyle_app.estimate import SpeedModel

    speed = SpeedModel("cpu")
    guess = speed.seconds(256, 100, schedule="single")
    # A run at 256x192: 2 s before its first iteration, then 0.5 s an iteration.
    first = Progress(step=1, total=101, losses=LOSSES, elapsed=0.5, size=(256, 192))
    speed.record([(first, dataclasses.replace(first, step=101, elapsed=50.5, done=True))], before_first_s=2.0)
    assert speed.measured()
    assert speed.seconds(256, 100, schedule="single") == pytest.approx(2.0 + 100 * 0.5)
    assert speed.seconds(256, 100, schedule="single") != pytest.approx(guess)
    # Four times the pixels cost 4 ** PIXEL_EXPONENT as much per iteration, not four times as much.
    assert 2.5 < speed.seconds_per_iteration(512 * 384) / 0.5 < 4.0
    # A coarse-to-fine run: each level's pace at its own size; its estimate adds the levels up.
    pyramid = SpeedModel("cpu")
    small = Progress(step=1, total=30, losses=LOSSES, elapsed=1.0, size=(128, 96), levels=2)
    large = dataclasses.replace(small, step=21, level=1, elapsed=6.0, size=(256, 192))
    pyramid.record([(small, dataclasses.replace(small, step=20, elapsed=4.8)),
                    (large, dataclasses.replace(large, step=30, elapsed=10.5, done=True))])  # fmt: skip
    assert pyramid.seconds_per_iteration(128 * 96) == pytest.approx(0.2)
    assert pyramid.seconds_per_iteration(256 * 192) == pytest.approx(0.5)
    estimate = pyramid.seconds(256, 30, scales=(128,), scale_steps=(20, 10))
    assert estimate == pytest.approx(pyramid.seconds(256, 1, schedule="single") - 0.5 + 20 * 0.2 + 10 * 0.5)


def test_time_left_uses_the_hosts_pace_then_the_runs_own():
    from artstyle import Progress
    from artstyle_app.devices import DevicePool, RunCounters
    from artstyle_app.estimate import SpeedModel
    from artstyle_app.runs import Runner
    from artstyle_app.weights import WeightsStatus

    speed = SpeedModel("cpu")
    speed.record([(Progress(step=1, total=11, losses=LOSSES, elapsed=1.0, size=(100, 100)),
                   Progress(step=11, total=11, losses=LOSSES, elapsed=11.0, size=(100, 100), done=True))])  # fmt: skip
    runner = Runner(DevicePool(["cpu"]), RunCounters(), Path("."), speed, WeightsStatus())
    first = Progress(step=1, total=21, losses=LOSSES, elapsed=5.0, size=(100, 100))  # a slow first iteration
    assert runner._seconds_left(first, first) == pytest.approx(20 * 1.0)  # the host's 1 s an iteration
    later = dataclasses.replace(first, step=5, elapsed=13.0)  # this run goes at 2 s an iteration
    assert runner._seconds_left(first, later) == pytest.approx(16 * 2.0)


def test_the_start_up_probe_measures_the_host_before_a_visitor_paints(served):
    demo, _client = served
    deadline = time.monotonic() + 60
    while not demo.artstyle_speed.measured() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert demo.artstyle_speed.measured(), "the start-up probe recorded nothing"


def test_stylize_needs_only_a_photo_and_shows_its_defaults(served, photo):
    from gradio_client import handle_file

    _demo, client = served
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/stylize"]
    without_default = [p["parameter_name"] for p in api["parameters"] if not p["parameter_has_default"]]
    assert without_default == ["content"]
    defaults = {p["parameter_name"]: p["parameter_default"] for p in api["parameters"] if p["parameter_has_default"]}
    assert defaults["preset"] == "starry_night" and defaults["style_strength"] == 5 and defaults["seed"] == 0
    # The documented one-liner, made short here by size and steps alone: every other parameter is defaulted.
    out = client.predict(content=handle_file(photo), preset="the_scream", size=64, steps=2, api_name="/stylize")
    assert Image.open(out).size == (64, 48)


def test_a_presets_recommended_settings_apply_where_the_visitor_left_the_default():
    from artstyle.presets import get_preset, recommended
    from artstyle_app.requests import with_recommended

    preset = dataclasses.replace(
        get_preset("starry_night"), recommended={"style_weight": 3e3, "style_scale": 0.75, "tv_weight": 1e9}
    )
    advice = recommended([preset], (1.0,))
    applied = with_recommended({"style_scale": 1.0, "preserve_color": "none"}, advice)
    assert applied == {"style_scale": 0.75, "tv_weight": 1e9, "preserve_color": "none"}  # beta: the slider's
    assert with_recommended({"style_scale": 1.5}, advice)["style_scale"] == 1.5  # the visitor's choice wins
    assert with_recommended({"style_scale": 1.0}, recommended([None], (1.0,))) == {"style_scale": 1.0}
