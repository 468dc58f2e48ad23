"""VGG19 as a feature extractor: torchvision's architecture, truncated after the deepest layer used.

Feature maps are taken after each convolution's ReLU (as in Gatys et al. 2015 and most implementations:
the paper's "layer conv4_2" means the rectified response). The paper replaced max-pooling by average
pooling "for slightly more appealing results"; `pooling` chooses.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from .fastconv import flipped_kernel, frozen_conv3x3
from .params import VGG19_LAYERS
from .weights import VGGWeights

# Caffe VGG (the paper's network) was trained on BGR 0-255 images minus this mean pixel (B, G, R).
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
# torchvision's VGG was trained on RGB 0-1 images standardised by ImageNet's statistics.
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
#: The convolutions followed by a 2x2 pool (conv5_4's pool is never needed).
POOL_AFTER = {"conv1_2", "conv2_2", "conv3_4", "conv4_4"}


class InputNormalization(nn.Module):
    """Map an RGB image in [0, 1] to the input convention the weights were trained with."""

    scale: torch.Tensor  # buffers (registered below): they move with the module
    shift: torch.Tensor

    def __init__(self, convention: str) -> None:
        super().__init__()
        if convention == "caffe":
            scale = torch.full((3,), 255.0)
            shift = torch.tensor(_CAFFE_MEAN_BGR[::-1])  # in RGB order, before the flip
        else:
            scale = 1.0 / torch.tensor(_IMAGENET_STD)
            shift = torch.tensor(_IMAGENET_MEAN) / torch.tensor(_IMAGENET_STD)
        self.bgr = convention == "caffe"
        self.register_buffer("scale", scale.view(1, 3, 1, 1))
        self.register_buffer("shift", shift.view(1, 3, 1, 1))

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        x = rgb * self.scale - self.shift
        return x.flip(1) if self.bgr else x


class VGGFeatures(nn.Module):
    """Frozen VGG19 convolutions returning the activations of the requested layers by name."""

    def __init__(self, weights: VGGWeights, layers: Iterable[str], *, pooling: str = "avg") -> None:
        super().__init__()
        self.layers, depth = _layers_and_depth(layers)
        self.names = VGG19_LAYERS[:depth]  # truncation: nothing after the deepest layer used is built
        self.pooling = pooling
        self.normalize = InputNormalization(weights.convention)
        self.convs = nn.ModuleList()
        self._flipped = []
        for index, (weight, bias) in enumerate(weights.convs[:depth]):
            # Built on the meta device and then given the real tensors: a normal Conv2d would first fill
            # 20 M parameters with random numbers we throw away (~0.1 s of every run's setup on a CPU).
            conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1, device="meta")
            conv.weight = nn.Parameter(weight.detach().float(), requires_grad=False)  # shared, never written
            conv.bias = nn.Parameter(bias.detach().float(), requires_grad=False)
            self.convs.append(conv)
            # The backward pass's kernel, built when NNPACK (CPU, float32) first needs it and kept with the weights.
            # From conv.weight, the float32 copy this network computes with, whatever dtype `weights` holds.
            self._flipped.append(
                functools.partial(weights.derived, ("flipped", index), functools.partial(flipped_kernel, conv.weight))
            )
        self.requires_grad_(False)  # only the image is optimised
        self.eval()

    def subnetwork(self, layers: Iterable[str]) -> VGGFeatures:
        """A network returning `layers` that shares this one's modules: no copy of any weight, on any device.

        The engine's lean network (deep style layers skipped) is this; a second `VGGFeatures(...).to("cuda")`
        would copy conv1_1 ... conv4_2's weights to the GPU again (~20 MB and a host-to-device copy per run).
        """
        layers, depth = _layers_and_depth(layers)
        if depth > len(self.names):
            raise ValueError(
                f"{VGG19_LAYERS[depth - 1]!r} is deeper than this network, which ends at {self.names[-1]!r}"
            )
        sub = VGGFeatures.__new__(VGGFeatures)
        nn.Module.__init__(sub)
        sub.layers, sub.names, sub.pooling = layers, self.names[:depth], self.pooling
        sub.normalize = self.normalize
        sub.convs = nn.ModuleList(self.convs[:depth])  # the same Conv2d objects
        sub._flipped = self._flipped[:depth]
        return sub.eval()

    def _conv_layers(self) -> list[nn.Conv2d]:
        return cast("list[nn.Conv2d]", list(self.convs))  # built from Conv2d only (__init__)

    def forward(self, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.normalize(rgb)
        wanted = set(self.layers)
        out: dict[str, torch.Tensor] = {}
        for name, conv, flipped in zip(self.names, self._conv_layers(), self._flipped, strict=True):
            # In place: the convolution's backward needs only its weights, so its output need not survive.
            assert conv.bias is not None  # every VGG convolution has one
            x = F.relu_(frozen_conv3x3(x, conv.weight, conv.bias, flipped))
            if name in wanted:
                out[name] = x
            if name in POOL_AFTER and name != self.names[-1]:
                x = F.avg_pool2d(x, 2, ceil_mode=True) if self.pooling == "avg" else F.max_pool2d(x, 2, ceil_mode=True)
        return out


def _layers_and_depth(layers: Iterable[str]) -> tuple[tuple[str, ...], int]:
    """The requested layers, and how many convolutions the network needs to reach the deepest of them."""
    layers = tuple(layers)
    if not layers:
        raise ValueError("VGGFeatures needs at least one layer")
    return layers, max(VGG19_LAYERS.index(name) for name in layers) + 1
