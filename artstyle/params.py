"""Every tunable of a style-transfer run, defined once.

`StyleParams` is the single source of truth: the Python API validates keyword arguments through it, the
CLI builds its options from its fields, and the app takes its defaults from it. Defaults follow Gatys,
Ecker & Bethge (2015) where the paper fixes a choice; where we deviate, the field's help says so.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from .statistics import STATISTICS

#: The VGG19 convolution layers, in network order (Simonyan & Zisserman 2014, configuration E).
VGG19_LAYERS: tuple[str, ...] = (
    "conv1_1", "conv1_2",
    "conv2_1", "conv2_2",
    "conv3_1", "conv3_2", "conv3_3", "conv3_4",
    "conv4_1", "conv4_2", "conv4_3", "conv4_4",
    "conv5_1", "conv5_2", "conv5_3", "conv5_4",
)  # fmt: skip

#: The paper's layers: content at conv4_2, style at conv1_1 ... conv5_1 (Gatys et al. 2015, Fig. 2).
PAPER_CONTENT_LAYERS: tuple[str, ...] = ("conv4_2",)
PAPER_STYLE_LAYERS: tuple[str, ...] = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")

Optimizer = Literal["lbfgs", "adam"]
Init = Literal["content", "noise", "style"]
Pooling = Literal["avg", "max"]
PreserveColor = Literal["luminance", "histogram"]
Schedule = Literal["single", "coarse-to-fine"]
#: How an optional choice (preserve_color) spells "no choice" wherever it is typed: the CLI, the app's page and
#: its API, and `StyleParams` itself, which takes it as None.
NONE_CHOICE = "none"

MAX_SIZE = 8192  # long side in px; the device-memory check may refuse far less
MAX_STEPS = 100_000
MIN_LEVEL_SIZE = 32  # long side of the smallest pyramid level: conv5_1 still sees 2x2 positions
MAX_LEVELS = 8
MAX_STYLE_SCALE = 4.0
#: schedule="coarse-to-fine": the smallest level's long side (about), and the growth from one level to the next
#: (as crowsonkb/style-transfer-pytorch: 128 px, then x sqrt(2)).
PYRAMID_START = 128
PYRAMID_GROWTH = math.sqrt(2)
#: Decay used by `ema=True`: a bias-corrected average over roughly the last 1 / (1 - decay) = 10 iterates.
DEFAULT_EMA_DECAY = 0.9
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _comma_list(text: str, kind: Callable[[str], Any]) -> tuple[Any, ...]:
    """A CLI list such as "0.7,0.3" or "128,256" (empty items ignored)."""
    return tuple(kind(x) for x in text.split(",") if x.strip())


def _help(text: str, **extra: Any) -> dict[str, Any]:
    return {"help": text, **extra}


#: The paper's choices for the fields whose defaults depart from it (docs/departures.md):
#: white-noise start, no total-variation term, average pooling.
PAPER_SETTINGS: dict[str, Any] = {"init": "noise", "tv_weight": 0.0, "pooling": "avg"}


@dataclass(frozen=True, kw_only=True)
class StyleParams:
    """Parameters of one run. Construct with keywords; invalid values raise `ValueError`."""

    size: int = field(default=512, metadata=_help("Long side of the output image in pixels."))
    # measured: bench/README.md, 'bench.py'
    steps: int = field(
        default=300,
        metadata=_help(
            "Optimisation iterations in total. 300: L-BFGS reaches the plain Gatys reference's 300-iteration "
            "score in about 300 iterations; more keeps lowering the loss, slowly."
        ),
    )
    content_weight: float = field(
        default=1.0, metadata=_help("alpha: weight of the content loss (Gatys et al. 2015, eq. 7).")
    )
    style_weight: float = field(
        default=1e3,
        metadata=_help(
            "beta: weight of the style loss. alpha/beta = 1e-3 as in the paper's Fig. 2; "
            "larger beta paints more strongly."
        ),
    )
    # measured: bench/README.md, 'speckle.py'
    tv_weight: float = field(
        default=1e11,
        metadata=_help(
            "Total-variation weight: removes the pixel-scale colour speckle VGG's losses leave alone, without "
            "losing the painting. Not in the paper (0: --paper); use 0 for content- or style-only reconstructions."
        ),
    )
    optimizer: Optimizer = field(default="lbfgs", metadata=_help("L-BFGS as in the paper, or Adam."))
    lr: float | None = field(
        default=None,
        metadata=_help("Step size; default: 1 for L-BFGS, 0.02 for Adam (in 0-1 pixel units)."),
    )
    init: Init = field(
        default="content",
        metadata=_help(
            "Starting image. The paper starts from white noise; we default to the content photo, "
            "which reaches the same kind of result in far fewer iterations."
        ),
    )
    seed: int = field(default=0, metadata=_help("Random seed (noise init); same seed, same pixels on CPU."))
    pooling: Pooling = field(
        default="avg", metadata=_help("VGG pooling: average, as in the paper, or max (VGG's own).")
    )
    content_layers: tuple[str, ...] = field(
        default=PAPER_CONTENT_LAYERS, metadata=_help("Layers whose features must match the content photo.")
    )
    style_layers: tuple[str, ...] = field(
        default=PAPER_STYLE_LAYERS, metadata=_help("Layers whose Gram matrices must match the painting.")
    )
    style_loss: str = field(
        default="gram",
        metadata=_help(
            "What the style term matches at each style layer: 'gram', the Gram matrices (the paper); 'moments', "
            "mean and covariance (a Wasserstein distance between Gaussians); 'sliced', the whole distribution of "
            "random projections (sliced Wasserstein, Heitz et al. 2021). Each is scaled to the Gram term's size "
            "at the photo, so style_weight means the same for all three.",
            choices=tuple(STATISTICS),
        ),
    )
    preview_every: int = field(
        default=10, metadata=_help("Attach a preview image to every Nth progress event (0: never).")
    )
    device: str = field(default="auto", metadata=_help("auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps."))
    # --- creative controls (Gatys et al. 2016 colour, 2017 spatial/colour/scale control) ---------------------
    preserve_color: PreserveColor | None = field(
        default=None,
        metadata=_help(
            "Keep the photo's colours: 'luminance' transfers the painting on luminance only and keeps the "
            "photo's chroma exactly; 'histogram' first recolours the painting to the photo's colour mean and "
            "covariance (Gatys et al. 2016). 'none' (None in Python): the painting's colours."
        ),
    )
    style_blend: tuple[float, ...] | None = field(
        default=None,
        metadata=_help(
            "Weights of several style images (one per style, normalised to sum 1): their Gram targets are "
            "blended. With a mask, the weight of each region's style. None: equal weights.",
            parse=lambda text: _comma_list(text, float),
            metavar="W1,W2,...",
        ),
    )
    style_scale: float = field(
        default=1.0,
        metadata=_help(
            "Long side of the style image relative to the output's before its Grams are taken (Gatys et al. "
            "2017, scale control): below 1 the painting is shrunk so its large shapes (whole swirls) transfer; "
            "above 1 it is enlarged so its fine brushwork transfers, each stroke bigger in pixels."
        ),
    )
    scales: int | tuple[int, ...] = field(
        default=1,
        metadata=_help(
            "Coarse-to-fine pyramid: a number of levels (each twice the previous long side, ending at size) "
            "or a list of long sides below size. Each level starts from the upsampled previous result. "
            "1: a single level, as in the paper.",
            parse=lambda text: _comma_list(text, int) if "," in text else int(text),
            metavar="N|S1,S2,...",
        ),
    )
    schedule: Schedule = field(
        default="single",
        metadata=_help(
            "How the picture grows when scales is 1: 'single', one level at size (the paper); 'coarse-to-fine', "
            f"levels from about {PYRAMID_START} px growing by sqrt(2) up to size, each starting from the last "
            "(Gatys et al. 2017, scale control), with more iterations on the small, cheap levels (each level "
            "1/sqrt(2) of the one before), where the large shapes form. A scales other than 1 chooses the "
            "levels instead."
        ),
    )
    scale_steps: tuple[int, ...] | None = field(
        default=None,
        metadata=_help(
            "Iterations per pyramid level, summing to steps. None: steps split equally, the remainder going "
            "to the finest levels.",
            parse=lambda text: _comma_list(text, int),
            metavar="N1,N2,...",
        ),
    )
    # measured: bench/README.md, 'research/controls_defaults.py'
    ema: bool | float = field(
        default=False,
        metadata=_help(
            "Output an exponential moving average of the iterates (bias-corrected): True for decay "
            f"{DEFAULT_EMA_DECAY}, or a decay in (0, 1). Off by default: it raised the output's "
            "objective by 4-5% for both optimisers.",
            parse=lambda text: _parse_ema(text),
            metavar="on|off|DECAY",
        ),
    )

    def __post_init__(self) -> None:
        _set(self, "size", _check_int("size", self.size, 16, MAX_SIZE))
        _set(self, "steps", _check_int("steps", self.steps, 1, MAX_STEPS))
        _set(self, "content_weight", _check_float("content_weight", self.content_weight))
        _set(self, "style_weight", _check_float("style_weight", self.style_weight))
        _set(self, "tv_weight", _check_float("tv_weight", self.tv_weight))
        if self.lr is not None:
            _set(self, "lr", _check_float("lr", self.lr, positive=True))
        if self.content_weight == 0 and self.style_weight == 0:
            raise ValueError("content_weight and style_weight are both 0: at least one must be positive")
        _check_choice("optimizer", self.optimizer, Optimizer)
        _check_choice("init", self.init, Init)
        _check_choice("pooling", self.pooling, Pooling)
        _check_choice("style_loss", self.style_loss, tuple(STATISTICS))
        _set(self, "seed", _check_int("seed", self.seed, 0, 2**63 - 1))
        _set(self, "preview_every", _check_int("preview_every", self.preview_every, 0, MAX_STEPS))
        _set(self, "content_layers", _check_layers("content_layers", self.content_layers))
        _set(self, "style_layers", _check_layers("style_layers", self.style_layers))
        if not self.content_layers and not self.style_layers:
            raise ValueError("content_layers and style_layers are both empty: name at least one layer")
        if not isinstance(self.device, str) or not _DEVICE_RE.match(self.device):
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {self.device!r}")
        if self.preserve_color == NONE_CHOICE:
            _set(self, "preserve_color", None)
        if self.preserve_color is not None:
            _check_choice("preserve_color", self.preserve_color, PreserveColor)
        if self.style_blend is not None:
            _set(self, "style_blend", _check_blend(self.style_blend))
        _check_float("style_scale", self.style_scale, positive=True)
        if self.style_scale > MAX_STYLE_SCALE:
            raise ValueError(f"style_scale must be at most {MAX_STYLE_SCALE}, got {self.style_scale!r}")
        _set(self, "scales", _check_scales(self.scales, self.size))
        _check_choice("schedule", self.schedule, Schedule)
        if self.scale_steps is not None:
            _set(self, "scale_steps", _check_scale_steps(self.scale_steps, self.steps, len(self.level_sizes())))
        elif self.steps < len(self.level_sizes()):
            raise ValueError(f"steps ({self.steps}) must be at least the number of scales ({len(self.level_sizes())})")
        _check_ema(self.ema)

    @classmethod
    def from_kwargs(cls, params: StyleParams | None = None, **overrides: Any) -> StyleParams:
        """Build params from keywords, optionally on top of an existing `StyleParams`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(sorted(names))}")
        if params is not None and not isinstance(params, StyleParams):
            raise ValueError(f"params must be a StyleParams (or None), got {type(params).__name__}")
        base = params if params is not None else cls()
        return dataclasses.replace(base, **overrides)

    @classmethod
    def paper(cls, **overrides: Any) -> StyleParams:
        """Gatys et al. (2015)'s own settings where our defaults depart from them (PAPER_SETTINGS), plus
        `overrides`: `stylize(photo, painting, params=StyleParams.paper(size=512))`."""
        return cls.from_kwargs(cls(**PAPER_SETTINGS), **overrides)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def level_sizes(self) -> tuple[int, ...]:
        """Long side of each pyramid level, coarse to fine; the last is always `size`."""
        if self.scales == 1 and self.schedule == "coarse-to-fine":
            return _pyramid(self.size)
        if isinstance(self.scales, int):
            return tuple(round(self.size / 2 ** (self.scales - 1 - i)) for i in range(self.scales))
        return (*(s for s in self.scales if s < self.size), self.size)

    def level_steps(self) -> tuple[int, ...]:
        """Iterations of each level: `scale_steps`; for the coarse-to-fine schedule, shares in proportion to
        1 / side; else `steps` split equally with the remainder to the finest."""
        if self.scale_steps is not None:
            return self.scale_steps
        sides = self.level_sizes()
        if self.scales == 1 and self.schedule == "coarse-to-fine":
            return _split(self.steps, [1 / side for side in sides])
        base, extra = divmod(self.steps, len(sides))
        return tuple(base + (1 if i >= len(sides) - extra else 0) for i in range(len(sides)))

    def levels(self) -> tuple[tuple[int, int], ...]:
        """(long side, iterations) of each pyramid level, coarse to fine."""
        return tuple(zip(self.level_sizes(), self.level_steps(), strict=True))

    @property
    def ema_decay(self) -> float | None:
        """The iterate-averaging decay, or None when averaging is off."""
        if isinstance(self.ema, bool):
            return DEFAULT_EMA_DECAY if self.ema else None
        return float(self.ema) if self.ema > 0 else None


