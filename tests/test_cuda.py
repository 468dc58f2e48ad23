"""The CUDA path (skipped without a GPU; bench/gpu.sh runs it first on a machine that has one)."""

from __future__ import annotations

import pytest
import torch

import artstyle
from artstyle.lbfgs import LBFGS

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_lbfgs_step_makes_no_host_device_sync():
    n = 4096
    g = torch.Generator(device="cuda").manual_seed(0)
    target = torch.rand(n, device="cuda", generator=g)
    x = torch.zeros(n, device="cuda", requires_grad=True)
    opt = LBFGS(x, history=8, lower=0.0, upper=1.0)

    def closure():
        opt.zero_grad()
        loss = ((x - target) ** 4).sum()
        loss.backward()
        return loss

    opt.step(closure)  # allocations and the first step outside the check
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(12):  # wraps the ring buffer
            opt.step(closure)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert float(((x - target) ** 4).sum()) < 1e-3 * float((target**4).sum())


def test_cuda_run_matches_cpu(real_weights, tubingen, starry_night):
    kwargs = {"size": 64, "steps": 8, "preview_every": 0, "weights": real_weights, "style_weight": 1e4}
    cpu = artstyle.stylize(tubingen, starry_night, device="cpu", **kwargs)
    gpu = artstyle.stylize(tubingen, starry_night, device="cuda", **kwargs)
    a = torch.tensor(list(cpu.getdata()), dtype=torch.float32)
    b = torch.tensor(list(gpu.getdata()), dtype=torch.float32)
    # TF32 convolutions (cuDNN's default on Ampere and later) and a different summation order: close, not equal
    assert (a - b).abs().mean() < 4.0, (a - b).abs().mean()


def test_the_lean_network_puts_no_second_copy_of_the_weights_on_the_gpu(real_weights):
    from artstyle.features import VGGFeatures

    full = VGGFeatures(real_weights, ("conv4_2", "conv1_1", "conv5_1")).to("cuda")
    before = torch.cuda.memory_allocated()
    lean = full.subnetwork(("conv4_2", "conv1_1"))
    assert torch.cuda.memory_allocated() == before
    assert lean.convs[-1].weight.data_ptr() == full.convs[len(lean.convs) - 1].weight.data_ptr()
