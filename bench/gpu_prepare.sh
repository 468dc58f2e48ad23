#!/usr/bin/env bash
# Run on the development machine, before the one GPU call: copies exactly what bench/gpu.sh needs from the
# shared folder (../shared, or $ARTSTYLE_SHARED) into one git-ignored folder, laid out like the shared folder
# (models/, images/content/, images/styles/) so that ARTSTYLE_SHARED=.gpu_carry points the tests and the
# bench at it, checks that it stays under the 64 MiB a call may carry, and prints the `run` call to make.
# Usage: bash bench/gpu_prepare.sh [DEST]     DEST: default $GPU_CARRY, else .gpu_carry in the repository
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shared="${ARTSTYLE_SHARED:-$root/../shared}"
dest="${1:-${GPU_CARRY:-$root/.gpu_carry}}"
limit=$((64 * 1024 * 1024))
files=(
    models/vgg19-caffe-features-fp16.safetensors # the paper's Caffe VGG19, fp16: ~38 MiB
    images/content/tubingen.jpg
    images/styles/starry_night.jpg
)
for f in "${files[@]}"; do
    if [[ ! -f "$shared/$f" ]]; then
        echo "gpu_prepare: $shared/$f is missing (set ARTSTYLE_SHARED to the shared folder)" >&2
        exit 1
    fi
done
rm -rf "$dest"
total=0
for f in "${files[@]}"; do
    mkdir -p "$dest/$(dirname "$f")"
    cp "$shared/$f" "$dest/$f"
    chmod u+w "$dest/$f" # the shared files are read-only; the copy need not be
    total=$((total + $(stat -c %s "$dest/$f")))
done
if ((total >= limit)); then
    echo "gpu_prepare: $dest holds $total bytes, over the 64 MiB a call may carry" >&2
    exit 1
fi
echo "gpu_prepare: $dest: ${#files[@]} files, $total bytes ($((total / 1024 / 1024)) MiB of 64 MiB)"
rel="$(realpath -m --relative-to="$root" "$dest")"
if [[ "$rel" == ..* ]]; then
    echo "gpu_prepare: note: $dest is outside the repository; the call carries .gpu_carry (the default DEST)"
    rel=.gpu_carry
fi
echo "the run call (one call, ~8 minutes; its files come back from \$OUT, gpu.json merges them):"
echo "  run(command=\"bash bench/gpu.sh\", carry=[\"$rel\"], timeout_s=540)"
