"""What the divergence guard (artstyle/guard.py) costs per iteration, and how often it fires on ordinary runs.

Runs the same stylisation with the guard as shipped and with it taken out (no best-iterate bookkeeping, no
end-of-level evaluation), interleaved, and prints one JSON object: seconds per iteration of each, their
ratio, restarts, and both runs' final objective. Run it alone: two CPU-heavy jobs on 2 cores corrupt timings.

    python -m bench.guard_cost --size 256 --steps 85 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import time

import artstyle
from artstyle.solver import Parts
from bench import bench as B

#: The engine as it was before the guard: no best-iterate copy, no end-of-level evaluation; the last iterate is
#: the output.
NO_GUARD = Parts(make_guard=None)


def one_run(vgg, size: int, steps: int, parts: Parts | None = None) -> dict:
    start, events = time.perf_counter(), []
    for event in artstyle.stylize_iter(B.CONTENT, B.STYLE, weights=vgg, size=size, steps=steps, device="cpu",
                                       preview_every=0, parts=parts):  # fmt: skip
        events.append(event)
    wall = time.perf_counter() - start
    return {"s_per_it": wall / steps, "restarts": events[-1].restarts, "final": events[-1].losses.total}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=85)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    vgg = artstyle.load_weights(str(B.WEIGHTS))
    one_run(vgg, 64, 3)  # warm-up: allocator, kernels' first use
    runs: dict[str, list[dict]] = {"guard": [], "no_guard": []}
    for _ in range(args.rounds):  # interleaved, so that drift in the machine's speed hits both alike
        runs["guard"].append(one_run(vgg, args.size, args.steps))
        runs["no_guard"].append(one_run(vgg, args.size, args.steps, NO_GUARD))
    best = {k: min(r["s_per_it"] for r in v) for k, v in runs.items()}
    print(json.dumps({
        "size": args.size, "steps": args.steps, "rounds": args.rounds,
        "s_per_it": {k: round(v, 4) for k, v in best.items()},
        "ratio_guard_to_none": round(best["guard"] / best["no_guard"], 4),
        "restarts": [r["restarts"] for r in runs["guard"]],
        "final": {k: v[0]["final"] for k, v in runs.items()},
    }))  # fmt: skip


if __name__ == "__main__":
    main()
