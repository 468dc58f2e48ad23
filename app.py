"""artstyle's web app: a Gradio Blocks UI over `artstyle.stylize_iter`, nothing of the algorithm inside.

Run `python app.py` (http://127.0.0.1:7860), `python app.py --share`, or embed `build_demo()` in another
Gradio app (`demo.render()` inside its Blocks) or a FastAPI app (`gr.mount_gradio_app(app, demo, "/art")`).
The same file runs on Hugging Face Spaces, CPU or ZeroGPU.
"""

from __future__ import annotations

# ZeroGPU needs `spaces` imported before anything initialises CUDA, so before torch (via artstyle/gradio).
try:
    import spaces  # type: ignore[import-not-found]
except ImportError:  # not on Spaces: the app runs the same without it
    spaces = None

import argparse
import dataclasses
import json
import math
import os
import queue
import tempfile
import threading
import time
import typing
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import gradio as gr
import pandas as pd
import torch
from PIL import Image, ImageChops, PngImagePlugin

import artstyle
from artstyle import VGG19_LAYERS, StyleParams, WeightsError, load_image, stylize_iter
from artstyle.images import MAX_INPUT_PIXELS, fit_long_side
from artstyle.paper import (
    Cell,
    Layout,
    PlannedCell,
    grid_layout,
    plan_grid,
    plan_reconstructions,
    reconstructions_layout,
    render_figure,
)
from artstyle.presets import Preset, PresetStatus, get_preset, load_catalogue, preset_status

TITLE = "artstyle — paint your photo like a famous painting"
PAPER_URL = "https://arxiv.org/abs/1508.06576"
MAX_QUEUE = 16  # waiting runs; beyond that users are told the app is busy (ARTSTYLE_QUEUE_SIZE overrides)
MAX_UPLOAD = "20mb"
CACHE_TTL_S = 3600  # uploaded and generated files are deleted after an hour (gr.Blocks(delete_cache=...))
PREVIEW_SIDE = 512  # previews are downscaled to this long side before they are encoded and sent
PREVIEW_INTERVAL_S = 1.0  # at most one preview (and loss-curve update) per second
STATUS_INTERVAL_S = 0.25  # a status line at most this often; each yield is also where Stop takes effect
STRENGTH_DEFAULT = 5.0
STRENGTH_DECADES_PER_UNIT = 0.4  # strength 0 ... 10 spans style_weight/100 ... style_weight*100
# Seconds per iteration per megapixel (rough; CPU: 71 s for 256 px x 100 steps via /stylize on 2 idle cores,
# with the client in the same process; GPU an order-of-magnitude guess).
SECONDS_PER_MPX_ITER = {"cpu": 14.0, "mps": 1.5, "cuda": 0.1}
SETUP_S = 3.0
# Controls on the main panel or set by the app itself; every other StyleParams field goes under "Advanced".
MAIN_FIELDS = ("size", "steps", "style_weight", "seed", "preserve_color", "scales")
APP_FIELDS = ("device", "preview_every")
EXAMPLE_PAIRS = (  # (content preset id, style preset id)
    ("great_wave", "starry_night"),
    ("water_lilies", "the_scream"),
    ("wheat_field_with_cypresses", "composition_vii"),
)
LOSS_COLOURS = {"total": "#1f77b4", "style": "#ff7f0e", "content": "#d62728"}
PARAM_FIELDS = {f.name: f for f in dataclasses.fields(StyleParams)}
NONE_CHOICE = "off"  # the radio choice that stands for None in an optional choice (e.g. preserve_color)
BLEND_DEFAULT = 0.5
# Paper tab: cell size and steps per cell that make a figure in a few minutes on this kind of device.
PAPER_DEFAULTS = {"cpu": (96, 40), "mps": (128, 100), "cuda": (256, 300)}
PAPER_FIGURES = {
    "Fig. 1: what each layer keeps (reconstructions)": "reconstructions",
    "Fig. 3: style layers × α/β": "grid",
}
API_NAMES = ("content", "style", "preset", "size", "steps", "style_strength", "preserve_color", "seed")  # /stylize


# --------------------------------------------------------------------------------------------- hardware


def device_pool_names() -> list[str]:
    """One entry per run that may go at once: each GPU, or the single CPU/MPS device (two CPU runs on
    the same cores only slow each other down)."""
    if spaces is not None and os.environ.get("SPACES_ZERO_GPU"):
        return ["cuda"]  # ZeroGPU lends one GPU per decorated call
    if torch.cuda.is_available():
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return ["mps"]
    return ["cpu"]


def hardware_defaults(device_type: str) -> dict[str, int]:
    """Size and steps that give a pleasing result in about a minute on this kind of device."""
    if device_type == "cpu":
        return {"size": 256, "steps": 85, "max_size": 1024}
    if device_type == "mps":
        return {"size": 384, "steps": 200, "max_size": 1536}
    return {"size": 512, "steps": 300, "max_size": 2048}


def estimate_seconds(size: float, steps: float, device_type: str) -> float:
    megapixels = size * size * 0.75 / 1e6  # a 4:3 photo
    return SETUP_S + steps * megapixels * SECONDS_PER_MPX_ITER.get(device_type, 1.0)


