"""Never hand back a worse picture: notice a diverging run, go back to its best iterate, restart the optimiser.

Neither optimiser has a line search (Gatys et al. and the PyTorch tutorial take L-BFGS's unit steps; Adam its
fixed learning rate), so nothing stops a step from making things worse. Normally that is a small, brief
rise; a run that diverges (a content reconstruction from noise that climbed from 3.8e6 back to the noise's
4.8e11) rises by orders of magnitude within a few steps. The guard compares each evaluation's objective, the
value the loop reads back anyway, against the best one seen, so it adds no host-device sync on CUDA, and keeps
a device-side copy of the best iterate (one image, copied when the objective improves).
"""

from __future__ import annotations

import math

import torch

from .progress import Losses

#: An evaluation this many times the best one seen is divergence. Ordinary runs rise at most 1.11x above the
#: best seen so far once under way; the diverging reconstructions passed 2x within two steps of the best and then grew
#: without bound (measured: bench/README.md, 'research/divergence.py').
DIVERGENCE_FACTOR = 2.0
#: Evaluations of a new optimiser during which only a non-finite objective counts as divergence. L-BFGS's first
#: curvature step, with no line search, can overshoot by far more than the factor (55x on a style-only run from
#: the photo; 40x on chelsea x wheat_field at 128 px) and recovers within a few steps by itself, as it always
#: did; restarting there only makes the new optimiser overshoot again, until the guard gives up at the photo.
WARM_UP = 10
#: Restarts per pyramid level before the guard gives up, stops the level and keeps the best iterate.
MAX_RESTARTS = 3


def restart_note(restarts: int) -> str:
    """What the CLI and the app say when a run has restarted: what it means for the picture, without alarm."""
    steps = "a step" if restarts == 1 else f"{restarts} steps"
    return f"{steps} overshot and the run went back to its best picture, then carried on (the result is not affected)"


class BestIterate:
    """The lowest objective evaluated so far on one level, its iterate and terms, and the restarts made."""

    def __init__(self) -> None:
        self.loss = math.inf
        self.losses: Losses | None = None
        self.image: torch.Tensor | None = None
        self.restarts = 0

    def diverged(self, losses: Losses, image: torch.Tensor, *, warming_up: bool = False) -> bool:
        """Record the objective `losses` evaluated at `image`; True if the run is diverging.

        Diverging: a non-finite objective, or (once the optimiser is past its WARM_UP) one above
        DIVERGENCE_FACTOR times the best seen.
        """
        total = losses.total
        if not math.isfinite(total) or (not warming_up and total > DIVERGENCE_FACTOR * self.loss):
            return True
        if total < self.loss:
            self.loss, self.losses = total, losses
            with torch.no_grad():
                if self.image is None:
                    self.image = image.detach().clone()
                else:
                    self.image.copy_(image.detach())
        return False

    def forget(self) -> None:
        """The objective changed (a skipped layer came back): earlier values are no longer comparable."""
        self.loss, self.losses = math.inf, None

    def better_than(self, total: float) -> bool:
        """Whether the best iterate's objective is below `total` (always, when `total` is not finite)."""
        return self.image is not None and self.losses is not None and not total <= self.loss
