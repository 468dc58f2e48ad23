"""Running a request on a device from the pool and streaming what the page shows: typed events, throttled.

Every yield is where Gradio's Stop (or a closed tab) closes the generator, so a status line goes out at
least every STATUS_INTERVAL_S even when no preview does; previews, encoded images, at most once a second.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from artstyle import Progress, StyleParams, stylize_iter
from artstyle.guard import restart_note
from artstyle.images import fit_long_side
from artstyle.metadata import save_png

from .devices import DevicePool, RunCounters, profile
from .estimate import DEFAULT_ASPECT, SpeedModel, duration
from .requests import RunRequest, user_errors
from .weights import WeightsStatus
from .zerogpu import MAX_DURATION_S, lend_gpu

PREVIEW_SIDE = 512  # previews are downscaled to this long side before they are encoded and sent
PREVIEW_INTERVAL_S = 1.0
STATUS_INTERVAL_S = 0.25
RESULT_TTL_S = 3600  # result PNGs older than this are deleted when a new one is written


@dataclasses.dataclass(frozen=True)
class Status:
    text: str


@dataclasses.dataclass(frozen=True)
class Preview:
    image: Image.Image  # downscaled to PREVIEW_SIDE
    text: str
    progress: Progress


@dataclasses.dataclass(frozen=True)
class Final:
    path: Path  # the full-resolution PNG, with the settings in its metadata
    before: Image.Image  # the photo at the result's size, for the before/after slider
    text: str
    progress: Progress


RunEvent = Status | Preview | Final
T = TypeVar("T")


def _gpu_seconds(content: Any, style: Any, params: StyleParams, mask: Any = None) -> int:
    # ZeroGPU asks before the run how long to lend the GPU for: twice the profile's figure, plus start-up.
    work = sum(n * side * side * DEFAULT_ASPECT / 1e6 for side, n in params.levels())
    return int(min(MAX_DURATION_S, 15 + 2 * work * profile("cuda").seconds_per_mpx_iter))


@lend_gpu(duration=_gpu_seconds)
def optimise(
    content: Image.Image, style: Image.Image | list[Image.Image], params: StyleParams, mask: Image.Image | None = None
) -> Generator[Progress, None, None]:
    """The GPU part: on ZeroGPU a GPU is lent for this generator's life."""
    yield from stylize_iter(content, style, mask=mask, params=params)


def status_text(event: Progress, device: str, seconds_left: float) -> str:
    done = event.step / event.total
    bar = "▰" * round(done * 20) + "▱" * (20 - round(done * 20))
    eta = "done" if event.done else f"about {duration(seconds_left)} left"
    text = f"{bar} {event.step}/{event.total} · {event.elapsed:.0f} s · {eta} · {device}"
    return f"{text} · {restart_note(event.restarts).capitalize()}." if event.restarts else text


#: Iterations a run makes before its own pace replaces the host's measured one in the time left (the first
#: iterations carry one-off costs: allocations, the first L-BFGS step).
OWN_PACE_AFTER = 3