def _pyramid(size: int) -> tuple[int, ...]:
    """Long sides from `size` down by PYRAMID_GROWTH while at least 0.9 * PYRAMID_START, at most MAX_LEVELS, coarse
    to fine: 256 -> 128, 181, 256; 512 -> 128, 181, 256, 362, 512; 384 -> 136, 192, 272, 384; 100 -> 100."""
    sides = [size]
    while len(sides) < MAX_LEVELS and sides[-1] / PYRAMID_GROWTH >= 0.9 * PYRAMID_START:
        sides.append(round(size / PYRAMID_GROWTH ** len(sides)))
    return tuple(reversed(sides))


def _split(total: int, shares: list[float]) -> tuple[int, ...]:
    """`total` iterations split in proportion to non-increasing `shares`, each level at least 1, summing to
    `total` exactly, never more on a later level than on an earlier one."""
    weights = [s / sum(shares) for s in shares]
    counts = [max(1, math.floor(total * w)) for w in weights]
    order = sorted(range(len(weights)), key=lambda i: total * weights[i] - math.floor(total * weights[i]), reverse=True)
    for i in order[: max(0, total - sum(counts))]:
        counts[i] += 1
    while sum(counts) > total:  # only when total is barely above the number of levels
        counts[counts.index(max(counts))] -= 1
    return tuple(sorted(counts, reverse=True))  # rounding may favour a later level by one: the shares do not


