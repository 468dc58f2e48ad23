"""Style statistics: what of a painting's features the picture must match at each style layer.

Gatys et al. (2015) match the Gram matrix of each layer's features (`GramStatistic`). A statistic is one small
part behind `StyleStatistic`: the painting's target at a layer, the blend of several paintings' targets (in the
statistic's own space), and the distance from a picture's features to a target, optionally over one region of
the picture (spatial control, Gatys et al. 2017). A new statistic is one new subclass and one entry in
`STATISTICS`; the objective, the solver and every control work with it unchanged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from . import losses


class StyleStatistic(ABC):
    """One style statistic. Targets are whatever the statistic needs (tensors, tuples of tensors)."""

    name: ClassVar[str]

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed  # for a statistic that draws random numbers (SlicedStatistic's directions)

    @abstractmethod
    def target(self, features: torch.Tensor) -> Any:
        """The painting's statistic of one layer's features (1, N, H, W); computed once per level, no gradient."""

    @abstractmethod
    def blend(self, targets: Sequence[Any], weights: Sequence[float]) -> Any:
        """Several paintings' targets mixed with `weights` (positive, summing to 1): one target."""

    @abstractmethod
    def distance(self, features: torch.Tensor, target: Any, region: torch.Tensor | None = None) -> torch.Tensor:
        """E_l: how far the picture's features (1, N, H, W) are from `target`, a scalar tensor with gradient.

        `region` (1, 1, H, W), when given, is one region's guidance channel at this layer, normalised by
        sqrt(mean(T^2)) (losses.normalised_guides): only that part of the picture is compared with `target`.
        """


