"""Where VGG19's convolution weights come from: the Hugging Face Hub or a local safetensors file.

The default is torchvision's VGG19 as published by timm (`timm/vgg19.tv_in1k`, BSD-3). It is a 575 MB file
whose `features.*` tensors (the 16 convolutions, ~80 MB) are all style transfer needs: only those are fetched
(by byte range, see hub_range.py) and read, never the classifier. Weights are read only from safetensors, never
unpickled.

`ARTSTYLE_WEIGHTS` selects another source: a local `.safetensors` path, or `REPO_ID[:FILENAME][@REVISION]`.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from . import hub_range
from .hub_range import HubFile

DEFAULT_REPO = "timm/vgg19.tv_in1k"
DEFAULT_FILENAME = "model.safetensors"
ENV_WEIGHTS = "ARTSTYLE_WEIGHTS"

#: torchvision's vgg19().features indices of the 16 convolutions, in network order.
CONV_INDICES: tuple[int, ...] = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
#: (out_channels, in_channels) of each convolution, all 3x3.
CONV_SHAPES: tuple[tuple[int, int], ...] = (
    (64, 3), (64, 64),
    (128, 64), (128, 128),
    (256, 128), (256, 256), (256, 256), (256, 256),
    (512, 256), (512, 512), (512, 512), (512, 512),
    (512, 512), (512, 512), (512, 512), (512, 512),
)  # fmt: skip

Convention = Literal["torchvision", "caffe"]
_HUB_SPEC = re.compile(r"^(?P<repo>[\w.\-]+/[\w.\-]+)(?::(?P<file>[\w.\-/]+))?(?:@(?P<rev>[\w.\-/]+))?$")

_HELP = (
    "Set HF_HUB_OFFLINE=1 to use a cached copy only, or point ARTSTYLE_WEIGHTS at a local VGG19 "
    ".safetensors file (or at another Hub repo as REPO_ID[:FILENAME][@REVISION])."
)


class WeightsError(RuntimeError):
    """The VGG19 weights could not be found, fetched or read. The message says what to do."""


@dataclass(frozen=True)
class VGGWeights:
    """The 16 convolutions of VGG19 (float32, CPU) and the input convention they were trained with."""

    convs: tuple[tuple[torch.Tensor, torch.Tensor], ...]  # (weight, bias) per conv, network order
    convention: Convention
    source: str
    # Tensors computed from these weights, kept as long as they are (the app reuses one VGGWeights for every
    # run): e.g. fastconv's flipped kernels, ~80 MB of copying that would otherwise start every CPU run.
    _derived: dict[Hashable, torch.Tensor] = field(default_factory=dict, init=False, repr=False, compare=False)

    def derived(self, key: Hashable, make: Callable[[], torch.Tensor]) -> torch.Tensor:
        """`make()`, computed on the first call for `key` and remembered (two racing runs may both compute it)."""
        value = self._derived.get(key)
        if value is None:
            value = self._derived[key] = make()
        return value

    def __getstate__(self) -> dict:
        # Pickled (e.g. to a worker process) without the derived tensors: they are rebuilt on first use there.
        return {k: v for k, v in self.__dict__.items() if k != "_derived"}

    def __setstate__(self, state: dict) -> None:
        for key, value in {**state, "_derived": {}}.items():
            object.__setattr__(self, key, value)  # frozen: the dataclass's own __setattr__ refuses

    def __repr__(self) -> str:
        return f"VGGWeights(source={self.source!r}, convention={self.convention!r})"


#: What the library's entry points take as `weights=`: loaded weights, a source (path, hf:// spec), or None
#: for $ARTSTYLE_WEIGHTS or the Hub default.
WeightsInput = VGGWeights | str | os.PathLike | None


def parse_source(spec: str | os.PathLike[str] | None) -> Path | HubFile:
    """Interpret a weights source: None (env var or default), a local path, or a Hub spec."""
    _check_type(spec)
    if spec is None:
        spec = os.environ.get(ENV_WEIGHTS) or DEFAULT_REPO
    text = os.fspath(spec).strip()
    # A Hub spec names its file after a colon, so a bare "*.safetensors" is a local path.
    if isinstance(spec, os.PathLike) or (text.endswith(".safetensors") and ":" not in text):
        return _check_local(Path(text))
    if text.endswith((".pth", ".pt", ".bin", ".pkl", ".ckpt")):
        raise WeightsError(f"{text}: only .safetensors weights are accepted (pickle files can run code).")
    match = _HUB_SPEC.match(text)
    if match is None:
        raise WeightsError(
            f"cannot read weights source {text!r}: expected a .safetensors path or "
            "REPO_ID[:FILENAME][@REVISION], e.g. timm/vgg19.tv_in1k:model.safetensors"
        )
    hub = HubFile(match["repo"], match["file"] or DEFAULT_FILENAME, match["rev"])
    if any(part in (".", "..") for part in f"{hub.filename}/{hub.revision or ''}".split("/")):
        raise WeightsError(f"cannot read weights source {text!r}: '.' and '..' are not file or revision names.")
    return hub


def _check_type(spec: object) -> None:
    if spec is not None and not isinstance(spec, str | os.PathLike):
        raise WeightsError(
            f"weights must be a .safetensors path or a Hub id REPO_ID[:FILENAME][@REVISION], got {type(spec).__name__}"
        )


def _check_local(path: Path) -> Path:
    if path.suffix != ".safetensors":
        raise WeightsError(f"{path}: only .safetensors weights are accepted (pickle files can run code).")
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist. {_HELP}")
    return path


def conv_tensors() -> dict[str, tuple[int, ...]]:
    """Name -> shape of the 32 tensors read: each convolution's weight and bias."""
    tensors: dict[str, tuple[int, ...]] = {}
    for idx, (out_ch, in_ch) in zip(CONV_INDICES, CONV_SHAPES, strict=True):
        tensors |= {f"features.{idx}.weight": (out_ch, in_ch, 3, 3), f"features.{idx}.bias": (out_ch,)}
    return tensors


