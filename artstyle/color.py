"""Colour preservation after Gatys, Bethge, Hertzmann & Shechtman (2016), "Preserving color in neural
artistic style transfer".

Two ways to keep the photo's colours while taking the painting's strokes:

- luminance-only transfer (paper section 3): optimise on luminance images (Y copied to three channels),
  with the painting's luminance first matched to the photo's mean and standard deviation (eq. 4), then put
  the result's Y back together with the photo's chroma (I, Q). The output's chroma is the photo's, exactly
  up to the gamut clip and 8-bit rounding.
- colour histogram matching (paper section 2): recolour the painting so that its pixels' mean and 3x3
  covariance equal the photo's (x' = A (x - mu_S) + mu_C with A Sigma_S A^T = Sigma_C), then run as usual.
  A is the "image analogies" symmetric choice Sigma_C^1/2 Sigma_S^-1/2, which the paper uses.

All functions take and return (1, 3, H, W) float tensors in [0, 1].
"""

from __future__ import annotations

import torch

# RGB -> YIQ (NTSC 1953), the colour space the paper works in.
_RGB_TO_YIQ = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ],
    dtype=torch.float64,
)
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)
_EPS = 1e-5  # regularises covariances of near-flat images (a white square has none)


def _apply(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", matrix.to(image), image)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    return _apply(_RGB_TO_YIQ, image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    return _apply(_YIQ_TO_RGB, image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """The Y channel copied to three channels: a grey RGB image VGG can take."""
    return rgb_to_yiq(image)[:, :1].expand(-1, 3, -1, -1).contiguous()


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Grey image of `style` whose luminance has the content's mean and standard deviation (paper eq. 4)."""
    y_s, y_c = rgb_to_yiq(style)[:, :1], rgb_to_yiq(content)[:, :1]
    matched = (y_s - y_s.mean()) * (y_c.std() / (y_s.std() + _EPS)) + y_c.mean()
    return matched.clamp(0.0, 1.0).expand(-1, 3, -1, -1).contiguous()


def recombine_luminance(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The result's luminance with the content's chroma (I, Q), back in RGB and clipped to [0, 1]."""
    yiq = rgb_to_yiq(content)
    yiq = torch.cat([rgb_to_yiq(result)[:, :1], yiq[:, 1:]], dim=1)
    return yiq_to_rgb(yiq).clamp(0.0, 1.0)


def _mean_cov(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    pixels = image[0].reshape(3, -1).double()
    mean = pixels.mean(dim=1, keepdim=True)
    centred = pixels - mean
    cov = centred @ centred.T / pixels.shape[1] + _EPS * torch.eye(3, dtype=torch.float64)
    return mean, cov


def _sqrtm(matrix: torch.Tensor, power: float) -> torch.Tensor:
    """matrix**power for a symmetric positive-definite 3x3 matrix, via its eigen-decomposition."""
    values, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag(values.clamp_min(_EPS) ** power) @ vectors.T


def match_histogram(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """`style` recoloured so that its pixels' mean and covariance are the content's (paper eq. 1-3)."""
    mean_s, cov_s = _mean_cov(style)
    mean_c, cov_c = _mean_cov(content)
    a = _sqrtm(cov_c, 0.5) @ _sqrtm(cov_s, -0.5)
    pixels = style[0].reshape(3, -1).double()
    out = a @ (pixels - mean_s) + mean_c
    return out.reshape(style.shape).to(style.dtype).clamp(0.0, 1.0)


def color_stats(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel mean (3,) and covariance (3, 3) of an RGB image, for tests and diagnostics."""
    mean, cov = _mean_cov(image)
    return mean[:, 0], cov
