"""The optimisation loop of Gatys et al. (2015): optimise the pixels, stream progress, stop when closed."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from .features import VGGFeatures
from .images import ImageInput, fit_long_side, load_image, to_pil, to_tensor
from .limits import check_fits
from .losses import content_loss, gram, style_loss, tv_loss
from .params import StyleParams
from .weights import VGGWeights, cached_weights

WeightsInput = VGGWeights | str | os.PathLike | None
ADAM_LR = 0.02  # in 0-1 pixel units: about 5 grey levels per step at first


@dataclass(frozen=True)
class Progress:
    """One progress event. The last event of a run has `done=True` and the result in `image`."""

    step: int  # iterations finished, counted over the whole run (1 ... total)
    total: int  # iterations the run will make
    losses: dict[str, float]  # total, content, style, tv: weighted terms of the objective at this step
    image: Image.Image | None = None  # a preview on every `preview_every`-th step, the result when done
    done: bool = False
    elapsed: float = 0.0  # seconds since the run started
    size: tuple[int, int] = (0, 0)  # (width, height) of the image being optimised
    meta: dict[str, Any] = field(default_factory=dict)


def resolve_device(device: str) -> torch.device:
    """'auto' picks cuda, then mps, then cpu; an explicit device must exist."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: CUDA is not available on this machine; use 'auto' or 'cpu'")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) present")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps': Apple's Metal backend is not available here; use 'auto' or 'cpu'")
    return torch.device(device)


def stylize_iter(
    content: ImageInput,
    style: ImageInput,
    *,
    params: StyleParams | None = None,
    weights: WeightsInput = None,
    **kwargs: Any,
) -> Iterator[Progress]:
    """Stylise `content` after `style`, yielding a `Progress` event per iteration.

    Keyword arguments are the fields of `StyleParams` (or pass `params=`); they are validated here, before
    any work starts, and images are loaded here too, so bad input raises `ValueError` at the call.
    Closing the returned generator (or dropping it) stops the optimisation and frees its tensors.
    """
    p = StyleParams.from_kwargs(params, **kwargs)
    device = resolve_device(p.device)
    content_image = fit_long_side(load_image(content, name="content"), p.size, name="content")
    style_image = fit_long_side(load_image(style, name="style"), p.size, name="style")
    check_fits(content_image.size, p, device)  # refuse now rather than be OOM-killed mid-run
    vgg = weights if isinstance(weights, VGGWeights) else cached_weights(weights)
    return _optimise(content_image, style_image, p, vgg, device)


def stylize(
    content: ImageInput,
    style: ImageInput,
    *,
    params: StyleParams | None = None,
    weights: WeightsInput = None,
    **kwargs: Any,
) -> Image.Image:
    """Stylise `content` after `style` and return the result (see `stylize_iter`)."""
    result = None
    for event in stylize_iter(content, style, params=params, weights=weights, **kwargs):
        if event.done:
            result = event.image
    assert result is not None
    return result


class _Problem:
    """One optimisation: the network, the fixed targets, the image being optimised and its optimiser."""

    def __init__(
        self,
        content_image: Image.Image,
        style_image: Image.Image,
        p: StyleParams,
        vgg: VGGWeights,
        device: torch.device,
    ) -> None:
        self.p = p
        self.model = VGGFeatures(vgg, (*p.content_layers, *p.style_layers), pooling=p.pooling).to(device)
        content = to_tensor(content_image, device)
        with torch.no_grad():  # targets are computed once, without gradients
            self.content_targets = {k: v for k, v in self.model(content).items() if k in p.content_layers}
            style = self.model(to_tensor(style_image, device))
            self.style_targets = {k: gram(v) for k, v in style.items() if k in p.style_layers}
        self.image = _initial_image(p, content, style_image, device).requires_grad_(True)
        self.optimizer = _make_optimizer(p, self.image)
        self.losses: dict[str, float] = {}
        self.scale: float | None = None

    def objective(self) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        total, terms = _loss(self.model(self.image), self.image, self.content_targets, self.style_targets, self.p)
        self.losses = {name: float(value) for name, value in terms.items()}
        if self.scale is None:
            # In the paper's units the objective is ~1e10 with gradients to match, and float32 L-BFGS
            # diverges on them (its curvature pairs drown in rounding). Divide by the starting value: a
            # constant, so the minimiser and the reported losses are unchanged, and both optimisers see O(1).
            self.scale = 1.0 / max(self.losses["total"], 1e-12)
        scaled = total * self.scale
        scaled.backward()
        return scaled

    def step(self) -> None:
        self.optimizer.step(self.objective)
        with torch.no_grad():
            self.image.clamp_(0.0, 1.0)  # keep pixels displayable; L-BFGS and Adam both overshoot


