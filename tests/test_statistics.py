"""Style statistics (artstyle/statistics.py): gradients, reaching a painting's statistics, blends and masks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

import artstyle
from artstyle.features import VGGFeatures
from artstyle.images import fit_long_side, load_image, to_tensor
from artstyle.statistics import STATISTICS, GramStatistic, MomentsStatistic, SlicedStatistic, _TraceSqrt, statistic
from tests.conftest import CONTENT_DIR, STYLES_DIR, needs_shared

NAMES = list(STATISTICS)
CONTENT = CONTENT_DIR / "tubingen.jpg"
STARRY, WAVE = STYLES_DIR / "starry_night.jpg", STYLES_DIR / "great_wave.jpg"


def _features(seed: int, shape=(1, 6, 5, 4)) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_the_registry_names_each_statistic_once():
    assert NAMES == ["gram", "moments", "sliced"]
    assert all(STATISTICS[name].name == name for name in NAMES)
    assert isinstance(statistic("sliced", seed=3), SlicedStatistic) and statistic("sliced", seed=3).seed == 3
    with pytest.raises(ValueError, match="unknown style statistic 'wasserstein'; known: gram, moments, sliced"):
        statistic("wasserstein")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("guided", [False, True])
def test_the_gradient_is_the_derivative(name, guided):
    """torch.autograd.gradcheck: each distance's gradient (custom backward passes included) against finite
    differences of its value, in float64, with and without a region."""
    stat = statistic(name, seed=1)
    target = stat.target(_features(0))
    region = torch.tensor([[1.0, 1.0, 0.0, 0.2] * 5], dtype=torch.float64).reshape(1, 1, 5, 4) if guided else None
    x = _features(1).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f: stat.distance(f, target, region), (x,), eps=1e-6, atol=1e-5)


def test_the_trace_square_root_matches_autograd_through_eigh():
    a = torch.rand(8, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    m = (a @ a.T + 0.1 * torch.eye(8, dtype=torch.float64)).requires_grad_(True)
    (ours,) = torch.autograd.grad(_TraceSqrt.apply(m), m)
    values, vectors = torch.linalg.eigh(m)
    (reference,) = torch.autograd.grad((vectors * values.sqrt()) @ vectors.T, m, torch.eye(8, dtype=torch.float64))
    assert float(_TraceSqrt.apply(m.detach())) == pytest.approx(float(values.sqrt().sum()), rel=1e-12)
    torch.testing.assert_close(ours, 0.5 * (reference + reference.T), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_a_distance_is_zero_at_the_target_and_positive_elsewhere(name):
    stat = statistic(name)
    features = _features(3)
    assert float(stat.distance(features, stat.target(features))) == pytest.approx(0.0, abs=1e-9)
    assert float(stat.distance(_features(4), stat.target(features))) > 1e-4


def test_moments_match_the_mean_apart_from_the_second_moment():
    """Two feature sets with the same second moment (Gram) but different means: Gram cannot tell them apart,
    the moments statistic can."""
    base = _features(5, (1, 4, 6, 6))
    flat = base.reshape(4, -1)
    flipped = flat.clone()
    flipped[:, ::2] *= -1  # same f f^T, opposite sign on half the positions: another mean
    other = flipped.reshape(base.shape)
    assert float(GramStatistic().distance(other, GramStatistic().target(base))) == pytest.approx(0.0, abs=1e-12)
    assert float(MomentsStatistic().distance(other, MomentsStatistic().target(base))) > 1e-3


def test_sliced_blend_is_the_mixture_of_the_paintings():
    stat = SlicedStatistic(seed=0)
    a, b = _features(6, (1, 3, 4, 4)), _features(7, (1, 3, 4, 4)) + 2.0
    mixed = stat.blend([stat.target(a), stat.target(b)], [0.5, 0.5])
    both = torch.cat([a, b], dim=-1)  # the two feature sets side by side: the mixture's sample
    assert float(stat.distance(both, mixed)) == pytest.approx(0.0, abs=1e-12)
    assert float(stat.distance(a, mixed)) > 0.1


def test_moments_blend_averages_the_mean_and_the_second_moment():
    stat = MomentsStatistic()
    a, b = _features(8, (1, 3, 4, 4)), _features(9, (1, 3, 4, 4)) + 1.0
    mixed = stat.blend([stat.target(a), stat.target(b)], [0.25, 0.75])
    torch.testing.assert_close(mixed.mean, 0.25 * stat.target(a).mean + 0.75 * stat.target(b).mean)
    torch.testing.assert_close(mixed.second, 0.25 * stat.target(a).second + 0.75 * stat.target(b).second)


# --- with the real network ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vgg() -> artstyle.VGGWeights:
    from tests.conftest import REAL_WEIGHTS

    return artstyle.load_weights(REAL_WEIGHTS)


@needs_shared
@pytest.mark.parametrize("name", NAMES)
def test_each_statistic_starts_at_the_papers_strength(vgg, name):
    """At the photo, every statistic's style term equals the Gram term: style_weight means the same for each."""
    photo = fit_long_side(load_image(CONTENT), 64)  # the very pixels the objective's targets are taken from
    gram = artstyle.objective_terms(CONTENT, photo, STARRY, weights=vgg, size=64, device="cpu")
    own = artstyle.objective_terms(CONTENT, photo, STARRY, weights=vgg, size=64, device="cpu", style_loss=name)
    assert own.style == pytest.approx(gram.style, rel=1e-4)
    assert own.content == gram.content == 0.0


