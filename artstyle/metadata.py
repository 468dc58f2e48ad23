"""Result PNGs that say how they were made: every setting of the run in the PNG's text metadata.

The app's download and `python -m artstyle ... -o out.png` write the same chunks, so a picture found later
can be reproduced: `read_settings(path)` gives back the dict, whose `StyleParams` fields can be passed to
`stylize` again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from .params import StyleParams

PAPER_URL = "https://arxiv.org/abs/1508.06576"
#: The tEXt key holding the settings, as JSON.
SETTINGS_KEY = "artstyle"


def run_settings(params: StyleParams, **context: Any) -> dict[str, Any]:
    """What a result records: the run's `StyleParams` (less `preview_every`, which does not change the
    picture) and `context`, e.g. which preset or files were used."""
    settings = params.to_dict()
    settings.pop("preview_every")
    return {**settings, **context}


def save_png(image: Image.Image, path: str | os.PathLike[str], settings: dict[str, Any]) -> Path:
    """Write `image` as a full-resolution PNG with `settings` (JSON) and the software in text chunks."""
    from . import __version__  # the package's version, read at call time (this module loads with it)

    info = PngImagePlugin.PngInfo()
    info.add_text("Software", f"artstyle {__version__}")
    info.add_text(SETTINGS_KEY, json.dumps(settings, default=str, sort_keys=True))
    info.add_text("Comment", f"Neural style transfer after Gatys, Ecker & Bethge (2015), {PAPER_URL}")
    image.save(path, format="PNG", pnginfo=info)
    return Path(path)


def read_settings(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The settings recorded by `save_png`; {} for a PNG without them."""
    with Image.open(path) as image:
        text = getattr(image, "text", {}).get(SETTINGS_KEY)
    return json.loads(text) if text else {}
