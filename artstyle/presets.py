"""Presets: famous public-domain paintings described in `artstyle/presets.json`, their images fetched on demand.

The catalogue holds metadata only (title, artist, year, licence, Wikimedia Commons source, recommended
settings); the images are never part of the project. `preset_image()` finds a preset's image:

1. `ARTSTYLE_PRESETS_DIR` (or `presets_dir=`): a local folder with files named `<preset id>.<image ext>`;
   when it is set, nothing is downloaded (offline machines, tests).
2. otherwise the on-disk cache (`ARTSTYLE_PRESETS_CACHE`, default `$HF_HOME/artstyle/presets`), filled on
   first use by a download from the source with a descriptive User-Agent (Wikimedia's policy asks for one),
   verified to decode as an image before it is kept. A preset marked `"downloadable": false` (its source is a
   museum page, no image file of it is verified yet) is served only from the local folder.

An image that cannot be had is reported as a `PresetStatus` with the reason, never as a crash; preset ids
are checked against the catalogue before they are used in a path.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
import math
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .images import ImageInput, load_image
from .params import StyleParams

ENV_PRESETS_DIR = "ARTSTYLE_PRESETS_DIR"
ENV_PRESETS_CACHE = "ARTSTYLE_PRESETS_CACHE"
#: The catalogue ships inside the package (package data), so an installed artstyle has its presets.
CATALOGUE = importlib.resources.files("artstyle") / "presets.json"
USER_AGENT = (
    "artstyle/0.1 (neural style transfer after Gatys et al. 2015; fetches public-domain paintings "
    "once per machine and caches them) Python-urllib"
)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif")
MAX_DOWNLOAD_BYTES = 50 * 2**20
THUMB_WIDTH = 1280  # one of Wikimedia's standard thumbnail widths; style transfer never needs more
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
_RECOMMENDABLE = {
    "style_weight", "content_weight", "tv_weight", "size", "steps", "init", "pooling", "style_scale", "preserve_color",
}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Preset:
    """One painting of the catalogue."""

    id: str
    title: str
    artist: str
    year: str
    licence: str
    source_url: str
    downloadable: bool = True  # False: source_url is a page about the painting, not an image file to fetch
    in_paper: bool = False  # one of the paintings of Gatys et al. (2015), Fig. 2
    notes: str = ""
    recommended: Mapping[str, Any] = field(default_factory=dict)  # StyleParams fields

    @property
    def caption(self) -> str:
        return f"{self.title} — {self.artist}, {self.year}"

    @property
    def style_weight(self) -> float:
        return float(self.recommended.get("style_weight", 1e3))

    def download_urls(self) -> tuple[str, ...]:
        """Where to fetch the image from, best first: a Wikimedia thumbnail, then the original file."""
        thumb = wikimedia_thumbnail(self.source_url, THUMB_WIDTH)
        return (thumb, self.source_url) if thumb else (self.source_url,)


@dataclass(frozen=True)
class PresetStatus:
    """Whether a preset's image can be used: `path` when it can, `reason` (one sentence) when not."""

    preset: Preset
    path: Path | None = None
    reason: str = ""

    @property
    def available(self) -> bool:
        return self.path is not None


class PresetUnavailable(ValueError):
    """A preset's image could not be found or fetched; the message says why."""


def load_catalogue(path: str | os.PathLike[str] | None = None) -> tuple[Preset, ...]:
    """Read and validate the catalogue (a small JSON file) in file order."""
    source = Path(path) if path is not None else CATALOGUE
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"presets catalogue {str(source)!r} cannot be read: {exc}") from exc
    presets = tuple(_parse_preset(entry) for entry in data.get("presets", []))
    ids = [p.id for p in presets]
    if len(set(ids)) != len(ids):
        raise ValueError(f"presets catalogue {str(source)!r} lists an id twice")
    return presets


def get_preset(preset_id: str, *, catalogue: tuple[Preset, ...] | None = None) -> Preset:
    """The preset with this id; `ValueError` naming the known ids otherwise."""
    catalogue = catalogue if catalogue is not None else load_catalogue()
    for preset in catalogue:
        if preset.id == preset_id:
            return preset
    known = ", ".join(p.id for p in catalogue)
    raise ValueError(f"preset {preset_id!r} is not in the catalogue; choose one of: {known}")