def describe_device(names: list[str]) -> str:
    if spaces is not None and os.environ.get("SPACES_ZERO_GPU"):
        return "ZeroGPU (a GPU lent per run)"  # the main process must not query CUDA on ZeroGPU
    if names[0].startswith("cuda"):
        label = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "GPU"
        return f"{len(names)} × {label}" if len(names) > 1 else label
    if names[0] == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({os.cpu_count()} cores)"


class DevicePool:
    """Hands each run its own device; the queue's concurrency limit equals the pool size."""

    def __init__(self, names: list[str]) -> None:
        self.names = list(names)
        self._free: queue.Queue[str] = queue.Queue()
        for name in names:
            self._free.put(name)

    @contextmanager
    def acquire(self, timeout: float = 120.0) -> Iterator[str]:
        # The queue's concurrency limit means a device is normally free at once. A timeout turns a device
        # held by a run that was never closed into a clear error instead of a worker blocked forever.
        try:
            name = self._free.get(timeout=timeout)
        except queue.Empty:
            raise gr.Error("All devices are busy with other runs; please try again in a minute.") from None
        try:
            yield name
        finally:
            self._free.put(name)


@dataclasses.dataclass
class RunLog:
    """What the optimisations of this app are doing; tests read it to check that Stop stops the server."""

    active: int = 0
    started: int = 0
    finished: int = 0
    last_step: int = 0
    last_total: int = 0
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    @contextmanager
    def track(self) -> Iterator[RunLog]:
        with self.lock:
            self.active += 1
            self.started += 1
        try:
            yield self
        finally:  # runs on completion, on error and when Gradio closes the generator (Stop, closed tab)
            with self.lock:
                self.active -= 1
                self.finished += 1
                idle = self.active == 0
            if idle:
                release_freed_memory()


def release_freed_memory() -> None:
    """Give memory freed by finished runs back to the operating system.

    glibc's malloc keeps freed blocks in per-thread arenas, and each run executes on one of Gradio's worker
    threads: without this a server's RSS stays ~150-200 MB above its idle level after a burst of jobs,
    although nothing leaked. A no-op where the C library has no malloc_trim (macOS, musl, Windows).
    """
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


# --------------------------------------------------------------------------------------------- running

# The GPU part: on ZeroGPU `spaces.GPU` lends a GPU for the call's duration; elsewhere it is not applied.


def _gpu_duration(content: Image.Image, style: Any, params: StyleParams, mask: Image.Image | None = None) -> int:
    return int(min(300, 15 + estimate_seconds(params.size, params.steps, "cuda") * 2))


def optimise(
    content: Image.Image, style: Image.Image | list[Image.Image], params: StyleParams, mask: Image.Image | None = None
) -> Iterator[artstyle.Progress]:
    yield from stylize_iter(content, style, mask=mask, params=params)


if spaces is not None:
    optimise = spaces.GPU(duration=_gpu_duration)(optimise)


def photo_input(**kwargs: Any) -> gr.Image:
    """A gr.Image (file path out) whose unreadable uploads fail with one clear sentence, not a server error.

    Gradio decodes uploads in the component's preprocess, before any handler runs; a subclass would do, but
    Gradio writes a .pyi stub next to any module defining one, so the instance's method is wrapped instead.
    """
    image = gr.Image(type="filepath", image_mode=None, **kwargs)
    preprocess = image.preprocess
    label = kwargs.get("label") or "image"

    def friendly_preprocess(payload: Any) -> Any:
        try:
            return preprocess(payload)
        except Image.DecompressionBombError as exc:  # Image.open refuses over twice Pillow's pixel limit
            raise gr.Error(
                f"The {label} declares too many pixels to open safely; use one under "
                f"{MAX_INPUT_PIXELS / 1e6:.0f} megapixels."
            ) from exc
        except (OSError, SyntaxError, ValueError) as exc:  # PIL's UnidentifiedImageError is an OSError
            raise gr.Error(f"The {label} is not an image file we can read (JPEG, PNG, WebP, ...).") from exc

    image.preprocess = friendly_preprocess  # type: ignore[method-assign]
    return image


def name_errors(component: gr.components.Component, name: str) -> None:
    """Make the component's input check name the API parameter: Gradio's own sentences ("Value -1 is less
    than minimum value 0.") do not say which input, and a string sent for a number fails with a TypeError
    that reaches the user only as "the upstream Gradio app has raised an exception"."""
    preprocess = component.preprocess

    def named_preprocess(payload: Any) -> Any:
        try:
            return preprocess(payload)
        except gr.Error as exc:
            raise gr.Error(f"{name}: {exc.message}") from exc
        except (TypeError, ValueError, ArithmeticError) as exc:  # ArithmeticError: round(inf) for an int box
            shown = repr(payload) if len(repr(payload)) <= 60 else repr(payload)[:57] + "..."
            raise gr.Error(f"{name}: {shown} is not a valid value.") from exc

    component.preprocess = named_preprocess  # type: ignore[method-assign]


def strength_to_style_weight(strength: float, base: float) -> float:
    """Style strength 0-10 -> beta on a log scale centred (at 5) on the painting's recommended beta."""
    return base * 10 ** ((float(strength) - STRENGTH_DEFAULT) * STRENGTH_DECADES_PER_UNIT)


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"{name} must be a whole number, got {value!r}")  # prepare() turns it into a gr.Error


