"""Controls generated from `StyleParams` (type, default and help of each field), and input components
whose refusals name what was wrong instead of failing with a server error."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Literal, TypeVar, get_args, get_origin

import gradio as gr
from PIL import Image

from artstyle import VGG19_LAYERS, StyleParams
from artstyle.images import MAX_INPUT_PIXELS
from artstyle.params import NONE_CHOICE

PARAM_FIELDS = {f.name: f for f in dataclasses.fields(StyleParams)}


def control_spec(name: str) -> tuple[type[gr.components.Component], dict[str, Any]] | None:
    """The Gradio control for a StyleParams field, from its type, default and help; None if not editable."""
    f = PARAM_FIELDS[name]
    hint = typing.get_type_hints(StyleParams)[name]
    default = f.default if f.default is not dataclasses.MISSING else None
    common = {"label": name.replace("_", " ").capitalize(), "info": f.metadata.get("help")}
    origin, args = get_origin(hint), get_args(hint)
    optional = type(None) in args
    if optional:  # Optional[X]: edit X; an empty box (or the "none" choice) means None
        hint = next(a for a in args if a is not type(None))
        origin, args = get_origin(hint), get_args(hint)
    if "choices" in f.metadata:  # a choice from a registry (style_loss: artstyle.statistics.STATISTICS)
        return gr.Radio, {"choices": list(f.metadata["choices"]), "value": default, **common}
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
    if origin is tuple and args and args[0] is str and isinstance(default, tuple) and set(default) <= set(VGG19_LAYERS):
        return gr.Dropdown, {"choices": list(VGG19_LAYERS), "value": list(default), "multiselect": True, **common}
    return None  # a field the UI cannot edit (e.g. arrays): left at its default


C = TypeVar("C", bound=gr.components.Component)


def typed(kind: type[C], control: gr.components.Component) -> C:
    """`control`, checked to be a `kind` (a generated control's class follows its field's type)."""
    if not isinstance(control, kind):
        raise TypeError(f"expected a {kind.__name__}, got a {type(control).__name__}")
    return control


def control_for(name: str, **overrides: Any) -> gr.components.Component:
    """The control of an editable field; `overrides` (label, info, ...) replace the generated keywords."""
    cls, kwargs = control_spec(name)  # type: ignore[misc]  # only called for editable fields
    return cls(**{**kwargs, **overrides})


def editable(names: typing.Iterable[str]) -> list[str]:
    return [n for n in names if control_spec(n) is not None]


def extra_kwargs(values: typing.Mapping[str, Any]) -> dict[str, Any]:
    """The StyleParams keywords for generated controls' values by field name (emptied boxes keep their defaults)."""
    extra = {}
    for name, value in values.items():
        default = PARAM_FIELDS[name].default
        if value is None and default is not None:
            continue  # an emptied number box: keep the default
        if value == NONE_CHOICE and default is None:
            value = None
        if isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        extra[name] = value
    return extra


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
