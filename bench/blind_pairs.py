"""Blind side-by-side comparisons of two settings: render pairs, lay them out in random left/right order with the
key kept apart, and tally a judge's verdicts.

`render` paints every photo x preset with setting A and with setting B (each on top of the preset's recommended
settings and `--size`/`--steps`; a setting may override `steps`, or scale the preset's strength with
`strength_factor`), caches each picture by its inputs and settings (so a baseline is painted once for all the
comparisons that use it), and writes sheets of pairs at the pictures' own size (`--sheets`, each pair with its
photo and painting as small references) and the key (`--key`, which side is which, each picture's wall time and
restarts) somewhere else. A judge who has only the sheets writes a verdicts file, {"1": "L", "2": "R", "3": "="}
(`=`: cannot tell), and `tally` reads both and prints the counts, a two-sided sign test (ties left out) and the
wins per preset and per photo.

    python -m bench.blind_pairs render --a '{}' --b '{"style_loss": "sliced"}' --photos examples/*.jpg \\
        --presets starry_night,great_wave,the_scream,composition_vii,shipwreck_of_the_minotaur,woman_with_a_hat \\
        --sheets /tmp/judge/sliced --key /tmp/keys/sliced.json --cache /tmp/pairs-cache
    python -m bench.blind_pairs tally --key /tmp/keys/sliced.json --verdicts /tmp/judge/sliced/verdicts.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

import artstyle
from artstyle.images import fit_long_side, load_image
from artstyle.presets import get_preset
from bench import bench as B

PAIRS_PER_SHEET = 6
REFERENCE_SIDE = 128  # the photo and the painting, small, at the left of each row
GAP = 12


def settings_for(preset_id: str, side: dict[str, Any], size: int, steps: int) -> dict[str, Any]:
    """The run's StyleParams keywords: the preset's recommended settings, the sheet's size and steps, the side's."""
    preset = get_preset(preset_id)
    side = dict(side)
    factor = side.pop("strength_factor", 1.0)
    settings = {**preset.recommended, "size": size, "steps": steps, **side}
    settings["style_weight"] = settings.get("style_weight", preset.style_weight) * factor
    return settings


def painting_path(preset_id: str, paintings: Path) -> Path:
    found = sorted(paintings.glob(f"{preset_id}.*"))
    if not found:
        raise SystemExit(f"no painting for preset {preset_id!r} in {paintings}")
    return found[0]


def render_one(vgg, photo: Path, painting: Path, settings: dict[str, Any], cache: Path) -> dict[str, Any]:
    """The picture for these inputs and settings, from the cache or painted now: {path, seconds, restarts}."""
    key = json.dumps({"photo": hashlib.sha256(photo.read_bytes()).hexdigest(), "painting": painting.name,
                      "settings": settings}, sort_keys=True)  # fmt: skip
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    png, record = cache / f"{digest}.png", cache / f"{digest}.json"
    if png.is_file() and record.is_file():
        return json.loads(record.read_text())
    start = time.perf_counter()
    events = list(artstyle.stylize_iter(photo, painting, weights=vgg, device="cpu", preview_every=0, **settings))
    result = {"path": str(png), "seconds": round(time.perf_counter() - start, 2), "restarts": events[-1].restarts,
              "settings": settings}  # fmt: skip
    events[-1].image.save(png)
    record.write_text(json.dumps(result))
    return result


def _thumb(image: Image.Image, side: int) -> Image.Image:
    image = image.copy()
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    return image


def draw_sheet(rows: list[dict[str, Any]], title: str) -> Image.Image:
    """Rows of [photo over painting, small] [left] [right], each labelled "Pair N", the pictures at their own size."""
    font = ImageFont.load_default(size=16)
    width = max(REFERENCE_SIDE + r["left"].width + r["right"].width for r in rows) + 4 * GAP
    heights = [24 + max(2 * REFERENCE_SIDE + 4, r["left"].height, r["right"].height) + 2 * GAP for r in rows]
    sheet = Image.new("RGB", (width, 40 + sum(heights)), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((GAP, 10), title, fill=(0, 0, 0), font=font)
    y = 40
    for row, height in zip(rows, heights, strict=True):
        draw.text((GAP, y), f"Pair {row['number']}:   left (L)   |   right (R)", fill=(0, 0, 0), font=font)
        top = y + 24
        sheet.paste(_thumb(row["photo"], REFERENCE_SIDE), (GAP, top))
        sheet.paste(_thumb(row["painting"], REFERENCE_SIDE), (GAP, top + REFERENCE_SIDE + 4))
        x = 2 * GAP + REFERENCE_SIDE
        sheet.paste(row["left"], (x, top))
        sheet.paste(row["right"], (x + row["left"].width + GAP, top))
        y += height
    return sheet


def render(args: argparse.Namespace) -> None:
    a, b = json.loads(args.a), json.loads(args.b)
    photos = [Path(p) for p in args.photos]
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    combos = [(photo, preset) for photo in photos for preset in presets]
    if args.only:
        wanted = {tuple(c.split(":")) for c in args.only.split(",")}
        combos = [(ph, pr) for ph, pr in combos if (ph.stem, pr) in wanted]
    cache, sheets = Path(args.cache), Path(args.sheets)
    cache.mkdir(parents=True, exist_ok=True)
    sheets.mkdir(parents=True, exist_ok=True)
    Path(args.key).parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    vgg = artstyle.load_weights(str(B.WEIGHTS))
    order = list(range(len(combos)))
    rng.shuffle(order)  # pairs in random order too, so that neighbouring pairs are not the same photo
    key: dict[str, Any] = {"a": a, "b": b, "size": args.size, "steps": args.steps, "pairs": {}}
    rows = []
    for number, index in enumerate(order, start=1):
        photo, preset_id = combos[index]
        painting = painting_path(preset_id, Path(args.paintings))
        runs = {side: render_one(vgg, photo, painting, settings_for(preset_id, spec, args.size, args.steps), cache)
                for side, spec in (("A", a), ("B", b))}  # fmt: skip
        left = rng.choice("AB")
        right = "B" if left == "A" else "A"
        key["pairs"][str(number)] = {"photo": photo.name, "preset": preset_id, "left": left,
                                     "A": runs["A"], "B": runs["B"]}  # fmt: skip
        rows.append({"number": number, "photo": fit_long_side(load_image(photo), args.size),
                     "painting": load_image(painting), "left": Image.open(runs[left]["path"]).convert("RGB"),
                     "right": Image.open(runs[right]["path"]).convert("RGB")})  # fmt: skip
        print(json.dumps({"pair": number, "photo": photo.name, "preset": preset_id,
                          "seconds": {s: r["seconds"] for s, r in runs.items()}}), flush=True)  # fmt: skip
        Path(args.key).write_text(json.dumps(key, indent=1))
    for start in range(0, len(rows), PAIRS_PER_SHEET):
        chunk = rows[start : start + PAIRS_PER_SHEET]
        title = f"Pairs {chunk[0]['number']}-{chunk[-1]['number']}: which picture of each pair is better?"
        draw_sheet(chunk, title).save(sheets / f"sheet_{start // PAIRS_PER_SHEET + 1:02d}.png")
    print(json.dumps({"sheets": str(sheets), "pairs": len(rows), "key": args.key}))


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact binomial p-value of `wins` against `losses` under p = 1/2 (ties left out)."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def tally(args: argparse.Namespace) -> None:
    key = json.loads(Path(args.key).read_text())
    verdicts = json.loads(Path(args.verdicts).read_text())
    counts = {"A": 0, "B": 0, "tie": 0}
    by_preset: dict[str, dict[str, int]] = {}
    by_photo: dict[str, dict[str, int]] = {}
    seconds = {"A": [], "B": []}
    for number, pair in key["pairs"].items():
        verdict = str(verdicts.get(number, "")).strip().upper()
        if verdict not in ("L", "R", "="):
            raise SystemExit(f"pair {number}: verdict {verdict!r} is not L, R or =")
        winner = (
            "tie" if verdict == "=" else (pair["left"] if verdict == "L" else ("B" if pair["left"] == "A" else "A"))
        )
        counts[winner] += 1
        for table, name in ((by_preset, pair["preset"]), (by_photo, pair["photo"])):
            table.setdefault(name, {"A": 0, "B": 0, "tie": 0})[winner] += 1
        for side in ("A", "B"):
            seconds[side].append(pair[side]["seconds"])
    print(json.dumps({
        "a": key["a"], "b": key["b"], "size": key["size"], "steps": key["steps"], "pairs": len(key["pairs"]),
        "wins": counts, "sign_test_p": round(sign_test(counts["A"], counts["B"]), 4),
        "mean_seconds": {s: round(sum(v) / len(v), 1) for s, v in seconds.items() if v},
        "by_preset": by_preset, "by_photo": by_photo,
    }, indent=1))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("render", help="paint the pairs, write the sheets and the key")
    r.add_argument("--a", default="{}", help="setting A as JSON (StyleParams fields, strength_factor)")
    r.add_argument("--b", required=True, help="setting B as JSON")
    r.add_argument("--photos", nargs="+", required=True)
    r.add_argument("--presets", required=True, help="comma-separated preset ids")
    r.add_argument("--only", default="", help="comma-separated PHOTO_STEM:PRESET combos to keep")
    r.add_argument("--paintings", default=str(B.SHARED / "images" / "styles"))
    r.add_argument("--size", type=int, default=256)
    r.add_argument("--steps", type=int, default=85)
    r.add_argument("--sheets", required=True, help="folder for the sheets (what the judge sees)")
    r.add_argument("--key", required=True, help="the key's file: keep it out of the judge's folder")
    r.add_argument("--cache", required=True, help="folder of painted pictures, reused across comparisons")
    r.add_argument("--seed", type=int, default=0, help="seed of the pair order and the left/right draw")
    t = sub.add_parser("tally", help="count a judge's verdicts against the key")
    t.add_argument("--key", required=True)
    t.add_argument("--verdicts", required=True)
    args = ap.parse_args()
    render(args) if args.command == "render" else tally(args)


if __name__ == "__main__":
    main()
