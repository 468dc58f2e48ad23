"""L-BFGS without host-device syncs.

`torch.optim.LBFGS` turns each of the 2m coefficients of its two-loop recursion into a Python float (the
`alpha=` of `add_`), and tests its loss and gradient on the host: on CUDA every iteration waits for the device
about 200 times at m = 100. This optimiser computes the same directions from the *compact* representation of
Byrd, Nocedal and Schnabel (1994, eq. 3.13 for the inverse Hessian): four matrix-vector products with the
(m, n) histories and m x m algebra, all on the device; nothing in `step()` reads a value back to the host.

It is the same algorithm as the PyTorch tutorial's optimiser, which bench/reference.py uses: step length 1
(no line search), history 100, and a first step of length min(1, 1/|g|_1) along -g; on an unconstrained
problem its iterates equal torch.optim.LBFGS's to rounding (tests/test_lbfgs.py). With `lower`/`upper` it
clamps the tensor after each step as the tutorial does, and keeps the step actually taken (the clamped one)
as its curvature pair. The tutorial and torch.optim.LBFGS keep the step as computed instead; then y is the
change of the gradient between two points that are *not* s apart, the secant equation H y = s is false in
every clamped pixel, and the inverse-Hessian model drifts until a step blows up: a reconstruction from noise
that had converged climbed back to the noise's objective within ten iterations, with our L-BFGS and with
torch.optim.LBFGS alike, at history 100 and 200, and never with the clamp off or with clamped pairs
(measured: bench/README.md, 'research/divergence.py').

The library's optimiser adds two safeguards in place of a line search, both computed on the device: `damping`
(DAMPING) damps pairs of too little curvature (Powell; `LBFGS._damped`), as one barely-convex pair was enough
to throw the picture to 0/1; `backtrack` takes an uphill step back at the next evaluation, to the minimiser of
the quadratic through its two ends (`LBFGS._backtrack_fraction`), and learns no pair from it. Without them the
iterates are torch.optim.LBFGS's.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

CURVATURE_EPS = 1e-10  # `torch.optim.LBFGS`'s threshold on s.y for keeping a pair
HISTORY = 100  # curvature pairs kept: the PyTorch tutorial's and torch.optim.LBFGS's history_size
#: Powell's damping threshold as the library uses it (see LBFGS._damped); Nocedal and Wright use 0.2, which cost
#: ~4 % of the objective after 85 steps; 0.01 let an overshoot through (measured: bench/README.md, 'guard_sweep.py').
DAMPING = 0.05
#: With `backtrack`, the most of an uphill step kept (its first half; less where the overshoot is far).
BACKTRACK = 0.5


class LBFGS(torch.optim.Optimizer):
    """Minimise a function of one tensor, one function evaluation per `step()`; optionally clamped to a box."""

    def __init__(
        self,
        param: torch.Tensor,
        *,
        lr: float = 1.0,
        history: int = HISTORY,
        lower: float | None = None,
        upper: float | None = None,
        damping: float = 0.0,
        backtrack: bool = False,
    ) -> None:
        if history < 1:
            raise ValueError(f"history must be at least 1, got {history}")
        super().__init__([param], {"lr": lr})
        self.param, self.lower, self.upper = param, lower, upper  # lr lives in param_groups, as torch's
        self.damping, self.backtrack = damping, backtrack
        self._prev_loss: torch.Tensor | None = None  # the objective where the last accepted step started
        n, m = param.numel(), history
        # Curvature pairs as rows of ring buffers, filled from row 0; until the buffer wraps only rows
        # [0, count) are read, so it is allocated empty (untouched pages cost no time and no RSS). How many
        # pairs there are and which row is next is host-side bookkeeping, never a device value.
        self._s = param.new_empty(m, n)
        self._y = param.new_empty(m, n)
        # s_i . y_j and y_i . y_j of the stored pairs, in float64 (the m x m algebra is where rounding bites)
        # except on Apple's MPS, which has no float64.
        small = torch.float32 if param.device.type == "mps" else torch.float64
        self._sy = param.new_zeros(m, m, dtype=small)
        self._yy = param.new_zeros(m, m, dtype=small)
        self._count = 0
        self._next = 0
        self._gamma = param.new_ones((), dtype=small)  # H0 = gamma * I, from the newest pair
        self._prev_g: torch.Tensor | None = None
        self._prev_step: torch.Tensor | None = None  # the step as computed, before the clamp

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        """Evaluate `closure` (which must fill `param.grad`) at the current point, then move to the next one."""
        with torch.enable_grad():
            loss = closure()
        if self.param.grad is None:
            raise RuntimeError("LBFGS: the closure must compute the gradient (call .backward())")
        g = self.param.grad.detach().reshape(-1)
        uphill = None
        if self._prev_step is not None and self._prev_g is not None:
            if self.backtrack and self._prev_loss is not None:
                uphill = loss.detach() > self._prev_loss  # a device bool: no host read
            self._remember(self._prev_step, g - self._prev_g, uphill)
        step = self._inverse_hessian_times(g).mul_(-self.param_groups[0]["lr"])
        if self._prev_step is None:
            # The very first step: no curvature known; a short step along -g, as torch.optim.LBFGS takes.
            step.mul_(torch.clamp(1.0 / g.abs().sum(), max=1.0))
        if self.lower is not None or self.upper is not None:
            # The curvature pair is the step actually taken, clamped: y is measured between the points we
            # were at, so s must be too (see the module docstring).
            x = self.param.view(-1)
            moved = (x + step).clamp_(self.lower, self.upper)
            step = moved.sub_(x)
        if uphill is None:
            self._prev_g, self._prev_step, self._prev_loss = g.clone(), step, loss.detach()
        else:
            # The last step went uphill: instead of a new step from there, go back along it (inside the box, as
            # both ends are), keeping where it started as the reference; else the new step.
            assert self._prev_g is not None and self._prev_loss is not None and self._prev_step is not None
            keep = self._backtrack_fraction(loss.detach())
            step = torch.where(uphill, (keep - 1) * self._prev_step, step)
            self._prev_step = torch.where(uphill, keep * self._prev_step, step)
            self._prev_g = torch.where(uphill, self._prev_g, g)
            self._prev_loss = torch.where(uphill, self._prev_loss, loss.detach())
        self.param.add_(step.view_as(self.param))
        return loss

    def _backtrack_fraction(self, loss: torch.Tensor) -> torch.Tensor:
        """How much of an uphill step to keep: the minimiser of the quadratic through the objective and slope where
        the step started and the objective where it ended (Nocedal and Wright, 3.5), within [0.01, 0.5]: a far
        overshoot is taken back in one evaluation, not by halving ten times."""
        assert self._prev_g is not None and self._prev_loss is not None and self._prev_step is not None
        slope = torch.dot(self._prev_g, self._prev_step).to(loss.dtype)  # < 0 for a descent step
        curvature = loss - self._prev_loss - slope
        fraction = -slope / (2 * curvature).clamp_min(1e-30)
        return torch.where(slope < 0, fraction, torch.full_like(fraction, BACKTRACK)).clamp(0.01, BACKTRACK)

    def _remember(self, s: torch.Tensor, y: torch.Tensor, rejected: torch.Tensor | None = None) -> None:
        """Store the pair (s, y), or an inert zero pair when s.y is not positive (torch.optim.LBFGS skips it).

        Deciding "skip" on the host would be a sync. A zero pair whose R diagonal is 1 contributes exactly
        nothing to H g (its row of S^T g is 0, so its coefficients solve to 0), and gamma stays the last
        kept pair's. The only difference from skipping: the zero pair takes a slot of the history.
        """
        if self.damping > 0:
            y = self._damped(s, y)
        ys = torch.dot(s, y).to(self._sy.dtype)
        keep = ys > CURVATURE_EPS
        if rejected is not None:  # a step that went uphill is taken back: its pair is not learnt from
            keep = keep & ~rejected
        s, y = s * keep, y * keep
        row, m = self._next, self._s.shape[0]
        self._next, self._count = (row + 1) % m, min(self._count + 1, m)  # a full buffer overwrites the oldest
        self._s[row], self._y[row] = s, y
        filled = self._count  # rows [0, filled) hold pairs
        self._sy[row, :filled] = self._y[:filled] @ s  # s_row . y_j
        self._sy[:filled, row] = self._s[:filled] @ y  # s_i . y_row
        self._sy[row, row] = torch.where(keep, ys, 1.0)
        yy = (self._y[:filled] @ y).to(self._sy.dtype)
        self._yy[row, :filled], self._yy[:filled, row] = yy, yy
        self._gamma = torch.where(keep, ys / yy[row].clamp_min(1e-300), self._gamma)

    def _damped(self, s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Powell's damping (Nocedal and Wright, procedure 18.2) with B0 = I / gamma standing in for B: where the
        pair's curvature s.y is below `damping` * s.B0.s, y is moved towards B0 s until it is exactly that.

        Without it, a pair whose s.y is barely above the acceptance threshold (the objective nearly flat, or
        turning from concave to convex, along s) tells the inverse-Hessian model that s is an almost free
        direction, and the next unit step along it is enormous: from a photo, the first such pair after a run of
        negative-curvature pairs threw every pixel to 0 or 1 (474x the objective; bench/README.md,
        'guard_sweep.py'). Damped, such a pair says "curvature `damping` / gamma along s": the step along s
        stays on the scale the model already has. All on the device: no host read.
        """
        gamma = self._gamma.to(s.dtype)
        sbs = torch.dot(s, s) / gamma
        sy = torch.dot(s, y)
        d = self.damping
        theta = torch.where(sy >= d * sbs, 1.0, (1.0 - d) * sbs / (sbs - sy).clamp_min(1e-30))
        return theta * y + (1.0 - theta) * s / gamma

    def _inverse_hessian_times(self, g: torch.Tensor) -> torch.Tensor:
        """H g with H = gamma I + [S  gamma Y] M [S^T; gamma Y^T] (Byrd, Nocedal and Schnabel 1994, eq. 3.13)."""
        gamma, k, m = self._gamma, self._count, self._s.shape[0]
        if k == 0:
            return g * gamma.to(g.dtype)
        # Rows of the stored pairs, oldest first (the compact form needs chronological order for R). The
        # products run over the filled rows [0, k) in storage order, a view: gathering (k, n) copies in
        # chronological order would cost more than permuting the k results.
        idx = (torch.arange(k, device=g.device) + (self._next - k)) % m
        sy = self._sy[idx][:, idx]
        r = torch.triu(sy)  # R: s_i . y_j for i <= j
        s_rows, y_rows = self._s[:k], self._y[:k]
        a = (s_rows @ g).to(gamma.dtype)[idx]  # S^T g
        b = gamma * (y_rows @ g).to(gamma.dtype)[idx]  # gamma Y^T g
        u = torch.linalg.solve_triangular(r, a[:, None], upper=True)  # R^-1 S^T g
        rhs = (torch.diag(torch.diagonal(sy)) + gamma * self._yy[idx][:, idx]) @ u - b[:, None]
        p = torch.linalg.solve_triangular(r.T, rhs, upper=False)  # R^-T ((D + gamma Y^T Y) R^-1 S^T g - gamma Y^T g)
        coef_s = torch.zeros(k, dtype=p.dtype, device=g.device).index_copy_(0, idx, p[:, 0])
        coef_y = torch.zeros(k, dtype=u.dtype, device=g.device).index_copy_(0, idx, gamma * u[:, 0])
        return gamma.to(g.dtype) * g + coef_s.to(g.dtype) @ s_rows - coef_y.to(g.dtype) @ y_rows
