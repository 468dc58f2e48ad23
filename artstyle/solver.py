"""One pyramid level's optimisation: an optimiser over the picture's pixels, the divergence guard, the output.

The parts a caller may swap (the optimiser, the guard) are arguments (`Parts`), so tests and bench/ pass their
own instead of patching the library.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import torch

from . import lbfgs
from .guard import MAX_RESTARTS, WARM_UP, BestIterate
from .lbfgs import LBFGS
from .objective import INERT_RECHECK, Objective
from .params import StyleParams
from .progress import Losses

ADAM_LR = 0.02  # in 0-1 pixel units: about 5 grey levels per step at first

#: (params, the image tensor to optimise, the iterations it will make) -> an optimiser over that one tensor,
#: whose `step(closure)` evaluates the closure once.
OptimizerFactory = Callable[[StyleParams, torch.Tensor, int], torch.optim.Optimizer]


def make_optimizer(p: StyleParams, image: torch.Tensor, steps: int) -> torch.optim.Optimizer:
    """The library's optimisers: our L-BFGS (the paper's choice) or Adam."""
    if p.optimizer == "adam":
        return torch.optim.Adam([image], lr=p.lr if p.lr is not None else ADAM_LR)
    # One iteration per step() call so that every iteration yields an event (and can be cancelled); the
    # history lives in the optimiser between calls, so this is the same algorithm as one long call. A level
    # of k < 100 iterations can never hold more than k pairs: its buffers are sized for that.
    # Pixels are clamped to [0, 1] after each step, as in the PyTorch tutorial. Clamping inside the objective
    # instead saved no iterations (measured: bench/README.md, 'research/optimizers.py') and strands pixels
    # outside the box for good (their gradient is 0): reconstructions from noise kept stuck black and white pixels.
    # Damped curvature pairs (LBFGS._damped): from a photo the objective is often concave along the first
    # steps, and without a line search the first barely-convex pair after them threw the picture to 0/1. An
    # uphill step is taken back at the next evaluation (LBFGS._backtrack_fraction): rare, and then it saves a
    # restart (measured: bench/README.md, 'guard_sweep.py').
    history = max(1, min(lbfgs.HISTORY, steps))
    lr = p.lr if p.lr is not None else 1.0
    return LBFGS(image, lr=lr, history=history, lower=0.0, upper=1.0, damping=lbfgs.DAMPING, backtrack=True)


@dataclass(frozen=True)
class Parts:
    """The parts of a run a caller may replace; the defaults are the library's own.

    `make_guard=None` runs without the divergence guard (no best-iterate copy, no end-of-level evaluation:
    the level's output is its last iterate). `skip_inert=False` keeps every style layer in the objective;
    `inert_recheck` is how often a skipped one is checked (artstyle/objective.py).
    """

    make_optimizer: OptimizerFactory = make_optimizer
    make_guard: Callable[[], BestIterate] | None = BestIterate
    skip_inert: bool = True
    inert_recheck: int = INERT_RECHECK


class IterateAverage:
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


class LevelSolver:
    """Minimises one level's objective over the picture, `steps` iterations from `start`.

    Each level gets a fresh optimiser: L-BFGS's curvature pairs and Adam's moments are per-pixel and belong to
    the previous level's resolution, so they are dropped (the image itself carries over).
    """

    def __init__(
        self, objective: Objective, start: torch.Tensor, steps: int, p: StyleParams, parts: Parts | None = None
    ) -> None:
        self.objective, self.p, self.steps = objective, p, steps
        self.parts = parts if parts is not None else Parts()
        self.evaluations = 0
        self.image = start.requires_grad_(True)
        self._new_optimizer(steps)
        self.average = IterateAverage(p.ema_decay) if p.ema_decay is not None else None
        self.losses: Losses | None = None  # the last evaluation's; after `finish`, the output's
        self.scale: float | None = None
        self.guard = self.parts.make_guard() if self.parts.make_guard is not None else None
        self.diverged = False  # this step's evaluation diverged: `step` goes back to the best iterate
        self.given_up = False  # diverged again after MAX_RESTARTS restarts: the level stops at its best
        self._objective_changed = False  # a skipped layer came back during this step
        self.chosen: torch.Tensor | None = None  # the level's output, once `finish` has picked it

    def output_losses(self) -> Losses:
        """The terms of the last evaluation (after `finish`, of the level's output)."""
        if self.losses is None:
            raise RuntimeError("no evaluation yet: call step() first")
        return self.losses

    @property
    def restarts(self) -> int:
        return self.guard.restarts if self.guard is not None else 0

    def step(self) -> None:
        """One iteration: one evaluation of the objective and one move (or a return to the best iterate)."""
        # torch types a closure's loss as a float; a tensor is what it returns here (no host read). L-BFGS clamps
        # to [0, 1] itself.
        self.optimizer.step(cast("Callable[[], float]", self._evaluate))
        if self.diverged:
            self._go_back_to_best()
            return
        if self._objective_changed:
            self._objective_changed = False
            if self.p.optimizer == "lbfgs":  # its curvature pairs describe the old objective; Adam's moments don't
                self._new_optimizer(self.steps - self.evaluations)
        if self.p.optimizer == "adam":
            with torch.no_grad():
                self.image.clamp_(0.0, 1.0)  # keep pixels displayable; Adam overshoots
        if self.average is not None:
            self.average.update(self.image)

    def _evaluate(self) -> torch.Tensor:
        """The optimiser's closure: the objective and its gradient at the current image."""
        self.optimizer.zero_grad(set_to_none=True)
        self.evaluations += 1
        evaluation = self.objective.evaluate(self.image)
        self.losses = evaluation.losses
        if self.scale is None:
            # In the paper's units the objective is ~1e10 with gradients to match, and float32 L-BFGS
            # diverges on them (its curvature pairs drown in rounding). Divide by the starting value: a
            # constant, so the minimiser and the reported losses are unchanged, and both optimisers see O(1).
            self.scale = 1.0 / max(self.losses.total, 1e-12)
        self.optimizer_evaluations += 1
        if self.guard is not None:
            warming_up = self.optimizer_evaluations <= WARM_UP
            self.diverged = self.guard.diverged(self.losses, self.image, warming_up=warming_up)
        # After the guard has seen this value: putting a layer back makes the guard forget it.
        if self.objective.put_back_inert(evaluation):
            self._objective_changed = True
            if self.guard is not None:
                self.guard.forget()  # the objective gained a term: earlier values are not comparable
        scaled = evaluation.total * self.scale
        scaled.backward()  # a skipped term is not in `total`: autograd never visits the layers it needs
        return scaled

    def _new_optimizer(self, steps: int) -> None:
        """A fresh optimiser for the `steps` left: no curvature pairs, no Adam moments, a new WARM_UP."""
        if hasattr(self, "optimizer"):
            del self.optimizer  # free the old history before the new one is allocated
        self.optimizer: torch.optim.Optimizer = self.parts.make_optimizer(self.p, self.image, steps)
        self.optimizer_evaluations = 0  # evaluations since this optimiser was made (guard.WARM_UP)

    def _go_back_to_best(self) -> None:
        """Divergence (artstyle/guard.py): the best iterate, a fresh optimiser (no curvature pairs, no Adam
        moments) and a fresh average; or, after MAX_RESTARTS, the best iterate and the end of this level."""
        assert self.guard is not None
        self.diverged = False
        if self.guard.image is None:  # the very first evaluation was not finite: there is nothing to go back to
            self.given_up = True
            return
        with torch.no_grad():
            self.image.copy_(self.guard.image)
        if self.guard.restarts >= MAX_RESTARTS:
            self.given_up = True
            return
        self.guard.restarts += 1
        self._new_optimizer(self.steps - self.evaluations)
        if self.average is not None:
            self.average = IterateAverage(self.p.ema_decay)  # type: ignore[arg-type]  # not None: averaging is on

    def finish(self) -> None:
        """Pick the level's output: the last iterate (or the average, with `ema`) unless the best evaluated
        iterate's objective is lower. One more forward pass, no backward: the last step's point was never
        evaluated. Afterwards `losses` are the output's. Without a guard: the last iterate, as it is."""
        if self.guard is None:
            return
        candidate = self.result()
        losses = self.objective.losses_at(candidate)
        if self.guard.better_than(losses.total):
            candidate, losses = self.guard.image, self.guard.losses  # type: ignore[assignment]
        self.chosen, self.losses = candidate, losses

    def result(self) -> torch.Tensor:
        """The level's current output: the iterate, or its running average when `ema` is on."""
        if self.chosen is not None:
            return self.chosen
        if self.average is not None and self.average.value is not None:
            return self.average.value
        return self.image.detach()