class GramStatistic(StyleStatistic):
    """The paper's: G = F F^T / M, E_l = 1/(4 N^2) sum (G - A)^2 (eq. 3-4); blends and regions as in Gatys et
    al. 2017: a weighted sum of Gram targets, and guided Grams G_r = (F . T_r)(F . T_r)^T / M."""

    name = "gram"

    def target(self, features: torch.Tensor) -> torch.Tensor:
        return losses.gram(features)

    def blend(self, targets: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
        return losses.blended_gram(list(targets), list(weights))

    def distance(
        self, features: torch.Tensor, target: torch.Tensor, region: torch.Tensor | None = None
    ) -> torch.Tensor:
        return losses.style_loss(losses.gram(features if region is None else features * region), target)


def _flat(features: torch.Tensor) -> torch.Tensor:
    """(1, N, H, W) -> (N, H*W)."""
    return features.reshape(features.shape[1], -1)


def _region_weights(region: torch.Tensor) -> torch.Tensor:
    """Per-position weights summing to 1 from a normalised guidance channel T: T^2 / sum T^2, the weighting a
    guided Gram (F . T)(F . T)^T / M gives each position (Gatys et al. 2017)."""
    w = region.reshape(-1).pow(2)
    return w / w.sum().clamp_min(1e-12)


@dataclass
class MomentsTarget:
    """A painting's mean and raw second moment at one layer (both linear in the data, so blends average them)."""

    mean: torch.Tensor  # (N,)
    second: torch.Tensor  # (N, N): E[f f^T]
    _cov: torch.Tensor | None = None
    _cov_sqrt: torch.Tensor | None = None

    def covariance(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(Sigma_s + ridge I, its square root), computed once (one symmetric eigendecomposition)."""
        if self._cov is None:
            self._cov = self.ridged(self.second - torch.outer(self.mean, self.mean))
            values, vectors = torch.linalg.eigh(self._cov)
            self._cov_sqrt = (vectors * values.clamp_min(0).sqrt()) @ vectors.T
        assert self._cov_sqrt is not None
        return self._cov, self._cov_sqrt

    def ridged(self, cov: torch.Tensor) -> torch.Tensor:
        """`cov` + RIDGE times the painting's mean variance on the diagonal: a constant, the same for both sides."""
        n = cov.shape[0]
        variance = (torch.diagonal(self.second).sum() - self.mean.pow(2).sum()).clamp_min(1e-12) / n
        return cov + RIDGE * variance * torch.eye(n, dtype=cov.dtype, device=cov.device)


#: Both covariances get RIDGE times the painting's mean variance added to the diagonal: ReLU features leave many
#: directions without variance, where the square root's gradient (1 / sqrt(eigenvalue)) would be unbounded.
RIDGE = 1e-3


class _TraceSqrt(torch.autograd.Function):
    """tr(M^(1/2)) of a symmetric positive semi-definite M, by one eigendecomposition: sum of sqrt(eigenvalues),
    with the exact gradient (1/2) M^(-1/2). Cheaper than Newton-Schulz iterations differentiated by autograd
    (measured: bench/README.md, 'statistics_cost.py')."""

    @staticmethod
    def forward(ctx, m: torch.Tensor) -> torch.Tensor:
        values, vectors = torch.linalg.eigh(0.5 * (m + m.T))
        roots = values.clamp_min(0).sqrt()
        ctx.save_for_backward(vectors, roots)
        return roots.sum()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        vectors, roots = ctx.saved_tensors
        floor = roots.max().clamp_min(1e-30) * 1e-6  # eigenvalues below (1e-6 of the largest's root)^2: bounded
        return (vectors * (0.5 * grad / roots.clamp_min(floor))) @ vectors.T


class MomentsStatistic(StyleStatistic):
    """Mean and covariance, compared by the Wasserstein-2 distance between Gaussians (as in
    crowsonkb/style-transfer-pytorch): |mu_x - mu_s|^2 + tr(S_x + S_s - 2 (S_s^1/2 S_x S_s^1/2)^1/2).

    Unlike the Gram matrix, which mixes the mean into the second moment, the mean (the layer's average colour
    and texture response) is matched on its own. Several paintings: their means and raw second moments are
    averaged (the moments of the mixture), then the covariance is formed. The square root of the painting's
    covariance is computed once per level; the picture's side takes one eigendecomposition per layer and
    evaluation (`_TraceSqrt`).
    """

    name = "moments"

    def target(self, features: torch.Tensor) -> MomentsTarget:
        flat = _flat(features)
        return MomentsTarget(flat.mean(1), losses.gram(features))

    def blend(self, targets: Sequence[MomentsTarget], weights: Sequence[float]) -> MomentsTarget:
        mean = sum((w * t.mean for t, w in zip(targets[1:], weights[1:], strict=True)), weights[0] * targets[0].mean)
        second = sum(
            (w * t.second for t, w in zip(targets[1:], weights[1:], strict=True)), weights[0] * targets[0].second
        )
        return MomentsTarget(mean, second)

    def distance(
        self, features: torch.Tensor, target: MomentsTarget, region: torch.Tensor | None = None
    ) -> torch.Tensor:
        flat = _flat(features)
        if region is None:
            mean, second = flat.mean(1), losses.gram(features)
        else:
            w = _region_weights(region)
            mean, second = flat @ w, (flat * w) @ flat.T
        cov = target.ridged(second - torch.outer(mean, mean))
        target_cov, target_sqrt = target.covariance()
        cross = target_sqrt @ cov @ target_sqrt
        w2 = torch.trace(cov) + torch.trace(target_cov) - 2 * _TraceSqrt.apply(cross)
        return (mean - target.mean).pow(2).sum() + w2


@dataclass
class SlicedTarget:
    """A painting's features projected on the layer's fixed directions, each projection sorted (its quantile
    function). Several paintings: a mixture, each contributing its weight's share of the quantiles."""

    directions: torch.Tensor  # (N, D) unit columns
    parts: list[tuple[torch.Tensor, float]]  # (sorted projections (D, M_k), weight) per painting
    _quantiles: dict[int, torch.Tensor] = field(default_factory=dict)

    def quantiles(self, count: int) -> torch.Tensor:
        """(D, count) sorted target values for a picture with `count` positions (cached per count)."""
        if count not in self._quantiles:
            shares = [max(1, round(w * count)) for _, w in self.parts]
            shares[-1] = max(1, count - sum(shares[:-1])) if len(shares) > 1 else count
            pieces = [_resampled(values, n) for (values, _), n in zip(self.parts, shares, strict=True)]
            mixed = torch.cat(pieces, dim=1).sort(dim=1).values if len(pieces) > 1 else pieces[0]
            self._quantiles[count] = _resampled(mixed, count) if mixed.shape[1] != count else mixed
        return self._quantiles[count]


def _resampled(sorted_values: torch.Tensor, count: int) -> torch.Tensor:
    """`count` evenly spaced quantiles of each row of sorted values (linear interpolation)."""
    m = sorted_values.shape[1]
    if m == count:
        return sorted_values
    position = ((torch.arange(count, device=sorted_values.device, dtype=torch.float64) + 0.5) * m / count - 0.5).clamp(
        0, m - 1
    )
    low = position.floor().long()
    high = (low + 1).clamp_max(m - 1)
    frac = (position - low).to(sorted_values.dtype)
    return sorted_values[:, low] * (1 - frac) + sorted_values[:, high] * frac


class SlicedStatistic(StyleStatistic):
    """The sliced Wasserstein distance of Heitz et al. (CVPR 2021): each layer's features projected on N random
    unit directions (N = channels), each projection sorted, and the mean squared difference to the painting's
    sorted projections. It matches the whole distribution of each projection, not only its first two moments.

    Departure: Heitz et al. redraw the directions at each step; we draw them once per run (seeded by `seed`) so
    that the objective stays one function, as L-BFGS's curvature pairs need. Regions (masks) compare the
    positions where a region's guidance is at least half its peak. Several paintings: a mixture.
    """

    name = "sliced"

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self._directions: dict[tuple[int, torch.device, torch.dtype], torch.Tensor] = {}

    def directions(self, channels: int, like: torch.Tensor) -> torch.Tensor:
        """(N, N) unit columns, the same for every call with this channel count (a run's fixed projections), on
        `like`'s device and in its dtype. Drawn on the CPU from the seed: the same directions on every device."""
        key = (channels, like.device, like.dtype)
        if key not in self._directions:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + channels)
            d = torch.randn(channels, channels, generator=generator, dtype=torch.float64)
            self._directions[key] = (d / d.norm(dim=0, keepdim=True)).to(like.device, like.dtype)
        return self._directions[key]

    def target(self, features: torch.Tensor) -> SlicedTarget:
        d = self.directions(features.shape[1], features)
        return SlicedTarget(d, [((d.T @ _flat(features)).sort(dim=1).values, 1.0)])

    def blend(self, targets: Sequence[SlicedTarget], weights: Sequence[float]) -> SlicedTarget:
        parts = [(values, w) for t, w in zip(targets, weights, strict=True) for values, _ in t.parts]
        return SlicedTarget(targets[0].directions, parts)

    def distance(
        self, features: torch.Tensor, target: SlicedTarget, region: torch.Tensor | None = None
    ) -> torch.Tensor:
        projected = target.directions.T @ _flat(features)
        if region is not None:
            weights = region.reshape(-1)
            projected = projected[:, weights >= 0.5 * weights.max()]
        ordered = projected.sort(dim=1).values
        return (ordered - target.quantiles(ordered.shape[1])).pow(2).mean()


#: Every style statistic by name (StyleParams.style_loss picks one).
STATISTICS: dict[str, type[StyleStatistic]] = {
    cls.name: cls for cls in (GramStatistic, MomentsStatistic, SlicedStatistic)
}


def statistic(name: str, *, seed: int = 0) -> StyleStatistic:
    """The statistic called `name` (a key of STATISTICS); `seed` for one that draws random numbers."""
    try:
        return STATISTICS[name](seed)
    except KeyError:
        raise ValueError(f"unknown style statistic {name!r}; known: {', '.join(STATISTICS)}") from None
