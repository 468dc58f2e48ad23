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
from typing import Any, ClassVar

import torch

from . import losses


class StyleStatistic(ABC):
    """One style statistic. Targets are whatever the statistic needs (tensors, tuples of tensors)."""

    name: ClassVar[str]

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


#: Every style statistic by name (StyleParams.style_loss picks one).
STATISTICS: dict[str, type[StyleStatistic]] = {cls.name: cls for cls in (GramStatistic,)}


def statistic(name: str) -> StyleStatistic:
    """The statistic called `name` (a key of STATISTICS)."""
    try:
        return STATISTICS[name]()
    except KeyError:
        raise ValueError(f"unknown style statistic {name!r}; known: {', '.join(STATISTICS)}") from None
