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
    return _Gram.apply(features.reshape(n, h * w)) / (h * w)


class _Gram(torch.autograd.Function):
    """F F^T with the backward pass written for symmetry: dL/dF = (dL/dG + dL/dG^T) F, one product.

    Autograd's generic matmul backward computes dG F and dG^T F separately: two (N x N)(N x M) products where
    one does. The Gram products are about an eighth of an iteration at 384 px on a CPU.
    """

    @staticmethod
    def forward(ctx, flat: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(flat)
        return flat @ flat.T

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (flat,) = ctx.saved_tensors
        return (grad + grad.T) @ flat


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


def blended_gram(grams: list[torch.Tensor | None], weights: list[float]) -> torch.Tensor:
    """Sum_k w_k A_k: the Gram target of several styles mixed (weights already sum to 1).

    Styles of weight 0 are left out (their Grams are not even computed: None), so `[1, 0]` computes
    exactly what the first style alone does.
    """
    used = [(g, w) for g, w in zip(grams, weights, strict=True) if w > 0 and g is not None]
    return sum((w * g for g, w in used[1:]), used[0][1] * used[0][0])


def guide_at(guides: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Guidance channels (1, K, H, W) brought to a layer's resolution by the network's own 2x2 pooling.

    Gatys et al. (2017, section 4) propagate guidance channels to each layer; averaging them through the
    same pooling stages as the features (convolutions keep the size) keeps each position's region share.
    """
    while guides.shape[-2:] != features.shape[-2:]:
        if guides.shape[-1] < features.shape[-1] or guides.shape[-2] < features.shape[-2]:
            raise ValueError(f"guides {tuple(guides.shape)} cannot be pooled to features {tuple(features.shape)}")
        guides = torch.nn.functional.avg_pool2d(guides, 2, ceil_mode=True)
    return guides


def normalised_guides(guides: torch.Tensor, features: torch.Tensor) -> list[torch.Tensor | None]:
    """Each region's guidance channel T_r at this layer, divided by sqrt(mean(T_r^2)); None if empty here.

    The normalisation (Gatys et al. 2017) puts a region's guided Gram on the scale of a whole-image Gram
    (a half-image region would otherwise give half the values). Computed once per run: guides are fixed.
    """
    guides = guide_at(guides, features)
    out: list[torch.Tensor | None] = []
    for r in range(guides.shape[1]):
        t = guides[:, r : r + 1]
        power = float(t.pow(2).mean())
        out.append(t / power**0.5 if power > 1e-8 else None)
    return out


def guided_style_loss(
    features: torch.Tensor, guides: list[torch.Tensor | None], targets: list[torch.Tensor], weights: list[float]
) -> torch.Tensor:
    """Sum_r w_r E_l(G_r, A_r) with guided Grams G_r = (F . T_r)(F . T_r)^T / M (Gatys et al. 2017, eq. 2-3):
    each region of the output is matched to its own style's Gram."""
    total = features.new_zeros(())
    for t, a, w in zip(guides, targets, weights, strict=True):
        if t is not None and w > 0:
            total = total + w * style_loss(gram(features * t), a)
    return total
