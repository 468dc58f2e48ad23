"""Load and cancel-storm figures for the app, printed as JSON.

    python -m bench.load [--jobs 8] [--cancels 20] [--queue 16]

Launches the app in this process (so its RSS, CPU time and run counter can be read), then, through
gradio_client: one warm-up job (baseline RSS), `--jobs` concurrent jobs at 64x48 px and 3 steps (each
finishes or is refused "Queue is full"), and a storm of `--cancels` jobs of 1000 steps, each cancelled
0-0.2 s after the server accepted it. Reports RSS before/after and the server's CPU use after the storm.
The test suite (tests/test_app_hostile.py) runs the same checks with smaller numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--cancels", type=int, default=20)
    parser.add_argument("--queue", type=int, default=16)
    args = parser.parse_args()
    os.environ.setdefault("ARTSTYLE_WEIGHTS", str(SHARED / "models" / "vgg19-caffe-features-fp16.safetensors"))
    os.environ.setdefault("ARTSTYLE_PRESETS_DIR", str(SHARED / "images" / "styles"))
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

    import tempfile

    from gradio_client import Client
    from PIL import Image

    import app
    from tests.test_app_hostile import _args, _free_port, cpu_use, joined, rss_bytes, settle, wait_idle

    folder = Path(tempfile.mkdtemp(prefix="artstyle-load-"))
    photo = folder / "photo.png"
    Image.new("RGB", (64, 48), (90, 140, 220)).save(photo)
    demo = app.build_demo(max_queue=args.queue)
    port = _free_port()
    demo.launch(prevent_thread_lock=True, server_port=port, quiet=True, max_file_size=app.MAX_UPLOAD)
    client = Client(f"http://127.0.0.1:{port}/", verbose=False)
    runs = demo.artstyle_runs
    report: dict = {"queue_size": args.queue}

    client.predict(**_args(photo))
    wait_idle(runs)
    report["rss_baseline_mib"] = round(rss_bytes() / 2**20, 1)

    outcomes: list[str] = []
    peak = [0]

    def one(seed: int) -> None:
        try:
            client.predict(**_args(photo, steps=3, seed=seed))
            outcomes.append("done")
        except Exception as exc:  # noqa: BLE001
            outcomes.append("busy" if "Queue is full" in str(exc) else f"error: {exc}")

    def sample() -> None:
        while len(outcomes) < args.jobs:
            peak[0] = max(peak[0], rss_bytes())
            time.sleep(0.1)

    start = time.monotonic()
    threads = [threading.Thread(target=one, args=(seed,)) for seed in range(args.jobs)]
    sampler = threading.Thread(target=sample)
    for thread in [*threads, sampler]:
        thread.start()
    for thread in [*threads, sampler]:
        thread.join()
    wait_idle(runs)
    report["load"] = {
        "jobs": args.jobs,
        "done": outcomes.count("done"),
        "busy": outcomes.count("busy"),
        "other": [o for o in outcomes if o not in ("done", "busy")],
        "wall_s": round(time.monotonic() - start, 1),
        "rss_peak_mib": round(peak[0] / 2**20, 1),
        "rss_after_mib": round(rss_bytes() / 2**20, 1),
    }

    started = runs.started
    start = time.monotonic()
    for seed in range(args.cancels):
        job = client.submit(**_args(photo, steps=1000, seed=seed))
        joined(job)
        time.sleep(0.1 * (seed % 3))
        job.cancel()
    settle(demo)
    report["cancel_storm"] = {
        "jobs": args.cancels,
        "runs_started": runs.started - started,
        "runs_active_after": runs.active,
        "settle_s": round(time.monotonic() - start, 1),
        "cpu_cores_after_2s": round(cpu_use(2.0), 3),
        "rss_after_mib": round(rss_bytes() / 2**20, 1),
    }
    client.predict(**_args(photo))
    report["normal_job_after"] = "done"
    demo.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
