"""How long a run will take on this host: measured here, not guessed.

A start-up probe (three iterations on a small synthetic picture, about a second on a 2-core CPU) and every
finished run record what an iteration costs at their pixel count; an estimate scales the nearest measurement
to the requested pixel count. Until the first measurement the device profile's rough figure is used.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from collections.abc import Sequence
from typing import Any

from PIL import Image

from artstyle import Progress, StyleParams, stylize_iter

from .devices import DevicePool, profile
from .weights import WeightsStatus

log = logging.getLogger(__name__)

#: Iteration time grows more slowly than the pixel count (fixed costs, better-filled kernels): between two
#: measurements the nearer one is scaled by (pixels / its pixels) ** PIXEL_EXPONENT.
# measured: bench/README.md, 'bench.py' (per iteration at 256 and 512 px)
PIXEL_EXPONENT = 0.8
PROBE_SIZE = 192
PROBE_STEPS = 6
#: The probe's first iterations carry one-off costs (kernels' first use, the optimiser's buffers): its pace is
#: taken from this iteration on, those costs count as set-up (measured: bench/README.md, 'estimate_error.py').
PROBE_PACE_FROM = 3
FALLBACK_SETUP_S = 3.0
#: Short side over long side assumed where the photo is not known yet: a 4:3 photo.
DEFAULT_ASPECT = 0.75


@dataclasses.dataclass(frozen=True)
class Measurement:
    pixels: int
    seconds_per_iteration: float
    setup_s: float  # from the request to the first iteration's start: loading, the network, the Grams


class SpeedModel:
    """What an iteration costs on this host's device, learned from the probe and from finished runs."""

    def __init__(self, device: str) -> None:
        self.device = device
        self._by_pixels: dict[int, Measurement] = {}
        self._lock = threading.Lock()

    def record(self, spans: Sequence[tuple[Progress, Progress]], *, before_first_s: float = 0.0) -> None:
        """Learn from a run: the first and the last event of each of its levels (one level: one span), each
        level's pace at its own pixel count. `before_first_s`: wall time from the request to the first event
        that the events' own clock does not see (image loading, weights)."""
        setup = None
        for first, last in spans:
            if last.step - first.step < 1:
                continue  # one iteration: no pace
            per_iteration = (last.elapsed - first.elapsed) / (last.step - first.step)
            if setup is None:  # the run's first level carries the set-up: loading, the network, the targets
                setup = before_first_s + max(0.0, first.elapsed - first.step * per_iteration)
            pixels = last.size[0] * last.size[1]
            with self._lock:
                self._by_pixels[pixels] = Measurement(pixels, per_iteration, setup)

    def measured(self) -> bool:
        return bool(self._by_pixels)

    def seconds(self, size: float, steps: float, aspect: float = DEFAULT_ASPECT, **settings: Any) -> float:
        """Wall time of a run of `steps` iterations whose long side is `size` (short side = aspect x size);
        `settings` (StyleParams' schedule, scales, scale_steps) choose its levels, each timed at its own size."""
        levels = plan(size, steps, **settings)
        nearest = self._nearest(max(1.0, levels[-1][0] ** 2 * aspect))
        setup = nearest.setup_s if nearest else FALLBACK_SETUP_S
        return setup + sum(n * self.seconds_per_iteration(max(1.0, side * side * aspect)) for side, n in levels)

    def seconds_per_iteration(self, pixels: float) -> float:
        nearest = self._nearest(pixels)
        if nearest is None:
            return pixels / 1e6 * profile(self.device).seconds_per_mpx_iter
        return nearest.seconds_per_iteration * (pixels / nearest.pixels) ** PIXEL_EXPONENT

    def _nearest(self, pixels: float) -> Measurement | None:
        with self._lock:
            known = list(self._by_pixels.values())
        return min(known, key=lambda m: abs(math.log(pixels / m.pixels)), default=None)

    def probe(self, pool: DevicePool, weights: WeightsStatus | None = None) -> None:
        """Measure a few iterations now, holding the device so that no user's run shares it meanwhile; once
        `weights` are ready (the probe never holds the device while they are fetched)."""
        if weights is not None and not (weights.wait() and weights.state == "ready"):
            log.info("speed probe skipped: %s", weights.line())
            return
        picture = _probe_picture()
        try:
            with pool.acquire(timeout=5.0) as device:
                events = list(stylize_iter(picture, picture, size=PROBE_SIZE, steps=PROBE_STEPS, device=device,
                                           schedule="single", preview_every=0))  # fmt: skip
            self.record([(events[PROBE_PACE_FROM - 1], events[-1])])
        except Exception as exc:  # noqa: BLE001  # e.g. no weights yet: the first run says so clearly
            log.info("speed probe skipped: %s", exc)

    def probe_in_background(self, pool: DevicePool, weights: WeightsStatus | None = None) -> threading.Thread:
        thread = threading.Thread(target=self.probe, args=(pool, weights), name="artstyle-speed-probe", daemon=True)
        thread.start()
        return thread


def plan(size: float, steps: float, **settings: Any) -> list[tuple[int, int]]:
    """(long side, iterations) of each level of a run with these settings (StyleParams decides); one level of
    `size` where the settings are not valid (the run itself will say why)."""
    try:
        p = StyleParams(size=int(size), steps=int(steps), **settings)
    except (TypeError, ValueError):
        return [(int(size), int(steps))]
    return list(p.levels())


def _probe_picture() -> Image.Image:
    """A 4:3 picture with edges and colours, so the probe's iterations are ordinary ones."""
    image = Image.linear_gradient("L").resize((PROBE_SIZE, PROBE_SIZE * 3 // 4)).convert("RGB")
    image.paste((200, 60, 40), (20, 20, 90, 80))
    return image


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
