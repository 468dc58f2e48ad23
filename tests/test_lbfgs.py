"""artstyle.lbfgs.LBFGS: torch.optim.LBFGS's iterates, without reading anything back from the device."""

from __future__ import annotations

import pytest
import torch

from artstyle.lbfgs import LBFGS


def _quadratic(n: int = 40, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=g, dtype=torch.float64)
    q = a @ a.T / n + 0.05 * torch.eye(n, dtype=torch.float64)
    c = torch.randn(n, generator=g, dtype=torch.float64)
    return lambda x: 0.5 * x @ q @ x - c @ x


def _run(opt, x, f, steps, clamp=None):
    values = []
    for _ in range(steps):

        def closure():
            opt.zero_grad()
            loss = f(x)
            loss.backward()
            return loss

        values.append(float(opt.step(closure).detach()))
        if clamp is not None:
            with torch.no_grad():
                x.clamp_(*clamp)
    return values


@pytest.mark.parametrize("history", [100, 5])  # 5: the ring buffer wraps around many times
def test_same_iterates_as_torch_lbfgs(history):
    f = _quadratic()
    ours, theirs = (
        torch.zeros(40, dtype=torch.float64, requires_grad=True),
        torch.zeros(40, dtype=torch.float64, requires_grad=True),
    )
    reference = torch.optim.LBFGS(
        [theirs], lr=1, max_iter=1, history_size=history, tolerance_grad=0, tolerance_change=0
    )
    a = _run(LBFGS(ours, history=history), ours, f, 40)
    b = _run(reference, theirs, f, 40)
    assert torch.allclose(ours, theirs, atol=1e-10, rtol=0)
    assert a == pytest.approx(b, rel=1e-10)
    assert a[-1] < a[0] - 1.0  # it did optimise


def _two_loop_clamped(x: torch.Tensor, f, steps: int, lower: float, upper: float) -> torch.Tensor:
    """Textbook L-BFGS (Nocedal and Wright, algorithm 7.4) with unit steps, clamped after each step, whose
    curvature pairs are the steps actually taken: what LBFGS(lower=, upper=) must compute."""
    pairs: list[tuple[torch.Tensor, torch.Tensor]] = []
    x = x.detach().clone()
    prev = None
    for k in range(steps):
        x.requires_grad_(True)
        g = torch.autograd.grad(f(x), x)[0]
        x = x.detach()
        if prev is not None:
            s, y = x - prev[0], g - prev[1]
            if float(s @ y) > 1e-10:
                pairs.append((s, y))
        q = g.clone()
        alphas = []
        for s, y in reversed(pairs):
            alpha = float(s @ q) / float(s @ y)
            q -= alpha * y
            alphas.append(alpha)
        if pairs:
            s, y = pairs[-1]
            q *= float(s @ y) / float(y @ y)
        for (s, y), alpha in zip(pairs, reversed(alphas), strict=True):
            q += (alpha - float(y @ q) / float(s @ y)) * s
        step = -q if k else -q * min(1.0, 1.0 / float(g.abs().sum()))
        prev = (x.clone(), g)
        x = (x + step).clamp(lower, upper)
    return x


def test_box_uses_the_clamped_step_as_its_curvature_pair():
    """With a box, the pair is the step taken (the computed step as the pair made converged runs diverge)."""
    f = _quadratic(seed=1)
    ours = torch.zeros(40, dtype=torch.float64, requires_grad=True)
    values = _run(LBFGS(ours, lower=-0.3, upper=0.3), ours, f, 30)
    expected = _two_loop_clamped(torch.zeros(40, dtype=torch.float64), f, 30, -0.3, 0.3)
    assert ours.abs().max() <= 0.3
    assert (ours.abs() == 0.3).sum() >= 3  # the box is active
    assert torch.allclose(ours, expected, atol=1e-8, rtol=0)
    assert values[-1] < values[0] - 1.0


@pytest.mark.parametrize("options", [{}, {"damping": 0.05, "backtrack": True}])  # as torch's; as the library's
def test_step_never_reads_a_device_value(monkeypatch, options):
    """Every host read (item, float, bool, tolist) would be a sync on CUDA: step() must make none."""
    f = _quadratic()
    x = torch.zeros(40, dtype=torch.float64, requires_grad=True)
    opt = LBFGS(x, history=8, **options)
    _run(opt, x, f, 3)  # fill some history first

    def refuse(*_args, **_kwargs):
        raise AssertionError("host read inside LBFGS.step")

    for name in ("item", "__float__", "__bool__", "__int__", "tolist", "cpu", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, refuse)

    def closure():
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        return loss

    for _ in range(12):  # wraps the 8-pair ring buffer
        opt.step(closure)
    monkeypatch.undo()
    assert float(f(x)) < float(f(torch.zeros(40, dtype=torch.float64)))


def test_rejects_empty_history():
    with pytest.raises(ValueError, match="history"):
        LBFGS(torch.zeros(3, requires_grad=True), history=0)


def _quartic(x: torch.Tensor) -> torch.Tensor:
    """sum(x^4 / 4 - x): from 0 the slope is -1 and the curvature 0, so the first curvature pair says "flat" and
    the next unit step is enormous; the minimum is at x = 1 (value -0.75 each)."""
    return (x.pow(4) / 4 - x).sum()


def test_without_a_line_search_a_flat_start_throws_the_iterate_far():
    x = torch.zeros(10, dtype=torch.float64, requires_grad=True)
    values = _run(LBFGS(x), x, _quartic, 4)
    assert max(values) > 1e5  # what the library's options are for


def test_backtracking_takes_an_uphill_step_back_and_converges():
    x = torch.zeros(10, dtype=torch.float64, requires_grad=True)
    values = _run(LBFGS(x, damping=0.05, backtrack=True), x, _quartic, 40)
    assert values[-1] == pytest.approx(-7.5, abs=1e-6) and torch.allclose(x, torch.ones(10, dtype=torch.float64))
    uphill = [i for i in range(1, len(values)) if values[i] > values[i - 1]]
    assert uphill and all(values[i + 1] < values[i] for i in uphill)  # each overshoot taken back at once


def test_damping_keeps_a_barely_convex_pair_to_its_threshold():
    x = torch.zeros(6, dtype=torch.float64, requires_grad=True)
    opt = LBFGS(x, damping=0.2)
    s = torch.full((6,), 0.1, dtype=torch.float64)
    flat = 1e-6 * s  # s.y far below 0.2 s.s / gamma (gamma = 1 before any pair)
    assert float(s @ opt._damped(s, flat)) == pytest.approx(0.2 * float(s @ s))
    steep = 3.0 * s  # curvature enough: left alone
    assert torch.equal(opt._damped(s, steep), steep)