def resolve_style(style: str | None, preset: str | None, *, which: str = "") -> tuple[Image.Image, Preset | None]:
    """The style image: an upload wins over the chosen preset."""
    if style:
        return load_image(style, name=f"{which}style image"), None
    if not preset:
        raise gr.Error("Pick a painting from the gallery or upload a style image.")
    found = get_preset(preset)  # ValueError for an unknown id, before any path is built from it
    status = preset_status(found)
    if status.path is None:
        raise gr.Error(f"The painting {found.title!r} is unavailable: {status.reason}")
    return load_image(status.path, name=f"preset {found.id}"), found


def blend_weights(blend: Any) -> tuple[float, float]:
    """Mix slider t in [0, 1] -> style_blend (1 - t, t): 0 is the first painting only, 1 the second only."""
    t = float(BLEND_DEFAULT if blend is None else blend)
    if not 0 <= t <= 1:
        raise ValueError(f"blend must be between 0 (first painting only) and 1 (second only), got {t}")
    return 1.0 - t, t


def drawn_mask(editor: dict[str, Any] | None) -> Image.Image | None:
    """The mask painted in the editor over the photo: white where any stroke is (the second painting),
    black elsewhere; None when nothing is painted. The photo underneath is only a guide, never the mask."""
    if not editor or not editor.get("layers"):
        return None
    alphas = [layer.convert("RGBA").getchannel("A") for layer in editor["layers"] if layer is not None]
    if not alphas:
        return None
    mask = alphas[0]
    for alpha in alphas[1:]:
        mask = ImageChops.lighter(mask, alpha.resize(mask.size))
    return mask if mask.getbbox() is not None else None  # getbbox: None when every pixel is 0


def build_params(
    *, size: Any, steps: Any, style_weight: float, seed: Any, extra: dict[str, Any], device: str
) -> StyleParams:
    steps = _as_int("steps", steps)
    return StyleParams.from_kwargs(
        size=_as_int("size", size),
        steps=steps,
        style_weight=style_weight,
        seed=_as_int("seed", seed if seed is not None else 0),
        device=device,
        preview_every=_preview_every(steps, device),
        **extra,
    )


def _preview_every(steps: int, device: str) -> int:
    # On CPU an image per iteration costs ~1 ms against ~0.5 s of optimisation, and it lets the API stream
    # (and notice a cancel) at the throttle's pace; on a GPU converting every step would stall the device.
    return 1 if device == "cpu" else max(1, round(steps / 50))


