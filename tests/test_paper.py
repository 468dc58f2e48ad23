"""The paper's demonstrations hold with the real VGG19 weights (Gatys, Ecker & Bethge 2015, Fig. 1).

Small images (64 px) and a few dozen L-BFGS steps from white noise: enough for the effects to show
clearly, and for the thresholds below to sit far from the measured values (noted beside each).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from artstyle import stylize
from artstyle.features import VGGFeatures
from artstyle.images import fit_long_side, load_image, to_tensor
from artstyle.losses import gram, style_loss
from artstyle.paper import (
    Cell,
    format_ratio,
    grid_layout,
    iter_grid,
    iter_reconstructions,
    reconstructions_layout,
    render_figure,
)
from artstyle.params import PAPER_STYLE_LAYERS
from artstyle.weights import load_weights
from tests.conftest import CONTENT_DIR, REAL_WEIGHTS, STYLES_DIR, needs_shared

WEIGHTS = REAL_WEIGHTS
CONTENT = CONTENT_DIR / "tubingen.jpg"
STYLE = STYLES_DIR / "starry_night.jpg"
SIZE = 64


@pytest.fixture(scope="module")
def vgg():
    return load_weights(WEIGHTS)


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return fit_long_side(load_image(CONTENT), SIZE)


@pytest.fixture(scope="module")
def painting() -> Image.Image:
    return fit_long_side(load_image(STYLE), SIZE)


def _reconstruct_content(photo: Image.Image, layer: str, vgg, steps: int = 60) -> torch.Tensor:
    # Content only: no style layer at all (style_layers=()), so no Gram is ever computed. The paper's settings
    # (no TV term: at conv5_2 the content term is so small that TV's smoothing would dominate it).
    image = stylize(
        photo, photo, weights=vgg, size=SIZE, steps=steps, init="noise", tv_weight=0.0, device="cpu",
        content_layers=(layer,), style_layers=(), style_weight=0.0, preview_every=0,
    )  # fmt: skip
    return to_tensor(image)


def _reconstruct_style(painting: Image.Image, vgg, steps: int = 40) -> torch.Tensor:
    # Style only (texture synthesis): no content layer at all (content_layers=()).
    image = stylize(
        painting, painting, weights=vgg, size=SIZE, steps=steps, init="noise", tv_weight=0.0, device="cpu",
        content_layers=(), style_layers=PAPER_STYLE_LAYERS, content_weight=0.0, preview_every=0,
    )  # fmt: skip
    return to_tensor(image)


def _mae(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().mean())


def _psnr(a: torch.Tensor, b: torch.Tensor, *, pool: int = 1) -> float:
    """PSNR in dB after averaging `pool` x `pool` blocks (pool=2: exact up to the finest pixel pattern)."""
    mse = (F.avg_pool2d(a, pool) - F.avg_pool2d(b, pool)).pow(2).mean()
    return float(-10 * torch.log10(mse))


def _layout_corr(a: torch.Tensor, b: torch.Tensor, *, pool: int) -> float:
    """Correlation of the luminance of two images averaged over `pool` x `pool` blocks: their layout."""
    x = F.avg_pool2d(a.mean(1, keepdim=True), pool).flatten()
    y = F.avg_pool2d(b.mean(1, keepdim=True), pool).flatten()
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / (x.norm() * y.norm()))


def _gram_distance(image: torch.Tensor, target: torch.Tensor, vgg) -> float:
    """The paper's style loss sum_l E_l over conv1_1 ... conv5_1, computed here independently of the engine."""
    model = VGGFeatures(vgg, PAPER_STYLE_LAYERS)
    with torch.no_grad():
        a, b = model(image), model(target)
        return sum(float(style_loss(gram(a[k]), gram(b[k]))) for k in PAPER_STYLE_LAYERS)


@pytest.fixture(scope="module")
def content_reconstructions(photo, vgg) -> dict[str, torch.Tensor]:
    return {layer: _reconstruct_content(photo, layer, vgg) for layer in ("conv1_2", "conv3_2", "conv5_2")}


