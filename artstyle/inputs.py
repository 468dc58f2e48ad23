"""A run's images: loaded and checked once (`load_inputs`), then brought to each pyramid level (`LevelImages`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np
import torch
from PIL import Image

from . import color
from .images import MIN_SIDE, ImageInput, fit_long_side, load_image, resize_tensor, to_pil, to_tensor
from .params import MAX_SIZE, StyleParams

StyleInput = Union[ImageInput, Sequence[ImageInput]]


@dataclass(frozen=True)
class RunInputs:
    """The run's images, loaded and checked: content at `size`, styles at `style_scale * size`."""

    content: Image.Image
    styles: tuple[Image.Image, ...]
    blend: tuple[float, ...]  # one weight per style, summing to 1
    guides: torch.Tensor | None  # (1, K, H, W) region weights at the content's size, K = len(styles)


def load_inputs(
    content: ImageInput, sources: Sequence[ImageInput], mask: ImageInput | None, p: StyleParams
) -> RunInputs:
    """Load and check every image of a run (`sources`: the style images, one or more); `ValueError` (one
    sentence) for anything that cannot work."""
    if not sources:
        raise ValueError("style is an empty list: give at least one style image")
    blend = p.style_blend if p.style_blend is not None else (1.0,) * len(sources)
    if len(blend) != len(sources):
        raise ValueError(f"style_blend has {len(blend)} weights for {len(sources)} style image(s): give one per style")
    total = sum(blend)
    blend = tuple(w / total for w in blend)
    content_image = fit_long_side(load_image(content, name="content"), p.size, name="content")
    style_side = round(p.style_scale * p.size)
    if style_side > MAX_SIZE:
        raise ValueError(f"style_scale {p.style_scale} at size {p.size} asks for {style_side} px; at most {MAX_SIZE}")
    names = ["style"] if len(sources) == 1 else [f"style {i + 1}" for i in range(len(sources))]
    styles = tuple(
        fit_long_side(load_image(s, name=n), style_side, name=n) for s, n in zip(sources, names, strict=True)
    )
    smallest = p.level_sizes()[0]
    _check_fits(content_image, smallest, "content", "scales")
    for image, name in zip(styles, names, strict=True):
        _check_fits(image, max(1, round(p.style_scale * smallest)), name, "style_scale or scales")
    guides = None
    if mask is not None:
        if len(sources) < 2:
            raise ValueError("mask assigns regions to styles: give two or more style images with it")
        guides = mask_guides(load_image(mask, name="mask"), content_image.size, len(sources))
    return RunInputs(content_image, styles, blend, guides)


def _check_fits(image: Image.Image, side: int, name: str, knob: str) -> None:
    w, h = image.size
    short = round(min(w, h) * side / max(w, h))
    if short < MIN_SIDE:
        raise ValueError(
            f"{name} would be {short} px on its short side at {side} px, below the {MIN_SIDE} px VGG19 needs: "
            f"raise {knob} or size"
        )


def mask_guides(mask: Image.Image, size: tuple[int, int], regions: int) -> torch.Tensor:
    """Guidance channels (1, K, H, W) from a mask image, at the content's size `size` = (w, h)."""
    (w, h), (mw, mh) = size, mask.size
    if abs(mw / mh - w / h) > 0.02 * (w / h):
        raise ValueError(f"mask is {mw}x{mh} but the content is {w}x{h}: the mask must have the content's shape")
    if regions == 2:  # greyscale: soft weights, so an antialiased edge blends the two styles
        grey = torch.from_numpy(np.array(mask.convert("L").resize((w, h), Image.Resampling.BILINEAR)))
        second = grey.float() / 255.0
        return torch.stack([1.0 - second, second])[None]
    # Colours: bin to 16 levels per channel (absorbs JPEG noise), take the K most frequent bins as the
    # palette, order it dark to light, and give each pixel the nearest palette colour's region.
    pixels = np.asarray(mask.resize((w, h), Image.Resampling.NEAREST), dtype=np.int64).reshape(-1, 3)
    bins, counts = np.unique(pixels >> 4, axis=0, return_counts=True)
    if len(bins) < regions:
        raise ValueError(f"mask has {len(bins)} distinct colour(s) for {regions} styles: paint one colour per style")
    palette = bins[np.argsort(-counts, kind="stable")[:regions]] * 16 + 8
    palette = palette[np.argsort(palette @ np.array([299, 587, 114]), kind="stable")]
    labels = np.argmin(((pixels[:, None, :] - palette[None]) ** 2).sum(-1), axis=1)
    one_hot = torch.nn.functional.one_hot(torch.from_numpy(labels), regions).float()
    return one_hot.T.reshape(1, regions, h, w)


