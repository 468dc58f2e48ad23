"""The paintings on offer: gallery thumbnails of the presets, which are unavailable and why, the examples."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from artstyle import load_image
from artstyle.presets import Preset, PresetStatus, preset_status

THUMB_SIDE = 320
EXAMPLE_PAIRS = (  # (content preset id, style preset id)
    ("great_wave", "starry_night"),
    ("water_lilies", "the_scream"),
    ("wheat_field_with_cypresses", "composition_vii"),
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


def example_rows(statuses: list[PresetStatus]) -> list[list[str]]:
    """Content + preset pairs whose images are at hand. The content photos of ../shared may not be
    published, so public-domain paintings from the catalogue stand in for the photo."""
    paths = {s.preset.id: str(s.path) for s in statuses if s.path is not None}
    return [[paths[content], preset] for content, preset in EXAMPLE_PAIRS if content in paths and preset in paths]