def load_weights(
    source: str | os.PathLike[str] | None = None,
    *,
    endpoint: str | None = None,
    cache_dir: str | None = None,
    features_dir: str | None = None,
    progress: hub_range.Progress | None = None,
) -> VGGWeights:
    """Load VGG19's convolution weights from `source` (see `parse_source`); `progress(done, total)` hears of a
    download's bytes.

    A Hub file's convolutions are taken, with no network, from those artstyle stored on an earlier run
    (`features_dir`, default `$HF_HOME/artstyle/weights`) or from a full copy in huggingface_hub's cache
    (`cache_dir`, default `$HF_HUB_CACHE`); else the Hub (`endpoint`, default `$HF_ENDPOINT`) is asked for the
    file's header and the convolutions' bytes only, which are stored for the next run.
    """
    where = parse_source(source)
    if isinstance(where, Path):
        return read_features(where, source=str(where))
    try:
        return _from_hub(where, endpoint=endpoint, cache_dir=cache_dir, features_dir=features_dir, progress=progress)
    except hub_range.HubError as exc:
        raise WeightsError(f"{exc} {_HELP}") from exc


def _from_hub(
    hub: HubFile,
    *,
    endpoint: str | None,
    cache_dir: str | None,
    features_dir: str | None,
    progress: hub_range.Progress | None,
) -> VGGWeights:
    read = functools.partial(read_features, source=hub.label)
    cached = hub_range.cached_path(hub, cache_dir=cache_dir, features_dir=features_dir)
    if cached is not None:
        return read(cached)  # hash-checked bytes: if they are not VGG19, fetching them again cannot help
    damaged: Exception | None = None
    for _attempt in range(2):  # a truncated or corrupted transfer is fetched again once, then reported
        try:
            return hub_range.fetch(
                hub, conv_tensors(), check=read, endpoint=endpoint, features_dir=features_dir, progress=progress
            )
        except (hub_range.BadTransfer, WeightsError) as exc:
            damaged = exc
    why = str(damaged).rstrip(".")
    raise WeightsError(
        f"VGG19 weights {hub.label} arrived damaged twice ({why}). Check your network or proxy and retry; "
        f"if it persists, download the file some other way and point {ENV_WEIGHTS} at it."
    ) from damaged


