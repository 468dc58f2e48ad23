"""Lays a figure's finished panels out as one labelled page (the paper's figures, `artstyle.paper`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from .params import StyleParams
from .progress import Losses


@dataclass(frozen=True)
class Layout:
    """The shape of a figure: its title and the labels of its rows and columns, known before any run."""

    title: str
    row_labels: tuple[str, ...]
    col_labels: tuple[str, ...]
    cell_labels: tuple[tuple[str, ...], ...] = ()  # optional caption under each panel, row by row

    def caption(self, row: int, col: int) -> str:
        """A panel's name: its own label where the layout has one, else its row's and column's."""
        if self.cell_labels:
            return f"{self.row_labels[row]}: {self.cell_labels[row][col]}"
        return f"{self.row_labels[row]}, {self.col_labels[col]}"


@dataclass(frozen=True)
class Cell:
    """One finished panel of a figure."""

    row: int
    col: int
    image: Image.Image
    params: StyleParams  # exactly what was run, so a cell can be reproduced with `stylize`
    losses: Losses  # the weighted loss terms at the last step
    elapsed: float  # seconds this cell took


_PAD = 6
_BG = (255, 255, 255)
_INK = (20, 20, 20)


def render_figure(
    layout: Layout, cells: Sequence[Cell], *, inputs: Sequence[Image.Image | None] = (), font_size: int = 13
) -> Image.Image:
    """Lay `cells` out on a white page with the title, row and column labels of `layout`.

    Every panel gets the same box (the largest cell), centred, so rows of different aspect ratios align.
    `inputs`, one per row, adds a leading "input" column (Fig. 1 shows the photo and the painting there).
    Missing cells (a run still going, or stopped) are left blank.
    """
    font = ImageFont.load_default(size=font_size)
    title_font = ImageFont.load_default(size=font_size + 2)
    images = [c.image for c in cells] + [i for i in inputs if i is not None]
    if not images:
        raise ValueError("render_figure needs at least one finished cell")
    box_w = max(i.width for i in images)
    box_h = max(i.height for i in images)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = max(_text_size(probe, t, font)[0] for t in layout.row_labels) + 2 * _PAD
    line_h = _text_size(probe, "Ag", font)[1] + _PAD
    captions = [t for row in layout.cell_labels for t in row]
    if captions:
        box_w = max(box_w, max(_text_size(probe, t, font)[0] for t in captions))
    caption_h = line_h if captions else 0
    col_labels = (("input",) if inputs else ()) + layout.col_labels
    box_w = max(box_w, max(_text_size(probe, t, font)[0] for t in col_labels))
    top = 2 * line_h + _PAD
    width = label_w + len(col_labels) * (box_w + _PAD) + _PAD
    width = max(width, _text_size(probe, layout.title, title_font)[0] + 2 * _PAD)
    height = top + len(layout.row_labels) * (box_h + caption_h + _PAD) + _PAD
    page = Image.new("RGB", (width, height), _BG)
    draw = ImageDraw.Draw(page)
    draw.text((_PAD, _PAD), layout.title, fill=_INK, font=title_font)
    for col, text in enumerate(col_labels):
        x = label_w + _col_x(col, (box_w, 0)) + (box_w - _text_size(draw, text, font)[0]) // 2
        draw.text((x, top - line_h), text, fill=_INK, font=font)
    for row, text in enumerate(layout.row_labels):
        y = top + row * (box_h + caption_h + _PAD) + (box_h - line_h) // 2
        draw.text((_PAD, y), text, fill=_INK, font=font)
    offset = 1 if inputs else 0
    box = (box_w, box_h + caption_h)
    for row, image in enumerate(inputs):
        if image is not None:
            _paste(page, image, (label_w + _col_x(0, box), top + _row_y(row, box)), (box_w, box_h))
    for cell in cells:
        origin = (label_w + _col_x(cell.col + offset, box), top + _row_y(cell.row, box))
        _paste(page, cell.image, origin, (box_w, box_h))
    for row, texts in enumerate(layout.cell_labels):
        for col, text in enumerate(texts):
            x = label_w + _col_x(col + offset, box) + (box_w - _text_size(draw, text, font)[0]) // 2
            draw.text((x, top + _row_y(row, box) + box_h + 2), text, fill=_INK, font=font)
    return page


def _col_x(col: int, box: tuple[int, int]) -> int:
    return col * (box[0] + _PAD)


def _row_y(row: int, box: tuple[int, int]) -> int:
    return row * (box[1] + _PAD)


def _paste(page: Image.Image, image: Image.Image, origin: tuple[int, int], box: tuple[int, int]) -> None:
    """Paste `image` centred in the `box` whose top-left corner is `origin`."""
    page.paste(image, (origin[0] + (box[0] - image.width) // 2, origin[1] + (box[1] - image.height) // 2))


def _text_size(draw: ImageDraw.ImageDraw, text: str, font: Any) -> tuple[int, int]:
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    return math.ceil(x1 - x0), math.ceil(y1 - y0)
