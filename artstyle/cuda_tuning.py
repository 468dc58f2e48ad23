"""Opt-in CUDA speed-ups of the optimisation, each behind an environment switch (all off by default).

ARTSTYLE_TF32=1            TF32 matrix products (`torch.backends.cuda.matmul.allow_tf32`): the Gram matrices.
                           cuDNN's convolutions use TF32 already (PyTorch's default). Stays on for the process
                           (any float32 matrix product in it; L-BFGS's are matrix-vector, which TF32 leaves alone).
ARTSTYLE_CHANNELS_LAST=1   the network's weights and its input in channels_last (NHWC) memory format.
ARTSTYLE_BF16=1            the network's forward and backward under `torch.autocast("cuda", torch.bfloat16)`;
                           its features come out in float32, so the Grams, the losses and L-BFGS stay float32.
ARTSTYLE_CUDA_GRAPH=1      the network's forward and backward on the optimised image replayed as CUDA graphs
                           (`torch.cuda.make_graphed_callables`), one graph per network and image size.

They are read once per run, when the engine builds its network (`tune`). On any device but CUDA they are all
off and the network is returned unchanged: CPU and MPS runs compute exactly what they compute without them.
Which of them pay, and whether they change the result beyond rounding, is what `bench/cuda_switches.py`
measures (run by `bench/gpu.sh`); none is a default until a GPU has measured it.

The CUDA graph covers the network, not the L-BFGS step: the step is sync-free, but its history grows by one
pair per iteration for the first 100 and the row it writes is a host-side index, so each step until the ring
buffer is full has other shapes, and after that each row would need its own graph; the network's forward and
backward is most of an iteration and has one shape per pyramid level. The first call at each size runs
eagerly (its outputs may be kept: the engine's content targets come from it); later calls replay the graph,
whose outputs are overwritten by the next call. If a capture fails, a warning says so and the run goes on
eagerly.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import cast

import torch
from torch import nn

from .features import VGGFeatures

#: The environment variable of each switch.
ENV = {
    "tf32": "ARTSTYLE_TF32",
    "channels_last": "ARTSTYLE_CHANNELS_LAST",
    "bf16": "ARTSTYLE_BF16",
    "cuda_graph": "ARTSTYLE_CUDA_GRAPH",
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


@dataclass(frozen=True)
class CudaTuning:
    """Which CUDA speed-ups a run uses."""

    tf32: bool = False
    channels_last: bool = False
    bf16: bool = False
    cuda_graph: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CudaTuning:
        """The switches as the environment sets them; a value other than 1/0, true/false, yes/no, on/off raises."""
        env = os.environ if environ is None else environ
        return cls(**{f.name: _flag(ENV[f.name], env.get(ENV[f.name], "")) for f in fields(cls)})

    def on(self, device: torch.device) -> CudaTuning:
        """These switches for a run on `device`: all off unless it is a CUDA device."""
        return self if device.type == "cuda" else CudaTuning()

    @property
    def any(self) -> bool:
        return any(asdict(self).values())

    def to_dict(self) -> dict[str, bool]:
        return asdict(self)


def _flag(name: str, value: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError(f"{name}={value!r}: use 1 (on) or 0 (off)")


def tune(model: VGGFeatures, device: torch.device, tuning: CudaTuning | None = None) -> VGGFeatures:
    """`model` (already on `device`) with the switches applied: itself when none applies (any device but CUDA).

    `tuning` defaults to the environment's switches, read now. The result stands in for the network: it is
    called with an image, has `layers`, and `subnetwork(layers)` gives a tuned network sharing its modules.
    """
    if device.type != "cuda":  # not even read: a CPU or MPS run is exactly what it is without them
        return model
    tuning = tuning if tuning is not None else CudaTuning.from_env()
    if not tuning.any:
        return model
    if tuning.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
    if tuning.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return TunedFeatures(model, tuning)  # type: ignore[return-value]


#: The network's forward pass as a function of the image, eager or replayed from a CUDA graph.
Graphed = Callable[[torch.Tensor], dict[str, torch.Tensor]]


class TunedFeatures(nn.Module):
    """A `VGGFeatures` run with channels_last input, under bf16 autocast and/or through CUDA graphs."""

    def __init__(self, net: VGGFeatures, tuning: CudaTuning) -> None:
        super().__init__()
        self.net = net
        self.tuning = tuning
        self._seen: set[tuple[int, ...]] = set()  # image shapes called once, eagerly
        self._graphs: dict[tuple[int, ...], Graphed] = {}

    @property
    def layers(self) -> tuple[str, ...]:
        return self.net.layers

    def subnetwork(self, layers: Iterable[str]) -> TunedFeatures:
        return TunedFeatures(self.net.subnetwork(layers), self.tuning)

    def forward(self, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.tuning.cuda_graph and rgb.requires_grad and torch.is_grad_enabled():
            return self._graphed(rgb)
        return self._eager(rgb)

    def _eager(self, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.tuning.channels_last:
            rgb = rgb.contiguous(memory_format=torch.channels_last)  # a copy in the graph: gradients flow back
        if not self.tuning.bf16:
            return self.net(rgb)
        with torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False):  # no cache: graphs allow none
            out = self.net(rgb)
        return {k: v.float() for k, v in out.items()}  # Grams and losses in float32

    def _graphed(self, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        key = tuple(rgb.shape)
        graph = self._graphs.get(key)
        if graph is None:
            if key not in self._seen:  # first call at this size: eager, its outputs may be kept
                self._seen.add(key)
                return self._eager(rgb)
            self._graphs.clear()  # a new pyramid level: the previous size's graph is not needed again
            try:
                sample = rgb.detach().clone().requires_grad_(True)
                graph = cast(Graphed, torch.cuda.make_graphed_callables(self._eager, (sample,)))
            except Exception as error:  # noqa: BLE001 - any capture failure: fall back, say so
                warnings.warn(f"ARTSTYLE_CUDA_GRAPH: capture failed, running eagerly ({error})", stacklevel=2)
                graph = self._eager
            self._graphs[key] = graph
        return graph(rgb)
