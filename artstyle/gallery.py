"""Contact sheets: every preset (a row) on every photo (a column), to look at presets side by side.

`python -m artstyle.gallery PHOTO... -o sheet.png [--presets id1,id2] [--size 256] [--steps 85]
[--paintings DIR] [--set KEY=VALUE ...] [--weights PATH] [--cell PX]`

Each cell is the run the app makes with its CPU defaults (size and steps) and the
preset's recommended settings; `--set` overrides a setting in every cell. Each row is labelled with the
painting and the settings in which it differs from `StyleParams`' defaults, so a sheet says how it was
made; the PNG also records the sheet's settings in its text metadata. Progress goes to stderr, a line a
cell. No Gradio here: the sheet is drawn with Pillow (`ImageDraw`, the default font).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import typing
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from .cli import WEIGHTS_HELP, Parser, option_type  # one-line errors, --weights, each field's parsing
from .engine import stylize
from .images import ImageInput, load_image
from .metadata import save_png
from .params import StyleParams
from .presets import Preset, get_preset, load_catalogue, preset_status
from .weights import WeightsError, WeightsInput, resolve_weights

#: The web app's CPU defaults (artstyle_app/devices.py, PROFILES['cpu']): a sheet's cells are the runs a visitor gets.
DEFAULT_SIZE, DEFAULT_STEPS = 256, 145
#: ... painted by the app's method (chosen blind; the library's own defaults stay the paper's): `overrides` win.
APP_METHOD: dict[str, Any] = {"style_loss": "gram", "schedule": "coarse-to-fine"}
#: Set by --size/--steps (or the sheet itself), never by --set or a preset.
SHEET_FIELDS = ("size", "steps", "preview_every")
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
MUTED = (90, 90, 90)

Report = Callable[[str], None]


def contact_sheet(
    photos: Sequence[ImageInput],
    presets: Sequence[Preset | str] | None = None,
    *,
    size: int = DEFAULT_SIZE,
    steps: int = DEFAULT_STEPS,
    overrides: Mapping[str, Any] | None = None,
    paintings_dir: str | Path | None = None,
    weights: WeightsInput = None,
    cell: int | None = None,
    names: Sequence[str] | None = None,
    report: Report | None = None,
) -> Image.Image:
    """A sheet with one row per preset (default: the whole catalogue) and one column per photo.

    Every cell is `stylize(photo, painting)` at `size` and `steps` with the preset's recommended settings,
    then `overrides` (StyleParams fields, the same for every cell), fitted into `cell` px squares (default:
    `size`). `paintings_dir` reads each preset's image from a local folder (`<preset id>.<ext>`) instead of
    the download cache. `names` label the columns (default: the photos' file names). `report` receives a
    line of progress per cell. Everything is checked before the first cell is painted: `ValueError` says
    what is wrong. The returned image's `info["cells"]` maps (preset id, column index) to each cell's box.
    """
    chosen = _resolve_presets(presets)
    if not photos:
        raise ValueError("give at least one photo")
    overrides = {**APP_METHOD, **(overrides or {})}
    fixed = sorted(set(overrides) & set(SHEET_FIELDS))
    if fixed:
        raise ValueError(f"{', '.join(fixed)} is set for the whole sheet (size=, steps=), not as an override")
    names = list(names) if names is not None else [_photo_name(p, i) for i, p in enumerate(photos)]
    if len(names) != len(photos):
        raise ValueError(f"{len(names)} names for {len(photos)} photos")
    # Fail before any painting: every cell's params are valid, every photo loads, every painting is at hand.
    params = [_cell_params(p, size=size, steps=steps, overrides=overrides) for p in chosen]
    cell = size if cell is None else cell
    if not isinstance(cell, int) or not 16 <= cell <= 4096:
        raise ValueError(f"cell must be a whole number of pixels from 16 to 4096, got {cell!r}")
    contents = [load_image(p, name=f"photo {n}") for p, n in zip(photos, names, strict=True)]
    paintings = [_painting(p, paintings_dir) for p in chosen]  # may download: after the cheap checks
    vgg = resolve_weights(weights)

    layout = _Layout(cell=cell, columns=len(photos))
    labels = [_row_label(p, q, overrides) for p, q in zip(chosen, params, strict=True)]
    sheet, boxes = layout.draw(_sheet_title(size, steps, overrides), names, labels)
    total, done = len(chosen) * len(contents), 0
    for row, (preset, painting, p) in enumerate(zip(chosen, paintings, params, strict=True)):
        for column, (content, name) in enumerate(zip(contents, names, strict=True)):
            start = time.perf_counter()
            result = stylize(content, painting, params=p, weights=vgg)
            done += 1
            if report is not None:
                seconds = time.perf_counter() - start
                report(f"[{done}/{total}] {preset.id} x {name}: {p.steps} steps in {seconds:.1f} s")
            box = boxes[row][column]
            sheet.paste(_fit(result, cell), box[:2])
    sheet.info["cells"] = {(preset.id, c): boxes[r][c] for r, preset in enumerate(chosen) for c in range(len(names))}
    return sheet


def sheet_settings(
    photos: Sequence[str], presets: Sequence[Preset], *, size: int, steps: int, overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """What a sheet's PNG records: enough to make it again."""
    return {
        "sheet": "artstyle.gallery",
        "photos": list(photos),
        "presets": [p.id for p in presets],
        "size": size,
        "steps": steps,
        "overrides": dict(overrides),
        "recommended": {p.id: dict(p.recommended) for p in presets},
    }


def parse_setting(assignment: str) -> tuple[str, Any]:
    """'tv_weight=0' -> ('tv_weight', 0.0), parsed as the CLI parses that option; ValueError if not."""
    key, sep, text = assignment.partition("=")
    key = key.strip().lstrip("-").replace("-", "_")
    fields = {f.name: f for f in dataclasses.fields(StyleParams)}
    if not sep or not key:
        raise ValueError(f"--set {assignment!r}: write KEY=VALUE, e.g. --set tv_weight=0")
    if key not in fields:
        raise ValueError(f"--set {assignment!r}: unknown setting {key!r}; choose one of {', '.join(sorted(fields))}")
    if key in SHEET_FIELDS:
        raise ValueError(f"--set {assignment!r}: use --{key} for the whole sheet" if key != "preview_every" else
                         f"--set {assignment!r}: preview_every does not change a picture")  # fmt: skip

    f = fields[key]
    kind = f.metadata["parse"] if "parse" in f.metadata else option_type(typing.get_type_hints(StyleParams)[key])[0]
    try:
        value = kind(text.strip())
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--set {assignment!r}: {exc}") from None
    return key, value


def build_parser() -> argparse.ArgumentParser:

    parser = Parser(
        prog="python -m artstyle.gallery",
        description="A contact sheet: each preset (a row) painted on each photo (a column), labelled with the "
        "painting and its settings.",
    )
    parser.add_argument("photos", nargs="+", metavar="PHOTO", help="content photos, one column each")
    parser.add_argument("-o", "--output", default="sheet.png", help="where to write the sheet (PNG or JPEG)")
    parser.add_argument(
        "--presets", default=None, metavar="ID1,ID2,...", help="preset ids, one row each (default: all presets)"
    )
    parser.add_argument(
        "--size", type=int, default=DEFAULT_SIZE, help=f"long side of each result (default: {DEFAULT_SIZE}, the app's)"
    )
    parser.add_argument(
        "--steps", type=int, default=DEFAULT_STEPS, help=f"iterations per cell (default: {DEFAULT_STEPS}, the app's)"
    )
    parser.add_argument(
        "--paintings",
        default=None,
        metavar="DIR",
        help="read each preset's painting from DIR/<preset id>.<ext> instead of downloading it",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a StyleParams setting for every cell, over the presets' recommended ones (repeatable), "
        "e.g. --set tv_weight=0",
    )
    parser.add_argument(
        "--weights",
        default=None,
        help=WEIGHTS_HELP,
    )
    parser.add_argument("--cell", type=int, default=None, metavar="PX", help="side of each cell (default: --size)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        output = Path(args.output)
        if output.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            raise ValueError(f"--output {str(output)!r}: write a .png or .jpg file")
        if output.is_dir():
            raise ValueError(f"--output {str(output)!r} is a directory; give a file name such as sheet.png")
        missing = [p for p in args.photos if not Path(p).is_file()]
        if missing:
            raise ValueError(f"photo not found: {', '.join(missing)}")
        if args.paintings is not None and not Path(args.paintings).is_dir():
            raise ValueError(f"--paintings {args.paintings!r} is not a directory")
        presets = _resolve_presets([s.strip() for s in args.presets.split(",") if s.strip()] if args.presets else None)
        overrides = {**APP_METHOD, **dict(parse_setting(s) for s in args.overrides)}
        report = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
        sheet = contact_sheet(
            args.photos,
            presets,
            size=args.size,
            steps=args.steps,
            overrides=overrides,
            paintings_dir=args.paintings,
            weights=args.weights,
            cell=args.cell,
            report=report,
        )
    except (ValueError, WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; nothing written", file=sys.stderr)
        return 130
    output.parent.mkdir(parents=True, exist_ok=True)
    settings = sheet_settings(
        [Path(p).name for p in args.photos], presets, size=args.size, steps=args.steps, overrides=overrides
    )
    try:
        if output.suffix.lower() == ".png":
            save_png(sheet, output, settings)
        else:
            sheet.convert("RGB").save(output, quality=90)
    except OSError as exc:
        print(f"error: could not write {output}: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {output} ({sheet.width}x{sheet.height})", file=sys.stderr)
    return 0


# --- internals ----------------------------------------------------------------------------------------------


def _resolve_presets(presets: Sequence[Preset | str] | None) -> list[Preset]:
    catalogue = load_catalogue()
    if presets is None:
        return list(catalogue)
    if not presets:
        raise ValueError("give at least one preset")
    chosen = [p if isinstance(p, Preset) else get_preset(p, catalogue=catalogue) for p in presets]
    return chosen


def _painting(preset: Preset, paintings_dir: str | Path | None) -> Image.Image:
    status = preset_status(preset, presets_dir=paintings_dir)
    if status.path is None:
        raise ValueError(f"the painting of preset {preset.id!r} is unavailable: {status.reason}")
    return load_image(status.path, name=f"preset {preset.id}")


def _cell_params(preset: Preset, *, size: int, steps: int, overrides: Mapping[str, Any]) -> StyleParams:
    # A preset's recommended size or steps would make cells incomparable: the sheet's size and steps win.
    recommended = {k: v for k, v in preset.recommended.items() if k not in SHEET_FIELDS}
    try:
        return StyleParams.from_kwargs(**{**recommended, **overrides, "size": size, "steps": steps, "preview_every": 0})
    except ValueError as exc:
        raise ValueError(f"preset {preset.id!r}: {exc}") from None


def _photo_name(photo: ImageInput, index: int) -> str:
    return Path(photo).name if isinstance(photo, str | Path) else f"photo {index + 1}"


def format_value(value: Any) -> str:
    """Compact numbers for labels: 10000.0 -> '1e4', 0.001 -> '1e-3', 0.8 -> '0.8'."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
    if value != 0 and (abs(value) >= 1000 or abs(value) < 0.01):
        mantissa, exponent = f"{value:.2e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{int(exponent)}"
    return f"{value:g}"


def _differences(params: StyleParams, baseline: StyleParams) -> str:
    ignore = {*SHEET_FIELDS, "device", "seed"}
    return ", ".join(
        f"{f.name} {format_value(getattr(params, f.name))}"
        for f in dataclasses.fields(StyleParams)
        if f.name not in ignore and getattr(params, f.name) != getattr(baseline, f.name)
    )


def _row_label(preset: Preset, params: StyleParams, overrides: Mapping[str, Any]) -> list[str]:
    """Title, artist and year, and the settings in which this row differs from the sheet's baseline (the
    defaults with `overrides`, which the title names once): the preset's own recommendations."""
    baseline = StyleParams.from_kwargs(params, **_defaults_except(overrides))
    settings = _differences(params, baseline) or ("default settings" if not overrides else "the sheet's settings")
    return [preset.title, f"{preset.artist}, {preset.year}", settings]


def _defaults_except(overrides: Mapping[str, Any]) -> dict[str, Any]:
    defaults = StyleParams()
    ignore = {*SHEET_FIELDS, "device", "seed", *overrides}
    return {f.name: getattr(defaults, f.name) for f in dataclasses.fields(StyleParams) if f.name not in ignore}


def _sheet_title(size: int, steps: int, overrides: Mapping[str, Any]) -> str:
    text = f"artstyle: each preset at {size} px, {steps} steps, its recommended settings"
    if overrides:
        text += "; every cell: " + ", ".join(f"{k} {format_value(v)}" for k, v in overrides.items())
    return text


def _fit(image: Image.Image, side: int) -> Image.Image:
    """The image scaled so its long side is `side`, centred on a `side` x `side` background."""
    scale = side / max(image.size)
    resized = image.convert("RGB").resize(
        (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.LANCZOS
    )
    canvas = Image.new("RGB", (side, side), BACKGROUND)
    canvas.paste(resized, ((side - resized.width) // 2, (side - resized.height) // 2))
    return canvas


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 with FreeType: a scalable font
    except (TypeError, ImportError, OSError):
        return ImageFont.load_default()


def _printable(text: str) -> str:
    """Pillow's built-in font covers ASCII only: 'Rhône' -> 'Rhone' (accents dropped), not a missing glyph."""
    folded = unicodedata.normalize("NFKD", text.replace("…", "...").replace("—", "-").replace("–", "-"))
    return "".join(c for c in folded if not unicodedata.combining(c)).encode("ascii", "replace").decode()


def _wrap(text: str, font: Any, width: int, max_lines: int) -> list[str]:
    """Greedy word wrap to `width` px; a word too long for a line is cut; the last line ends in '…' if cut."""
    text = _printable(text)
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if font.getlength(candidate) <= width or not line:
            line = candidate
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    lines = [_clip(x, font, width) for x in lines] or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = _clip(lines[-1] + "...", font, width)
    return lines


def _clip(text: str, font: Any, width: int) -> str:
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "...") > width:
        text = text[:-1]
    return text + "..."


@dataclasses.dataclass
class _Layout:
    """Where everything goes: a title line, a header row naming the photos, then a labelled row per preset."""

    cell: int
    columns: int

    def __post_init__(self) -> None:
        self.font_size = max(10, min(18, self.cell // 14))
        self.font = _font(self.font_size)
        self.line = round(self.font_size * 1.3)
        self.gap = max(4, self.cell // 32)
        self.label_width = max(self.cell, 12 * self.font_size)
        self.grid_left = self.gap + self.label_width + self.gap
        self.width = self.grid_left + self.columns * (self.cell + self.gap)

    def draw(
        self, title: str, names: Sequence[str], labels: Sequence[list[str]]
    ) -> tuple[Image.Image, list[list[tuple[int, int, int, int]]]]:
        title_lines = _wrap(title, self.font, self.width - 2 * self.gap, 3)
        header = [_wrap(n, self.font, self.cell, 2) for n in names]
        rows = [[line for part in label for line in _wrap(part, self.font, self.label_width, 3)] for label in labels]
        header_height = max(len(h) for h in header) * self.line
        top = self.gap + len(title_lines) * self.line + self.gap + header_height + self.gap
        heights = [max(self.cell, len(r) * self.line) for r in rows]
        height = top + sum(h + self.gap for h in heights)
        sheet = Image.new("RGB", (self.width, height), BACKGROUND)
        pen = ImageDraw.Draw(sheet)
        for i, text in enumerate(title_lines):
            pen.text((self.gap, self.gap + i * self.line), text, fill=INK, font=self.font)
        header_top = self.gap + len(title_lines) * self.line + self.gap
        for c, lines in enumerate(header):
            for i, text in enumerate(lines):
                pen.text((self.grid_left + c * (self.cell + self.gap), header_top + i * self.line), text, fill=INK,
                         font=self.font)  # fmt: skip
        boxes = []
        y = top
        for lines, row_height in zip(rows, heights, strict=True):
            for i, text in enumerate(lines):
                pen.text((self.gap, y + i * self.line), text, fill=INK if i == 0 else MUTED, font=self.font)
            boxes.append(
                [
                    (x := self.grid_left + c * (self.cell + self.gap), y, x + self.cell, y + self.cell)
                    for c in range(self.columns)
                ]
            )
            y += row_height + self.gap
        return sheet, boxes


if __name__ == "__main__":
    sys.exit(main())
