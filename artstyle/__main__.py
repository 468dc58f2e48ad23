"""Command line: `python -m artstyle CONTENT STYLE [STYLE ...] [--mask MASK] -o OUT.png [--size 512 ...]`.

Every option is generated from `StyleParams`, so the CLI always offers exactly what the API accepts; a
field whose metadata has `parse` (e.g. `scales`: "3" or "128,256") gets that parser and `metavar`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args, get_origin

from PIL import Image
from tqdm import tqdm

from .engine import stylize_iter
from .params import StyleParams
from .weights import ENV_WEIGHTS, WeightsError


def _option_type(annotation: Any) -> tuple[Any, dict[str, Any]]:
    """argparse `type` and extra kwargs for a dataclass field annotation."""
    origin = get_origin(annotation)
    if origin is typing.Literal:
        return str, {"choices": get_args(annotation)}
    if origin in (typing.Union, types.UnionType):  # Optional[X]: the non-None member
        inner = [a for a in get_args(annotation) if a is not type(None)]
        kind, extra = _option_type(inner[0])
        if "choices" in extra:  # Optional[Literal]: 'none' is one more choice
            extra = {"choices": (*extra["choices"], None), "metavar": "{" + ",".join((*extra["choices"], "none")) + "}"}
        return (lambda text: None if text.lower() == "none" else kind(text)), extra
    if origin is tuple:
        return (lambda text: tuple(x for x in text.split(",") if x)), {"metavar": "A,B,..."}
    return annotation, {}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m artstyle",
        description="Neural style transfer (Gatys, Ecker & Bethge 2015): paint CONTENT in the style of STYLE.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("content", help="content photo (any image file)")
    parser.add_argument(
        "style", nargs="+", help="style image (a painting); several are mixed by --style-blend or placed by --mask"
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
        help=f"VGG19 weights: a .safetensors path or REPO_ID[:FILE][@REV] (default: ${ENV_WEIGHTS} "
        "or timm/vgg19.tv_in1k)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    hints = typing.get_type_hints(StyleParams)
    for f in dataclasses.fields(StyleParams):
        kind, extra = _option_type(hints[f.name])
        if "parse" in f.metadata:
            kind, extra = f.metadata["parse"], {"metavar": f.metadata.get("metavar")}
        default = ",".join(map(str, f.default)) if isinstance(f.default, tuple) else f.default
        parser.add_argument(
            f"--{f.name.replace('_', '-')}",
            dest=f.name,
            type=kind,
            default=f.default,
            help=f"{f.metadata.get('help', '')} (default: {default})".replace("%", "%%"),
            **extra,
        )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # help already carries the default
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    output = Path(args.output)
    if output.suffix.lower() not in Image.registered_extensions():
        print(f"error: cannot write {output}: unknown image extension (use .png, .jpg or .webp)", file=sys.stderr)
        return 2
    params = {f.name: getattr(args, f.name) for f in dataclasses.fields(StyleParams)}
    try:
        style = args.style[0] if len(args.style) == 1 else args.style
        events = stylize_iter(args.content, style, mask=args.mask, weights=args.weights, **params)
    except (ValueError, WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = None
    with tqdm(disable=args.quiet, unit="it", desc="stylizing") as bar:
        for event in events:
            bar.total = event.total
            bar.update(event.step - bar.n)
            bar.set_postfix(loss=f"{event.losses['total']:.3g}", refresh=False)
            result = event.image if event.done else result
    output.parent.mkdir(parents=True, exist_ok=True)
    result.save(output)
    print(f"wrote {output} ({result.width}x{result.height})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
