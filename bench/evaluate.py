"""One quality score for any output image, independent of how it was made (shares no code with `artstyle/`).

E(x) = content(x) + W * style(x), measured on VGG19 at the output's size:
    content(x) = mean (F_x - F_c)^2 at conv4_2                        (Gatys et al. 2015, eq. 1, as a mean)
    style(x)   = 1/5 sum_l sum (G_x - G_s)^2 / (4 N_l^2), G = F F^T / M  (eq. 4-5, layers conv1_1 ... conv5_1)
    W          = 1e3 / (4 * 512^2): the paper's alpha/beta = 1e-3 for a 512x512 image, in mean units.

`Evaluator.calibrate(reference_output)` fixes the unit: score(x) = E(x) / E(reference_output), so the
reference's own output scores exactly 1.0 and lower is better. Images are scored as the 8-bit RGB pictures a
user gets, so both contestants pay the same rounding.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from bench.reference import Net

CONTENT_LAYER = "conv4_2"
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
STYLE_WEIGHT = 1e3 / (4 * 512 * 512)


def _tensor(image: Image.Image, device: torch.device) -> torch.Tensor:
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous().to(device)


def _gram(f: torch.Tensor) -> torch.Tensor:
    flat = f.flatten(2)[0]
    return flat @ flat.T / flat.shape[1]


class Evaluator:
    """Scores images of one (content, style) pair at one output size."""

    def __init__(self, net: Net, content: Image.Image, style: Image.Image, *, size: int, device: torch.device):
        self.net, self.device = net, device
        w, h = content.size
        scale = size / max(w, h)
        self.shape = (max(1, round(w * scale)), max(1, round(h * scale)))
        sw, sh = style.size
        s_scale = size / max(sw, sh)
        style_px = style.convert("RGB").resize((round(sw * s_scale), round(sh * s_scale)), Image.LANCZOS)
        with torch.no_grad():
            self.content_target = net(_tensor(content.convert("RGB").resize(self.shape, Image.LANCZOS), device))[
                CONTENT_LAYER
            ]
            feats = net(_tensor(style_px, device))
            self.grams = {k: _gram(feats[k]) for k in STYLE_LAYERS}
        self.unit = 1.0

    def distances(self, image: Image.Image) -> dict[str, float]:
        if image.size != self.shape:
            image = image.resize(self.shape, Image.LANCZOS)  # e.g. off-by-one rounding of another resizer
        with torch.no_grad():
            feats = self.net(_tensor(image, self.device))
            content = torch.mean((feats[CONTENT_LAYER] - self.content_target) ** 2).item()
            style = sum(
                (((_gram(feats[k]) - g) ** 2).sum() / (4 * g.shape[0] ** 2)).item() for k, g in self.grams.items()
            ) / len(STYLE_LAYERS)
        return {"content": content, "style": style, "objective": content + STYLE_WEIGHT * style}

    def calibrate(self, reference_output: Image.Image) -> dict[str, float]:
        d = self.distances(reference_output)
        self.unit = d["objective"]
        return d

    def score(self, image: Image.Image) -> float:
        return self.distances(image)["objective"] / self.unit
