"""The optimisation loop of Gatys et al. (2015): optimise the pixels, stream progress, stop when closed."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import torch
from PIL import Image

from . import color, cuda_tuning, lbfgs, losses
from .features import VGGFeatures
from .guard import MAX_RESTARTS, WARM_UP, BestIterate
from .images import MIN_SIDE, ImageInput, fit_long_side, load_image, to_pil, to_tensor
from .lbfgs import LBFGS
from .limits import check_fits
from .losses import content_loss, gram, style_loss, tv_loss
from .params import MAX_SIZE, VGG19_LAYERS, StyleParams
from .weights import VGGWeights, WeightsInput, resolve_weights

ADAM_LR = 0.02  # in 0-1 pixel units: about 5 grey levels per step at first

# Inert deep layers. With VGG19's weights as published (the paper normalised its copy so that every filter's
# mean activation is 1; nobody ships that copy), conv5_1's Gram term is ~1e-5 of the objective, yet computing it
# costs conv4_3, conv4_4 and conv5_1 forward and backward: a fifth of every iteration (measured: bench/README.md,
# 'research/terms.py'). So a style layer deeper than every
# content layer is left out of the objective being minimised while its term stays below INERT_FRACTION of the
# objective's value. Why the value: if f is what we minimise and h >= 0 the term left out, then at f's minimiser
# f + h exceeds its own minimum by at most h there, so the result can be worse by at most that fraction. (Its
# *gradient* is no guide: the objective's gradient shrinks towards 0 as the run converges, h's does not.)
# Checked on the 2nd evaluation and every INERT_RECHECK-th after it with one forward pass through the whole
# network (no extra backward: h is not part of what is minimised); the first failed check puts the layer back.
INERT_FRACTION = 1e-3
INERT_RECHECK = 25


@dataclass(frozen=True)
class Progress:
    """One progress event. The last event of a run has `done=True` and the result in `image`."""

    step: int  # iterations finished, counted over the whole run (1 ... total)
    total: int  # iterations the run will make
    losses: dict[str, float]  # total, content, style, tv: weighted terms of the objective at this step
    # (a deep style layer skipped as inert, see INERT_FRACTION, is left out of "style": < 0.1 % of it)
    image: Image.Image | None = None  # a preview on every `preview_every`-th step, the result when done
    done: bool = False
    elapsed: float = 0.0  # seconds since the run started
    size: tuple[int, int] = (0, 0)  # (width, height) of the image being optimised (this level's size)
    level: int = 0  # coarse-to-fine pyramid level of this event, 0 ... levels - 1 (see `scales`)
    levels: int = 1
    # times the run diverged, went back to its best iterate and restarted the optimiser (artstyle/guard.py)
    restarts: int = 0


def resolve_device(device: str) -> torch.device:
    """'auto' picks cuda, then mps, then cpu; an explicit device must exist."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: CUDA is not available on this machine; use 'auto' or 'cpu'")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) present")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps': Apple's Metal backend is not available here; use 'auto' or 'cpu'")
    return torch.device(device)


StyleInput = Union[ImageInput, Sequence[ImageInput]]


def stylize_iter(
    content: ImageInput,
    style: StyleInput,
    *,
    mask: ImageInput | None = None,
    params: StyleParams | None = None,
    weights: WeightsInput = None,
    **kwargs: Any,
) -> Iterator[Progress]:
    """Stylise `content` after `style`, yielding a `Progress` event per iteration.

    `style` is one image or a list of images (mixed by `style_blend`, or placed by `mask`). `mask` assigns
    each part of the output to one style: greyscale for two styles (black: the first, white: the second,
    grey: both), or for three or more styles that many flat colours, assigned to the styles from the
    darkest colour to the lightest. Images are arguments rather than `StyleParams` fields because params
    are small, hashable values that a CLI, a UI and a log can show.

    Keyword arguments are the fields of `StyleParams` (or pass `params=`); they are validated here, before
    any work starts, and images are loaded here too, so bad input raises `ValueError` at the call.
    Closing the returned generator (or dropping it) stops the optimisation and frees its tensors.
    """
    p = StyleParams.from_kwargs(params, **kwargs)
    device = resolve_device(p.device)
    inputs = _load_inputs(content, style, mask, p)
    check_fits(inputs.content.size, p, device)  # refuse now rather than be OOM-killed mid-run
    vgg = resolve_weights(weights)
    return _optimise(inputs, p, vgg, device)