@needs_shared
def test_content_reconstruction_error_grows_with_depth(content_reconstructions, photo):
    target = to_tensor(photo)
    errors = [_mae(content_reconstructions[k], target) for k in ("conv1_2", "conv3_2", "conv5_2")]
    # measured: 0.11 < 0.18 < 0.26 (white noise itself: ~0.3)
    assert errors[0] < 0.8 * errors[1] < 0.8**2 * errors[2], errors


@needs_shared
def test_conv1_2_reconstruction_is_nearly_exact(content_reconstructions, photo):
    result, target = content_reconstructions["conv1_2"], to_tensor(photo)
    # What is left of the noise is the finest (one-pixel) pattern, which conv1 barely sees: at the scale of
    # 2x2 pixels the photo is back (measured 28 dB; the noise start is 12 dB), and pixel by pixel the
    # luminance correlates at 0.99.
    assert _psnr(result, target, pool=2) > 24
    assert _layout_corr(result, target, pool=1) > 0.95


@needs_shared
def test_conv5_2_reconstruction_keeps_layout_not_details(content_reconstructions, photo):
    result, target = content_reconstructions["conv5_2"], to_tensor(photo)
    # Details gone: pixel correlation measured 0.11 (conv1_2: 0.99), 2x2 PSNR 12.7 dB (conv1_2: 28).
    assert _layout_corr(result, target, pool=1) < 0.5
    assert _psnr(result, target, pool=2) < 18
    # Layout kept: at 8x8-pixel blocks the result resembles the photo (measured 0.29) more than the same
    # photo mirrored left-right (0.06) or upside down (-0.19), which have the same colours and statistics.
    coarse = _layout_corr(result, target, pool=8)
    assert coarse > _layout_corr(result, target.flip(3), pool=8) + 0.1
    assert coarse > _layout_corr(result, target.flip(2), pool=8) + 0.1


@pytest.fixture(scope="module")
def style_reconstruction(painting, vgg) -> torch.Tensor:
    return _reconstruct_style(painting, vgg)


@needs_shared
def test_style_reconstruction_matches_grams(style_reconstruction, painting, vgg):
    target = to_tensor(painting)
    noise = torch.rand(target.shape, generator=torch.Generator().manual_seed(0))  # the engine's start
    start, end = _gram_distance(noise, target, vgg), _gram_distance(style_reconstruction, target, vgg)
    assert end < start / 10, (start, end)  # measured: 1.4e9 -> 2.9e7 in 40 steps
    # The painting's colours come back with its texture: the mean colour moves from grey to the painting's.
    assert (style_reconstruction.mean((0, 2, 3)) - target.mean((0, 2, 3))).abs().max() < 0.1


@needs_shared
def test_style_reconstruction_does_not_copy_layout(style_reconstruction, painting):
    target = to_tensor(painting)
    # Pixel by pixel the texture is unrelated to the painting (measured 0.21; a conv1_2 reconstruction: 0.99),
    # and it is no more like the painting than like its mirror image (0.40 vs 0.44 at 8x8 blocks).
    assert _layout_corr(style_reconstruction, target, pool=1) < 0.5
    assert (
        _layout_corr(style_reconstruction, target, pool=8)
        < _layout_corr(style_reconstruction, target.flip(3), pool=8) + 0.15
    )


# --- the figure module ---------------------------------------------------------------------------------


@needs_shared
def test_iter_reconstructions_streams_labelled_cells(photo, painting, vgg):
    cells = iter_reconstructions(photo, painting, size=32, steps=2, weights=vgg, device="cpu")
    first = next(cells)
    assert (first.row, first.col) == (0, 0)
    assert first.params.content_layers == ("conv1_2",) and first.params.style_layers == ()
    assert first.params.init == "noise" and first.image.size == (32, 24)
    rest = list(cells)
    assert [(c.row, c.col) for c in rest][-1] == (1, 4)
    style_last = rest[-1]
    assert style_last.params.style_layers == PAPER_STYLE_LAYERS and style_last.params.content_layers == ()
    assert style_last.image.size == fit_long_side(painting, 32).size  # the painting's canvas, not the photo's
    page = render_figure(reconstructions_layout(), [first, *rest], inputs=[photo, painting])
    assert page.width > 6 * 32 and page.height > 2 * 32


