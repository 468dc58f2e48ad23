"""How far the app's time estimate is from the wall time of the runs it estimates (artstyle_app/estimate.py).

    python -m bench.estimate_error [--cases 256x85,384x60,192x120]

Launches the app in this process (real weights and presets from ../shared), waits for its start-up probe, then
for each case reads the estimate the page shows for Tübingen at that size and steps, and times the same run
through gradio_client's `/stylize` to its final PNG. The first case is estimated from the probe alone; later
ones also from the runs before them (the page learns from every finished run). Prints one JSON object; run it
on an idle machine: the target is every |error| <= 30 %.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="256x85,384x60,192x120", help="SIZExSTEPS,... (long side, iterations)")
    args = parser.parse_args()
    from gradio_client import Client, handle_file

    from tests.conftest import CLIENT_HTTP, served_app

    content = ROOT.parent / "shared" / "images" / "content" / "tubingen.jpg"
    with Image.open(content) as photo:
        aspect = min(photo.size) / max(photo.size)
    cases = [tuple(int(v) for v in case.split("x")) for case in args.cases.split(",")]
    rows = []
    with served_app(Path(tempfile.mkdtemp())) as (demo, url):
        speed = demo.artstyle_speed
        deadline = time.monotonic() + 120
        while not speed.measured() and time.monotonic() < deadline:
            time.sleep(0.1)
        client = Client(url, verbose=False, httpx_kwargs=CLIENT_HTTP)
        for size, steps in cases:
            basis = "probe" if not rows else "probe and the runs before"
            estimate = speed.seconds(size, steps, aspect)
            start = time.perf_counter()
            client.predict(content=handle_file(str(content)), preset="starry_night", size=size, steps=steps,
                           api_name="/stylize")  # fmt: skip
            wall = time.perf_counter() - start
            rows.append({"size": size, "steps": steps, "estimate_s": round(estimate, 1), "wall_s": round(wall, 1),
                         "error": round(estimate / wall - 1, 3), "estimated_from": basis})  # fmt: skip
    print(json.dumps({"cases": rows, "max_abs_error": max(abs(r["error"]) for r in rows)}, indent=1))


if __name__ == "__main__":
    main()