def save_result(image: Image.Image, settings: dict[str, Any], folder: Path) -> Path:
    """Full-resolution PNG with the settings in its text metadata (PNG tEXt/iTXt chunks)."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", f"artstyle {artstyle.__version__}")
    info.add_text("artstyle", json.dumps(settings, default=str, sort_keys=True))
    info.add_text("Comment", f"Neural style transfer after Gatys, Ecker & Bethge (2015), {PAPER_URL}")
    _prune(folder, CACHE_TTL_S)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    path = folder / f"artstyle-{settings.get('preset') or 'custom'}-{stamp}.png"
    image.save(path, format="PNG", pnginfo=info)
    return path


def _prune(folder: Path, max_age_s: float) -> None:
    cutoff = time.time() - max_age_s
    for old in folder.glob("artstyle-*.png"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)


def _downscaled(image: Image.Image) -> Image.Image:
    if max(image.size) <= PREVIEW_SIDE:
        return image
    scaled = image.copy()
    scaled.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.BILINEAR)
    return scaled


def _status_text(event: artstyle.Progress, device: str) -> str:
    done = event.step / event.total
    bar = "▰" * round(done * 20) + "▱" * (20 - round(done * 20))
    left = event.elapsed / event.step * (event.total - event.step)
    eta = "done" if event.done else f"about {left:.0f} s left"
    return f"{bar} {event.step}/{event.total} · {event.elapsed:.0f} s · {eta} · {device}"


@dataclasses.dataclass
class RunRequest:
    content: Image.Image
    style: Image.Image | list[Image.Image]  # a list when two paintings are mixed or placed by a mask
    params: StyleParams
    settings: dict[str, Any]
    mask: Image.Image | None = None


@dataclasses.dataclass
class SecondStyle:
    """The optional second painting: an upload or a preset id, the mix t, and a mask (a path or image)."""

    style: str | None = None
    preset: str | None = None
    blend: Any = BLEND_DEFAULT
    mask: str | Image.Image | None = None


class Runner:
    """Turns a request into a stream of (kind, payload) steps, holding a device and the run log."""

    def __init__(self, pool: DevicePool, log: RunLog, results: Path) -> None:
        self.pool, self.log, self.results = pool, log, results

    def prepare(
        self,
        *,
        content: str | None,
        style: str | None,
        preset: str | None,
        size: Any,
        steps: Any,
        style_strength: Any,
        seed: Any,
        extra: dict[str, Any],
        device: str,
        second: SecondStyle | None = None,
    ) -> RunRequest:
        if not content:
            raise gr.Error("Add a photo first: upload one, take one with the webcam or paste one.")
        second = second or SecondStyle()
        try:
            content_image = load_image(content, name="photo")
            style_image, chosen = resolve_style(style, preset)
            base = chosen.style_weight if chosen else StyleParams().style_weight
            styles: Image.Image | list[Image.Image] = style_image
            chosen2 = None
            mask = load_image(second.mask, name="mask") if second.mask is not None else None
            if second.style or second.preset:
                style2, chosen2 = resolve_style(second.style, second.preset, which="second ")
                styles = [style_image, style2]
                weights = blend_weights(second.blend)
                extra = {**extra, "style_blend": weights}
                # The recommended beta of a mix: the blend-weighted geometric mean of the two paintings'.
                base2 = chosen2.style_weight if chosen2 else StyleParams().style_weight
                base = base ** weights[0] * base2 ** weights[1]
            elif mask is not None:
                raise ValueError("a mask places two paintings: choose a second painting too, or clear the mask")
            strength = float(style_strength if style_strength is not None else STRENGTH_DEFAULT)
            if not 0 <= strength <= 10:
                raise ValueError(f"style_strength must be between 0 and 10, got {strength}")
            params = build_params(
                size=size,
                steps=steps,
                style_weight=strength_to_style_weight(strength, base),
                seed=seed,
                extra=extra,
                device=device,
            )
        except (ValueError, WeightsError) as exc:
            raise gr.Error(_sentence(exc)) from exc
        settings = {
            **params.to_dict(),
            "preset": chosen.id if chosen else None,
            "style_strength": strength,
            "painting": chosen.caption if chosen else "uploaded style image",
        }
        if isinstance(styles, list):
            settings["preset2"] = chosen2.id if chosen2 else None
            settings["painting2"] = chosen2.caption if chosen2 else "uploaded style image"
            settings["mask"] = mask is not None
        settings.pop("preview_every")
        return RunRequest(content_image, styles, params, settings, mask)

    def run(self, make_request: Callable[[str], RunRequest]) -> Iterator[tuple[str, Any]]:
        """Yields ("status", str), ("preview", image, losses) and finally ("final", path, before)."""
        # The first step holds nothing. A cancel that lands while Gradio runs a generator's first step (before
        # it registers the iterator for cancelling; Gradio 6.31) leaves the generator suspended and un-closed:
        # had that step taken the device, the app would wedge (seen in tests/test_app_hostile.py's storm).
        yield "status", "Waiting for the device …", None
        with self.pool.acquire() as device, self.log.track():
            request = make_request(device)
            yield "status", f"Starting on {device} …", None
            try:
                # closing(): Stop closes this generator, which must close the optimisation at once, not at GC.
                with closing(optimise(request.content, request.style, request.params, request.mask)) as events:
                    yield from self._steps(events, request, device)
            except (ValueError, WeightsError) as exc:
                raise gr.Error(_sentence(exc)) from exc
            except torch.OutOfMemoryError as exc:
                raise gr.Error("The device ran out of memory: choose a smaller output size.") from exc

    def _steps(
        self, events: Iterator[artstyle.Progress], request: RunRequest, device: str
    ) -> Iterator[tuple[str, Any, artstyle.Progress]]:
        # A status line at least every STATUS_INTERVAL_S (on CPU: every iteration), because each yield is
        # where Gradio's Stop closes the generator; previews (encoded images) only once a second.
        last_preview = last_status = 0.0
        for event in events:
            self.log.last_step, self.log.last_total = event.step, event.total
            now = time.monotonic()
            if event.done:
                path = save_result(event.image, request.settings, self.results)
                before = fit_long_side(request.content, request.params.size)
                yield "final", (path, before, _status_text(event, device)), event
            elif event.image is not None and now - last_preview >= PREVIEW_INTERVAL_S:
                last_preview = last_status = now
                yield "preview", (_downscaled(event.image), _status_text(event, device)), event
            elif now - last_status >= STATUS_INTERVAL_S:
                last_status = now
                yield "status", _status_text(event, device), event


def _sentence(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


# --------------------------------------------------------------------------------------------- controls


def _control_spec(name: str) -> tuple[type[gr.components.Component], dict[str, Any]] | None:
    """The Gradio control for a StyleParams field, from its type, default and help; None if not editable."""
    f = PARAM_FIELDS[name]
    hint = typing.get_type_hints(StyleParams)[name]
    default = f.default if f.default is not dataclasses.MISSING else None
    common = {"label": name.replace("_", " ").capitalize(), "info": f.metadata.get("help")}
    origin, args = get_origin(hint), get_args(hint)
    optional = type(None) in args
    if optional:  # Optional[X]: edit X; an empty box (or the "off" choice) means None
        hint = next(a for a in args if a is not type(None))
        origin, args = get_origin(hint), get_args(hint)
    if origin is Literal:
        choices = ([NONE_CHOICE] if optional else []) + list(args)
        return gr.Radio, {"choices": choices, "value": NONE_CHOICE if default is None else default, **common}
    if hint is bool or bool in args:  # bool | float (ema): the switch; the float form stays API-only
        return gr.Checkbox, {"value": bool(default), **common}
    if int in args:  # int | tuple[int, ...] (scales): the number form; the list form stays API-only
        return gr.Number, {"value": default, "precision": 0, "minimum": 1, **common}
    if hint is int:
        return gr.Number, {"value": default, "precision": 0, **common}
    if hint is float:
        return gr.Number, {"value": default, **common}
    layers = origin is tuple and args and args[0] is str and isinstance(default, tuple)
    if layers and all(x in VGG19_LAYERS for x in default):
        return gr.Dropdown, {"choices": list(VGG19_LAYERS), "value": list(default), "multiselect": True, **common}
    return None  # a field the UI cannot edit (e.g. arrays): left at its default


def _control_for(name: str, *, label: str | None = None) -> gr.components.Component:
    cls, kwargs = _control_spec(name)  # type: ignore[misc]  # only called for editable fields
    return cls(**{**kwargs, "label": label or kwargs["label"]})


def _extra_kwargs(names: list[str], values: tuple[Any, ...]) -> dict[str, Any]:
    extra = {}
    for name, value in zip(names, values, strict=True):
        if value is None and PARAM_FIELDS[name].default is not None:
            continue  # an emptied number box: keep the default
        if value == NONE_CHOICE and PARAM_FIELDS[name].default is None:
            value = None
        if isinstance(PARAM_FIELDS[name].default, tuple) and isinstance(value, list):
            value = tuple(value)
        extra[name] = value
    return extra


# --------------------------------------------------------------------------------------------- presets


def preset_gallery(statuses: list[PresetStatus]) -> list[tuple[Image.Image | str, str]]:
    items = []
    for status in statuses:
        if status.path is not None:
            thumb = load_image(status.path, name=status.preset.id)
            thumb.thumbnail((320, 320), Image.Resampling.BILINEAR)
            items.append((thumb, status.preset.caption))
        else:
            items.append((Image.new("RGB", (320, 240), (200, 200, 200)), f"{status.preset.caption} (unavailable)"))
    return items


def unavailable_note(statuses: list[PresetStatus]) -> str:
    missing = [f"*{s.preset.title}*: {s.reason}" for s in statuses if not s.available]
    return ("Unavailable right now: " + "; ".join(missing)) if missing else ""


def example_rows(statuses: list[PresetStatus]) -> list[list[str]]:
    """Content + preset pairs whose images are at hand. The content photos of ../shared may not be
    published, so public-domain paintings from the catalogue stand in for the photo."""
    paths = {s.preset.id: str(s.path) for s in statuses if s.path is not None}
    return [[paths[content], preset] for content, preset in EXAMPLE_PAIRS if content in paths and preset in paths]


def _resolve_presets(catalogue: tuple[Preset, ...]) -> list[PresetStatus]:
    # Fetch in parallel: on first start this downloads the paintings once; later starts read the cache.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda p: preset_status(p, timeout=20.0), catalogue))


# --------------------------------------------------------------------------------------------- the UI


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


def build_demo(*, max_queue: int | None = None) -> gr.Blocks:
    """The whole app as a Blocks; embed it with `demo.render()` or `gr.mount_gradio_app`.

    `max_queue`: waiting runs before new ones are told the app is busy (default: `queue_size()`).
    """
    waiting = queue_size(max_queue)  # checked before the presets are fetched: a typo fails fast
    pool = DevicePool(device_pool_names())
    device_type = pool.names[0].split(":")[0]
    defaults = hardware_defaults(device_type)
    device_label = describe_device(pool.names)
    catalogue = load_catalogue()
    statuses = _resolve_presets(catalogue)
    first = next((s.preset.id for s in statuses if s.available), None)
    runner = Runner(pool, RunLog(), Path(tempfile.mkdtemp(prefix="artstyle-results-")))
    advanced_names = [n for n in PARAM_FIELDS if n not in MAIN_FIELDS + APP_FIELDS and _control_spec(n) is not None]
    extra_names = [n for n in ("scales",) if n in PARAM_FIELDS and _control_spec(n) is not None] + advanced_names

    def expectation(size: float, steps: float) -> str:
        seconds = estimate_seconds(size or 0, steps or 0, device_type)
        return f"Running on **{device_label}**: about **{_duration(seconds)}** with these settings."

    with gr.Blocks(title="artstyle", delete_cache=(CACHE_TTL_S, CACHE_TTL_S)) as demo:
        gr.Markdown(f"# {TITLE}")
        gr.Markdown(
            "Neural style transfer after [Gatys, Ecker & Bethge (2015)]"
            f"({PAPER_URL}): your photo's pixels are optimised until a VGG19 network sees its content "
            "painted with the textures of the painting."
        )
        with gr.Tabs():
            with gr.Tab("Paint", id="paint"), gr.Row(equal_height=False):
                with gr.Column(min_width=300):
                    content = photo_input(label="photo", sources=["upload", "webcam", "clipboard"], elem_id="content")
                    gallery = gr.Gallery(
                        value=preset_gallery(statuses),
                        label="Pick a painting",
                        columns=5,
                        height=270,  # two rows of thumbnails on a desktop; scrolls on a phone
                        allow_preview=False,
                        object_fit="cover",
                        interactive=False,
                        elem_id="preset-gallery",
                    )
                    preset = gr.Dropdown(
                        choices=[(p.caption, p.id) for p in catalogue],
                        value=first,
                        label="Painting",
                        elem_id="preset",
                    )
                    gr.Markdown(unavailable_note(statuses))
                    style = photo_input(
                        label="style image (optional: your own painting instead)",
                        sources=["upload", "clipboard"],
                        elem_id="style-upload",
                        height=160,
                    )
                    with gr.Accordion("Two paintings: mix them, or paint each in its own region", open=False):
                        preset2, style2, blend, mask_draw, mask_upload = _second_style_controls(catalogue)
                    style_strength = gr.Slider(
                        0, 10, value=STRENGTH_DEFAULT, step=0.5, label="Style strength",
                        info="5 = the painting's recommended balance; each step ×2.5 more (or less) style.",
                    )  # fmt: skip
                    with gr.Row():
                        size = gr.Slider(
                            64,
                            defaults["max_size"],
                            value=defaults["size"],
                            step=32,
                            label="Output size (px)",
                            elem_id="size",
                        )
                        steps = gr.Slider(1, 1000, value=defaults["steps"], step=1, label="Steps", elem_id="steps")
                    with gr.Row():
                        seed = gr.Number(value=0, precision=0, minimum=0, label="Seed")
                        preserve_color = (
                            _control_for("preserve_color", label="Preserve colours")
                            if "preserve_color" in PARAM_FIELDS
                            else gr.Checkbox(value=False, visible=False, label="Preserve colours")
                        )
                    scale_controls = [_control_for("scales", label="Scales")] if "scales" in extra_names else []
                    with gr.Accordion("Advanced", open=False):
                        advanced = [_control_for(n) for n in advanced_names]
                    expect = gr.Markdown(expectation(defaults["size"], defaults["steps"]))
                    with gr.Row():
                        run = gr.Button("Paint", variant="primary", elem_id="run")
                        stop = gr.Button("Stop", variant="stop", elem_id="stop")
                with gr.Column(min_width=300):
                    result = gr.Image(
                        label="Result",
                        format="png",
                        interactive=False,
                        buttons=["download", "fullscreen"],
                        elem_id="result",
                    )
                    status = gr.Textbox(label="Progress", interactive=False, elem_id="status")
                    download = gr.DownloadButton("Download full-resolution PNG", visible=False)
                    loss_plot = gr.LinePlot(
                        x="step",
                        y="log10 loss",
                        color="term",
                        color_map=LOSS_COLOURS,
                        label="Loss, log10 (blue: total, orange: style, red: content)",
                        height=260,
                        elem_id="loss",
                    )
                    before_after = gr.ImageSlider(label="Before / after", format="png", interactive=False)
            with gr.Tab("Explore the paper", id="paper"):
                paper = _paper_controls(device_type)

        def ui_run(
            content, style, preset, size, steps, style_strength, preserve_color, seed,
            style2, preset2, blend, mask_upload, mask_draw, *extra_values,
        ):  # fmt: skip
            extra = _extra_kwargs(extra_names, extra_values)
            _add_preserve_color(extra, preserve_color)
            second = SecondStyle(style2, preset2, blend, mask_upload or drawn_mask(mask_draw))
            rows: list[dict[str, Any]] = []
            request = lambda device: runner.prepare(  # noqa: E731
                content=content, style=style, preset=preset, size=size, steps=steps,
                style_strength=style_strength, seed=seed, extra=extra, device=device, second=second,
            )  # fmt: skip
            for kind, payload, event in runner.run(request):
                if event is not None:
                    rows.extend(_loss_rows(event))
                if kind == "status":
                    yield gr.skip(), payload, gr.skip(), gr.skip(), gr.skip()
                elif kind == "preview":
                    image, text = payload
                    yield image, text, pd.DataFrame(rows), gr.skip(), gr.skip()
                else:
                    path, before, text = payload
                    yield (
                        str(path),
                        text,
                        pd.DataFrame(rows),
                        (before, str(path)),
                        gr.DownloadButton(value=str(path), visible=True),
                    )

        def api_stylize(
            content, style, preset, size, steps, style_strength, preserve_color, seed,
            style2=None, preset2=None, blend=BLEND_DEFAULT, mask=None, scales=None,
        ):  # fmt: skip
            """Stylise `content` after a preset painting (`preset` = its id) or an uploaded `style` image;
            streams downscaled previews and ends with the full-resolution PNG. Optional: a second painting
            (`style2` upload or `preset2` id) mixed by `blend` (0: first only, 1: second only), or placed by
            a greyscale `mask` of the photo's shape (black: first painting, white: second); `scales` levels."""
            extra: dict[str, Any] = {} if scales is None else {"scales": _as_int("scales", scales)}
            _add_preserve_color(extra, preserve_color)
            second = SecondStyle(style2, preset2, blend, mask)
            request = lambda device: runner.prepare(  # noqa: E731
                content=content, style=style, preset=preset, size=size, steps=steps,
                style_strength=style_strength, seed=seed, extra=extra, device=device, second=second,
            )  # fmt: skip
            for kind, payload, _ in runner.run(request):
                if kind == "preview":
                    yield payload[0]
                elif kind == "final":
                    yield str(payload[0])
                else:  # a step too, so the first one holds nothing (see Runner.run) and Stop acts at once
                    yield gr.skip()

        inputs = [content, style, preset, size, steps, style_strength, preserve_color, seed]
        seconds = [style2, preset2, blend, mask_upload]
        for name, control in zip(API_NAMES, inputs, strict=True):
            if name not in ("content", "style"):  # photo_input words the image errors itself
                name_errors(control, name)
        concurrency = {"concurrency_id": "optimise", "concurrency_limit": len(pool.names)}
        run_event = run.click(
            ui_run,
            inputs=inputs + seconds + [mask_draw] + scale_controls + advanced,
            outputs=[result, status, loss_plot, before_after, download],
            api_visibility="private",
            show_progress="minimal",
            **concurrency,
        )
        stop.click(None, cancels=[run_event], api_visibility="private")
        api_button = gr.Button(visible=False)
        # scales: the main panel's control, or a hidden stand-in (None: the default) if params lacks it.
        scales_input = scale_controls[0] if scale_controls else gr.Number(value=None, visible=False)
        api_button.click(
            api_stylize, inputs=inputs + seconds + [scales_input], outputs=[result], api_name="stylize", **concurrency
        )

        def paper_run(content, style, preset, figure, cell_size, cell_steps, seed):
            """Run one of the paper's demonstrations (`figure`: "reconstructions" = Fig. 1, "grid" = Fig. 3)
            for the photo and painting; streams the gallery of finished cells, the labelled figure and a
            status line after each cell."""
            yield from _paper_stream(
                runner, content=content, style=style, preset=preset, figure=figure,
                size=cell_size, steps=cell_steps, seed=seed,
            )  # fmt: skip

        paper_event = paper.run.click(
            paper_run,
            inputs=[content, style, preset, paper.figure, paper.size, paper.steps, seed],
            outputs=[paper.cells, paper.figure_image, paper.status],
            api_name="paper",
            show_progress="minimal",
            **concurrency,
        )
        paper.stop.click(None, cancels=[paper_event], api_visibility="private")
        # The editor paints over the photo, so that the mask has the photo's shape and the user sees where.
        content.change(_mask_canvas, content, mask_draw, api_visibility="private", queue=False)

        rows = example_rows(statuses)
        if rows:  # loaded on click, never run (or cached) at start-up
            gr.Examples(
                rows,
                inputs=[content, preset],
                label="Examples (public-domain paintings standing in for the photo, so results are publishable)",
                cache_examples=False,
            )

        def pick(evt: gr.SelectData):
            return catalogue[evt.index].id, None  # a picked painting replaces an uploaded style image

        gallery.select(pick, None, [preset, style], api_visibility="private")
        for control in (size, steps):
            control.change(expectation, [size, steps], expect, api_visibility="private", queue=False)

    demo.queue(max_size=waiting)
    demo.artstyle_runs = runner.log  # type: ignore[attr-defined]  # read by the tests
    demo.artstyle_pool = pool  # type: ignore[attr-defined]
    demo.artstyle_results = runner.results  # type: ignore[attr-defined]  # where results are written
    return demo


