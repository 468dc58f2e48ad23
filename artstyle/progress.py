"""What flows out of a run: the objective's terms as one typed value, and one progress event per iteration."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image


@dataclass(frozen=True)
class Losses:
    """The objective's weighted terms at one point: total = content + style + tv (Gatys et al. 2015, eq. 7,
    plus our total-variation term), in the paper's units (see artstyle/losses.py)."""

    total: float
    content: float
    style: float
    tv: float

    @classmethod
    def read_back(cls, total: torch.Tensor, content: torch.Tensor, style: torch.Tensor, tv: torch.Tensor) -> Losses:
        """The four terms as host floats in one transfer (`.tolist()` of one stacked tensor): one sync, not four."""
        return cls(*torch.stack([total, content, style, tv]).tolist())


@dataclass(frozen=True)
class Progress:
    """One progress event. The last event of a run has `done=True` and the result in `image`."""

    step: int  # iterations finished, counted over the whole run (1 ... total)
    total: int  # iterations the run will make
    losses: Losses  # the weighted terms of the objective at this step
    # (a deep style layer skipped as inert, see objective.INERT_FRACTION, is left out of `style`: < 0.1 % of it)
    image: Image.Image | None = None  # a preview on every `preview_every`-th step, the result when done
    done: bool = False
    elapsed: float = 0.0  # seconds since the run started
    size: tuple[int, int] = (0, 0)  # (width, height) of the image being optimised (this level's size)
    level: int = 0  # coarse-to-fine pyramid level of this event, 0 ... levels - 1 (see `scales`)
    levels: int = 1
    # times the run diverged, went back to its best iterate and restarted the optimiser (artstyle/guard.py)
    restarts: int = 0
