"""The objective of one pyramid level: alpha * L_content + beta * L_style (+ TV) (Gatys et al. 2015, eq. 7).

It holds the targets (the photo's features, the paintings' statistics), computes the terms of one evaluation,
and leaves out an inert deep style layer while it stays inert (below). What the style term matches is a
`StyleStatistic` (artstyle/statistics.py): the paper's Gram matrices by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from . import losses
from .features import VGGFeatures
from .images import resize_tensor
from .inputs import LevelImages
from .params import VGG19_LAYERS, StyleParams
from .progress import Losses
from .statistics import GramStatistic, StyleStatistic

# Inert deep layers. With VGG19's weights as published (the paper normalised its copy so that every filter's
# mean activation is 1; nobody ships that copy), conv5_1's Gram term is ~1e-5 of the objective, yet computing it
# costs conv4_3, conv4_4 and conv5_1 forward and backward: a fifth of every iteration (measured: bench/README.md,
# 'research/terms.py'). So a style layer deeper than every content layer is left out of the objective being
# minimised while its term stays below INERT_FRACTION of the objective's value. Why the value: if f is what we
# minimise and h >= 0 the term left out, then at f's minimiser f + h exceeds its own minimum by at most h there,
# so the result can be worse by at most that fraction. (Its *gradient* is no guide: the objective's gradient
# shrinks towards 0 as the run converges, h's does not.) Checked on the 2nd evaluation and every
# INERT_RECHECK-th after it with one forward pass through the whole network (no extra backward: h is not part of
# what is minimised); the first failed check puts the layer back.
INERT_FRACTION = 1e-3
INERT_RECHECK = 25


def skippable_layers(p: StyleParams) -> tuple[str, ...]:
    """Style layers deeper than every content layer: skipping them shortens the network (see INERT_FRACTION).

    Only when both terms are on and some style layer stays: a style-only or content-only run (the paper's
    reconstructions) and a run whose every style layer is deep are left exactly as asked.
    """
    if not p.content_layers or p.content_weight == 0 or p.style_weight == 0:
        return ()
    deepest_content = max(VGG19_LAYERS.index(k) for k in p.content_layers)
    deep = tuple(k for k in p.style_layers if VGG19_LAYERS.index(k) > deepest_content)
    return deep if len(deep) < len(p.style_layers) else ()


def style_layer_weight(p: StyleParams) -> float:
    """beta * w_l, the weight of each style layer's E_l in the objective: w_l = 1 / (number of style layers)."""
    return p.style_weight / max(1, len(p.style_layers))