def _second_style_controls(catalogue: tuple[Preset, ...]) -> tuple[Any, ...]:
    preset2 = gr.Dropdown(
        choices=[(p.caption, p.id) for p in catalogue],
        value=None,
        label="Second painting",
        info="Leave empty for one painting.",
        elem_id="preset2",
    )
    style2 = photo_input(label="or your own second style image", sources=["upload", "clipboard"], height=140)
    blend = gr.Slider(
        0, 1, value=BLEND_DEFAULT, step=0.05, label="Mix", elem_id="blend",
        info="0: the first painting only, 1: the second only. With a mask: how strongly each region is painted.",
    )  # fmt: skip
    mask_draw = gr.ImageEditor(
        type="pil",
        sources=[],  # the background is the photo, set when the photo changes
        label="Mask: paint over the photo where the second painting goes (unpainted: the first)",
        brush=gr.Brush(colors=["#ffffff"], default_color="#ffffff", color_mode="fixed", default_size=24),
        layers=False,
        transforms=(),
        height=320,
        elem_id="mask-draw",
    )
    mask_upload = photo_input(
        label="or upload a mask (greyscale, the photo's shape: black = first painting, white = second)",
        sources=["upload", "clipboard"],
        height=140,
        elem_id="mask-upload",
    )
    return preset2, style2, blend, mask_draw, mask_upload


