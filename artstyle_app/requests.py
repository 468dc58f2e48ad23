"""From what the page or an API caller sent to a validated run: images, `StyleParams` and the settings a
result records; and the one place where the library's errors become the sentences a user reads."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gradio as gr
import torch
from PIL import Image, ImageChops

from artstyle import StyleParams, WeightsError, load_image
from artstyle.metadata import run_settings
from artstyle.presets import Preset, get_preset, preset_status, recommended

from .devices import DeviceBusy, preview_every_for

STRENGTH_DEFAULT = 5.0
STRENGTH_DECADES_PER_UNIT = 0.4  # strength 0 ... 10 spans style_weight/100 ... style_weight*100
BLEND_DEFAULT = 0.5


def sentence(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


@contextmanager
def user_errors(*, size_knob: str = "output size") -> Iterator[None]:
    """Turn the library's refusals into one clear sentence on the page (a `gr.Error`), not a server error."""
    try:
        yield
    except (ValueError, WeightsError, DeviceBusy) as exc:
        raise gr.Error(sentence(exc)) from exc
    except torch.OutOfMemoryError as exc:
        raise gr.Error(f"The device ran out of memory: choose a smaller {size_knob}.") from exc


def strength_to_style_weight(strength: float, base: float) -> float:
    """Style strength 0-10 -> beta on a log scale centred (at 5) on the painting's recommended beta."""
    return base * 10 ** ((float(strength) - STRENGTH_DEFAULT) * STRENGTH_DECADES_PER_UNIT)


#: Recommended settings the page applies by other means: beta through the strength slider; size and steps are
#: the host's (its device's defaults), not the painting's.
NOT_FROM_PRESET = frozenset({"style_weight", "size", "steps"})


def with_recommended(extra: dict[str, Any], advice: dict[str, Any]) -> dict[str, Any]:
    """The paintings' recommended settings (`artstyle.presets.recommended`) wherever the visitor left a control
    at its default; a control the visitor changed wins."""
    defaults = StyleParams()
    for key, value in advice.items():
        if key in NOT_FROM_PRESET:
            continue
        # compared as StyleParams holds them: the UI's "none" is None
        if key not in extra or getattr(StyleParams(**{key: extra[key]}), key) == getattr(defaults, key):
            extra[key] = value
    return extra


def as_int(name: str, value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"{name} must be a whole number, got {value!r}")


def resolve_style(style: str | None, preset: str | None, *, which: str = "") -> tuple[Image.Image, Preset | None]:
    """The style image: an upload wins over the chosen preset."""
    if style:
        return load_image(style, name=f"{which}style image"), None
    if not preset:
        raise ValueError(f"pick a {which}painting from the gallery or upload a style image")
    found = get_preset(preset)  # ValueError for an unknown id, before any path is built from it
    status = preset_status(found)
    if status.path is None:
        raise ValueError(f"the painting {found.title!r} is unavailable: {status.reason}")
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


@dataclasses.dataclass(frozen=True)
class SecondPainting:
    """The optional second painting: an upload or a preset id, the mix t, and a mask (a path or image)."""

    style: str | None = None
    preset: str | None = None
    blend: Any = BLEND_DEFAULT
    mask: str | Image.Image | None = None


@dataclasses.dataclass(frozen=True)
class Inputs:
    """A run as the page or the API asked for it, before anything is loaded or checked."""

    content: str | None
    style: str | None
    preset: str | None
    size: Any
    steps: Any
    style_strength: Any
    seed: Any
    extra: dict[str, Any]  # further StyleParams fields
    second: SecondPainting = SecondPainting()


@dataclasses.dataclass
class RunRequest:
    content: Image.Image
    style: Image.Image | list[Image.Image]  # a list when two paintings are mixed or placed by a mask
    params: StyleParams
    settings: dict[str, Any]  # what the result PNG records
    mask: Image.Image | None = None


def prepare(inputs: Inputs, device: str) -> RunRequest:
    """Load and check everything a run needs; ValueError (one sentence) for anything wrong."""
    if not inputs.content:
        raise ValueError("add a photo first: upload one, take one with the webcam or paste one")
    second = inputs.second
    content = load_image(inputs.content, name="photo")
    style, chosen = resolve_style(inputs.style, inputs.preset)
    styles: Image.Image | list[Image.Image] = style
    paintings: list[Preset | None] = [chosen]
    blend: tuple[float, ...] = (1.0,)
    extra = dict(inputs.extra)
    context: dict[str, Any] = {}
    mask = load_image(second.mask, name="mask") if second.mask is not None else None
    if second.style or second.preset:
        style2, chosen2 = resolve_style(second.style, second.preset, which="second ")
        styles = [style, style2]
        paintings, blend = [chosen, chosen2], blend_weights(second.blend)
        extra["style_blend"] = blend
        context = {
            "preset2": chosen2.id if chosen2 else None,
            "painting2": chosen2.caption if chosen2 else "uploaded style image",
            "mask": mask is not None,
        }
    elif mask is not None:
        raise ValueError("a mask places two paintings: choose a second painting too, or clear the mask")
    # The recommended beta of a mix is the blend-weighted geometric mean of the two paintings'.
    advice = recommended(paintings, blend)
    base = advice.get("style_weight", StyleParams().style_weight)
    extra = with_recommended(extra, advice)
    strength = float(inputs.style_strength if inputs.style_strength is not None else STRENGTH_DEFAULT)
    if not 0 <= strength <= 10:
        raise ValueError(f"style_strength must be between 0 and 10, got {strength}")
    steps = as_int("steps", inputs.steps)
    params = StyleParams.from_kwargs(
        size=as_int("size", inputs.size),
        steps=steps,
        style_weight=strength_to_style_weight(strength, base),
        seed=as_int("seed", inputs.seed if inputs.seed is not None else 0),
        device=device,
        preview_every=preview_every_for(steps, device),
        **extra,
    )
    settings = run_settings(
        params,
        preset=chosen.id if chosen else None,
        style_strength=strength,
        painting=chosen.caption if chosen else "uploaded style image",
        **context,
    )
    return RunRequest(content, styles, params, settings, mask)