class Runner:
    """Turns a request into a stream of `RunEvent`s, holding a device and counting the run."""

    def __init__(
        self, pool: DevicePool, counters: RunCounters, results: Path, speed: SpeedModel, weights: WeightsStatus
    ) -> None:
        self.pool, self.counters, self.results, self.speed, self.weights = pool, counters, results, speed, weights

    def stream(
        self, job: Callable[[str], Generator[T, None, None]], *, size_knob: str = "output size"
    ) -> Generator[Status | T, None, None]:
        """What `job(device)` yields, while it holds a device from the pool and counts as a run; the library's
        refusals become one sentence on the page (`size_knob`: what to shrink when memory runs out)."""
        # The first step holds nothing. A cancel that lands while Gradio runs a generator's first step (before
        # it registers the iterator for cancelling; Gradio 6.31) leaves the generator suspended and un-closed:
        # had that step taken the device, the app would wedge (seen in tests/test_app_hostile.py's storm).
        yield Status("Waiting for the device …")
        with user_errors(size_knob=size_knob):
            # The start-up fetch of the weights: a run before it is done waits on it (not a second fetch), and a
            # failed one is tried again, once per run: the network may be back.
            if self.weights.state == "unavailable":
                self.weights.start()
            while not self.weights.wait(STATUS_INTERVAL_S):
                yield Status(self.weights.line())
            self.weights.check()
        # closing(): Stop closes this generator, which must close the job (and its optimisation) at once.
        with (
            user_errors(size_knob=size_knob),
            self.pool.acquire() as device,
            self.counters.track(),
            closing(job(device)) as events,
        ):
            yield from events

    def run(self, make_request: Callable[[str], RunRequest]) -> Generator[RunEvent, None, None]:
        """A stylisation: the request made for the device it gets, its progress as typed, throttled events."""
        return self.stream(lambda device: self._paint(make_request, device))

    def _paint(self, make_request: Callable[[str], RunRequest], device: str) -> Generator[RunEvent, None, None]:
        requested = time.perf_counter()
        request = make_request(device)
        yield Status(f"Starting on {device} …")
        with closing(optimise(request.content, request.style, request.params, request.mask)) as events:
            yield from self._events(events, request, device, requested)

    def _events(
        self, events: Iterator[Progress], request: RunRequest, device: str, requested: float
    ) -> Iterator[RunEvent]:
        last_preview = last_status = 0.0
        plan = list(request.params.levels())
        spans: list[list[Progress]] = []  # per level: its first event and its latest
        before_first = 0.0
        for event in events:
            self.counters.reached(event.step, event.total)
            now = time.monotonic()
            if not spans:  # the wall time before the run's own clock started: loading, weights
                before_first = time.perf_counter() - requested - event.elapsed
            if len(spans) <= event.level:  # a coarse-to-fine run's next, larger level: a new pace
                spans.append([event, event])
            spans[event.level][1] = event
            text = status_text(event, device, self._seconds_left(spans[event.level][0], event, plan))
            if event.done:
                assert event.image is not None  # the last event carries the result
                self.speed.record([(a, b) for a, b in spans], before_first_s=before_first)
                path = self.save(event.image, request.settings)
                before = fit_long_side(request.content, request.params.size)
                yield Final(path, before, text, event)
            elif event.image is not None and now - last_preview >= PREVIEW_INTERVAL_S:
                last_preview = last_status = now
                yield Preview(_downscaled(event.image), text, event)
            elif now - last_status >= STATUS_INTERVAL_S:
                last_status = now
                yield Status(text)

    def _seconds_left(self, first: Progress, event: Progress, plan: list[tuple[int, int]] | None = None) -> float:
        """This level's iterations left at the run's own pace (since `first`, the level's first event) once it has
        one, the host's before; the later levels of `plan` (long side, iterations) at the host's pace for their
        size, corrected by how this run compares with it."""
        model = self.speed.seconds_per_iteration(event.size[0] * event.size[1])
        own = event.step - first.step
        per_iteration = (event.elapsed - first.elapsed) / own if own >= OWN_PACE_AFTER else model
        if not plan or len(plan) == 1:
            return per_iteration * (event.total - event.step)
        level_end = sum(n for _, n in plan[: event.level + 1])
        aspect = min(event.size) / max(event.size)
        later = sum(n * self.speed.seconds_per_iteration(side * side * aspect) for side, n in plan[event.level + 1 :])
        return per_iteration * (level_end - event.step) + later * per_iteration / model

    def save(self, image: Image.Image, settings: dict[str, Any]) -> Path:
        _prune(self.results, RESULT_TTL_S)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
        return save_png(image, self.results / f"artstyle-{settings.get('preset') or 'custom'}-{stamp}.png", settings)


def _prune(folder: Path, max_age_s: float) -> None:
    cutoff = time.time() - max_age_s
    for old in folder.glob("artstyle-*.png"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)


def _downscaled(image: Image.Image) -> Image.Image:
    if max(image.size) <= PREVIEW_SIDE:
        return image
    scaled = image.copy()
    scaled.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.BILINEAR)
    return scaled