@needs_shared
@pytest.mark.parametrize("name", NAMES)
def test_from_noise_each_statistic_reaches_the_paintings(vgg, name):
    """A style-only reconstruction (the paper's Fig. 1 kind) from white noise: the statistic's own distance to the
    painting falls far, and the picture takes the painting's colours."""
    events = list(
        artstyle.stylize_iter(
            CONTENT,
            STARRY,
            weights=vgg,
            size=64,
            steps=60,
            content_weight=0,
            init="noise",
            tv_weight=0,
            style_loss=name,
            device="cpu",
            preview_every=0,
        )  # fmt: skip
    )
    assert events[-1].losses.style < 0.1 * events[0].losses.style, (name, events[0].losses, events[-1].losses)
    painting = np.asarray(fit_long_side(load_image(STARRY), 64), dtype=np.float64).reshape(-1, 3)
    noise = np.random.default_rng(0).random((64 * 48, 3)) * 255
    result = np.asarray(events[-1].image, dtype=np.float64).reshape(-1, 3)
    # Measured after 60 steps: 0.59 (gram), 0.71 (moments), 0.59 (sliced) of the noise's colour distance.
    assert _colour_distance(result, painting) < 0.8 * _colour_distance(noise, painting)


def _colour_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Per-channel Wasserstein-1 distance between two sets of RGB pixels, summed over the channels."""
    q = np.linspace(0.01, 0.99, 50)
    return float(sum(np.abs(np.quantile(a[:, c], q) - np.quantile(b[:, c], q)).mean() for c in range(3)))


def _style_distances(vgg, image: Image.Image, paintings, name: str) -> list[float]:
    """The statistic's distance (conv1_1 ... conv3_1) from `image` to each painting, at the image's size."""
    layers = ("conv1_1", "conv2_1", "conv3_1")
    model = VGGFeatures(vgg, layers)
    stat = statistic(name)
    with torch.no_grad():
        mine = model(to_tensor(image))
        out = []
        for painting in paintings:
            theirs = model(to_tensor(fit_long_side(load_image(painting), max(image.size))))
            out.append(sum(float(stat.distance(mine[k], stat.target(theirs[k]))) / float(
                stat.distance(torch.zeros_like(theirs[k]), stat.target(theirs[k]))) for k in layers))  # fmt: skip
    return out


@needs_shared
@pytest.mark.parametrize("name", NAMES)
def test_a_blend_lies_between_its_paintings(vgg, name):
    # 30 steps: after 15, moments' blend was still nearer The Starry Night than Starry's own picture (2 threads).
    kwargs = dict(weights=vgg, size=64, steps=30, device="cpu", preview_every=0, style_loss=name)
    alone = [artstyle.stylize(CONTENT, s, **kwargs) for s in (STARRY, WAVE)]
    mixed = artstyle.stylize(CONTENT, [STARRY, WAVE], style_blend=[0.5, 0.5], **kwargs)
    to_starry, to_wave = _style_distances(vgg, mixed, (STARRY, WAVE), name)
    starry_only, wave_only = (_style_distances(vgg, a, (STARRY, WAVE), name) for a in alone)
    assert to_starry > starry_only[0] and to_wave > wave_only[1]  # neither painting's own picture
    assert to_starry < wave_only[0] and to_wave < starry_only[1]  # but nearer each than the other's picture


@needs_shared
@pytest.mark.parametrize("name", NAMES)
def test_a_mask_puts_each_half_nearer_its_own_painting(vgg, name):
    content = fit_long_side(load_image(CONTENT), 96)
    w, h = content.size
    mask = Image.new("L", (w, h), 0)
    mask.paste(255, (w // 2, 0, w, h))  # left: Starry Night, right: The Great Wave
    out = artstyle.stylize(CONTENT, [STARRY, WAVE], mask=mask, weights=vgg, size=96, steps=12, device="cpu",
                           preview_every=0, style_loss=name)  # fmt: skip
    for half, own, other in (((0, 0, w // 2, h), 0, 1), ((w // 2, 0, w, h), 1, 0)):
        before = _style_distances(vgg, content.crop(half), (STARRY, WAVE), name)
        after = _style_distances(vgg, out.crop(half), (STARRY, WAVE), name)
        gain_own, gain_other = before[own] - after[own], before[other] - after[other]
        assert gain_own > 0 and gain_own > 1.5 * gain_other, (name, half, before, after)


@needs_shared
@pytest.mark.parametrize("name", ["moments", "sliced"])
@pytest.mark.parametrize(
    "controls",
    [
        {"preserve_color": "luminance", "style_scale": 0.5},
        {"preserve_color": "histogram", "scales": 2},
        {"optimizer": "adam", "ema": True},
    ],
)
def test_every_control_works_with_each_statistic(vgg, name, controls):
    events = list(artstyle.stylize_iter(CONTENT, STARRY, weights=vgg, size=64, steps=8, device="cpu",
                                        preview_every=0, style_loss=name, **controls))  # fmt: skip
    assert all(np.isfinite(dataclasses.astuple(e.losses)).all() for e in events)
    assert events[-1].losses.style < events[0].losses.style
    assert events[-1].image.size == (64, 48)


@needs_shared
def test_the_docs_example_adds_a_statistic_the_whole_library_uses(vgg):
    """docs/statistics.md's "Adding a statistic": its code block, run as written, registers a statistic that
    StyleParams, the objective and a run accept by name."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "statistics.md").read_text(encoding="utf-8")
    example = text.split("## Adding a statistic", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    try:
        exec(compile(example, "docs/statistics.md", "exec"), {})  # noqa: S102 - our own documentation
        assert "mean" in STATISTICS
        events = list(artstyle.stylize_iter(CONTENT, STARRY, weights=vgg, size=48, steps=3, style_loss="mean"))
        assert events[-1].done and events[-1].losses.style < events[0].losses.style
    finally:
        STATISTICS.pop("mean", None)
