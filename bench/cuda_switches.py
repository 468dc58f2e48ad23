"""A/B of the CUDA switches of artstyle/cuda_tuning.py: speed per iteration and the result, each on against off.

Prints ONE JSON object. Each configuration (the baseline with every switch off, each switch alone, all of them)
runs in a fresh process, since the switches are read once per run and TF32 stays on for its process:
seconds per iteration at --size (steady state, steps 3 .. iters+2, as bench.py times them), then a whole run at
--quality-size x --quality-steps whose final objective and picture are compared with the baseline's. The
picture is scored by bench/evaluate.py, calibrated on bench/reference.py's output after the same number of
iterations (the bench's quality score: the reference scores 1.0, lower is better). The baseline runs first and
again last, so drift on the machine shows. A switch `pays` when it is at least 3 % faster than the baseline and
`keeps_result` when its score is within 1 % of the baseline's. Run from the repository root, with ../shared (or
$ARTSTYLE_SHARED) present:

    python -m bench.cuda_switches                       # CUDA: 512 px speed, 384 px x 300 quality
    python -m bench.cuda_switches --device cpu --size 64 --iters 2 --quality-size 64 --quality-steps 5 \\
        --configs baseline,all                          # a check that it runs (the switches are no-ops on CPU)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import artstyle
from artstyle.cuda_tuning import ENV
from bench import reference
from bench.bench import CONTENT, STYLE, WEIGHTS, sync
from bench.evaluate import Evaluator

ROOT = Path(__file__).resolve().parent.parent

CONFIGS = ("baseline", *ENV, "all")
FASTER = 1.03  # a switch pays from 3 % less time per iteration
SAME_SCORE = 0.01  # and keeps the result within 1 % of the baseline's score


def child_env(config: str) -> dict[str, str]:
    env = dict(os.environ)
    for name, var in ENV.items():
        env[var] = "1" if config in (name, "all") else "0"
    return env


def child(args: argparse.Namespace) -> None:
    """One configuration, in this process (its switches already in the environment)."""
    dev = torch.device(args.device)
    vgg = artstyle.load_weights(str(WEIGHTS))
    content, style = Image.open(CONTENT).convert("RGB"), Image.open(STYLE).convert("RGB")
    common = {"weights": vgg, "device": args.device, "preview_every": 0}
    artstyle.stylize(content, style, size=64, steps=2, **common)  # warm-up: CUDA context, cuDNN, allocator
    stamps = []
    for _ in artstyle.stylize_iter(content, style, size=args.size, steps=args.iters + 3, **common):
        sync(dev)
        stamps.append(time.perf_counter())
    per_iter = (stamps[args.iters + 1] - stamps[1]) / args.iters
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    sync(dev)
    t = time.perf_counter()
    last = None
    for event in artstyle.stylize_iter(content, style, size=args.quality_size, steps=args.quality_steps, **common):
        last = event
    sync(dev)
    wall = time.perf_counter() - t
    assert last is not None and last.image is not None
    last.image.save(args.child_png)
    result = {
        "s_per_iter": round(per_iter, 5),
        "quality_run_seconds": round(wall, 3),
        "final_objective": last.losses.total,
        "peak_mb": round(torch.cuda.max_memory_allocated(dev) / 2**20, 1) if dev.type == "cuda" else None,
    }
    print(json.dumps(result))


def run_config(config: str, args: argparse.Namespace, png: Path) -> dict:
    cmd = [sys.executable, "-m", "bench.cuda_switches", "--child", "--child-png", str(png), "--device", args.device,
           "--size", str(args.size), "--iters", str(args.iters), "--quality-size", str(args.quality_size),
           "--quality-steps", str(args.quality_steps)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=child_env(config), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-3:]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    warned = [line for line in proc.stderr.splitlines() if "ARTSTYLE_" in line]
    if warned:
        out["warnings"] = warned[-3:]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description="CUDA switches on vs off; prints one JSON object")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--size", type=int, default=512, help="size of the per-iteration timing")
    ap.add_argument("--iters", type=int, default=20, help="iterations timed per configuration")
    ap.add_argument("--quality-size", type=int, default=384)
    ap.add_argument("--quality-steps", type=int, default=300)
    ap.add_argument("--configs", default=",".join(CONFIGS), help=f"comma list of {', '.join(CONFIGS)}")
    ap.add_argument("--out", help="folder for each configuration's picture (default: a temporary one)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child-png", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    if not WEIGHTS.is_file():
        sys.exit(f"cuda_switches needs {WEIGHTS} (../shared, or $ARTSTYLE_SHARED)")
    configs = [c for c in args.configs.split(",") if c]
    unknown = set(configs) - set(CONFIGS)
    if unknown:
        sys.exit(f"unknown configuration(s) {sorted(unknown)}: choose from {', '.join(CONFIGS)}")
    configs = ["baseline", *(c for c in configs if c != "baseline"), "baseline"]  # first and last
    started = time.perf_counter()
    dev = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.out or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        runs = {}
        for i, config in enumerate(configs):
            name = config if i < len(configs) - 1 else "baseline_again"
            runs[name] = run_config(config, args, folder / f"{name}.png")
        # The bench's unit: the reference's picture after the same number of iterations scores 1.0.
        content, style = Image.open(CONTENT).convert("RGB"), Image.open(STYLE).convert("RGB")
        net = reference.Net(str(WEIGHTS), dev)
        out = reference.run(net, content, style, size=args.quality_size, steps=args.quality_steps, device=dev)
        evaluator = Evaluator(net, content, style, size=args.quality_size, device=dev)
        evaluator.calibrate(reference.tensor_to_image(out))
        pictures = {}
        for name, run in runs.items():
            if "error" not in run:
                pictures[name] = Image.open(folder / f"{name}.png").convert("RGB")
                run["score"] = round(evaluator.score(pictures[name]), 5)
    base = runs["baseline"]
    if "error" not in base:
        base_pixels = np.asarray(pictures["baseline"], dtype=np.float32)
        for name, run in runs.items():
            if "error" in run or name == "baseline":
                continue
            pixels = np.asarray(pictures[name], dtype=np.float32)
            run["speedup"] = round(base["s_per_iter"] / run["s_per_iter"], 3)
            run["objective_ratio"] = round(run["final_objective"] / base["final_objective"], 5)
            run["score_ratio"] = round(run["score"] / base["score"], 5)
            run["mean_abs_pixel_diff"] = round(float((pixels - base_pixels).abs().mean()), 3)  # 0-255 units
            run["pays"] = run["speedup"] >= FASTER
            run["keeps_result"] = abs(run["score_ratio"] - 1.0) <= SAME_SCORE
    result = {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "size": args.size,
        "iters": args.iters,
        "quality_size": args.quality_size,
        "quality_steps": args.quality_steps,
        "thresholds": {"pays_speedup": FASTER, "keeps_result_score_within": SAME_SCORE},
        "env": ENV,
        "runs": runs,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
