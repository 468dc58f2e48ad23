"""artstyle.fastconv: NNPACK's Winograd convolutions give PyTorch's results, forward and input gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from artstyle import fastconv


@pytest.mark.parametrize(
    ("cin", "cout", "h", "w"),
    # NNPACK: (64, 32, 40, 30); oneDNN: 3 channels in (conv1_1), and a map below MIN_WINOGRAD_PIXELS
    [(3, 64, 48, 40), (64, 32, 40, 30), (32, 16, 12, 9)],
)
def test_matches_conv2d_forward_and_input_gradient(cin, cout, h, w):
    g = torch.Generator().manual_seed(cin)
    x = torch.randn(1, cin, h, w, generator=g, requires_grad=True)
    weight, bias = torch.randn(cout, cin, 3, 3, generator=g) * 0.1, torch.randn(cout, generator=g)
    grad = torch.randn(1, cout, h, w, generator=g)
    expected = F.conv2d(x, weight, bias, padding=1)
    (expected_grad,) = torch.autograd.grad(expected, x, grad)
    got = fastconv.frozen_conv3x3(x, weight, bias, lambda: fastconv.flipped_kernel(weight))
    (got_grad,) = torch.autograd.grad(got, x, grad)
    assert torch.allclose(got, expected, rtol=0, atol=1e-4 * float(expected.abs().max()))
    assert torch.allclose(got_grad, expected_grad, rtol=0, atol=1e-4 * float(expected_grad.abs().max()))


def test_uses_nnpack_only_where_it_applies():
    big, small = torch.zeros(1, 64, 32, 32), torch.zeros(1, 64, 16, 16)
    weight = torch.zeros(32, 64, 3, 3)
    if not torch.backends.nnpack.is_available():
        pytest.skip("this PyTorch build has no NNPACK")
    assert fastconv.winograd_usable(big, weight)
    assert not fastconv.winograd_usable(small, weight)
    assert not fastconv.winograd_usable(big.double(), weight)
    rgb_in, rgb_out = torch.zeros(64, 3, 3, 3), torch.zeros(3, 64, 3, 3)  # conv1_1 forward; its input gradient
    assert not fastconv.winograd_usable(torch.zeros(1, 3, 32, 32), rgb_in)
    assert not fastconv.winograd_usable(big, rgb_out)
    with torch.backends.nnpack.flags(enabled=False):  # PyTorch's own switch is honoured
        assert not fastconv.winograd_usable(big, weight)


def test_flipped_kernels_are_built_on_first_use_and_kept_with_the_weights(real_weights):
    if not torch.backends.nnpack.is_available():
        pytest.skip("this PyTorch build has no NNPACK")
    from artstyle.features import VGGFeatures
    from artstyle.weights import VGGWeights

    weights = VGGWeights(convs=real_weights.convs, convention=real_weights.convention, source="test")  # own cache
    first = VGGFeatures(weights, ["conv1_2"])
    assert not weights._derived  # building a model copies nothing (a CUDA run never needs them)
    x = torch.rand(1, 3, 40, 32, requires_grad=True)  # 1280 px >= MIN_WINOGRAD_PIXELS: NNPACK's backward
    first(x)["conv1_2"].sum().backward()
    kernels = dict(weights._derived)
    assert set(kernels) == {("flipped", 1)}  # conv1_1's gradient has 3 channels out: oneDNN, no kernel built
    assert torch.equal(kernels[("flipped", 1)], fastconv.flipped_kernel(real_weights.convs[1][0]))
    x.grad = None
    VGGFeatures(weights, ["conv1_2"])(x)["conv1_2"].sum().backward()  # the next run reuses them
    assert all(weights._derived[k] is v for k, v in kernels.items())


def test_half_precision_weights_still_run_on_nnpack(real_weights):
    # The network computes in float32 whatever `VGGWeights` holds; the flipped kernel must be float32 too.
    from artstyle.features import VGGFeatures
    from artstyle.weights import VGGWeights

    half = tuple((w.half(), b.half()) for w, b in real_weights.convs)
    weights = VGGWeights(convs=half, convention=real_weights.convention, source="fp16")
    x = torch.rand(1, 3, 40, 32, requires_grad=True)
    VGGFeatures(weights, ["conv1_2"])(x)["conv1_2"].sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert weights._derived[("flipped", 1)].dtype == torch.float32
