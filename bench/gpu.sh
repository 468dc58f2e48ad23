#!/usr/bin/env bash
# One prepared GPU check (a CUDA machine with ../shared next to the repository): the test suite on CUDA, then
# the benchmark at 512 and 1024 px, including the wall time of 512 px x 500 iterations. Writes $OUT (or
# ./gpu-out) /bench-gpu.json and the pytest log. Usage: bash bench/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu-out}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/nvidia-smi.txt"
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA'; print(torch.__version__, torch.cuda.get_device_name())"
# the CUDA-only tests first (sync-free L-BFGS, CUDA vs CPU), then the suite with CUDA visible: tests that
# take device='auto' run on the GPU
timeout 120 python -m pytest tests/test_cuda.py -q -rs 2>&1 | tail -8 | tee "$out/pytest-cuda.txt" || true
timeout 240 python -m pytest tests -x -q 2>&1 | tail -20 | tee "$out/pytest.txt" || true
timeout 300 python bench/bench.py --device cuda --speed-sizes 512,1024 --memory-sizes 512,1024,2048 \
    --ttq-size 384 --ttq-steps 300 --wall 512,500 | tee "$out/bench-gpu.json"