def _mask_canvas(content: str | None) -> Any:
    return {"background": content, "layers": [], "composite": content} if content else None


@dataclasses.dataclass
class PaperControls:
    figure: gr.Radio
    size: gr.Slider
    steps: gr.Slider
    run: gr.Button
    stop: gr.Button
    status: gr.Textbox
    cells: gr.Gallery
    figure_image: gr.Image


def _paper_controls(device_type: str) -> PaperControls:
    size, steps = PAPER_DEFAULTS.get(device_type, PAPER_DEFAULTS["cuda"])
    gr.Markdown(
        "The two demonstrations of [the paper](" + PAPER_URL + ") for the photo and painting chosen on the "
        "*Paint* tab. **Fig. 1**: starting from white noise, match only one layer's features of the photo "
        "(conv1_2 … conv5_2: pixel-perfect low, only the layout high), or the Gram matrices of the painting "
        "from conv1_1 up to conv5_1 (colour blotches growing into its texture). **Fig. 3**: content and "
        "style together, rows = how deep the style layers reach, columns = α/β. Each panel appears as soon "
        "as it is finished; panels are small so a figure takes minutes, not hours."
    )
    with gr.Row(equal_height=False):
        with gr.Column(min_width=300):
            figure = gr.Radio(
                [(label, value) for label, value in PAPER_FIGURES.items()],
                value="reconstructions",
                label="Demonstration",
                elem_id="paper-figure",
            )
            with gr.Row():
                size_slider = gr.Slider(32, 512, value=size, step=16, label="Panel size (px)", elem_id="paper-size")
                steps_slider = gr.Slider(1, 1000, value=steps, step=1, label="Steps per panel", elem_id="paper-steps")
            with gr.Row():
                run = gr.Button("Run the demonstration", variant="primary", elem_id="paper-run")
                stop = gr.Button("Stop", variant="stop", elem_id="paper-stop")
            status = gr.Textbox(label="Progress", interactive=False, elem_id="paper-status")
        with gr.Column(min_width=300, scale=2):
            figure_image = gr.Image(label="Figure", format="png", interactive=False, elem_id="paper-figure-image")
            cells = gr.Gallery(label="Panels, as they finish", columns=5, height="auto", elem_id="paper-cells")
    return PaperControls(figure, size_slider, steps_slider, run, stop, status, cells, figure_image)