@needs_shared
def test_iter_grid_sets_alpha_beta_and_layers(photo, painting, vgg):
    cells = iter_grid(photo, painting, size=32, steps=1, ratios=(1e-4, 1e-2), weights=vgg, device="cpu")
    got: list[Cell] = []
    for cell in cells:
        got.append(cell)
        if len(got) == 3:
            cells.close()  # an app's Stop: no further cell is computed
    assert len(got) == 3
    assert [(c.row, c.col) for c in got] == [(0, 0), (0, 1), (1, 0)]
    assert got[0].params.content_weight / got[0].params.style_weight == pytest.approx(1e-4)
    assert got[1].params.content_weight / got[1].params.style_weight == pytest.approx(1e-2)
    assert got[0].params.style_layers == ("conv1_1",) and got[2].params.style_layers == ("conv1_1", "conv2_1")
    assert got[0].params.content_layers == ("conv4_2",)
    page = render_figure(grid_layout((1e-4, 1e-2)), got)
    assert page.size[0] > 2 * 32


def test_bad_arguments_raise_before_any_work():
    with pytest.raises(ValueError, match="style_weight"):
        iter_grid("a.jpg", "b.jpg", style_weight=3.0)
    with pytest.raises(ValueError, match="ratios"):
        iter_grid("a.jpg", "b.jpg", ratios=(0.0,))
    with pytest.raises(ValueError, match="steps"):
        iter_reconstructions("a.jpg", "b.jpg", steps=0)


def test_ratio_labels_read_like_the_paper():
    assert [format_ratio(r) for r in (1e-5, 1e-4, 1e-3, 1e-2, 2e-3)] == ["1e-5", "1e-4", "1e-3", "1e-2", "2e-3"]
    assert grid_layout().col_labels[0] == "alpha/beta 1e-5"
    assert reconstructions_layout().cell_labels[1][-1] == "+ conv5_1"


@needs_shared
def test_cli_writes_one_labelled_png(tmp_path, capsys):
    from artstyle.paper import main

    out = tmp_path / "fig1.png"
    args = ["reconstructions", str(CONTENT), str(STYLE), "-o", str(out), "--size", "32", "--steps", "1"]
    assert main([*args, "--weights", str(WEIGHTS), "--device", "cpu", "-q"]) == 0
    page = Image.open(out)
    assert page.format == "PNG" and page.width > 6 * 32  # input column + 5 panels + row labels
    assert main(["grid", str(CONTENT), str(STYLE), "-o", str(tmp_path / "x.jpg")]) == 2
    assert "PNG" in capsys.readouterr().err


@needs_shared
def test_iter_figure_streams_steps_and_panels_and_stops_when_closed():
    from artstyle.paper import FIGURES, iter_figure

    assert set(FIGURES) == {"reconstructions", "grid"}
    events = iter_figure("reconstructions", CONTENT, STYLE, size=32, steps=3, weights=WEIGHTS, device="cpu")
    seen = []
    for event in events:
        seen.append(event)
        if len(event.cells) == 2:
            break
    events.close()  # stops within the third panel's first step
    assert [e.step.step for e in seen] == [1, 2, 3, 1, 2, 3]
    assert [e.finished is not None for e in seen] == [False, False, True, False, False, True]
    assert seen[-1].total == 10 and seen[-1].caption == "content: conv2_2"
    page = seen[-1].render()
    assert page.width > 6 * 32  # the input column, the five panels of a row, the row labels
    with pytest.raises(ValueError, match="figure must be one of reconstructions, grid"):
        iter_figure("fig9", CONTENT, STYLE)
