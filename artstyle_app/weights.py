"""VGG19's weights for the app: fetched in the background from launch, their state shown on the page, every run
waiting on that one fetch (`artstyle.weights.cached_weights` loads a source once however many ask)."""

from __future__ import annotations

import threading
from typing import Literal

from artstyle.weights import WeightsError, cached_weights

State = Literal["fetching", "ready", "unavailable"]


class WeightsStatus:
    """Where the app's weights stand: fetching (with the bytes so far), ready, or unavailable (and why)."""

    def __init__(self) -> None:
        self.state: State = "fetching"
        self.done = self.total = 0  # bytes of a download in progress (0, 0: none, e.g. read from the cache)
        self.error = ""
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> threading.Thread:
        """Fetch (or read) the weights in a background thread; again after a failure (the network may be back)."""
        with self._lock:
            if self._thread is not None and (self._thread.is_alive() or self.state == "ready"):
                return self._thread
            self.state, self.done, self.total, self.error = "fetching", 0, 0, ""
            self._finished.clear()
            self._thread = threading.Thread(target=self._load, name="artstyle-weights", daemon=True)
            self._thread.start()
            return self._thread

    def _load(self) -> None:
        try:
            cached_weights(progress=self._progress)
        except WeightsError as exc:
            self.error, self.state = str(exc), "unavailable"
        except Exception as exc:  # noqa: BLE001  # a bug must not leave visitors waiting for ever
            self.error, self.state = f"the weights could not be loaded: {exc}", "unavailable"
        else:
            self.state = "ready"
        finally:
            self._finished.set()

    def _progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def wait(self, timeout: float | None = None) -> bool:
        """Whether the fetch has finished (ready or not) within `timeout` seconds."""
        return self._finished.wait(timeout)

    def check(self) -> None:
        """`WeightsError` with the library's sentence (what is wrong, what to do) unless the weights are ready."""
        if self.state != "ready":
            raise WeightsError(self.error or "the VGG19 weights are still being fetched")

    def line(self) -> str:
        """One line for a status box."""
        if self.state == "ready":
            return "VGG19 weights ready."
        if self.state == "unavailable":
            return f"VGG19 weights unavailable: {self.error}"
        if self.total:
            return f"Fetching the VGG19 weights (once): {self.done / 1e6:.0f} of {self.total / 1e6:.0f} MB …"
        return "Getting the VGG19 weights ready (once, at start-up) …"

    def markdown(self) -> str:
        """The page's note on the weights (empty once they are ready: nothing to say)."""
        return "" if self.state == "ready" else f"**{self.line()}**"