def _paper_stream(
    runner: Runner, *, content: Any, style: Any, preset: Any, figure: Any, size: Any, steps: Any, seed: Any
) -> Iterator[tuple[Any, Any, str]]:
    """Run the cells one by one on a device from the pool, yielding (gallery, figure, status) per cell and a
    status line at least every STATUS_INTERVAL_S in between (each yield is where Stop takes effect)."""
    if not content:
        raise gr.Error("Add a photo first (on the Paint tab).")
    if figure not in PAPER_FIGURES.values():
        raise gr.Error(f"figure must be one of {', '.join(PAPER_FIGURES.values())}, got {figure!r}.")
    with runner.pool.acquire() as device, runner.log.track():
        try:
            style_image, _ = resolve_style(style, preset)
            photo = load_image(content, name="photo")
            common = {"size": _as_int("size", size), "steps": _as_int("steps", steps), "device": device}
            common["seed"] = _as_int("seed", seed if seed is not None else 0)
            if figure == "reconstructions":
                layout, plan = reconstructions_layout(), plan_reconstructions(photo, style_image, **common)
                inputs = [plan[0].content, plan[-1].style]  # the photo and the painting at panel size
            else:
                layout, plan, inputs = grid_layout(), plan_grid(photo, style_image, **common), []
            yield [], gr.skip(), f"Starting {len(plan)} panels on {device} …"
            cells: list[Cell] = []
            for planned in plan:
                for text in _run_paper_cell(planned, cells, layout, len(plan), runner.log):
                    yield gr.skip(), gr.skip(), text
                figure_image = render_figure(layout, cells, inputs=inputs)
                yield _cell_gallery(layout, cells), figure_image, _paper_status(cells, len(plan), device)
        except (ValueError, WeightsError) as exc:
            raise gr.Error(_sentence(exc)) from exc
        except torch.OutOfMemoryError as exc:
            raise gr.Error("The device ran out of memory: choose a smaller panel size.") from exc


