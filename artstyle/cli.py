"""Command line: `artstyle CONTENT STYLE [STYLE ...] [--mask MASK] -o OUT.png [--size 512 ...]` (or
`python -m artstyle ...`); STYLE is an image file or a preset id (`artstyle --list-presets`).

Every option is generated from `StyleParams`, so the CLI always offers exactly what the API accepts; a
field whose metadata has `parse` (e.g. `scales`: "3" or "128,256") gets that parser and `metavar`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
import tempfile
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args, get_origin

from PIL import Image
from tqdm import tqdm

from .engine import stylize_iter
from .guard import restart_note
from .metadata import run_settings, save_png
from .params import NONE_CHOICE, PAPER_SETTINGS, StyleParams
from .presets import ENV_PRESETS_DIR, load_catalogue, offered, preset_status, resolve_styles, with_recommended
from .weights import ENV_WEIGHTS, WeightsError


def option_type(annotation: Any) -> tuple[Any, dict[str, Any]]:
    """argparse `type` and extra kwargs for a dataclass field annotation."""
    origin = get_origin(annotation)
    if origin is typing.Literal:
        return str, {"choices": get_args(annotation)}
    if origin in (typing.Union, types.UnionType):  # Optional[X]: the non-None member
        inner = [a for a in get_args(annotation) if a is not type(None)]
        kind, extra = option_type(inner[0])
        if "choices" in extra:  # Optional[Literal]: NONE_CHOICE is one more choice
            choices = (*extra["choices"], NONE_CHOICE)
            extra = {"choices": (*extra["choices"], None), "metavar": "{" + ",".join(choices) + "}"}
        return (lambda text: None if text.lower() == NONE_CHOICE else kind(text)), extra
    if origin is tuple:
        return (lambda text: tuple(x for x in text.split(",") if x)), {"metavar": "A,B,..."}
    return annotation, {}


#: What the CLI writes: formats that store an RGB picture as is. Pillow registers far more extensions
#: (.pdf, .eps, .psd, ...), several of which it cannot write or would write surprisingly.
OUTPUT_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:
        # One line instead of argparse's full usage block (dozens of options): the error is what matters.
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


#: The --weights option's help, for every command that takes it (this CLI, python -m artstyle.gallery).
WEIGHTS_HELP = (
    f"VGG19 weights: a .safetensors path or REPO_ID[:FILE][@REV] (default: ${ENV_WEIGHTS} or timm/vgg19.tv_in1k)"
)


class _ListPresets(argparse.Action):
    """--list-presets: like --help, it prints and exits before the positional arguments are required."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        sys.stdout.write(presets_listing())
        parser.exit(0)


def presets_listing() -> str:
    """The presets on offer here, one a line (id, painting, strength), and those that cannot be had here."""
    statuses = [preset_status(p, fetch=False) for p in load_catalogue()]
    shown = offered(statuses)
    width = max(len(s.preset.id) for s in shown)
    lines = [f"{'id':<{width}}  painting (recommended style_weight; where the image comes from)"]
    for status in shown:
        where = str(status.path) if status.path else "fetched from its public source on first use"
        lines.append(f"{status.preset.id:<{width}}  {status.preset.caption} ({status.preset.style_weight:g}; {where})")
    hidden = [s.preset.id for s in statuses if s not in shown]
    if hidden:
        lines.append(f"not offered here (no verified public download; a local copy in {ENV_PRESETS_DIR} would do): "
                     + ", ".join(hidden))  # fmt: skip
    return "\n".join(lines) + "\n"


