"""The paintings on offer: gallery thumbnails of the presets, which are unavailable and why, the examples."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from artstyle import load_image
from artstyle.presets import Preset, PresetStatus, preset_status

THUMB_SIDE = 320
# Public-domain and CC0 photos committed with the project (sources and licences in examples/CREDITS.md).
EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_PAIRS = (  # (photo file in examples/, preset id)
    ("astronaut.jpg", "starry_night"),
    ("coffee.jpg", "great_wave"),
    ("chelsea.jpg", "the_scream"),
    ("rocket.jpg", "composition_vii"),
    ("camera.jpg", "woman_with_a_hat"),
    ("hubble.jpg", "starry_night_over_the_rhone"),
)


def resolve_presets(catalogue: tuple[Preset, ...]) -> list[PresetStatus]:
    """Each preset's image, fetched in parallel: on first start this downloads the paintings once; later
    starts read the cache."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda p: preset_status(p, timeout=20.0), catalogue))


def preset_gallery(statuses: list[PresetStatus]) -> list[tuple[Image.Image, str]]:
    items = []
    for status in statuses:
        if status.path is not None:
            thumb = load_image(status.path, name=status.preset.id)
            thumb.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BILINEAR)
            items.append((thumb, status.preset.caption))
        else:
            items.append((Image.new("RGB", (320, 240), (200, 200, 200)), f"{status.preset.caption} (unavailable)"))
    return items


def unavailable_note(statuses: list[PresetStatus]) -> str:
    missing = [f"*{s.preset.title}*: {s.reason}" for s in statuses if not s.available]
    return ("Unavailable right now: " + "; ".join(missing)) if missing else ""


def example_rows(statuses: list[PresetStatus], examples_dir: Path = EXAMPLES_DIR) -> list[list[str]]:
    """[photo path, preset id] rows for `gr.Examples`: one click fills the photo and the painting. A pair
    is left out while its painting is unavailable (or its photo missing), so no example leads to an error."""
    available = {s.preset.id for s in statuses if s.available}
    rows = []
    for photo, preset in EXAMPLE_PAIRS:
        path = examples_dir / photo
        if preset in available and path.is_file():
            rows.append([str(path), preset])
    return rows
