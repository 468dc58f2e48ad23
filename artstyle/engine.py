"""The optimisation of Gatys et al. (2015) from a caller's side: stream progress, stop when closed.

`stylize_iter` checks and loads everything, then runs the pyramid levels (one level: the paper's single-scale
run); each level is an `Objective` (artstyle/objective.py) minimised by a `LevelSolver` (artstyle/solver.py).
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

import torch
from PIL import Image

from . import cuda_tuning
from .features import VGGFeatures
from .images import ImageInput, load_image, to_tensor
from .inputs import LevelImages, RunInputs, StyleInput, initial_image, load_inputs, upsampled_start
from .limits import check_fits
from .objective import Objective, skippable_layers
from .params import StyleParams
from .presets import resolve_styles, with_recommended
from .progress import Losses, Progress
from .solver import LevelSolver, Parts
from .statistics import statistic
from .weights import VGGWeights, WeightsInput, resolve_weights


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


def stylize_iter(
    content: ImageInput,
    style: StyleInput,
    *,
    mask: ImageInput | None = None,
    params: StyleParams | None = None,
    weights: WeightsInput = None,
    parts: Parts | None = None,
    **kwargs: Any,
) -> Generator[Progress, None, None]:
    """Stylise `content` after `style`, yielding a `Progress` event per iteration.

    `style` is one image or a list of images (mixed by `style_blend`, or placed by `mask`); a preset's id (or
    "preset:ID" where a file of that name exists) stands for its painting, fetched and cached on first use, and
    brings the preset's recommended settings wherever a field is left at its default. `mask` assigns
    each part of the output to one style: greyscale for two styles (black: the first, white: the second,
    grey: both), or for three or more styles that many flat colours, assigned to the styles from the
    darkest colour to the lightest. Images are arguments rather than `StyleParams` fields because params
    are small, hashable values that a CLI, a UI and a log can show.

    Keyword arguments are the fields of `StyleParams` (or pass `params=`); they are validated here, before
    any work starts, and images are loaded here too, so bad input raises `ValueError` at the call.
    `parts` swaps the optimiser or the divergence guard for the caller's own (artstyle.solver.Parts).
    Closing the returned generator (or dropping it) stops the optimisation and frees its tensors.
    """
    styles, presets = resolve_styles(style)
    p = with_recommended(StyleParams.from_kwargs(params, **kwargs), presets, explicit=kwargs)
    device = resolve_device(p.device)
    inputs = load_inputs(content, styles, mask, p)
    check_fits(inputs.content.size, p, device)  # refuse now rather than be OOM-killed mid-run
    vgg = resolve_weights(weights)
    return _optimise(inputs, p, vgg, device, parts if parts is not None else Parts())


def stylize(
    content: ImageInput,
    style: StyleInput,
    *,
    mask: ImageInput | None = None,
    params: StyleParams | None = None,
    weights: WeightsInput = None,
    parts: Parts | None = None,
    **kwargs: Any,
) -> Image.Image:
    """Stylise `content` after `style` and return the result (see `stylize_iter`)."""
    result = None
    for event in stylize_iter(content, style, mask=mask, params=params, weights=weights, parts=parts, **kwargs):
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
) -> Losses:
    """The objective's weighted terms at `image`, in the paper's units, with every style layer counted.

    One evaluation at the content's size, no step: scores a finished picture (e.g. another program's output,
    resized to the content's size) by the objective a run with these parameters minimises.
    """
    styles, presets = resolve_styles(style)
    p = with_recommended(StyleParams.from_kwargs(params, **kwargs), presets, explicit=kwargs)
    device = resolve_device(p.device)
    inputs = load_inputs(content, styles, mask, p)
    picture = load_image(image, name="image").resize(inputs.content.size, Image.Resampling.BICUBIC)
    model = VGGFeatures(resolve_weights(weights), (*p.content_layers, *p.style_layers), pooling=p.pooling).to(device)
    images = LevelImages.at(inputs, p.size, p, device)
    objective = Objective(images, inputs.blend, inputs.guides, p, model, statistic(p.style_loss, seed=p.seed))
    return objective.losses_at(to_tensor(picture, device))


def _optimise(
    inputs: RunInputs, p: StyleParams, vgg: VGGWeights, device: torch.device, parts: Parts
) -> Generator[Progress, None, None]:
    start = time.perf_counter()
    sides, level_steps = p.level_sizes(), p.level_steps()
    total = sum(level_steps)
    model = cuda_tuning.tune(  # the ARTSTYLE_* CUDA switches; unchanged on other devices
        VGGFeatures(vgg, (*p.content_layers, *p.style_layers), pooling=p.pooling).to(device), device
    )
    skippable = skippable_layers(p) if parts.skip_inert else ()
    # The lean network shares the full one's modules: the weights are on the device once.
    lean = (
        model.subnetwork((*p.content_layers, *(k for k in p.style_layers if k not in skippable))) if skippable else None
    )
    solver: LevelSolver | None = None
    previous: torch.Tensor | None = None
    step = restarts = 0
    try:
        for level, (side, count) in enumerate(zip(sides, level_steps, strict=True)):
            images = LevelImages.at(inputs, side, p, device)
            # Starting from the photo, the first iteration's forward pass *is* the photo's forward pass: the
            # objective takes its content targets from there, one forward pass less per run.
            from_photo = previous is None and p.init == "content" and inputs.guides is None
            objective = Objective(
                images, inputs.blend, inputs.guides, p, model, statistic(p.style_loss, seed=p.seed), lean=lean,
                content_from_first_evaluation=from_photo, inert_recheck=parts.inert_recheck,
            )  # fmt: skip
            begin = (
                initial_image(p, images, inputs.blend, device)
                if previous is None
                else upsampled_start(previous, images)
            )
            solver = LevelSolver(objective, begin, count, p, parts)
            i = 0
            while i < count:
                solver.step()
                advance = count - i if solver.given_up else 1  # a level the guard gave up on ends here, at its best
                i, step = i + advance, step + advance
                done = step == total
                if i == count:
                    solver.finish()
                # Previews on step 1 (the user sees a picture after setup + one iteration, not after
                # preview_every iterations), on every preview_every-th step, and at the end of each level,
                # so even a level shorter than preview_every shows one.
                preview = done or (p.preview_every > 0 and (step == 1 or step % p.preview_every == 0 or i == count))
                yield Progress(
                    step=step,
                    total=total,
                    losses=solver.output_losses(),
                    image=images.picture(solver.result()) if preview else None,
                    done=done,
                    elapsed=time.perf_counter() - start,
                    size=(solver.image.shape[-1], solver.image.shape[-2]),
                    level=level,
                    levels=len(sides),
                    restarts=restarts + solver.restarts,
                )
            restarts += solver.restarts
            previous = solver.result().detach()
            solver = None  # free this level's tensors before the next level's
            del objective
    finally:
        # Runs on completion and on close()/GeneratorExit: release the run's tensors now, not at GC.
        del model, lean
        solver = previous = None
        if device.type == "cuda":
            torch.cuda.empty_cache()
