"""Wall time of one run through the app's `/stylize` API, as a user's client sees it (calibrates app.py's estimate).

    python -m bench.app_time [--size 256] [--steps 100] [--schedule single]

Launches the app in this process (real weights and presets from ../shared), submits Tübingen x The Starry Night
with gradio_client and times the call to its final PNG. Client and server share this process (and its GIL), so
the figure is a little pessimistic next to a remote client. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--schedule", choices=("single", "coarse-to-fine"), help="default: the app's")
    args = parser.parse_args()
    from gradio_client import Client, handle_file

    from artstyle_app.estimate import DEFAULT_ASPECT
    from tests.conftest import CLIENT_HTTP, served_app

    content = ROOT.parent / "shared" / "images" / "content" / "tubingen.jpg"
    with served_app(Path(tempfile.mkdtemp())) as (_demo, url):
        client = Client(url, verbose=False, httpx_kwargs=CLIENT_HTTP)
        start, first, outputs = time.perf_counter(), None, 0
        job = client.submit(
            content=handle_file(str(content)), style=None, preset="starry_night", size=args.size, steps=args.steps,
            style_strength=5, preserve_color=None, seed=0, schedule=args.schedule, api_name="/stylize",
        )  # fmt: skip
        for _ in job:
            outputs += 1
            first = first if first is not None else time.perf_counter() - start
        wall = time.perf_counter() - start
    megapixels = args.size * args.size * DEFAULT_ASPECT / 1e6  # as the app's estimate counts a photo of unknown shape
    print(json.dumps({"size": args.size, "steps": args.steps, "schedule": args.schedule or "the app's",
                      "wall_s": round(wall, 1),
                      "first_output_s": round(first or 0.0, 2), "streamed_outputs": outputs,
                      "s_per_mpx_iter": round(wall / args.steps / megapixels, 2)}))  # fmt: skip


if __name__ == "__main__":
    main()
