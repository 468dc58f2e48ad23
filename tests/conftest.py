"""Shared fixtures: the real VGG19 weights and images in ../shared, small test images."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

try:  # only the app tests' gradio_client needs it; the GPU machine (bench/gpu.sh) may lack it
    import httpx
except ImportError:  # pragma: no cover
    httpx = None

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("ARTSTYLE_SHARED", ROOT.parent / "shared"))
REAL_WEIGHTS = SHARED / "models" / "vgg19-caffe-features-fp16.safetensors"
CONTENT_DIR = SHARED / "images" / "content"
STYLES_DIR = SHARED / "images" / "styles"

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

_SHARED_REASON = f"real VGG19 weights and images are expected in {SHARED} (present in CI; absent in a fresh clone)"
#: A test that reads ../shared: skipped where it is absent, and `slow` (see pytest_collection_modifyitems).
needs_shared = pytest.mark.skipif(
    not (REAL_WEIGHTS.is_file() and CONTENT_DIR.is_dir() and STYLES_DIR.is_dir()), reason=_SHARED_REASON
)


def _hub_client_refusal() -> str | None:
    import huggingface_hub

    from artstyle.hub_range import HubError, check_hub_version

    try:
        check_hub_version(huggingface_hub.__version__)
    except HubError as exc:
        return str(exc)
    return None


#: A test of Hub transfers: skipped where huggingface_hub is older than the library supports (the GPU machine's
#: image has 1.33), where the library refuses Hub downloads with one sentence (test_weights.py checks it).
HUB_CLIENT_REFUSAL = _hub_client_refusal()
needs_hub_client = pytest.mark.skipif(HUB_CLIENT_REFUSAL is not None, reason=f"{HUB_CLIENT_REFUSAL}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tiers: a test that loads the real weights (the `real_weights` fixture, or `needs_shared`) is `slow`, as is
    one marked so by hand (servers, subprocesses); `python -m pytest -m "not slow"` runs the fast tier."""
    for item in items:
        shared = any(m.name == "skipif" and m.kwargs.get("reason") == _SHARED_REASON for m in item.iter_markers())
        if shared or "real_weights" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def real_weights():
    """The real VGG19 convolutions, read once through the same loader a user's download goes through."""
    if not REAL_WEIGHTS.is_file():
        pytest.skip(f"real VGG19 weights not found at {REAL_WEIGHTS}")
    from artstyle.weights import load_weights

    return load_weights(REAL_WEIGHTS)


def _shared_image(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"image not found at {path} (../shared is present in CI, absent in a fresh clone)")
    return path


@pytest.fixture(scope="session")
def tubingen() -> Path:
    return _shared_image(CONTENT_DIR / "tubingen.jpg")


@pytest.fixture(scope="session")
def starry_night() -> Path:
    return _shared_image(STYLES_DIR / "starry_night.jpg")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# gradio_client's own HTTP calls (file downloads of streamed outputs, cancels) use httpx's 5 s default. Clean-
# clone CI runs on a loaded machine saw a cleanup cancel time out, and a streamed gallery update go missing (a
# download that fails turns the update into an exception the /paper test skips). What the app tests check is
# the app's answers, not how fast a file or a cancel comes back (the app answered /gradio_api/info in ~0.1 s
# during a run). Reads may wait 120 s: the result stream is kept alive by the server's heartbeats.
CLIENT_HTTP = {"timeout": httpx.Timeout(30.0, read=120.0)} if httpx is not None else {}


@contextmanager
def served_app(temp_dir: Path, *, mcp: bool = False, **build_kwargs: Any) -> Iterator[tuple[Any, str]]:
    """(demo, url): the app launched in this process on a free port, with the real weights, the local
    presets folder and its own Gradio temp folder (`mcp`: also as an MCP server); the environment is restored
    afterwards."""
    saved = dict(os.environ)
    os.environ.update(
        GRADIO_ANALYTICS_ENABLED="False",
        ARTSTYLE_WEIGHTS=str(REAL_WEIGHTS),
        ARTSTYLE_PRESETS_DIR=str(STYLES_DIR),
        GRADIO_TEMP_DIR=str(temp_dir),
    )
    import app

    demo = app.build_demo(**build_kwargs)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_port=port, quiet=True, max_file_size=app.MAX_UPLOAD, mcp_server=mcp)
    try:
        yield demo, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
        os.environ.clear()
        os.environ.update(saved)