def _set(obj: StyleParams, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)  # normalising a frozen dataclass field during validation


def _check_int(name: str, value: Any, lo: int, hi: int) -> int:
    # numbers.Integral admits numpy integers (a sweep over np.arange); bool is an int to Python, refused.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            raise ValueError(f"{name} must be an integer, got the float {value!r}")
        raise ValueError(f"{name} must be an integer between {lo} and {hi}, got {value!r}")
    number = int(value)
    if not lo <= number <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {value}")
    return number


def _check_float(name: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        value = float(value)
    except OverflowError:  # an int (or Fraction) beyond float range, e.g. 10**400
        raise ValueError(f"{name} must be at most 1e12, got a number too large for a float") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'}, got {value!r}")
    if value > 1e12:
        raise ValueError(f"{name} must be at most 1e12, got {value!r}")
    return value


def _check_choice(name: str, value: Any, choices: Any) -> None:
    """`choices`: a Literal type or a tuple of the allowed values."""
    allowed = choices if isinstance(choices, tuple) else get_args(choices)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def _check_blend(value: Any) -> tuple[float, ...]:
    if not isinstance(value, tuple | list) or not value:
        raise ValueError(f"style_blend must be a list of weights, one per style, like [0.7, 0.3], got {value!r}")
    for weight in value:
        _check_float("style_blend", weight)
    if sum(value) <= 0:
        raise ValueError(f"style_blend weights sum to 0: give at least one style a positive weight, got {value!r}")
    return tuple(float(w) for w in value)


def _check_scales(value: Any, size: int) -> int | tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        _check_int("scales", value, 1, MAX_LEVELS)
        smallest = round(size / 2 ** (value - 1))
        if value > 1 and smallest < MIN_LEVEL_SIZE:  # one level is the output itself: `size` rules it
            raise ValueError(
                f"scales={value} at size {size} starts at {smallest} px, below {MIN_LEVEL_SIZE} px: "
                "use fewer levels or a larger size"
            )
        return value
    if not isinstance(value, tuple | list) or not value:
        raise ValueError(f"scales must be a number of levels or a list of long sides like [128, 256], got {value!r}")
    for side in value:
        _check_int("scales", side, MIN_LEVEL_SIZE, size)
    if any(b <= a for a, b in zip(value[:-1], value[1:], strict=True)):
        raise ValueError(f"scales must list long sides in increasing order, got {list(value)}")
    if len(value) > MAX_LEVELS:
        raise ValueError(f"scales lists {len(value)} levels; at most {MAX_LEVELS} are allowed")
    return tuple(value)


def _check_scale_steps(value: Any, steps: int, levels: int) -> tuple[int, ...]:
    if not isinstance(value, tuple | list) or len(value) != levels:
        raise ValueError(f"scale_steps must list one iteration count per level ({levels}), got {value!r}")
    for n in value:
        _check_int("scale_steps", n, 1, MAX_STEPS)
    if sum(value) != steps:
        raise ValueError(f"scale_steps must add up to steps ({steps}), got {list(value)} = {sum(value)}")
    return tuple(value)


def _check_ema(value: Any) -> None:
    if isinstance(value, bool):
        return
    if not isinstance(value, int | float) or not math.isfinite(value) or not 0 <= value < 1:
        raise ValueError(f"ema must be True, False or a decay in [0, 1) such as 0.9, got {value!r}")


def _parse_ema(text: str) -> bool | float:
    lowered = text.strip().lower()
    if lowered in ("on", "true", "yes"):
        return True
    if lowered in ("off", "false", "no", "none"):
        return False
    return float(text)


def _check_layers(name: str, value: Any) -> tuple[str, ...]:
    layers = tuple(x for x in value.split(",") if x.strip()) if isinstance(value, str) else value
    if not isinstance(layers, tuple | list) or not all(isinstance(x, str) for x in layers):
        raise ValueError(f"{name} must be a list of layer names like 'conv4_2', got {value!r}")
    layers = tuple(x.strip() for x in layers)
    bad = [x for x in layers if x not in VGG19_LAYERS]
    if bad:
        raise ValueError(f"{name}: unknown layer(s) {', '.join(bad)}; allowed: {', '.join(VGG19_LAYERS)}")
    if len(set(layers)) != len(layers):
        raise ValueError(f"{name} lists a layer twice: {', '.join(layers)}")
    return layers