def _strengths(
    statistic: StyleStatistic,
    photo: dict[str, torch.Tensor],
    paintings: list[tuple[dict[str, torch.Tensor], float]],
    targets: dict[str, Any],
    layers: Sequence[str],
) -> dict[str, float]:
    """Per style layer, the factor that makes `statistic`'s distance from the photo to the painting(s) equal the
    paper's Gram term E_l there. Departure: so that `style_weight` (and each preset's) means for every statistic
    what it means for the paper's, whatever the statistic's units and whatever the weights file's activation
    scale; the statistic then decides *what* is matched, not how hard (docs/statistics.md)."""
    gram = GramStatistic()
    scales = {}
    for k in layers:
        gram_target = gram.blend([gram.target(f[k]) for f, _ in paintings], [w for _, w in paintings])
        reference = float(gram.distance(photo[k], gram_target))
        own = float(statistic.distance(photo[k], targets[k]))
        scales[k] = reference / own if own > 0 and reference > 0 else 1.0
    return scales


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of the objective: the value being minimised (with its graph), its terms read back to the
    host, and the features it was computed from."""

    total: torch.Tensor
    losses: Losses
    features: dict[str, torch.Tensor]
    checks_skipped: bool  # computed through the whole network, to check the skipped layers (put_back_inert)


class Objective:
    """The targets of one level and the terms of an evaluation. Styles of weight 0 are never computed."""

    def __init__(
        self,
        images: LevelImages,
        blend: Sequence[float],
        guides: torch.Tensor | None,
        p: StyleParams,
        model: VGGFeatures,
        statistic: StyleStatistic,
        *,
        lean: VGGFeatures | None = None,
        content_from_first_evaluation: bool = False,
        inert_recheck: int = INERT_RECHECK,
    ) -> None:
        """`model` computes every layer (targets, checks); `lean` stops below the deep style layers that may be
        skipped (None: none are). `content_from_first_evaluation`: the first image evaluated is the photo
        itself (content init), so its forward pass gives the content targets: one forward pass less per run.
        `guides` (1, K, H, W), one channel per style, place each style in its own region (Gatys et al. 2017)."""
        self.p, self.model, self.lean, self.statistic = p, model, lean, statistic
        self.blend = list(blend)
        self.skipped = tuple(k for k in p.style_layers if lean is not None and k not in lean.layers)
        self.inert_recheck = inert_recheck
        self.evaluations = 0
        self.content_targets: dict[str, torch.Tensor] | None = None
        self.guides: dict[str, list[torch.Tensor | None]] | None = None
        # A statistic other than the paper's is scaled per layer to the Gram term's size (`_strengths`), which
        # needs the photo's features: its forward pass is then made here in any case.
        from_gram = isinstance(statistic, GramStatistic)
        with torch.no_grad():  # targets are computed once per level, without gradients
            photo = None if content_from_first_evaluation and from_gram else model(images.content)
            if photo is not None:
                self.content_targets = {k: v for k, v in photo.items() if k in p.content_layers}
            painted = [
                self._style_features(s) if w > 0 else None for s, w in zip(images.styles, self.blend, strict=True)
            ]
            per_style = [{k: statistic.target(f[k]) for k in p.style_layers} if f else None for f in painted]
            used = [(t, w) for t, w in zip(per_style, self.blend, strict=True) if t is not None]
            blended = {k: statistic.blend([t[k] for t, _ in used], [w for _, w in used]) for k in p.style_layers}
            self.layer_scale: dict[str, float] | None = None
            if not from_gram:
                assert photo is not None
                paintings = [(f, w) for f, w in zip(painted, self.blend, strict=True) if f is not None]
                self.layer_scale = _strengths(statistic, photo, paintings, blended, p.style_layers)
            if guides is None:
                self.style_targets: dict[str, Any] = blended
            else:
                assert photo is not None  # guides: never the shared first forward pass (see engine)
                guides = resize_tensor(guides.to(images.content.device), images.content.shape[-2:], mode="bilinear")
                self.guides = {k: losses.normalised_guides(guides, photo[k]) for k in p.style_layers}
                self.style_targets = {k: [t[k] if t else None for t in per_style] for k in p.style_layers}

    def _style_features(self, style: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.model(style).items() if k in self.p.style_layers}

    def evaluate(self, image: torch.Tensor) -> Evaluation:
        """The objective being minimised at `image`, ready for `.backward()`; counts as one evaluation."""
        self.evaluations += 1
        check = bool(self.skipped) and (self.evaluations == 2 or self.evaluations % self.inert_recheck == 0)
        features = self._network(whole=check)(image)
        if self.content_targets is None:  # the first evaluation, of the photo itself: these are its features
            self.content_targets = {k: features[k].detach() for k in self.p.content_layers}
        total, terms = self._terms(features, image)
        # One read-back of all four terms per evaluation: the only host-device sync of a step on CUDA apart
        # from previews; our L-BFGS itself never waits for the device.
        return Evaluation(total, Losses.read_back(*terms), features, check)

    def losses_at(self, image: torch.Tensor) -> Losses:
        """The terms of the objective being minimised at `image`: one forward pass, no backward, not counted."""
        with torch.no_grad():
            return Losses.read_back(*self._terms(self._network(whole=False)(image), image)[1])

    def _network(self, *, whole: bool) -> VGGFeatures:
        """The lean network while a layer is skipped, unless the `whole` one is asked for (a check)."""
        return self.lean if self.skipped and not whole and self.lean is not None else self.model

    def put_back_inert(self, evaluation: Evaluation) -> bool:
        """After a check: put the skipped layers back (from the next evaluation on) if their term now exceeds
        INERT_FRACTION of the objective. True when it did: the objective being minimised has changed.

        The checking evaluation's own gradient stays the one of the objective minimised so far, so L-BFGS's
        curvature pairs never mix two objectives.
        """
        if not evaluation.checks_skipped:
            return False
        with torch.no_grad():
            skipped = sum(self._style_terms(evaluation.features, self.skipped).values()) * style_layer_weight(self.p)
            # One host read per check (every inert_recheck evaluations), not per iteration.
            if not float(skipped) > INERT_FRACTION * float(evaluation.total + skipped):
                return False
        self.skipped = ()
        return True

    def _terms(
        self, features: dict[str, torch.Tensor], image: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """alpha * L_content + beta * L_style (+ TV), eq. 7 of the paper; layer weights w_l = 1/|layers|.

        Returns the total (with its graph) and the detached (total, content, style, tv)."""
        assert self.content_targets is not None
        p, zero = self.p, image.new_zeros(())
        pixels = image.shape[-1] * image.shape[-2]
        active = [k for k in p.style_layers if k not in self.skipped]
        content = sum(
            (losses.content_loss(features[k], t, pixels=pixels) for k, t in self.content_targets.items()), zero
        )
        style = sum(self._style_terms(features, active).values(), zero)
        content_term = p.content_weight * content / max(1, len(self.content_targets))
        # w_l = 1 / (all style layers), also while an inert layer is skipped (its term is then left out)
        style_term = style_layer_weight(p) * style
        tv_term = p.tv_weight * losses.tv_loss(image) if p.tv_weight else zero
        total = content_term + style_term + tv_term
        return total, (total.detach(), content_term.detach(), style_term.detach(), tv_term.detach())

    def _style_terms(self, features: dict[str, torch.Tensor], layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """E_l per style layer in `layers`: against the blended target, or per region against each style's."""
        distance = self.statistic.distance
        if self.guides is None:
            terms = {k: distance(features[k], self.style_targets[k]) for k in layers}
        else:
            terms = self._guided_terms(features, layers)
        if self.layer_scale is not None:
            terms = {k: v * self.layer_scale[k] for k, v in terms.items()}
        return terms

    def _guided_terms(self, features: dict[str, torch.Tensor], layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """Sum_r w_r E_l(region r, style r): each region of the picture against its own style (Gatys et al. 2017)."""
        assert self.guides is not None
        distance = self.statistic.distance
        return {
            k: sum(
                (
                    w * distance(features[k], a, t)
                    for t, a, w in zip(self.guides[k], self.style_targets[k], self.blend, strict=True)
                    if t is not None and w > 0
                ),
                features[k].new_zeros(()),
            )
            for k in layers
        }