class _Memo:
    """Loaded weights by source, the last `size` kept; while one caller loads a source, another asking for the
    same one waits for that load instead of starting a second (the app's start-up fetch and a first visitor)."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, VGGWeights] = OrderedDict()
        self._loading: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, load: Callable[[], VGGWeights]) -> VGGWeights:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:  # one load of a source at a time; a failed load leaves the next caller to try again
            with self._lock:
                if key in self._entries:
                    return self._entries[key]
            value = load()
            with self._lock:
                self._entries[key] = value
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
                self._loading.pop(key, None)
            return value


_MEMO = _Memo()


def cached_weights(
    source: str | os.PathLike[str] | None = None,
    *,
    endpoint: str | None = None,
    cache_dir: str | None = None,
    features_dir: str | None = None,
    progress: hub_range.Progress | None = None,
) -> VGGWeights:
    """`load_weights`, memoised per process so that repeated runs (the app) skip the read, and loaded once when
    several threads ask at the same time (`progress` hears of the one download, if any).

    The key includes the environment variable and, for local files, their size and mtime, so a
    replaced file or a changed ARTSTYLE_WEIGHTS is picked up.
    """
    _check_type(source)
    spec = os.fspath(source) if source is not None else os.environ.get(ENV_WEIGHTS)
    where = parse_source(spec)
    stamp = (where.stat().st_size, where.stat().st_mtime_ns) if isinstance(where, Path) else ()
    load = functools.partial(
        load_weights, spec, endpoint=endpoint, cache_dir=cache_dir, features_dir=features_dir, progress=progress
    )
    return _MEMO.get((spec, endpoint, cache_dir, features_dir, stamp), load)


def resolve_weights(weights: WeightsInput) -> VGGWeights:
    """Weights as the library's entry points accept them: loaded already, or a source for `cached_weights`."""
    return weights if isinstance(weights, VGGWeights) else cached_weights(weights)


def read_features(path: Path, *, source: str) -> VGGWeights:
    """Read only the `features.*` convolution tensors of a VGG19 safetensors file."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            meta = fh.metadata() or {}
            keys = set(fh.keys())
            convs = []
            for idx, (out_ch, in_ch) in zip(CONV_INDICES, CONV_SHAPES, strict=True):
                w_key, b_key = f"features.{idx}.weight", f"features.{idx}.bias"
                if w_key not in keys or b_key not in keys:
                    raise WeightsError(f"{source} is not a VGG19 checkpoint: tensor {w_key} is missing.")
                weight, bias = fh.get_tensor(w_key).float(), fh.get_tensor(b_key).float()
                if tuple(weight.shape) != (out_ch, in_ch, 3, 3) or tuple(bias.shape) != (out_ch,):
                    raise WeightsError(
                        f"{source}: {w_key} has shape {tuple(weight.shape)}, expected "
                        f"{(out_ch, in_ch, 3, 3)}: not VGG19's convolutions."
                    )
                if not (torch.isfinite(weight).all() and torch.isfinite(bias).all()):
                    raise WeightsError(f"{source}: {w_key} holds NaN or infinite values: the file is corrupted.")
                convs.append((weight, bias))
    except (SafetensorError, OSError, RuntimeError) as exc:
        if isinstance(exc, WeightsError):
            raise
        raise WeightsError(
            f"{source} is truncated or not a valid safetensors file ({exc}). Delete it and download again. {_HELP}"
        ) from exc
    convention = meta.get("input_convention", "torchvision")
    if convention not in ("torchvision", "caffe"):
        raise WeightsError(f"{source}: unknown input_convention {convention!r} (expected caffe or torchvision)")
    return VGGWeights(convs=tuple(convs), convention=convention, source=source)
