"""artstyle against the plain reference (bench/reference.py): speed, time to quality, first preview, memory.

Prints ONE JSON object. Timings interleave artstyle and the reference (A/B, B/A, ...) and report medians and
ratios, so a busy machine slows both alike. Run from the repository root, with ../shared present (or
$ARTSTYLE_SHARED pointing at a folder of the same layout, e.g. the .gpu_carry/ of bench/gpu_prepare.sh):

    python -m bench.bench            # full: 256/512 px speed, 384 px x 300 iterations quality, 256-1024 px memory
    python -m bench.bench --quick    # the same JSON at small sizes, under a minute on 2 idle cores
    python -m bench.bench --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from PIL import Image

import artstyle
from artstyle.limits import estimate_bytes
from artstyle.params import StyleParams
from bench import reference
from bench.evaluate import Evaluator

HERE = Path(__file__).resolve().parent

SHARED = Path(os.environ.get("ARTSTYLE_SHARED", HERE.parent.parent / "shared"))  # as tests/conftest.py
WEIGHTS = SHARED / "models" / "vgg19-caffe-features-fp16.safetensors"
CONTENT = SHARED / "images" / "content" / "tubingen.jpg"
STYLE = SHARED / "images" / "styles" / "starry_night.jpg"

FULL = {"speed_sizes": [256, 512], "speed_iters": 4, "rounds": 3, "ttq_size": 384, "ttq_steps": 300,
        "memory_sizes": [256, 512, 1024], "matmul_n": 2048, "ttq_every": 10}  # fmt: skip
QUICK = {"speed_sizes": [64, 128], "speed_iters": 2, "rounds": 2, "ttq_size": 128, "ttq_steps": 20,
         "memory_sizes": [64, 128, 256], "matmul_n": 1024, "ttq_every": 2}  # fmt: skip
VGG_CHANNELS = (64, 64, "P", 128, 128, "P", 256, 256, 256, 256, "P", 512, 512, 512, 512, "P", 512)  # to conv5_1
STYLE_CHANNEL_INDEX = (0, 2, 4, 8, 12)  # conv1_1, conv2_1, conv3_1, conv4_1, conv5_1 among the 13 convs


def dims(image: Image.Image, size: int) -> tuple[int, int]:
    w, h = image.size
    s = size / max(w, h)
    return round(w * s), round(h * s)


def flops_per_iteration(width: int, height: int) -> float:
    """Convolution and Gram FLOPs of one forward + backward through VGG19 up to conv5_1.

    Forward conv: 2 * Cin * Cout * 9 * H * W. Backward: the gradient with respect to the input only (the
    weights are frozen), the same count. Gram: 2 N^2 M forward, 2 N^2 M backward. ReLU/pool/loss ignored.
    """
    total, cin, w, h, conv_index = 0.0, 3, width, height, 0
    for item in VGG_CHANNELS:
        if item == "P":
            w, h = -(-w // 2), -(-h // 2)
            continue
        total += 2 * (2 * cin * item * 9 * w * h)
        if conv_index in STYLE_CHANNEL_INDEX:
            total += 2 * (2 * item * item * w * h)
        cin, conv_index = item, conv_index + 1
    return total


def matmul_gflops(n: int, device: torch.device, repeats: int = 5) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def artstyle_seconds_per_iter(ctx: dict, size: int, iters: int) -> float:
    """Steady-state seconds per iteration: steps 3 .. iters+2 of a run.

    Excluded: step 1 (the end of setup), step 2 (the engine's check that a skipped deep layer is inert, a forward
    pass through the whole network, repeated every INERT_RECHECK = 25 steps: ~0.4 % of a long run, which
    time_to_quality includes) and the last step (its PNG conversion).
    """
    stamps = []
    events = artstyle.stylize_iter(
        ctx["content"], ctx["style"], size=size, steps=iters + 3, preview_every=0, weights=ctx["vgg"],
        device=str(ctx["device"]),
    )  # fmt: skip
    for _event in events:
        sync(ctx["device"])
        stamps.append(time.perf_counter())
    return (stamps[iters + 1] - stamps[1]) / iters


def reference_seconds_per_iter(ctx: dict, size: int, iters: int) -> float:
    stamps = []

    def on_step(_: int, __: torch.Tensor) -> None:
        sync(ctx["device"])
        stamps.append(time.perf_counter())

    reference.run(ctx["net"], ctx["content"], ctx["style"], size=size, steps=iters + 3, device=ctx["device"],
                  on_step=on_step)  # fmt: skip
    return (stamps[iters + 1] - stamps[1]) / iters  # evaluations 3 .. iters+2, as artstyle's


def speed(ctx: dict, cfg: dict) -> dict:
    out = {}
    for size in cfg["speed_sizes"]:
        art, ref = [], []
        for r in range(cfg["rounds"]):  # A/B then B/A: drift in machine load hits both alike
            order = [("a", art), ("r", ref)] if r % 2 == 0 else [("r", ref), ("a", art)]
            for who, bucket in order:
                fn = artstyle_seconds_per_iter if who == "a" else reference_seconds_per_iter
                bucket.append(fn(ctx, size, cfg["speed_iters"]))
        w, h = dims(ctx["content"], size)
        a, r = statistics.median(art), statistics.median(ref)
        gflop = flops_per_iteration(w, h) / 1e9
        out[str(size)] = {
            "width": w,
            "height": h,
            "artstyle_s_per_iter": round(a, 4),
            "reference_s_per_iter": round(r, 4),
            "speed_ratio": round(r / a, 3),  # >= 1: artstyle is at least as fast
            "gflop_per_iter": round(gflop, 2),
            "artstyle_gflops": round(gflop / a, 1),
            "reference_gflops": round(gflop / r, 1),
        }
    return out


def reference_quality(ctx: dict, cfg: dict) -> tuple[float, Evaluator, dict]:
    """Run the reference for N iterations (timed) and calibrate an evaluator on its output."""
    size, n, dev = cfg["ttq_size"], cfg["ttq_steps"], ctx["device"]
    sync(dev)
    t = time.perf_counter()
    ref_out = reference.run(ctx["net"], ctx["content"], ctx["style"], size=size, steps=n, device=dev)
    sync(dev)
    ref_seconds = time.perf_counter() - t
    evaluator = Evaluator(ctx["net"], ctx["content"], ctx["style"], size=size, device=dev)
    return ref_seconds, evaluator, evaluator.calibrate(reference.tensor_to_image(ref_out))


def time_to_quality(ctx: dict, cfg: dict, *, cap_factor: float = 3.0, ref: tuple | None = None, **overrides) -> dict:
    """Reference: N iterations, timed. artstyle: its default settings until a preview scores <= 1."""
    size, n, dev = cfg["ttq_size"], cfg["ttq_steps"], ctx["device"]
    ref_seconds, evaluator, ref_d = ref or reference_quality(ctx, cfg)
    defaults = artstyle.StyleParams()
    params = artstyle.StyleParams.from_kwargs(size=size, device=str(dev), **overrides)
    every = cfg.get("ttq_every", 10)
    # artstyle's defaults run as a user gets them. A single-level run's trajectory does not depend on `steps`
    # (it only says where to stop), so it may go on past its default steps up to cap_factor x N to find when
    # it gets there; a multi-level run keeps its schedule, since `steps` would change its levels.
    single = len(params.level_sizes()) == 1
    steps = int(cap_factor * n) if single else params.steps
    wall, reached, trace = 0.0, None, []
    t = time.perf_counter()
    shown = {k: v for k, v in params.to_dict().items() if v != getattr(defaults, k) and k != "device"} or "defaults"
    params = artstyle.StyleParams.from_kwargs(params, steps=steps)  # what actually runs (for _work below)
    events = artstyle.stylize_iter(ctx["content"], ctx["style"], params=params, weights=ctx["vgg"],
                                   preview_every=every)  # fmt: skip
    wall += time.perf_counter() - t
    while True:
        t = time.perf_counter()
        event = next(events, None)
        sync(dev)
        wall += time.perf_counter() - t  # evaluation below is not counted
        if event is None:
            break
        if event.image is not None and event.level == event.levels - 1:  # coarse levels are not the output
            score = evaluator.score(event.image)
            trace.append([event.step, round(wall, 2), round(score, 4)])
            if score <= 1.0:
                reached = (event.step, wall)
                events.close()
                break
    return {
        "size": list(evaluator.shape),
        "reference_steps": n,
        "reference_seconds": round(ref_seconds, 2),
        "reference_distances": {k: round(v, 2) for k, v in ref_d.items()},
        "artstyle_params": shown,  # the settings as the user would give them (steps may run past them, above)
        "artstyle_default_steps": defaults.steps,
        "artstyle_steps_to_reach": reached[0] if reached else None,
        "artstyle_seconds_to_reach": round(reached[1], 2) if reached else None,
        "time_to_quality_ratio": round(reached[1] / ref_seconds, 3) if reached else None,
        "artstyle_level_sizes": list(params.level_sizes()),
        "artstyle_level_steps": list(params.level_steps()),
        "work_to_reach": round(_work(params, reached[0]), 1) if reached else None,
        "work_ratio": round(_work(params, reached[0]) / n, 3) if reached else None,
        "note": None if reached else f"not reached within {steps} steps (best score {min(s for *_, s in trace)})",
        "trace_step_wall_score": trace,
    }


def _work(params: StyleParams, steps: int) -> float:
    """Load-independent cost of the first `steps` iterations: each costs its level's pixels over the final's."""
    work, left = 0.0, steps
    for side, count in zip(params.level_sizes(), params.level_steps(), strict=True):
        work += min(count, left) * (side / params.size) ** 2
        left -= min(count, left)
    return work


def first_preview(ctx: dict, size: int, **overrides) -> float:
    t = time.perf_counter()
    events = artstyle.stylize_iter(ctx["content"], ctx["style"], size=size, weights=ctx["vgg"],
                                   device=str(ctx["device"]), **overrides)  # fmt: skip
    for event in events:
        if event.image is not None:
            seconds = time.perf_counter() - t
            events.close()
            return round(seconds, 3)
    raise AssertionError("no preview")


def wall_time(ctx: dict, size: int, steps: int) -> dict:
    """Wall time of a whole run (call to result), artstyle then the reference, each once after a warm-up."""
    dev = ctx["device"]
    artstyle.stylize(ctx["content"], ctx["style"], size=64, steps=2, weights=ctx["vgg"], device=str(dev))  # warm-up
    sync(dev)
    t = time.perf_counter()
    artstyle.stylize(ctx["content"], ctx["style"], size=size, steps=steps, weights=ctx["vgg"], device=str(dev))
    sync(dev)
    art = time.perf_counter() - t
    t = time.perf_counter()
    reference.run(ctx["net"], ctx["content"], ctx["style"], size=size, steps=steps, device=dev)
    sync(dev)
    ref = time.perf_counter() - t
    return {"size": size, "steps": steps, "artstyle_seconds": round(art, 2), "reference_seconds": round(ref, 2)}


def memory_child(size: int, device: str, steps: int) -> None:
    """In a fresh process: peak memory of one artstyle run at `size`, against the estimate the size cap uses."""
    dev = torch.device(device)
    vgg = artstyle.load_weights(str(WEIGHTS))
    content, style = Image.open(CONTENT), Image.open(STYLE)
    w, h = dims(content, size)
    # L-BFGS fills one history pair per iteration: a short run is compared with the estimate for its length
    estimate = estimate_bytes(w, h, StyleParams(size=size, steps=steps))
    full = estimate_bytes(w, h, StyleParams(size=size))
    result: dict = {
        "size": [w, h],
        "estimate_mb": round(estimate / 2**20, 1),
        "estimate_full_run_mb": round(full / 2**20, 1),
    }
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        before = torch.cuda.memory_allocated(dev)
    else:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS (Linux >= 4.0)
        before = _proc_status("VmRSS")
    for _ in artstyle.stylize_iter(content, style, size=size, steps=steps, weights=vgg, device=device,
                                   preview_every=0):  # fmt: skip
        pass
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev)
        result["kind"] = "cuda max_memory_allocated"
    else:
        peak = _proc_status("VmHWM")
        result["kind"] = "cpu VmHWM (peak RSS)"
    result.update(
        peak_mb=round(peak / 2**20, 1),
        baseline_mb=round(before / 2**20, 1),
        run_mb=round((peak - before) / 2**20, 1),
        estimate_over_measured=round(estimate / max(1, peak - before), 3),
    )
    print(json.dumps(result))


def _proc_status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def memory_runs(cfg: dict, device: torch.device) -> dict:
    out = {}
    for size in cfg["memory_sizes"]:
        cmd = [sys.executable, "-m", "bench.bench", "--memory-child", str(size), "--device", str(device)]
        proc = subprocess.run(cmd, cwd=HERE.parent, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            out[str(size)] = {"error": proc.stderr.strip().splitlines()[-1:]}
        else:
            out[str(size)] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description="artstyle vs bench/reference.py; prints one JSON object")
    ap.add_argument("--quick", action="store_true", help="small sizes: the same JSON in under a minute")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N")
    ap.add_argument("--ttq-size", type=int, help="override the time-to-quality size")
    ap.add_argument("--ttq-steps", type=int, help="override N, the reference's iterations")
    ap.add_argument("--speed-sizes", type=lambda s: [int(x) for x in s.split(",")], help="e.g. 512,1024")
    ap.add_argument("--memory-sizes", type=lambda s: [int(x) for x in s.split(",")], help="e.g. 256,512,1024")
    ap.add_argument("--skip", default="", help="comma list of sections to skip: speed,ttq,preview,memory")
    ap.add_argument("--wall", help="SIZE,STEPS: also time one whole run, e.g. 512,500 (for GPUs)")
    ap.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.device, steps=3)
        return
    if not WEIGHTS.is_file():
        sys.exit(f"bench needs {WEIGHTS} (the shared models folder next to the repository)")
    cfg = dict(QUICK if args.quick else FULL)
    for key in ("ttq_size", "ttq_steps", "speed_sizes", "memory_sizes"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    skip = set(filter(None, args.skip.split(",")))
    device = torch.device(args.device)
    started = time.perf_counter()
    ctx = {
        "device": device,
        "content": Image.open(CONTENT).convert("RGB"),
        "style": Image.open(STYLE).convert("RGB"),
        "vgg": artstyle.load_weights(str(WEIGHTS)),
        "net": reference.Net(str(WEIGHTS), device),
    }
    result: dict = {
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "load_avg_1min": round(os.getloadavg()[0], 2),
        },
        "mode": "quick" if args.quick else "full",
        "images": [CONTENT.name, STYLE.name],
    }
    result["matmul_ceiling_gflops"] = round(matmul_gflops(cfg["matmul_n"], device), 1)
    if "speed" not in skip:
        result["speed"] = speed(ctx, cfg)
        result["speed_note"] = (
            "gflop_per_iter counts the reference's work: direct 3x3 convolutions to conv5_1, forward and input "
            "gradient, plus Grams. artstyle does less for the same iteration (Winograd convolutions; conv4_3..conv5_1 "
            "skipped while conv5_1's term is inert), so its 'effective' GFLOP/s can exceed the matmul ceiling."
        )
        for entry in result["speed"].values():
            entry["artstyle_fraction_of_ceiling"] = round(entry["artstyle_gflops"] / result["matmul_ceiling_gflops"], 3)
    if "ttq" not in skip:
        result["time_to_quality"] = time_to_quality(ctx, cfg)
    if "preview" not in skip:
        result["first_preview_s"] = {
            "defaults": first_preview(ctx, cfg["ttq_size"]),
            "preview_every_1": first_preview(ctx, cfg["ttq_size"], preview_every=1),
            "size": cfg["ttq_size"],
        }
    if "memory" not in skip:
        result["memory"] = memory_runs(cfg, device)
    if args.wall:
        size, steps = (int(x) for x in args.wall.split(","))
        result["wall"] = wall_time(ctx, size, steps)
    result["bench_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