def stylize(
    content: ImageInput,
    style: StyleInput,
    *,
    mask: ImageInput | None = None,
    params: StyleParams | None = None,
    weights: WeightsInput = None,
    **kwargs: Any,
) -> Image.Image:
    """Stylise `content` after `style` and return the result (see `stylize_iter`)."""
    result = None
    for event in stylize_iter(content, style, mask=mask, params=params, weights=weights, **kwargs):
        if event.done:
            result = event.image
    assert result is not None
    return result


def objective_terms(
    content: ImageInput,
    image: ImageInput,
    style: StyleInput,
    *,
    mask: ImageInput | None = None,
    params: StyleParams | None = None,
    weights: WeightsInput = None,
    **kwargs: Any,
) -> dict[str, float]:
    """The objective's weighted terms (total, content, style, tv) at `image`, in the paper's units.

    One evaluation at the content's size, no step: scores a finished picture (e.g. another program's output,
    resized to the content's size) by the objective a run with these parameters minimises.
    """
    p = StyleParams.from_kwargs(params, **kwargs)
    device = resolve_device(p.device)
    inputs = _load_inputs(content, style, mask, p)
    picture = load_image(image, name="image").resize(inputs.content.size, Image.Resampling.BICUBIC)
    model = VGGFeatures(resolve_weights(weights), (*p.content_layers, *p.style_layers), pooling=p.pooling).to(device)
    problem = _Problem(inputs, p.size, p, model, device, to_tensor(picture, device), p.steps)
    return problem.evaluate(problem.image.detach())


@dataclass(frozen=True)
class _Inputs:
    """The run's images, loaded and checked: content at `size`, styles at `style_scale * size`."""

    content: Image.Image
    styles: tuple[Image.Image, ...]
    blend: tuple[float, ...]  # one weight per style, summing to 1
    guides: torch.Tensor | None  # (1, K, H, W) region weights at the content's size, K = len(styles)


def _load_inputs(content: ImageInput, style: StyleInput, mask: ImageInput | None, p: StyleParams) -> _Inputs:
    sources = list(style) if isinstance(style, list | tuple) else [style]
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
        guides = _mask_guides(load_image(mask, name="mask"), content_image.size, len(sources))
    return _Inputs(content_image, styles, blend, guides)


def _check_fits(image: Image.Image, side: int, name: str, knob: str) -> None:
    w, h = image.size
    short = round(min(w, h) * side / max(w, h))
    if short < MIN_SIDE:
        raise ValueError(
            f"{name} would be {short} px on its short side at {side} px, below the {MIN_SIDE} px VGG19 needs: "
            f"raise {knob} or size"
        )


def _mask_guides(mask: Image.Image, size: tuple[int, int], regions: int) -> torch.Tensor:
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


class _IterateAverage:
    """Bias-corrected exponential moving average of the iterates (as in crowsonkb/style-transfer-pytorch).

    avg_t = sum_i d^(t-i) x_i / sum_i d^(t-i): the first average is the first iterate, not a blend with 0.
    """

    def __init__(self, decay: float) -> None:
        self.decay = decay
        self.norm = 0.0
        self.value: torch.Tensor | None = None

    def update(self, image: torch.Tensor) -> None:
        self.norm = self.decay * self.norm + 1.0
        if self.value is None:
            self.value = image.detach().clone()
        else:
            self.value.add_(image.detach() - self.value, alpha=1.0 / self.norm)


