"""Creative controls: each control's *effect*, with the real VGG19 weights at 64-96 px.

Gatys et al. 2016 (colour) and 2017 (spatial, scale control): preserve_color, scales, several styles,
style_scale, mask, ema. Runs are a few L-BFGS steps: enough to move the picture, small enough for CI.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import artstyle
from artstyle import color
from artstyle.cli import main as cli_main
from artstyle.features import VGGFeatures
from artstyle.images import fit_long_side, load_image, to_tensor
from artstyle.losses import gram
from tests.conftest import CONTENT_DIR, REAL_WEIGHTS, STYLES_DIR, needs_shared

WEIGHTS = REAL_WEIGHTS
CONTENT = CONTENT_DIR / "tubingen.jpg"
STARRY = STYLES_DIR / "starry_night.jpg"
KISS = STYLES_DIR / "the_kiss_detail.png"
SCREAM = STYLES_DIR / "the_scream.jpg"


@pytest.fixture(scope="module")
def vgg() -> artstyle.VGGWeights:
    return artstyle.load_weights(WEIGHTS)


def run(vgg: artstyle.VGGWeights, style=STARRY, **kwargs) -> list[artstyle.Progress]:
    options = {"size": 64, "steps": 5, "device": "cpu", **kwargs}
    return list(artstyle.stylize_iter(CONTENT, style, weights=vgg, **options))


@pytest.fixture(scope="module")
def baseline(vgg) -> list[artstyle.Progress]:
    """Starry Night on Tuebingen, no controls: what every control is compared against."""
    return run(vgg, preview_every=1)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32) / 255.0


def content_at(image: Image.Image) -> torch.Tensor:
    return to_tensor(fit_long_side(load_image(CONTENT), max(image.size)))


# --- colour -------------------------------------------------------------------------------------------------


def test_match_histogram_gives_the_targets_mean_and_covariance():
    gen = torch.Generator().manual_seed(0)
    style = torch.rand(1, 3, 40, 30, generator=gen) * torch.tensor([0.3, 0.6, 0.2]).view(1, 3, 1, 1)
    target = 0.3 + 0.4 * torch.rand(1, 3, 20, 20, generator=gen)
    mean_o, cov_o = color.color_stats(color.match_histogram(style, target))
    mean_t, cov_t = color.color_stats(target)
    assert torch.allclose(mean_o, mean_t, atol=1e-3)
    assert torch.allclose(cov_o, cov_t, atol=1e-3)


def test_yiq_round_trip():
    image = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(color.yiq_to_rgb(color.rgb_to_yiq(image)), image, atol=1e-5)


@needs_shared
def test_luminance_keeps_the_contents_chroma(vgg, baseline):
    def chroma_error(image: Image.Image) -> float:
        out = color.rgb_to_yiq(to_tensor(image))[:, 1:]
        return float((out - color.rgb_to_yiq(content_at(image))[:, 1:]).abs().mean())

    result = run(vgg, preserve_color="luminance")[-1].image
    assert chroma_error(result) < 0.006  # 8-bit rounding and the gamut clip only
    assert chroma_error(baseline[-1].image) > 5 * chroma_error(result)


@needs_shared
def test_histogram_brings_the_colours_near_the_contents(vgg):
    def colour_distance(image: Image.Image) -> tuple[float, float]:
        mean_o, cov_o = color.color_stats(to_tensor(image))
        mean_c, cov_c = color.color_stats(content_at(image))
        return float((mean_o - mean_c).norm()), float((cov_o - cov_c).norm())

    # 20 steps, not the baseline's 5: a few damped steps from the photo barely move its colours at all.
    mean_h, cov_h = colour_distance(run(vgg, steps=20, preserve_color="histogram")[-1].image)
    mean_b, cov_b = colour_distance(run(vgg, steps=20)[-1].image)
    assert mean_h < 0.05 and mean_h < mean_b / 2
    assert cov_h < cov_b / 2


# --- coarse to fine -----------------------------------------------------------------------------------------


@needs_shared
def test_scales_stream_from_the_small_level_and_end_at_size(vgg):
    events = run(vgg, size=96, steps=6, scales=2, preview_every=2)
    assert [e.level for e in events] == [0, 0, 0, 1, 1, 1]
    assert {e.levels for e in events} == {2}
    assert [e.step for e in events] == list(range(1, 7)) and events[-1].total == 6
    first_preview = next(e for e in events if e.image is not None)
    assert first_preview.level == 0 and max(first_preview.image.size) == 48 == max(first_preview.size)
    assert events[-1].done and max(events[-1].image.size) == 96 and events[-1].size == events[-1].image.size


@needs_shared
@pytest.mark.parametrize(("optimizer", "init"), [("adam", "noise"), ("lbfgs", "style")])
def test_scales_combine_with_optimisers_and_inits(vgg, optimizer, init):
    events = run(vgg, steps=4, scales=[32], scale_steps=[3, 1], optimizer=optimizer, init=init)
    assert [e.level for e in events] == [0, 0, 0, 1]
    assert all(np.isfinite(e.losses.total) for e in events)
    assert events[-1].image.size == (64, 48)


def test_level_rule():
    p = artstyle.StyleParams(size=512, steps=100, scales=3)
    assert p.level_sizes() == (128, 256, 512) and p.level_steps() == (33, 33, 34)
    assert artstyle.StyleParams(size=512, scales=[200, 512]).level_sizes() == (200, 512)
    assert artstyle.StyleParams(size=512, steps=10, scales=[256], scale_steps=[7, 3]).level_steps() == (7, 3)


def test_the_coarse_to_fine_schedule_grows_by_sqrt_2_and_spends_most_iterations_small():
    p = artstyle.StyleParams(size=256, steps=170, schedule="coarse-to-fine")
    assert p.level_sizes() == (128, 181, 256) and p.level_steps() == (77, 54, 39)
    assert artstyle.StyleParams(size=512, steps=300, schedule="coarse-to-fine").level_sizes() == (128, 181, 256, 362,
                                                                                                512)  # fmt: skip
    assert artstyle.StyleParams(size=384, schedule="coarse-to-fine").level_sizes() == (136, 192, 272, 384)
    assert artstyle.StyleParams(size=100, schedule="coarse-to-fine").level_sizes() == (100,)  # below 2 levels' worth
    assert len(artstyle.StyleParams(size=8192, schedule="coarse-to-fine").level_sizes()) == 8  # MAX_LEVELS
    for size, steps in ((256, 3), (256, 4), (512, 7), (1024, 1000)):
        p = artstyle.StyleParams(size=size, steps=steps, schedule="coarse-to-fine")
        assert sum(p.level_steps()) == steps and min(p.level_steps()) >= 1
        assert list(p.level_steps()) == sorted(p.level_steps(), reverse=True)  # never more on a finer level
    # scales chooses the levels by hand; the schedule then has nothing to say
    assert artstyle.StyleParams(size=256, scales=2, schedule="coarse-to-fine").level_sizes() == (128, 256)
    with pytest.raises(ValueError, match="schedule must be one of 'single', 'coarse-to-fine'"):
        artstyle.StyleParams(schedule="pyramid")
    with pytest.raises(ValueError, match=r"steps \(2\) must be at least the number of scales \(3\)"):
        artstyle.StyleParams(size=256, steps=2, schedule="coarse-to-fine")


@needs_shared
def test_the_coarse_to_fine_schedule_runs_its_levels(vgg):
    events = run(vgg, size=192, steps=9, schedule="coarse-to-fine", preview_every=0)
    assert [e.size[0] for e in events] == [136] * 5 + [192] * 4
    assert events[-1].done and events[-1].image.size == (192, 144) and events[-1].levels == 2


# --- several styles, style scale ----------------------------------------------------------------------------


@needs_shared
def test_blend_one_zero_is_the_first_style_alone(vgg, baseline):
    blended = run(vgg, style=[STARRY, KISS], style_blend=[1, 0])[-1].image
    assert np.array_equal(pixels(blended), pixels(baseline[-1].image))


@needs_shared
def test_blend_of_two_styles_differs_from_each(vgg, baseline):
    mixed = pixels(run(vgg, style=[STARRY, KISS], style_blend=[0.5, 0.5])[-1].image)
    assert np.abs(mixed - pixels(baseline[-1].image)).mean() > 0.01


@needs_shared
def test_style_scale_changes_the_result(vgg, baseline):
    small = pixels(run(vgg, style_scale=0.5)[-1].image)
    assert np.abs(small - pixels(baseline[-1].image)).mean() > 0.01


# --- spatial control ----------------------------------------------------------------------------------------


def _grams(model: VGGFeatures, image: torch.Tensor) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return {k: gram(v) for k, v in model(image).items()}


@needs_shared
def test_mask_puts_each_half_nearer_its_own_painting(vgg):
    size, layers = 96, ("conv1_1", "conv2_1", "conv3_1")
    content = fit_long_side(load_image(CONTENT), size)
    w, h = content.size
    mask = Image.new("L", (w, h), 0)
    mask.paste(255, (w // 2, 0, w, h))  # left: Starry Night, right: The Kiss
    events = list(
        artstyle.stylize_iter(
            CONTENT, [STARRY, KISS], mask=mask, weights=vgg, size=size, steps=12, device="cpu", preview_every=0
        )
    )
    out = to_tensor(events[-1].image)
    model = VGGFeatures(vgg, layers)
    targets = [_grams(model, to_tensor(fit_long_side(load_image(s), size))) for s in (STARRY, KISS)]

    def distance(image: torch.Tensor, target: dict[str, torch.Tensor]) -> float:
        grams = _grams(model, image)
        return sum(float((grams[k] - target[k]).norm() / target[k].norm()) for k in layers)

    # How far each half moved towards each painting from where it started (the photo's own statistics,
    # which favour one painting before anything happens): towards its own painting, much more.
    before = to_tensor(content)
    for half, own, other in ((slice(0, w // 2), 0, 1), (slice(w // 2, w), 1, 0)):
        gain_own = distance(before[..., half], targets[own]) - distance(out[..., half], targets[own])
        gain_other = distance(before[..., half], targets[other]) - distance(out[..., half], targets[other])
        assert gain_own > 0.1 and gain_own > 2 * gain_other


def test_colour_mask_regions_ordered_dark_to_light():
    from artstyle.inputs import mask_guides

    mask = Image.new("RGB", (30, 10), (250, 250, 250))
    mask.paste((200, 0, 0), (0, 0, 10, 10))
    mask.paste((0, 0, 90), (10, 0, 20, 10))
    guides = mask_guides(mask, (30, 10), 3)[0]
    assert guides.shape == (3, 10, 30)
    assert guides[0, :, 10:20].min() == 1  # darkest: dark blue -> first style
    assert guides[1, :, :10].min() == 1  # red
    assert guides[2, :, 20:].min() == 1  # white -> third style
    assert torch.equal(guides.sum(0), torch.ones(10, 30))


# --- iterate averaging ----------------------------------------------------------------------------------------


@needs_shared
def test_ema_averages_the_iterates(vgg, baseline):
    averaged = run(vgg, ema=0.5, preview_every=1)
    # Bias-corrected: the first average is the first iterate itself, later ones lag behind the iterates.
    assert np.array_equal(pixels(averaged[0].image), pixels(baseline[0].image))
    assert np.abs(pixels(averaged[-1].image) - pixels(baseline[-1].image)).mean() > 0.002


# --- validation and CLI -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"preserve_color": "yuv"}, "preserve_color"),
        ({"style_blend": [0, 0]}, "style_blend"),
        ({"style_blend": [1, -1]}, "style_blend"),
        ({"style_scale": 0}, "style_scale"),
        ({"style_scale": 10}, "style_scale"),
        ({"scales": 0}, "scales"),
        ({"scales": 6, "size": 512}, "scales"),
        ({"scales": [256, 128]}, "scales"),
        ({"scales": [600]}, "scales"),
        ({"scales": 2, "scale_steps": [5]}, "scale_steps"),
        ({"scales": 2, "steps": 10, "scale_steps": [5, 6]}, "scale_steps"),
        ({"ema": 1.0}, "ema"),
        ({"ema": "yes"}, "ema"),
    ],
)
def test_bad_values_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        artstyle.StyleParams(**kwargs)


@needs_shared
def test_image_arguments_are_checked(vgg):
    with pytest.raises(ValueError, match="style_blend"):
        artstyle.stylize_iter(CONTENT, [STARRY, KISS], style_blend=[1, 1, 1], weights=vgg)
    with pytest.raises(ValueError, match="mask"):
        artstyle.stylize_iter(CONTENT, STARRY, mask=Image.new("L", (64, 48)), weights=vgg, size=64)
    with pytest.raises(ValueError, match="mask"):
        artstyle.stylize_iter(CONTENT, [STARRY, KISS], mask=Image.new("L", (48, 64)), weights=vgg, size=64)


@needs_shared
def test_cli_takes_several_styles_a_mask_and_the_controls(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTSTYLE_WEIGHTS", str(WEIGHTS))
    content = fit_long_side(load_image(CONTENT), 64)
    mask = Image.new("L", content.size, 0)
    mask.paste(255, (32, 0, 64, 48))
    mask.save(tmp_path / "mask.png")
    out = tmp_path / "out.png"
    argv = [str(CONTENT), str(STARRY), str(KISS), "--mask", str(tmp_path / "mask.png"), "-o", str(out)]
    argv += ["--size", "64", "--steps", "2", "--scales", "2", "--style-blend", "0.7,0.3", "--ema", "0.8"]
    argv += ["--preserve-color", "luminance", "--style-scale", "0.8", "--device", "cpu", "-q"]
    assert cli_main(argv) == 0
    assert Image.open(out).size == (64, 48)
