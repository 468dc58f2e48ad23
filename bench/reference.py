"""The yardstick: a plain Gatys, Ecker & Bethge (2015) style transfer, written independently of `artstyle/`.

In the manner of the PyTorch neural-style tutorial (a VGG19 truncated after the last layer used, content and
style losses on named layers, `torch.optim.LBFGS` driven by a closure), but with the paper's choices: content
at conv4_2, style at conv1_1 ... conv5_1 with equal layer weights, average pooling, single scale, starting
from the content photo (the tutorial's choice; the paper starts from noise).

Loss scale (documented choice). The paper's sums reach ~1e10 and float32 L-BFGS diverges on them. We write
both terms as size-independent means instead of the paper's sums:

    content = mean over conv4_2 of (F - P)^2
    style   = 1/5 sum_l  sum_ij (G_ij - A_ij)^2 / (4 N_l^2),   G = F F^T / M_l   (the paper's E_l, eq. 4)

and weight them so that their ratio is the paper's alpha/beta = 1e-3 *for a 512x512 image* (the paper's
content sum 1/2 sum (F-P)^2 has N*M = 512 * 512^2/64 terms there, so 1/2 sum = 2 * 512^2 * mean):

    loss = content + STYLE_WEIGHT * style,   STYLE_WEIGHT = 1e3 / (2 * 512^2 * ... ) = 1e3 / (4 * 512^2)

(the 4 comes from 1/2 * N * M / 64-positions: 0.5 * 512 * 4096 = 4 * 512^2). The remaining loss is ~1e4-1e6,
which L-BFGS still handles badly in float32, so the closure divides it by a fixed constant: its value at the
first evaluation. A constant factor changes neither the minimiser nor L-BFGS's steps after the first.

Run: `python -m bench.reference CONTENT STYLE -o out.png --size 384 --steps 300`.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open
from torch import nn

CONTENT_LAYER = "conv4_2"
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
STYLE_WEIGHT = 1e3 / (4 * 512 * 512)  # the paper's alpha/beta = 1e-3 in mean units (see module docstring)

# VGG19 configuration E: channels per conv, "M" for a pooling layer.
_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512)
_CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)
_TV_MEAN = (0.485, 0.456, 0.406)
_TV_STD = (0.229, 0.224, 0.225)


def _layer_names() -> list[str]:
    names, block, index = [], 1, 1
    for item in _CFG:
        if item == "M":
            block, index = block + 1, 1
        else:
            names.append(f"conv{block}_{index}")
            index += 1
    return names


class Net(nn.Module):
    """VGG19 up to conv5_1 from a torchvision-layout safetensors file, with its input convention."""

    def __init__(self, weights_path: str, device: torch.device) -> None:
        super().__init__()
        with safe_open(weights_path, framework="pt", device="cpu") as fh:
            caffe = (fh.metadata() or {}).get("input_convention") == "caffe"
            tensors = {k: fh.get_tensor(k).float() for k in fh.keys() if k.startswith("features.")}  # noqa: SIM118
        self.caffe = caffe
        layers: list[tuple[str, nn.Module]] = []
        index, in_ch, names = 0, 3, iter(_layer_names())
        for item in _CFG:
            if item == "M":
                layers.append(("pool", nn.AvgPool2d(2, ceil_mode=True)))  # the paper: average pooling
                index += 1
                continue
            name = next(names)
            conv = nn.Conv2d(in_ch, item, 3, padding=1)
            conv.weight.data.copy_(tensors[f"features.{index}.weight"])
            conv.bias.data.copy_(tensors[f"features.{index}.bias"])
            layers.append((name, conv))
            index, in_ch = index + 2, item  # torchvision's features: conv, relu (, pool)
            if name == STYLE_LAYERS[-1]:
                break
        self.layers = nn.ModuleList(m for _, m in layers)
        self.names = [n for n, _ in layers]
        self.requires_grad_(False).to(device).eval()
        if caffe:  # BGR, 0-255, minus the mean pixel
            mean, std = torch.tensor(_CAFFE_MEAN_RGB) / 255.0, torch.full((3,), 1 / 255.0)
        else:
            mean, std = torch.tensor(_TV_MEAN), torch.tensor(_TV_STD)
        self.mean = mean.view(1, 3, 1, 1).to(device)
        self.std = std.view(1, 3, 1, 1).to(device)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (image - self.mean) / self.std
        if self.caffe:
            x = x[:, [2, 1, 0]]
        out = {}
        for name, layer in zip(self.names, self.layers, strict=True):
            x = layer(x) if name == "pool" else F.relu(layer(x))
            out[name] = x
        return out


def gram(f: torch.Tensor) -> torch.Tensor:
    n = f.shape[1]
    m = f.shape[2] * f.shape[3]
    flat = f.view(n, m)
    return torch.mm(flat, flat.t()) / m


def loss_terms(feats: dict[str, torch.Tensor], target_content: torch.Tensor, target_grams: dict[str, torch.Tensor]):
    content = F.mse_loss(feats[CONTENT_LAYER], target_content)
    style = sum(
        ((gram(feats[name]) - target_grams[name]) ** 2).sum() / (4 * target_grams[name].shape[0] ** 2)
        for name in STYLE_LAYERS
    ) / len(STYLE_LAYERS)
    return content, style


def image_to_tensor(image: Image.Image, size: int, device: torch.device) -> torch.Tensor:
    w, h = image.size
    scale = size / max(w, h)
    image = image.convert("RGB").resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)
    array = np.asarray(image, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous().to(device)


def tensor_to_image(t: torch.Tensor) -> Image.Image:
    array = (t.detach()[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array)


def run(
    net: Net,
    content: Image.Image,
    style: Image.Image,
    *,
    size: int,
    steps: int,
    device: torch.device,
    on_step: Callable[[int, torch.Tensor], None] | None = None,
    init: torch.Tensor | None = None,
) -> torch.Tensor:
    """Run `steps` L-BFGS iterations (one function evaluation each) and return the image tensor.

    `on_step(iteration, image)` is called after every closure evaluation (the tutorial's counter).
    `init` (1, 3, h, w) in [0, 1] starts from that image, resized to the content's size, instead of the content
    (bench/research/explore.py uses it to prototype coarse-to-fine).
    """
    content_t = image_to_tensor(content, size, device)
    style_t = image_to_tensor(style, size, device)
    with torch.no_grad():
        target_content = net(content_t)[CONTENT_LAYER]
        style_feats = net(style_t)
        target_grams = {name: gram(style_feats[name]) for name in STYLE_LAYERS}
        del style_feats
    if init is None:
        image = content_t.clone()
    else:
        image = F.interpolate(init, size=content_t.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
    image.requires_grad_(True)
    # tolerance 0: never stop early; max_iter 20 per step() call, as in the tutorial's loop.
    optimizer = torch.optim.LBFGS([image], max_iter=20, tolerance_grad=0.0, tolerance_change=0.0)
    count = [0]
    scale: list[float] = []

    def closure() -> torch.Tensor:
        with torch.no_grad():
            image.clamp_(0, 1)
        optimizer.zero_grad()
        content_term, style_term = loss_terms(net(image), target_content, target_grams)
        loss = content_term + STYLE_WEIGHT * style_term
        if not scale:
            scale.append(1.0 / max(loss.item(), 1e-12))
        loss = loss * scale[0]
        loss.backward()
        count[0] += 1
        if on_step is not None:
            on_step(count[0], image)
        return loss

    while count[0] < steps:
        # the last call may be cut short: max_iter counts iterations, each one closure evaluation
        optimizer.param_groups[0]["max_iter"] = min(20, steps - count[0])
        optimizer.param_groups[0]["max_eval"] = optimizer.param_groups[0]["max_iter"] + 1
        optimizer.step(closure)
        if count[0] >= steps:
            break
    with torch.no_grad():
        image.clamp_(0, 1)
    return image.detach()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("content")
    ap.add_argument("style")
    ap.add_argument("-o", "--output", default="reference.png")
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--weights", default="../shared/models/vgg19-caffe-features-fp16.safetensors")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    net = Net(args.weights, device)
    start = time.perf_counter()
    out = run(net, Image.open(args.content), Image.open(args.style), size=args.size, steps=args.steps, device=device)
    seconds = time.perf_counter() - start
    tensor_to_image(out).save(args.output)
    print(json.dumps({"output": args.output, "seconds": round(seconds, 2), "steps": args.steps}))


if __name__ == "__main__":
    main()