def build_parser(prog: str = "artstyle") -> argparse.ArgumentParser:
    parser = Parser(
        prog=prog,
        description="Neural style transfer (Gatys, Ecker & Bethge 2015): paint CONTENT in the style of STYLE. "
        "Also: artstyle-paper (the paper's figures), artstyle-sheet (contact sheets), artstyle-app (the web app).",
    )
    parser.add_argument("content", help="content photo (any image file)")
    parser.add_argument(
        "style",
        nargs="+",
        help="style image (a painting) or a preset id such as starry_night, fetched once and cached, with its "
        "recommended settings where you set none (a file of that name wins: write preset:ID for the preset); "
        "several are mixed by --style-blend or placed by --mask",
    )
    parser.add_argument(
        "--list-presets", action=_ListPresets, help="list the preset paintings (ids for STYLE) and exit"
    )
    parser.add_argument(
        "--mask",
        default=None,
        metavar="PATH",
        help="image assigning each part of the output to a style: greyscale for two styles (black: the first, "
        "white: the second), or one flat colour per style for more (darkest colour: the first style)",
    )
    parser.add_argument("-o", "--output", default="out.png", help="where to write the result (PNG, JPEG, WebP)")
    parser.add_argument(
        "--weights",
        default=None,
        help=WEIGHTS_HELP,
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--paper",
        action="store_true",
        help="the paper's own settings where our defaults depart from them ("
        + ", ".join(f"{k} {v}" for k, v in PAPER_SETTINGS.items())
        + "); an option given with another value still wins",
    )
    hints = typing.get_type_hints(StyleParams)
    for f in dataclasses.fields(StyleParams):
        kind, extra = option_type(hints[f.name])
        if "parse" in f.metadata:
            kind, extra = f.metadata["parse"], {"metavar": f.metadata.get("metavar")}
        if "choices" in f.metadata:  # a choice from a registry (style_loss: artstyle.statistics.STATISTICS)
            extra = {"choices": f.metadata["choices"]}
        default = ",".join(map(str, f.default)) if isinstance(f.default, tuple) else f.default
        parser.add_argument(
            f"--{f.name.replace('_', '-')}",
            dest=f.name,
            type=kind,
            default=f.default,
            help=f"{f.metadata.get('help', '')} (default: {default})".replace("%", "%%"),
            **extra,
        )
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "artstyle") -> int:
    """`prog` is how the user called us, so that "see ... --help" names a command that works for them."""
    args = build_parser(prog).parse_args(argv)
    try:
        # Everything that can be checked before the run is: parameters, then the output path (before a
        # weights download or a long optimisation is spent on a result that could not be saved).
        # A preset id stands for its painting, with its recommended settings where an option is at its default:
        # applied here too, so that the PNG records what ran.
        styles, presets = resolve_styles(args.style)
        params = with_recommended(_params(args), presets)
        output = _check_output(Path(args.output), inputs=(args.content, *args.style))
        events = stylize_iter(args.content, styles, mask=args.mask, weights=args.weights, params=params)
    except (ValueError, WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result, restarted = None, False
    try:
        with tqdm(disable=args.quiet, unit="it", desc="stylizing") as bar:
            for event in events:
                bar.total = event.total
                bar.update(event.step - bar.n)
                bar.set_postfix(loss=f"{event.losses.total:.3g}", refresh=False)
                if event.restarts and not restarted:
                    restarted = True
                    bar.write(f"note: {restart_note(event.restarts)} (step {event.step})", file=sys.stderr)
                result = event.image if event.done else result
    except KeyboardInterrupt:
        events.close()
        print("error: interrupted; nothing written", file=sys.stderr)
        return 130
    settings = run_settings(
        params,
        content=Path(args.content).name,
        style=[Path(s).name for s in args.style],
        mask=Path(args.mask).name if args.mask else None,
    )
    return _save(result, output, settings)


def _params(args: argparse.Namespace) -> StyleParams:
    """Validate the options through `StyleParams`, naming them as options (--style-weight) in errors."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(StyleParams)}
    if args.paper:  # the paper's value wherever the option was left at our default
        defaults = StyleParams()
        values.update({k: v for k, v in PAPER_SETTINGS.items() if values[k] == getattr(defaults, k)})
    try:
        return StyleParams(**values)
    except ValueError as exc:
        names = "|".join(f.name for f in dataclasses.fields(StyleParams))
        raise ValueError(re.sub(rf"\b({names})\b", lambda m: "--" + m[1].replace("_", "-"), str(exc))) from None


def _check_output(output: Path, *, inputs: tuple[str, ...]) -> Path:
    if output.suffix.lower() not in OUTPUT_EXTENSIONS:
        raise ValueError(
            f"--output {str(output)!r}: unknown image extension {output.suffix or '(none)'!r}; "
            f"use one of {', '.join(OUTPUT_EXTENSIONS)}"
        )
    if output.is_dir():
        raise ValueError(f"--output {str(output)!r} is a directory; give a file name such as out.png")
    if output.exists() and any(Path(i).exists() and output.samefile(i) for i in inputs):
        raise ValueError(f"--output {str(output)!r} is one of the input images; choose another file name")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        # Probe with a real file: os.access() says yes to root and knows nothing of read-only mounts.
        with tempfile.NamedTemporaryFile(dir=output.parent, prefix=".artstyle-probe-"):
            pass
        if output.exists() and not os.access(output, os.W_OK):
            raise PermissionError(13, "the file is read-only")
    except OSError as exc:
        raise ValueError(f"--output {str(output)!r} cannot be written: {exc.strerror or exc}") from None
    return output


def _save(result: Image.Image | None, output: Path, settings: dict[str, Any]) -> int:
    """Write the result; a PNG carries every setting in its text metadata, as the app's download does."""
    assert result is not None  # the last event of a finished run carries the result
    try:
        if output.suffix.lower() == ".png":
            save_png(result, output, settings)
        else:
            result.save(output)
    except (OSError, ValueError) as exc:
        # The run is done and may have taken long: keep the picture somewhere rather than lose it.
        fd, rescue = tempfile.mkstemp(prefix="artstyle-", suffix=".png")
        os.close(fd)
        save_png(result, rescue, settings)
        print(f"error: could not write {output} ({exc}); the result was saved to {rescue}", file=sys.stderr)
        return 1
    print(f"wrote {output} ({result.width}x{result.height})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