def preset_status(
    preset: Preset | str,
    *,
    presets_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    fetch: bool = True,
    timeout: float = 30.0,
) -> PresetStatus:
    """Find (and if needed fetch) a preset's image; never raises for a missing or unreachable image."""
    preset = preset if isinstance(preset, Preset) else get_preset(preset)
    _check_id(preset.id)
    local = presets_dir if presets_dir is not None else os.environ.get(ENV_PRESETS_DIR) or None
    if local is not None:
        found = _find_file(Path(local), preset.id)
        if found is None:
            return PresetStatus(preset, reason=f"no image named {preset.id}.* in {ENV_PRESETS_DIR}={local}")
        return _verified(preset, found)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    found = _find_file(cache, preset.id)
    if found is not None:
        return _verified(preset, found)
    if not preset.downloadable:
        return PresetStatus(
            preset,
            reason=f"no verified public download of it is known; put a copy named {preset.id}.jpg in a folder "
            f"and set {ENV_PRESETS_DIR} to that folder",
        )
    if not fetch:
        return PresetStatus(preset, reason="not downloaded yet")
    try:
        return PresetStatus(preset, path=download(preset, cache, timeout=timeout))
    except PresetUnavailable as exc:
        return PresetStatus(preset, reason=str(exc))


def preset_image(preset: Preset | str, **kwargs: Any) -> Path:
    """Path of a preset's image, fetched if needed; `PresetUnavailable` (a `ValueError`) says why not."""
    status = preset_status(preset, **kwargs)
    if status.path is None:
        raise PresetUnavailable(f"preset {status.preset.id!r} is unavailable: {status.reason}")
    return status.path


#: How a style argument names a preset when a file of the same name exists: "preset:starry_night".
PRESET_PREFIX = "preset:"


def as_preset(source: object, *, catalogue: tuple[Preset, ...] | None = None) -> Preset | None:
    """The preset a style argument names, or None for an image (a file, bytes, an array, a PIL image).

    A `Preset`, "preset:ID", or a bare ID that is not an existing file: a file always wins over an id, and
    "preset:ID" says the id when a file of that name is in the way. A string that looks like an id (no folder,
    no extension) but is neither a file nor a preset is refused here, naming both, rather than reported later
    as a missing file.
    """
    if isinstance(source, Preset):
        return source
    if not isinstance(source, str):
        return None
    if source.startswith(PRESET_PREFIX):
        return get_preset(source[len(PRESET_PREFIX) :], catalogue=catalogue)
    if Path(source).exists() or not _ID_RE.match(source):
        return None
    catalogue = catalogue if catalogue is not None else load_catalogue()
    if source not in {p.id for p in catalogue}:
        raise ValueError(f"{source!r} is neither a file nor a preset id; artstyle --list-presets lists the presets")
    return get_preset(source, catalogue=catalogue)


def resolve_styles(style: Any) -> tuple[list[ImageInput], list[Preset | None]]:
    """A run's style argument (one or a list) as images, each preset id replaced by its painting's file (fetched
    and cached on first use), and the preset each one is (None: an image of the caller's)."""
    sources = list(style) if isinstance(style, list | tuple) else [style]
    chosen = [as_preset(source) for source in sources]
    return [preset_image(p) if p is not None else s for s, p in zip(sources, chosen, strict=True)], chosen


def recommended(presets: Sequence[Preset | None], blend: Sequence[float]) -> dict[str, Any]:
    """The settings a run of these paintings is recommended (`None`: an image that is no preset).

    The first preset's recommended settings, and `style_weight` the blend-weighted geometric mean of each
    painting's (an image that is no preset counts as StyleParams' default): a mix of a softly and a strongly
    painted preset gets a strength between the two.
    """
    first = next((p for p in presets if p is not None), None)
    if first is None:
        return {}
    default = StyleParams().style_weight
    weights = [p.style_weight if p is not None else default for p in presets]
    total = sum(blend)
    style_weight = math.prod(w ** (b / total) for w, b in zip(weights, blend, strict=True))
    return {**first.recommended, "style_weight": style_weight}


def with_recommended(
    params: StyleParams, presets: Sequence[Preset | None], *, explicit: Collection[str] = ()
) -> StyleParams:
    """`params` with the paintings' recommended settings wherever a field is at StyleParams' default and the
    caller did not name it in `explicit`: a setting you chose always wins."""
    blend = params.style_blend if params.style_blend is not None else (1.0,) * len(presets)
    if len(blend) != len(presets):
        return params  # the run refuses the mismatch itself, naming it
    defaults = StyleParams()
    chosen = {
        key: value
        for key, value in recommended(presets, blend).items()
        if key not in explicit and getattr(params, key) == getattr(defaults, key)
    }
    return dataclasses.replace(params, **chosen) if chosen else params


def offered(statuses: Sequence[PresetStatus]) -> list[PresetStatus]:
    """The presets a page or a list offers: every one that can be had or may be fetched later, none whose
    image has no verified public source and no local copy (those cannot be had on this host at all)."""
    return [s for s in statuses if s.available or s.preset.downloadable]


