"""A first run's download: artstyle's ranged fetch of VGG19's convolutions against a full download.

    python -m bench.first_run [--rate-mb 10]

Serves a file laid out like timm's `vgg19.tv_in1k/model.safetensors` (574.7 MB, tests/fake_hub.py) on localhost,
capped at --rate-mb MB/s per connection if given (a user's link; 0: as fast as loopback goes), and times, each in
fresh caches: artstyle's first run (the header, then the convolutions' byte range), its second run (no network),
and what a first run cost before: huggingface_hub's `hf_hub_download` of the whole file, then reading the
convolutions from it. Bytes are counted by the server. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # read by huggingface_hub at import


def timed(hub, action) -> dict[str, float]:
    served, start = hub.bytes_served, time.perf_counter()
    action()
    return {"mb_served": round((hub.bytes_served - served) / 1e6, 2), "seconds": round(time.perf_counter() - start, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate-mb", type=float, default=0.0, help="MB/s per connection; 0: uncapped")
    args = parser.parse_args()
    from huggingface_hub import hf_hub_download

    from artstyle.weights import load_weights
    from tests.conftest import REAL_WEIGHTS
    from tests.fake_hub import FakeHub, hub_dirs, timm_like_vgg19

    repo, filename = "timm/vgg19.tv_in1k", "model.safetensors"
    content, sha256 = timm_like_vgg19(REAL_WEIGHTS)
    hub = FakeHub(rate=args.rate_mb * 1e6 or None).start()
    hub.add(repo, filename, content, sha256=sha256)
    with tempfile.TemporaryDirectory() as temp:  # 655 MB of caches, removed afterwards
        ranged, full = Path(temp, "ranged"), Path(temp, "full")
        result = {"file_mb": round(len(content) / 1e6, 1), "rate_mb_per_s": args.rate_mb or None}
        artstyle_run = lambda: load_weights(repo, endpoint=hub.endpoint, **hub_dirs(ranged))  # noqa: E731
        result["artstyle_first_run"] = timed(hub, artstyle_run)
        result["artstyle_second_run"] = timed(hub, artstyle_run)

        def download_then_read() -> None:
            path = hf_hub_download(repo, filename, endpoint=hub.endpoint, cache_dir=hub_dirs(full)["cache_dir"])
            load_weights(path)

        result["full_download_then_read"] = timed(hub, download_then_read)
    hub.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
