#!/usr/bin/env bash
# The one prepared GPU call. On the development machine first: bash bench/gpu_prepare.sh (copies the fp16 VGG19
# and two images into .gpu_carry/ and prints the call: command "bash bench/gpu.sh", carry [".gpu_carry"]).
#
# Every part has a hard time limit, and all of them together at most $GPU_BUDGET_S seconds (default 450): a
# part that would start with less than 15 s left is skipped, and one that fails or times out is recorded and
# the next one runs. In order (names for GPU_PARTS, which picks a subset for a rerun, e.g. GPU_PARTS=wall,switches):
#   smi          nvidia-smi                                                       -> nvidia-smi.txt
#   env          torch, the GPU, its memory and capability                        -> env.json
#   pytest-cuda  tests/test_cuda.py                                               -> pytest-cuda.{txt,xml}
#   wall         the wall time of 512 px x 500 iterations, artstyle and reference  -> wall.json
#   switches     the A/B of the ARTSTYLE_* CUDA switches (bench/cuda_switches.py)  -> switches.json
#   speed        bench.py at 512 and 1024 px vs the reference, time to quality at 384 px, first preview
#                                                                                 -> speed.json
#   memory       bench.py's peak memory at 512/1024/2048 px vs the size cap's estimate -> memory.json
#   largest      the largest size that fits (bench/gpu_largest.py)                -> largest.json
#   pytest-lib   the library's own tests (bench/gpu_tests.txt), CUDA visible      -> pytest-lib.{txt,xml}
# then merges everything into $OUT/gpu.json. Writes to $OUT (default ./gpu-out); reads weights and images from
# $GPU_CARRY (default .gpu_carry), as ARTSTYLE_SHARED. Without CUDA it is a dry run: it checks the interpreter,
# the carried files, the test selection (collected without importing gradio) and that the scripts import, says
# "no CUDA" and exits 0.
#
# The interpreter is $GPU_PYTHON, default python3: on the GPU machine `python3` is the one that holds PyTorch
# (Python 3.12, torch 2.11, huggingface_hub 1.33; there may be no `python` at all). With huggingface_hub older
# than 2.0 the library refuses Hub downloads with one sentence and the Hub-transfer tests skip, saying so; every
# part here reads the carried weights file, not the Hub.
set -uo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
out="${OUT:-gpu-out}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
carry="${GPU_CARRY:-$root/.gpu_carry}"
budget="${GPU_BUDGET_S:-450}"
py="${GPU_PYTHON:-python3}"
wanted="${GPU_PARTS:-smi,env,pytest-cuda,wall,switches,speed,memory,largest,pytest-lib}"
export ARTSTYLE_SHARED="$carry" HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False PYTHONDONTWRITEBYTECODE=1
weights="$carry/models/vgg19-caffe-features-fp16.safetensors"
mapfile -t tests < <(grep -v '^#' bench/gpu_tests.txt | grep -v '^[[:space:]]*$')
lib_tests=("${tests[@]:1}") # the first is tests/test_cuda.py, run on its own first
start=$SECONDS

# --- checks, with or without CUDA (a few seconds) ---
fail=0
if ! command -v "$py" >/dev/null; then
    echo "gpu.sh: no interpreter '$py' on PATH (set GPU_PYTHON)"
    exit 1
fi
"$py" - <<'EOF' || fail=1
import platform
import sys

try:
    import huggingface_hub
    import torch
except ImportError as exc:
    print(f"interpreter {sys.executable}: cannot import {exc.name}: set GPU_PYTHON to the Python that has PyTorch")
    sys.exit(1)
old = int(huggingface_hub.__version__.split(".")[0]) < 2
print(f"interpreter: {sys.executable} (Python {platform.python_version()}, torch {torch.__version__}, "
      f"huggingface_hub {huggingface_hub.__version__}{': Hub-transfer tests will skip' if old else ''})")
EOF
for f in "$weights" "$carry/images/content/tubingen.jpg" "$carry/images/styles/starry_night.jpg"; do
    if [[ -f "$f" ]]; then echo "carried: $f ($(stat -c %s "$f") bytes)"; else echo "MISSING: $f" && fail=1; fi
done
if ((fail)); then
    echo "gpu.sh: carried files missing: run bash bench/gpu_prepare.sh first"
    exit 1
fi
for t in "${tests[@]}"; do [[ -f "$t" ]] || { echo "MISSING test module: $t" && fail=1; }; done
[[ "${tests[0]:-}" == tests/test_cuda.py ]] || { echo "bench/gpu_tests.txt must start with tests/test_cuda.py" && fail=1; }
"$py" - "${tests[@]}" >"$out/collect.txt" 2>&1 <<'EOF' || fail=1
import sys

import pytest