def default_cache_dir() -> Path:
    """`ARTSTYLE_PRESETS_CACHE`, else `artstyle/presets` under the Hugging Face cache home."""
    configured = os.environ.get(ENV_PRESETS_CACHE)
    if configured:
        return Path(configured)
    from huggingface_hub import constants  # HF_HOME honours $HF_HOME and $XDG_CACHE_HOME

    return Path(constants.HF_HOME) / "artstyle" / "presets"


def download(preset: Preset, cache_dir: Path, *, timeout: float = 30.0) -> Path:
    """Fetch the image into `cache_dir` as `<id><ext>`, keeping it only if it decodes as an image."""
    _check_id(preset.id)
    if not preset.downloadable:
        raise PresetUnavailable(f"preset {preset.id!r} has no downloadable image (its source is {preset.source_url})")
    errors = []
    for url in preset.download_urls():
        try:
            data, ext = _fetch(url, timeout=timeout)
            load_image(data, name=f"preset {preset.id}")  # refuses HTML error pages, truncated files, bombs
        except (OSError, ValueError, urllib.error.URLError) as exc:
            errors.append(f"{url}: {_describe(exc)}")
            continue
        return _store(cache_dir, preset.id + ext, data)
    raise PresetUnavailable("download failed (" + "; ".join(errors) + ")")


def wikimedia_thumbnail(url: str, width: int) -> str | None:
    """The URL of Wikimedia's resized copy of an upload.wikimedia.org original, or None for other hosts."""
    parts = urllib.parse.urlsplit(url)
    segments = parts.path.split("/")  # ['', 'wikipedia', 'commons', 'e', 'ea', 'Name.jpg']
    if parts.netloc != "upload.wikimedia.org" or len(segments) != 6 or segments[1] != "wikipedia":
        return None
    _, _, project, a, ab, name = segments
    path = f"/wikipedia/{project}/thumb/{a}/{ab}/{name}/{width}px-{name}"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _parse_preset(entry: Any) -> Preset:
    if not isinstance(entry, dict):
        raise ValueError(f"presets catalogue: each preset must be an object, got {entry!r}")
    try:
        preset = Preset(**entry)
    except TypeError as exc:
        raise ValueError(f"presets catalogue: preset {entry.get('id')!r} is malformed ({exc})") from exc
    _check_id(preset.id)
    if not isinstance(preset.downloadable, bool):
        raise ValueError(f"presets catalogue: preset {preset.id!r} downloadable must be true or false")
    for name in ("title", "artist", "year", "licence", "source_url"):
        if not isinstance(getattr(preset, name), str) or not getattr(preset, name):
            raise ValueError(f"presets catalogue: preset {preset.id!r} needs a non-empty {name}")
    if not preset.source_url.startswith(("https://", "http://")):
        raise ValueError(f"presets catalogue: preset {preset.id!r} source_url must be an http(s) URL")
    unknown = set(preset.recommended) - _RECOMMENDABLE
    if unknown:
        raise ValueError(f"presets catalogue: preset {preset.id!r} recommends unknown setting(s) {sorted(unknown)}")
    return preset


def _check_id(preset_id: Any) -> None:
    # Ids become file names: only a closed alphabet, so no id can climb out of the folder.
    if not isinstance(preset_id, str) or not _ID_RE.match(preset_id):
        raise ValueError(f"preset id must be lower-case letters, digits and underscores, got {preset_id!r}")


def _find_file(folder: Path, preset_id: str) -> Path | None:
    for ext in IMAGE_EXTENSIONS:
        for candidate in (folder / f"{preset_id}{ext}", folder / f"{preset_id}{ext.upper()}"):
            if candidate.is_file():
                return candidate
    return None


def _verified(preset: Preset, path: Path) -> PresetStatus:
    try:
        load_image(path, name=f"preset {preset.id}")
    except ValueError as exc:
        return PresetStatus(preset, reason=str(exc))
    return PresetStatus(preset, path=path)


def _fetch(url: str, *, timeout: float) -> tuple[bytes, str]:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (catalogue URLs only)
        data = response.read(MAX_DOWNLOAD_BYTES + 1)
        content_type = response.headers.get_content_type()
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise ValueError(f"larger than {MAX_DOWNLOAD_BYTES // 2**20} MB")
    return data, _extension(url, content_type)


def _extension(url: str, content_type: str) -> str:
    by_type = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/tiff": ".tif"}
    if content_type in by_type:
        return by_type[content_type]
    suffix = Path(urllib.parse.urlsplit(url).path).suffix.lower()
    return suffix if suffix in IMAGE_EXTENSIONS else ".jpg"


def _store(cache_dir: Path, name: str, data: bytes) -> Path:
    # Write to a temporary file and rename: a reader never sees half a file, two writers never clash.
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        target = cache_dir / name
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"cannot connect ({exc.reason})"
    return str(exc) or type(exc).__name__