def _optimise(
    content_image: Image.Image, style_image: Image.Image, p: StyleParams, vgg: VGGWeights, device: torch.device
) -> Iterator[Progress]:
    start = time.perf_counter()
    problem: _Problem | None = _Problem(content_image, style_image, p, vgg, device)
    try:
        for step in range(1, p.steps + 1):
            problem.step()
            done = step == p.steps
            preview = done or (p.preview_every > 0 and step % p.preview_every == 0)
            yield Progress(
                step=step,
                total=p.steps,
                losses=problem.losses,
                image=to_pil(problem.image) if preview else None,
                done=done,
                elapsed=time.perf_counter() - start,
                size=content_image.size,
            )
    finally:
        # Runs on completion and on close()/GeneratorExit: release the run's tensors now, not at GC.
        problem = None
        if device.type == "cuda":
            torch.cuda.empty_cache()


def _loss(
    features: dict[str, torch.Tensor],
    image: torch.Tensor,
    content_targets: dict[str, torch.Tensor],
    style_targets: dict[str, torch.Tensor],
    p: StyleParams,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """alpha * L_content + beta * L_style (+ TV), eq. 7 of the paper; layer weights w_l = 1/|layers|."""
    zero = image.new_zeros(())
    pixels = image.shape[-1] * image.shape[-2]
    content = sum((content_loss(features[k], t, pixels=pixels) for k, t in content_targets.items()), zero)
    style = sum((style_loss(gram(features[k]), t) for k, t in style_targets.items()), zero)
    terms = {
        "content": p.content_weight * content / max(1, len(content_targets)),
        "style": p.style_weight * style / max(1, len(style_targets)),
        "tv": p.tv_weight * tv_loss(image) if p.tv_weight else zero,
    }
    total = terms["content"] + terms["style"] + terms["tv"]
    return total, {"total": total.detach(), **{k: v.detach() for k, v in terms.items()}}


def _initial_image(
    p: StyleParams, content: torch.Tensor, style_image: Image.Image, device: torch.device
) -> torch.Tensor:
    if p.init == "content":
        return content.clone()
    if p.init == "style":
        h, w = content.shape[-2:]
        return to_tensor(style_image.resize((w, h), Image.Resampling.BICUBIC), device)
    generator = torch.Generator().manual_seed(p.seed)  # CPU generator: same noise on every device
    return torch.rand(content.shape, generator=generator).to(device)


def _make_optimizer(p: StyleParams, image: torch.Tensor) -> torch.optim.Optimizer:
    if p.optimizer == "adam":
        return torch.optim.Adam([image], lr=p.lr if p.lr is not None else ADAM_LR)
    # One iteration per step() call so that every iteration yields an event (and can be cancelled);
    # L-BFGS keeps its history in its state between calls, so this is the same algorithm as one long call.
    # Tolerances 0: the default ones stop early on the small loss values of small images.
    return torch.optim.LBFGS(
        [image],
        lr=p.lr if p.lr is not None else 1.0,
        max_iter=1,
        history_size=100,
        tolerance_grad=0.0,
        tolerance_change=0.0,
    )
