"""3x3 convolutions on the CPU through NNPACK's Winograd kernels, with their input gradient done the same way.

Every iteration of Gatys et al.'s method is one forward and one backward pass through VGG19's 3x3
convolutions, and on a CPU that is all the time there is. PyTorch runs them with oneDNN's direct algorithm;
NNPACK, which PyTorch ships but only picks for batches of 16 or more, computes the same convolution with
Winograd transforms and fewer multiplications. On a CPU it is faster than oneDNN on large enough maps with
enough channels on both sides and slower on small maps and on conv1_1's 3 RGB channels, so each layer goes to
the faster one; the two differ by float32 rounding (relative ~1e-5), not by an approximation of the method.
(measured: bench/README.md, 'conv_layers.py')

The network is frozen, so the backward pass needs only the gradient with respect to the input. For a
stride-1, padding-1 3x3 convolution that is itself a 3x3 convolution of the output gradient with the kernel
flipped and its input and output channels swapped, so NNPACK does the backward pass too.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

#: Smallest feature map (H * W) on which NNPACK beat oneDNN on the benchmark machine (48x36 won, 24x18 lost).
# measured: bench/README.md, 'conv_layers.py'
MIN_WINOGRAD_PIXELS = 1024
#: Fewest input or output channels for which NNPACK pays. With 3 (conv1_1, RGB in; its input gradient, RGB
#: out) the Winograd transforms are all the work, so conv1_1 goes to oneDNN both ways.
# measured: bench/README.md, 'conv_layers.py'
MIN_WINOGRAD_CHANNELS = 16


def winograd_usable(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """NNPACK applies to x convolved with weight (out, in, 3, 3): CPU float32, NNPACK built in and not switched
    off, a map large enough and enough channels on both sides to pay."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and x.dim() == 4
        and x.shape[-1] * x.shape[-2] >= MIN_WINOGRAD_PIXELS
        and min(weight.shape[0], weight.shape[1]) >= MIN_WINOGRAD_CHANNELS
        and _nnpack_on()
    )


def _nnpack_on() -> bool:
    # `torch.backends.nnpack.flags(enabled=False)` switches NNPACK off for PyTorch; we honour it too.
    return torch.backends.nnpack.is_available() and torch._C._get_nnpack_enabled()


def _nnpack(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch._nnpack_spatial_convolution(x.contiguous(), weight, bias, [1, 1], [1, 1])


class _FrozenConv3x3(torch.autograd.Function):
    """y = conv3x3(x, W) + b with frozen W, b: forward and input gradient through NNPACK where it pays."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, flipped: Callable[[], torch.Tensor]):
        ctx.save_for_backward(weight)
        ctx.flipped = flipped
        return _nnpack(x, weight, bias) if winograd_usable(x, weight) else F.conv2d(x, weight, bias, padding=1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (weight,) = ctx.saved_tensors
        if winograd_usable(grad, weight):
            grad_input = _nnpack(grad, ctx.flipped(), None)
        else:
            grad_input = F.conv_transpose2d(grad, weight, padding=1)
        return grad_input, None, None, None


def flipped_kernel(weight: torch.Tensor) -> torch.Tensor:
    """The kernel of the input gradient: (out, in, 3, 3) -> (in, out, 3, 3), rotated by 180 degrees."""
    return weight.transpose(0, 1).flip(2, 3).contiguous()


def frozen_conv3x3(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, flipped: Callable[[], torch.Tensor]
) -> torch.Tensor:
    """A stride-1, padding-1 3x3 convolution whose weights never need a gradient.

    `flipped()` returns `flipped_kernel(weight)`; it is called only when NNPACK does the backward pass, so a
    caller can build the kernel lazily and keep it (VGGWeights.derived), and CUDA runs never build it.
    """
    if x.device.type != "cpu":
        return F.conv2d(x, weight, bias, padding=1)  # cuDNN is fast already
    return _FrozenConv3x3.apply(x, weight, bias, flipped)
