"""The losses of Gatys, Ecker & Bethge (2015), written so their size does not depend on the image's.

Paper: content  L_c = 1/2 sum (F - P)^2                     (eq. 1)
       style    E_l = 1/(4 N_l^2 M_l^2) sum (G - A)^2,  G = F F^T   (eq. 4), L_s = sum_l w_l E_l (eq. 5)
with N_l channels and M_l = H*W positions of layer l.

Departure: the paper's content term is a *sum* over positions, so the meaning of alpha/beta changes with
the image size (4x the pixels, 4x the content term). We compute it as the paper would for a 512x512 image
(the sum rescaled by 512^2 / pixels), so alpha/beta means what it means in the paper at that size and the
same at 256 px or 2048 px. The style term is the paper's exactly (it is already normalised by M_l^2).
Total variation is not in the paper; it is off (0) by default.
"""

from __future__ import annotations

import torch


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix G = F F^T of a (1, N, H, W) activation, divided by M = H*W (eq. 3, normalised)."""
    _, n, h, w = features.shape
    flat = features.reshape(n, h * w)
    return flat @ flat.T / (h * w)


REFERENCE_PIXELS = 512 * 512


def content_loss(features: torch.Tensor, target: torch.Tensor, *, pixels: int) -> torch.Tensor:
    """1/2 sum (F - P)^2 (eq. 1), rescaled to a 512x512 image of which `pixels` is the actual count."""
    return 0.5 * (features - target).pow(2).sum() * (REFERENCE_PIXELS / pixels)


def style_loss(gram_matrix: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """E_l = 1/(4 N^2 M^2) sum (G - A)^2 with our G already divided by M: 1/(4 N^2) sum (G/M - A/M)^2."""
    n = gram_matrix.shape[0]
    return (gram_matrix - target_gram).pow(2).sum() / (4 * n * n)


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels (anisotropic total variation, squared)."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()