rc = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *sys.argv[1:]])
banned = sorted(m for m in sys.modules if m.split(".")[0] in {"gradio", "gradio_client", "playwright", "app", "artstyle_app"})
print(f"collect-only exit {int(rc)}; gradio-like modules imported: {banned or 'none'}")
sys.exit(0 if rc == 0 and not banned else 1)
EOF
tail -1 "$out/collect.txt"
"$py" -c "import bench.bench, bench.cuda_switches, bench.gpu_largest" || fail=1
if ((fail)); then
    echo "gpu.sh: the checks above failed"
    exit 1
fi
if ! "$py" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "no CUDA: dry run only (carried files, test selection and scripts checked in $((SECONDS - start)) s)"
    exit 0
fi

# --- the parts ---
# part NAME LIMIT_S OUTFILE CMD...: runs CMD with stdout to $out/OUTFILE, stderr to $out/NAME.err, and a hard
# limit of min(LIMIT_S, what is left of the budget); appends {name, rc, seconds, limit} to parts.jsonl.
part() {
    local name=$1 limit=$2 file=$3
    shift 3
    [[ ",$wanted," == *",$name,"* ]] || return 0
    local left=$((budget - (SECONDS - start)))
    if ((left < 15)); then
        echo "{\"name\": \"$name\", \"rc\": null, \"skipped\": \"budget spent\"}" >>"$out/parts.jsonl"
        echo "== $name: skipped, the budget is spent"
        return 0
    fi
    ((limit > left)) && limit=$left
    echo "== $name (at most $limit s)"
    local t0=$SECONDS rc=0
    timeout -k 5 "$limit" "$@" >"$out/$file" 2>"$out/$name.err" || rc=$?
    echo "{\"name\": \"$name\", \"rc\": $rc, \"seconds\": $((SECONDS - t0)), \"limit\": $limit}" >>"$out/parts.jsonl"
    echo "   rc $rc after $((SECONDS - t0)) s"
    tail -3 "$out/$file" | cut -c1-200
}
: >"$out/parts.jsonl"
pyt=("$py" -m pytest -q -rs -p no:cacheprovider --durations=10)
part smi 15 nvidia-smi.txt bash -c \
    "nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,power.limit --format=csv; nvidia-smi"
part env 30 env.json "$py" -c "
import json, platform, torch
p = torch.cuda.get_device_properties(0)
print(json.dumps({'torch': torch.__version__, 'cuda': torch.version.cuda, 'cudnn': torch.backends.cudnn.version(),
    'python': platform.python_version(), 'device': p.name, 'capability': list(torch.cuda.get_device_capability(0)),
    'total_mb': p.total_memory // 2**20, 'free_mb': torch.cuda.mem_get_info(0)[0] // 2**20}))"
part pytest-cuda 60 pytest-cuda.txt "${pyt[@]}" --junitxml="$out/pytest-cuda.xml" tests/test_cuda.py
part wall 75 wall.json "$py" -m bench.bench --device cuda --skip speed,ttq,preview,memory --wall 512,500
part switches 150 switches.json "$py" -m bench.cuda_switches --device cuda --size 512 --iters 20 \
    --quality-size 384 --quality-steps 300 --out "$out/switches"
part speed 120 speed.json "$py" -m bench.bench --device cuda --speed-sizes 512,1024 --ttq-size 384 \
    --ttq-steps 300 --skip memory
part memory 45 memory.json "$py" -m bench.bench --device cuda --skip speed,ttq,preview --memory-sizes 512,1024,2048
part largest 75 largest.json "$py" -m bench.gpu_largest --device cuda
part pytest-lib 100 pytest-lib.txt "${pyt[@]}" -m "not browser" --junitxml="$out/pytest-lib.xml" \
    "${lib_tests[@]}"

# --- one JSON with it all ---
"$py" - "$out" <<'EOF'
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

out = Path(sys.argv[1])
merged = {"parts": [json.loads(line) for line in (out / "parts.jsonl").read_text().splitlines() if line.strip()]}
for part in merged["parts"]:
    name = part["name"]
    for path in sorted(out.glob(f"{name}.*")):
        if path.suffix == ".json":
            text = path.read_text()
            try:
                merged[name] = json.loads(text)
            except ValueError:  # a part that died before printing its JSON
                merged[name] = {"unparsed": text[-2000:]}
        elif path.suffix == ".xml":
            suite = ET.parse(path).getroot()
            suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
            merged[name] = {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped", "time")}
            merged[name]["failed"] = [
                f"{case.get('classname')}::{case.get('name')}"
                for case in suite.iter("testcase")
                if case.find("failure") is not None or case.find("error") is not None
            ]
        elif path.suffix == ".err" and part.get("rc"):
            part["stderr_tail"] = path.read_text().splitlines()[-5:]
if (out / "nvidia-smi.txt").is_file():
    merged["nvidia_smi"] = (out / "nvidia-smi.txt").read_text().splitlines()[:2]
(out / "gpu.json").write_text(json.dumps(merged, indent=1))
print(f"gpu.json: {len(merged['parts'])} parts, rc {[p.get('rc') for p in merged['parts']]}")
EOF
echo "gpu.sh: done in $((SECONDS - start)) s; everything is in $out (gpu.json merges it)"