def _run_paper_cell(planned: PlannedCell, cells: list[Cell], layout: Layout, total: int, log: RunLog) -> Iterator[str]:
    """Run one panel, appending it to `cells` when done; yields a status line now and then."""
    start = last_status = time.monotonic()
    where = _cell_caption(layout, planned.row, planned.col)
    with closing(optimise(planned.content, planned.style, planned.params)) as events:
        for event in events:
            log.last_step, log.last_total = event.step, event.total
            if event.done:
                cells.append(Cell(planned.row, planned.col, event.image, planned.params, event.losses,
                                  time.monotonic() - start))  # fmt: skip
            elif time.monotonic() - last_status >= STATUS_INTERVAL_S:
                last_status = time.monotonic()
                yield f"Panel {len(cells) + 1}/{total} ({where}): step {event.step}/{event.total}"


def _cell_caption(layout: Layout, row: int, col: int) -> str:
    if layout.cell_labels:
        return f"{layout.row_labels[row]}: {layout.cell_labels[row][col]}"
    return f"{layout.row_labels[row]}, {layout.col_labels[col]}"


def _cell_gallery(layout: Layout, cells: list[Cell]) -> list[tuple[Image.Image, str]]:
    return [(cell.image, _cell_caption(layout, cell.row, cell.col)) for cell in cells]


def _paper_status(cells: list[Cell], total: int, device: str) -> str:
    spent = sum(c.elapsed for c in cells)
    left = spent / len(cells) * (total - len(cells))
    eta = "done" if len(cells) == total else f"about {left:.0f} s left"
    return f"{len(cells)}/{total} panels · {spent:.0f} s · {eta} · {device}"


def _add_preserve_color(extra: dict[str, Any], value: Any) -> None:
    # Passed on only when the installed artstyle has the parameter (it is being added in parallel).
    if "preserve_color" in PARAM_FIELDS:
        if value is not None and value != NONE_CHOICE:
            extra["preserve_color"] = value
    elif value:
        raise gr.Error("preserve_color is not supported by this version of artstyle; leave it empty.")


def _loss_rows(event: artstyle.Progress) -> list[dict[str, Any]]:
    # Zero terms (the content loss at step 1 of a content-initialised run) have no logarithm: left out.
    return [
        {"step": event.step, "term": term, "log10 loss": math.log10(event.losses[term])}
        for term in ("total", "content", "style")
        if event.losses.get(term, 0.0) > 0.0
    ]


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the artstyle web app.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="also serve on a public *.gradio.live link")
    args = parser.parse_args(argv)
    build_demo().launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size=MAX_UPLOAD)


if __name__ == "__main__":
    main()
