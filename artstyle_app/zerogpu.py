"""Hugging Face ZeroGPU glue: a GPU is lent per decorated call; elsewhere the decorator is not applied.

ZeroGPU needs `spaces` imported before anything initialises CUDA, so `app.py` (and `artstyle_app/__init__.py`)
import this module before torch. Calls and their yields are pickled between processes there.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

try:
    import spaces
except ImportError:  # not on Spaces: the app runs the same without it
    spaces = None

F = TypeVar("F", bound=Callable[..., Any])

#: ZeroGPU's longest lending; shorter requests are queued sooner.
MAX_DURATION_S = 300


def on_zerogpu() -> bool:
    """True on a ZeroGPU Space, where the main process must not query CUDA itself."""
    return spaces is not None and bool(os.environ.get("SPACES_ZERO_GPU"))


def lend_gpu(duration: Callable[..., int]) -> Callable[[F], F]:
    """`spaces.GPU(duration=...)` where `spaces` is installed (it does nothing off ZeroGPU), else nothing."""

    def decorate(fn: F) -> F:
        return spaces.GPU(duration=duration)(fn) if spaces is not None else fn

    return decorate
