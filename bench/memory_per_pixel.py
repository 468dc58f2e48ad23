"""Peak memory of one style-transfer run against its pixel count, on CPU: the data behind artstyle/limits.py.

Each size runs in a fresh process (peak RSS is per process). Prints one JSON line per run and a fit
bytes = fixed + per_pixel * pixels.  Usage: python -m bench.memory_per_pixel [SIZES...]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = os.environ.get("ARTSTYLE_WEIGHTS", str(ROOT.parent / "shared/models/vgg19-caffe-features-fp16.safetensors"))

CHILD = r"""
import json, sys, numpy as np, torch
import artstyle
from artstyle.weights import load_weights
torch.set_num_threads(1)
size, optimizer = int(sys.argv[1]), sys.argv[2]
weights = load_weights(sys.argv[3])
content = np.random.default_rng(0).random((size, size, 3)).astype(np.float32)
style = np.random.default_rng(1).random((size, size, 3)).astype(np.float32)
for e in artstyle.stylize_iter(content[:16, :16], style[:16, :16], weights=weights, size=16, steps=2, device="cpu"):
    pass  # warm-up: libraries, allocator, weights converted
def status(key):  # /proc/self/status, in bytes
    return int(next(x for x in open("/proc/self/status") if x.startswith(key)).split()[1]) * 1024
# Peak RSS of this process image: VmHWM, reset to the current RSS first. Not ru_maxrss, which Linux carries
# over from the forking parent (a large test runner's peak would hide this run's).
open("/proc/self/clear_refs", "w").write("5")
before = status("VmRSS")
for e in artstyle.stylize_iter(content, style, weights=weights, size=size, steps=3, optimizer=optimizer,
                               device="cpu", preview_every=0):
    pass
peak = status("VmHWM")
print(json.dumps({"size": size, "optimizer": optimizer, "pixels": size * size, "run_bytes": peak - before}))
"""


def main() -> None:
    sizes = [int(s) for s in sys.argv[1:]] or [128, 256, 384]
    rows = []
    for optimizer in ("lbfgs", "adam"):
        for size in sizes:
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(size), optimizer, WEIGHTS],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            row = json.loads(out.stdout.strip().splitlines()[-1])
            row["bytes_per_pixel"] = round(row["run_bytes"] / row["pixels"])
            print(json.dumps(row), flush=True)
            rows.append(row)
    for optimizer in ("lbfgs", "adam"):
        r = [x for x in rows if x["optimizer"] == optimizer]
        (p0, b0), (p1, b1) = (r[0]["pixels"], r[0]["run_bytes"]), (r[-1]["pixels"], r[-1]["run_bytes"])
        slope = (b1 - b0) / (p1 - p0)
        print(json.dumps({"fit": optimizer, "per_pixel": round(slope), "fixed": round(b0 - slope * p0)}))


if __name__ == "__main__":
    main()