@dataclass(frozen=True)
class LevelImages:
    """One pyramid level's images as tensors, in the run's colour mode (Gatys et al. 2016).

    `content` and `styles` are what the network sees (luminance copied to three channels in luminance mode;
    paintings recoloured to the photo's colours in histogram mode); `content_rgb` is the photo itself.
    """

    content_rgb: torch.Tensor
    content: torch.Tensor
    styles: tuple[torch.Tensor, ...]
    preserve_color: str | None

    @classmethod
    def at(cls, inputs: RunInputs, side: int, p: StyleParams, device: torch.device) -> LevelImages:
        """The images at long side `side`; the paintings at `style_scale` times that."""
        content_rgb = to_tensor(fit_long_side(inputs.content, side), device)
        style_side = max(1, round(p.style_scale * side))
        styles = [to_tensor(fit_long_side(s, style_side), device) for s in inputs.styles]
        content = content_rgb
        if p.preserve_color == "luminance":  # Gatys et al. 2016, section 3: optimise luminance only
            content = color.luminance(content_rgb)
            styles = [color.match_luminance(s, content_rgb) for s in styles]
        elif p.preserve_color == "histogram":  # section 2: recolour the paintings to the photo's colours
            styles = [color.match_histogram(s, content_rgb) for s in styles]
        return cls(content_rgb, content, tuple(styles), p.preserve_color)

    def picture(self, image: torch.Tensor) -> Image.Image:
        """An optimised image as the user sees it: with the photo's chroma put back in luminance mode."""
        if self.preserve_color == "luminance":
            image = color.recombine_luminance(image, self.content_rgb)
        return to_pil(image)


def initial_image(p: StyleParams, images: LevelImages, blend: Sequence[float], device: torch.device) -> torch.Tensor:
    """The first level's start: the photo, the heaviest painting, or white noise (the paper's), in the run's
    colour mode (grey in luminance mode)."""
    if p.init == "content":
        return images.content.clone()
    if p.init == "style":
        heaviest = images.styles[max(range(len(images.styles)), key=lambda i: blend[i])]
        return resize_tensor(heaviest, images.content.shape[-2:], mode="bicubic").clamp_(0.0, 1.0)
    generator = torch.Generator().manual_seed(p.seed)  # CPU generator: same noise on every device
    noise = torch.rand(images.content.shape, generator=generator).to(device)
    return color.luminance(noise) if p.preserve_color == "luminance" else noise


def upsampled_start(coarse: torch.Tensor, images: LevelImages) -> torch.Tensor:
    """A later level's start: the coarse result's change to the photo, added to the photo at this level.

    A plain upsample of the coarse result is blurry: it lacks the photo's finest octave, which content init
    starts with, and it scores worse than a single level for tens of iterations (measured: bench/README.md,
    'research/schedule.py'). Adding only the coarse *change* (a Laplacian-pyramid transfer of the low
    frequencies) keeps the photo's detail at this level.
    """
    content = images.content
    photo_coarse = resize_tensor(content, coarse.shape[-2:], mode="bicubic")
    change = resize_tensor(coarse - photo_coarse, content.shape[-2:], mode="bicubic")
    return (content + change).clamp_(0.0, 1.0)