class _Problem:
    """One pyramid level: the network, the fixed targets, the image being optimised and its optimiser.

    Each level gets a fresh optimiser: L-BFGS's curvature pairs and Adam's moments are per-pixel and
    belong to the previous level's resolution, so they are dropped (the image itself carries over).
    """

    def __init__(
        self,
        inputs: _Inputs,
        side: int,
        p: StyleParams,
        model: VGGFeatures,
        device: torch.device,
        start: torch.Tensor | None,
        steps: int,
        *,
        lean: VGGFeatures | None = None,
    ) -> None:
        self.p = p
        self.model = model  # every layer: targets, and checks of the skipped layers
        # `lean` stops below the deep style layers that may be skipped (see INERT_FRACTION); None: none are.
        self.lean = lean
        self.skipped = tuple(k for k in p.style_layers if lean is not None and k not in lean.layers)
        self.steps = steps
        self.evaluations = 0
        self._restart = False
        self.blend = list(inputs.blend)
        self.content_rgb = to_tensor(fit_long_side(inputs.content, side), device)
        style_side = max(1, round(p.style_scale * side))
        styles = [to_tensor(fit_long_side(s, style_side), device) for s in inputs.styles]
        content = self.content_rgb
        if p.preserve_color == "luminance":  # Gatys et al. 2016, section 3: optimise luminance only
            content = color.luminance(self.content_rgb)
            styles = [color.match_luminance(s, self.content_rgb) for s in styles]
        elif p.preserve_color == "histogram":  # section 2: recolour the paintings to the photo's colours
            styles = [color.match_histogram(s, self.content_rgb) for s in styles]
        # Starting from the photo, the first iteration's forward pass *is* the photo's forward pass: its
        # content features are then taken from there (see `objective`), one forward pass less per run.
        shared_forward = start is None and p.init == "content" and inputs.guides is None
        self.content_targets: dict[str, torch.Tensor] | None = None
        with torch.no_grad():  # targets are computed once per level, without gradients
            if not shared_forward:
                features = self.model(content)
                self.content_targets = {k: v for k, v in features.items() if k in p.content_layers}
            style_grams = [self._style_grams(s) if w > 0 else None for s, w in zip(styles, self.blend, strict=True)]
            self.guides = None
            if inputs.guides is None:
                self.style_targets = {
                    k: losses.blended_gram([g[k] if g else None for g in style_grams], self.blend)
                    for k in p.style_layers
                }
            else:
                guides = _resize(inputs.guides.to(device), content.shape[-2:], mode="bilinear")
                self.guides = {k: losses.normalised_guides(guides, features[k]) for k in p.style_layers}
                self.style_targets = {k: [g[k] if g else None for g in style_grams] for k in p.style_layers}
        if start is None:
            first = styles[max(range(len(styles)), key=lambda i: self.blend[i])]  # the heaviest style
            init = _initial_image(p, content, first, device)
        else:
            init = _upsample_keeping_detail(start, content)
        self.image = init.requires_grad_(True)
        self.optimizer: torch.optim.Optimizer | None = None
        self._new_optimizer(steps)
        self.average = _IterateAverage(p.ema_decay) if p.ema_decay is not None else None
        self.losses: dict[str, float] = {}
        self.scale: float | None = None
        self.best = BestIterate()
        self.diverged = False  # this step's evaluation diverged: `step` goes back to the best iterate
        self.given_up = False  # diverged again after MAX_RESTARTS restarts: the level stops at its best
        self.chosen: torch.Tensor | None = None  # the level's output, once `finish` has picked it

    def _style_grams(self, style: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: gram(v) for k, v in self.model(style).items() if k in self.p.style_layers}

    def objective(self) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        self.evaluations += 1
        check = bool(self.skipped) and (self.evaluations == 2 or self.evaluations % INERT_RECHECK == 0)
        features = (self.lean if self.skipped and not check else self.model)(self.image)
        if self.content_targets is None:  # first step from the photo itself: these are the photo's features
            self.content_targets = {k: features[k].detach() for k in self.p.content_layers}
        total, terms = self._objective_at(features, self.image)
        # One read-back of all four terms per iteration: the only host-device sync in the loop on CUDA apart
        # from previews; our L-BFGS itself never waits for the device.
        self.losses = _read_back(terms)
        if self.scale is None:
            # In the paper's units the objective is ~1e10 with gradients to match, and float32 L-BFGS
            # diverges on them (its curvature pairs drown in rounding). Divide by the starting value: a
            # constant, so the minimiser and the reported losses are unchanged, and both optimisers see O(1).
            self.scale = 1.0 / max(self.losses["total"], 1e-12)
        self.optimizer_evaluations += 1
        self.diverged = self.best.diverged(self.losses, self.image, warming_up=self.optimizer_evaluations <= WARM_UP)
        if check:  # after the guard has seen this value: putting a layer back makes the guard forget it
            self._check_skipped(features, total)
        scaled = total * self.scale
        scaled.backward()  # the skipped term is not in `total`: autograd never visits the layers it needs
        return scaled

    def _objective_at(
        self, features: dict[str, torch.Tensor], image: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The objective minimised now (skipped layers left out) at `image`, whose `features` are given."""
        active = [k for k in self.p.style_layers if k not in self.skipped]
        return _loss(features, image, self.content_targets, self._style_term(features, active), self.p)

    def evaluate(self, image: torch.Tensor) -> dict[str, float]:
        """The objective's terms at `image`: one forward pass, no backward, nothing changed."""
        with torch.no_grad():
            return _read_back(self._objective_at((self.lean if self.skipped else self.model)(image), image)[1])

    def _check_skipped(self, features: dict[str, torch.Tensor], total: torch.Tensor) -> None:
        """Put the skipped layers back (from the next evaluation on) once their term exceeds INERT_FRACTION.

        This evaluation's gradient stays the one of the objective minimised so far, so L-BFGS's curvature
        pairs never mix two objectives; when the layers come back, `step` restarts L-BFGS after this step.
        """
        with torch.no_grad():
            skipped = sum(self._style_term(features, self.skipped).values()) * _style_layer_weight(self.p)
            # One host read per check (every INERT_RECHECK evaluations), not per iteration.
            if float(skipped) > INERT_FRACTION * float(total + skipped):
                self.skipped = ()
                self._restart = True
                self.best.forget()  # the objective gains a term: earlier values are not comparable

    def _style_term(self, features: dict[str, torch.Tensor], layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """E_l per style layer in `layers`: plain Gram loss against the blended target, or guided per region."""
        if self.guides is None:
            return {k: style_loss(gram(features[k]), self.style_targets[k]) for k in layers}
        return {
            k: losses.guided_style_loss(features[k], self.guides[k], self.style_targets[k], self.blend) for k in layers
        }

    def step(self) -> None:
        self.optimizer.step(self.objective)  # L-BFGS clamps to [0, 1] itself
        if self.diverged:
            self._go_back_to_best()
            return
        if self._restart:  # a skipped layer came back: the objective changed
            self._restart = False
            if self.p.optimizer == "lbfgs":  # its curvature pairs describe the old objective; Adam's moments don't
                self._new_optimizer(self.steps - self.evaluations)
        if self.p.optimizer == "adam":
            with torch.no_grad():
                self.image.clamp_(0.0, 1.0)  # keep pixels displayable; Adam overshoots
        if self.average is not None:
            self.average.update(self.image)

    def _new_optimizer(self, steps: int) -> None:
        """A fresh optimiser for the `steps` left: no curvature pairs, no Adam moments, a new WARM_UP."""
        self.optimizer = None  # free the old history before the new one is allocated
        self.optimizer = _make_optimizer(self.p, self.image, steps)
        self.optimizer_evaluations = 0  # evaluations since this optimiser was made (guard.WARM_UP)

    def _go_back_to_best(self) -> None:
        """Divergence (artstyle/guard.py): the best iterate, a fresh optimiser (no curvature pairs, no Adam
        moments) and a fresh average; or, after MAX_RESTARTS, the best iterate and the end of this level."""
        self.diverged = False
        if self.best.image is None:  # the very first evaluation was not finite: there is nothing to go back to
            self.given_up = True
            return
        with torch.no_grad():
            self.image.copy_(self.best.image)
        if self.best.restarts >= MAX_RESTARTS:
            self.given_up = True
            return
        self.best.restarts += 1
        self._new_optimizer(self.steps - self.evaluations)
        if self.average is not None:
            self.average = _IterateAverage(self.p.ema_decay)

    def finish(self) -> None:
        """Pick the level's output: the last iterate (or the average, with `ema`) unless the best evaluated
        iterate's objective is lower. One more forward pass, no backward: the last step's point was never
        evaluated. Afterwards `losses` are the output's."""
        candidate = self.result()
        losses = self.evaluate(candidate)
        if self.best.better_than(losses["total"]):
            candidate, losses = self.best.image, self.best.losses
        self.chosen, self.losses = candidate, losses

    def result(self) -> torch.Tensor:
        """The level's current output: the iterate, or its running average when `ema` is on."""
        if self.chosen is not None:
            return self.chosen
        if self.average is not None and self.average.value is not None:
            return self.average.value
        return self.image.detach()

    def picture(self) -> Image.Image:
        """The output as the user sees it: with the photo's chroma put back in luminance mode."""
        image = self.result()
        if self.p.preserve_color == "luminance":
            image = color.recombine_luminance(image, self.content_rgb)
        return to_pil(image)


def _upsample_keeping_detail(coarse: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The next level's start: the coarse result's change to the photo, added to the photo at this level.

    A plain upsample of the coarse result is blurry: it lacks the photo's finest octave, which content init
    starts with, and it scores worse than a single level for tens of iterations (measured: bench/README.md,
    'research/schedule.py'). Adding only the coarse *change* (a Laplacian-pyramid transfer of the low
    frequencies) keeps the photo's detail at this level.
    """
    photo_coarse = _resize(content, coarse.shape[-2:], mode="bicubic")
    change = _resize(coarse - photo_coarse, content.shape[-2:], mode="bicubic")
    return (content + change).clamp_(0.0, 1.0)


def _resize(image: torch.Tensor, size: torch.Size, *, mode: str) -> torch.Tensor:
    if image.shape[-2:] == size:
        return image.clone()
    return torch.nn.functional.interpolate(image, size=tuple(size), mode=mode, align_corners=False, antialias=True)


def _optimise(inputs: _Inputs, p: StyleParams, vgg: VGGWeights, device: torch.device) -> Iterator[Progress]:
    start = time.perf_counter()
    sides, level_steps = p.level_sizes(), p.level_steps()
    total = sum(level_steps)
    model: VGGFeatures | None = VGGFeatures(vgg, (*p.content_layers, *p.style_layers), pooling=p.pooling).to(device)
    model = cuda_tuning.tune(model, device)  # the ARTSTYLE_* CUDA switches; unchanged on other devices
    skippable = _skippable_layers(p)
    # The lean network shares the full one's modules: the weights are on the device once.
    lean = (
        model.subnetwork((*p.content_layers, *(k for k in p.style_layers if k not in skippable))) if skippable else None
    )
    problem: _Problem | None = None
    previous: torch.Tensor | None = None
    step = restarts = 0
    try:
        for level, (side, count) in enumerate(zip(sides, level_steps, strict=True)):
            problem = _Problem(inputs, side, p, model, device, previous, count, lean=lean)
            i = 0
            while i < count:
                problem.step()
                # a level the guard gave up on ends here, at its best iterate
                advance = count - i if problem.given_up else 1
                i, step = i + advance, step + advance
                done = step == total
                if i == count:
                    problem.finish()
                # Previews on step 1 (the user sees a picture after setup + one iteration, not after
                # preview_every iterations), on every preview_every-th
                # step, and at the end of each level, so even a level shorter than preview_every shows one.
                preview = done or (p.preview_every > 0 and (step == 1 or step % p.preview_every == 0 or i == count))
                yield Progress(
                    step=step,
                    total=total,
                    losses=problem.losses,
                    image=problem.picture() if preview else None,
                    done=done,
                    elapsed=time.perf_counter() - start,
                    size=(problem.image.shape[-1], problem.image.shape[-2]),
                    level=level,
                    levels=len(sides),
                    restarts=restarts + problem.best.restarts,
                )
            restarts += problem.best.restarts
            previous = problem.result().detach()
            problem = None  # free this level's tensors before the next level allocates its own
    finally:
        # Runs on completion and on close()/GeneratorExit: release the run's tensors now, not at GC.
        problem = model = lean = previous = None
        if device.type == "cuda":
            torch.cuda.empty_cache()


def _skippable_layers(p: StyleParams) -> tuple[str, ...]:
    """Style layers deeper than every content layer: skipping them shortens the network (see INERT_FRACTION).

    Only when both terms are on and some style layer stays: a style-only or content-only run (the paper's
    reconstructions) and a run whose every style layer is deep are left exactly as asked.
    """
    if not p.content_layers or p.content_weight == 0 or p.style_weight == 0:
        return ()
    deepest_content = max(VGG19_LAYERS.index(k) for k in p.content_layers)
    deep = tuple(k for k in p.style_layers if VGG19_LAYERS.index(k) > deepest_content)
    return deep if len(deep) < len(p.style_layers) else ()


def _style_layer_weight(p: StyleParams) -> float:
    """beta * w_l, the weight of each style layer's E_l in the objective: w_l = 1 / (number of style layers)."""
    return p.style_weight / max(1, len(p.style_layers))


def _loss(
    features: dict[str, torch.Tensor],
    image: torch.Tensor,
    content_targets: dict[str, torch.Tensor],
    style_terms: dict[str, torch.Tensor],
    p: StyleParams,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """alpha * L_content + beta * L_style (+ TV), eq. 7 of the paper; layer weights w_l = 1/|layers|."""
    zero = image.new_zeros(())
    pixels = image.shape[-1] * image.shape[-2]
    content = sum((content_loss(features[k], t, pixels=pixels) for k, t in content_targets.items()), zero)
    style = sum(style_terms.values(), zero)
    terms = {
        "content": p.content_weight * content / max(1, len(content_targets)),
        # w_l = 1 / (all style layers), also while an inert layer is skipped (its term is then left out)
        "style": _style_layer_weight(p) * style,
        "tv": p.tv_weight * tv_loss(image) if p.tv_weight else zero,
    }
    total = terms["content"] + terms["style"] + terms["tv"]
    return total, {"total": total.detach(), **{k: v.detach() for k, v in terms.items()}}


def _read_back(terms: dict[str, torch.Tensor]) -> dict[str, float]:
    """The terms as host floats, in one transfer (`.tolist()` of one stacked tensor): one sync, not four."""
    return dict(zip(terms, torch.stack(list(terms.values())).tolist(), strict=True))


def _initial_image(p: StyleParams, content: torch.Tensor, style: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The first level's start. `content` and `style` are already in the run's colour mode (grey in luminance)."""
    if p.init == "content":
        return content.clone()
    if p.init == "style":
        return _resize(style, content.shape[-2:], mode="bicubic").clamp_(0.0, 1.0)
    generator = torch.Generator().manual_seed(p.seed)  # CPU generator: same noise on every device
    noise = torch.rand(content.shape, generator=generator).to(device)
    return color.luminance(noise) if p.preserve_color == "luminance" else noise


def _make_optimizer(p: StyleParams, image: torch.Tensor, steps: int) -> torch.optim.Optimizer:
    if p.optimizer == "adam":
        return torch.optim.Adam([image], lr=p.lr if p.lr is not None else ADAM_LR)
    # One iteration per step() call so that every iteration yields an event (and can be cancelled); the
    # history lives in the optimiser between calls, so this is the same algorithm as one long call. A level
    # of k < 100 iterations can never hold more than k pairs: its buffers are sized for that.
    # Pixels are clamped to [0, 1] after each step, as in the PyTorch tutorial. Clamping inside the objective
    # instead saved no iterations (measured: bench/README.md, 'research/optimizers.py') and strands pixels
    # outside the box for good (their gradient is 0): reconstructions from noise kept stuck black and white pixels.
    history = max(1, min(lbfgs.HISTORY, steps))
    return LBFGS(image, lr=p.lr if p.lr is not None else 1.0, history=history, lower=0.0, upper=1.0)
