"""The app's example photos: committed, small, credited, each paired with a preset that exists."""

from __future__ import annotations

from PIL import Image

from artstyle.presets import PresetStatus, get_preset
from artstyle_app.paintings import EXAMPLE_PAIRS, EXAMPLES_DIR, example_rows

MAX_BYTES = 150 * 1024


def test_example_photos_are_small_credited_jpegs():
    credits = (EXAMPLES_DIR / "CREDITS.md").read_text(encoding="utf-8")
    photos = sorted(p.name for p in EXAMPLES_DIR.iterdir() if p.name != "CREDITS.md")
    assert 3 <= len(photos) <= 6  # one page of examples (paint_tab: examples_per_page)
    assert {photo for photo, _ in EXAMPLE_PAIRS} == set(photos)
    for name in photos:
        path = EXAMPLES_DIR / name
        assert path.stat().st_size <= MAX_BYTES, name
        with Image.open(path) as image:
            assert image.format == "JPEG" and max(image.size) <= 512, name
        assert f"`{name}`" in credits, f"{name} is not credited in examples/CREDITS.md"
    assert "public domain" in credits.lower() and "CC0" in credits


def test_each_example_pairs_a_photo_with_a_preset():
    for photo, preset_id in EXAMPLE_PAIRS:
        assert (EXAMPLES_DIR / photo).is_file()
        assert get_preset(preset_id).downloadable  # an example must work on a fresh host, fetched from Commons


def test_example_rows_fill_the_photo_and_the_painting(tmp_path):
    statuses = [PresetStatus(get_preset(preset_id), path=tmp_path / "x.jpg") for _, preset_id in EXAMPLE_PAIRS]
    rows = example_rows(statuses)
    assert rows == [[str(EXAMPLES_DIR / photo), preset_id] for photo, preset_id in EXAMPLE_PAIRS]
    # A painting that cannot be had right now takes its example with it; so does a missing photo.
    unavailable = PresetStatus(statuses[0].preset, reason="offline")
    assert [r[1] for r in example_rows([unavailable, *statuses[1:]])] == [p for _, p in EXAMPLE_PAIRS[1:]]
    assert example_rows(statuses, examples_dir=tmp_path) == []
