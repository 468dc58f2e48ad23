#!/usr/bin/env bash
# Build the wheel and the sdist, install the wheel into a fresh virtual environment outside the checkout, and use
# it from there as a pipeline would: the commands, a core install with no Gradio that paints a preset, and (with
# the app extra) artstyle-app answering /stylize. Paints only where ../shared (weights, paintings) is present.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shared="${ARTSTYLE_SHARED:-$root/../shared}"
work="$(mktemp -d)"
trap 'kill "${app_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"  # never the checkout: the installed package must stand on its own

python -m build --outdir "$work/dist" "$root" >"$work/build.log" 2>&1 || { tail -30 "$work/build.log"; exit 1; }
wheel="$(ls "$work"/dist/artstyle-*.whl)"
ls "$work"/dist/artstyle-*.tar.gz >/dev/null
echo "built: $(cd "$work/dist" && ls)"
python - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
meta = zipfile.ZipFile(sys.argv[1]).read(next(n for n in names if n.endswith("METADATA"))).decode()
entry = zipfile.ZipFile(sys.argv[1]).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
assert "artstyle/presets.json" in names and "artstyle_app/demo.py" in names, names
core = [l for l in meta.splitlines() if l.startswith("Requires-Dist:") and "extra ==" not in l]
assert not any("gradio" in l for l in core), core
for command in ("artstyle =", "artstyle-app =", "artstyle-paper =", "artstyle-sheet ="):
    assert command in entry, entry
print(f"wheel: {len(names)} files; core needs: {', '.join(l.split(':', 1)[1].strip() for l in core)}")
PY

python -m venv "$work/venv"
bin="$work/venv/bin"
# pip's warnings go to a log (this host's local indexes print dozens); they are shown if the install fails.
pip_install() { "$bin/pip" install -q --disable-pip-version-check "$@" 2>>"$work/pip.log" || { tail -30 "$work/pip.log"; exit 1; }; }
pip_install "$wheel" torch==2.14.1
"$bin/artstyle" --help >/dev/null
"$bin/artstyle" --list-presets | head -3
"$bin/python" - <<'PY'
import importlib.util, sys
import artstyle
assert importlib.util.find_spec("gradio") is None, "a core install must not bring gradio"
assert "gradio" not in sys.modules
assert artstyle.__file__.startswith(sys.prefix), artstyle.__file__  # the installed copy, not the checkout
print(f"import artstyle {artstyle.__version__} from {artstyle.__file__}: no gradio")
PY

if [[ ! -f "$shared/models/vgg19-caffe-features-fp16.safetensors" ]]; then
    echo "check_package: $shared is absent: the painting checks are skipped"
    exit 0
fi
export ARTSTYLE_WEIGHTS="$shared/models/vgg19-caffe-features-fp16.safetensors"
export ARTSTYLE_PRESETS_DIR="$shared/images/styles" GRADIO_ANALYTICS_ENABLED=False
"$bin/artstyle" "$root/examples/chelsea.jpg" starry_night -o "$work/out.png" --size 64 --steps 3 -q
"$bin/python" -c "from PIL import Image; im = Image.open('$work/out.png'); assert max(im.size) == 64, im.size; print('artstyle PHOTO starry_night -> out.png', im.size)"

pip_install "$wheel[app]"
port=$(python -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
"$bin/artstyle-app" --port "$port" >"$work/app.log" 2>&1 &
app_pid=$!
"$bin/python" - "$port" "$root/examples/coffee.jpg" <<'PY' || { tail -30 "$work/app.log"; exit 1; }
import sys, time
from gradio_client import Client, handle_file
from PIL import Image
url = f"http://127.0.0.1:{sys.argv[1]}/"
for _ in range(240):
    try:
        client = Client(url, verbose=False)
        break
    except Exception:
        time.sleep(0.5)
else:
    raise SystemExit("artstyle-app did not answer")
out = client.predict(content=handle_file(sys.argv[2]), preset="the_scream", size=64, steps=2, api_name="/stylize")
print("artstyle-app /stylize ->", Image.open(out).size)
PY
echo "check_package: the wheel installs and works outside the checkout"
