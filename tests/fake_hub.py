"""A small HTTP server imitating the Hugging Face Hub's file endpoints, for huggingface_hub's real client.

It answers HEAD and GET on /{repo_id}/resolve/{revision}/{filename} with the headers huggingface_hub relies on
(X-Repo-Commit, ETag / X-Linked-Etag, X-Linked-Size, Content-Length, X-Error-Code), per revision: each branch or
tag names a commit, and a commit sha resolves to itself. It honours Range requests unless `honour_range` is off
(then it answers 200 with the whole body, as some proxies do), counts the body bytes it sends (`bytes_served`),
and can misbehave on demand: `serve_bytes` sends other bytes than the advertised hash, `corrupt` spoils the next
ranged answers past the file's start, `fail_next` answers 503 to the next requests; `rate` caps the speed.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"  # what "main" names unless told otherwise
CHUNK = 1 << 20  # bytes per write, so that bytes_served counts what left before the client hung up


@dataclass
class HubFile:
    content: bytes
    sha256: str = ""  # the advertised hash; defaults to the content's own
    serve_bytes: bytes | None = None  # what is actually sent (to simulate a file damaged on the server)
    corrupt: int = 0  # how many of the next ranged answers not starting at byte 0 to spoil, then behave
    corruption: Literal["nan", "truncate"] = "nan"  # 0xFF bytes (NaN in any float) mid-answer, or half an answer

    def __post_init__(self) -> None:
        self.sha256 = self.sha256 or hashlib.sha256(self.content).hexdigest()


@dataclass
class FakeHub:
    files: dict[tuple[str, str, str], HubFile] = field(default_factory=dict)  # (repo_id, commit, filename) -> file
    refs: dict[tuple[str, str], str] = field(default_factory=dict)  # (repo_id, revision or commit) -> commit
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path) log
    ranges: list[str | None] = field(default_factory=list)  # each GET's Range header, None without one
    bytes_served: int = 0  # body bytes written to clients
    honour_range: bool = True
    fail_next: int = 0  # answer this many requests with 503 (transient errors the client should retry)
    rate: float | None = None  # bytes per second per answer, to imitate a user's link (bench/first_run.py)
    server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def endpoint(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, repo_id: str, filename: str, content: bytes, *, revision: str = "main", **kwargs) -> HubFile:
        """Serve `content` as `filename` at `revision` (a branch or tag) of `repo_id`; returns its entry."""
        commit = COMMIT if revision == "main" else hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest()
        self.refs[(repo_id, revision)] = self.refs[(repo_id, commit)] = commit
        entry = self.files[(repo_id, commit, filename)] = HubFile(content, **kwargs)
        return entry

    def commit(self, repo_id: str, revision: str = "main") -> str:
        return self.refs[(repo_id, revision)]

    def downloads(self) -> int:
        return sum(1 for method, _ in self.requests if method == "GET")

    def start(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _answer(self, *, body: bool) -> None:
                with hub._lock:
                    hub.requests.append((self.command, self.path))
                    if body:
                        hub.ranges.append(self.headers.get("Range"))
                    failing, hub.fail_next = hub.fail_next > 0, max(hub.fail_next - 1, 0)
                if failing:
                    return self._fail(503, "")
                match = re.match(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+?)(\?.*)?$", self.path)
                if match is None or not any(repo == match["repo"] for repo, _ in hub.refs):
                    return self._fail(404, "RepoNotFound")
                commit = hub.refs.get((match["repo"], unquote(match["rev"])))
                if commit is None:
                    return self._fail(404, "RevisionNotFound")
                entry = hub.files.get((match["repo"], commit, unquote(match["file"])))
                if entry is None:
                    return self._fail(404, "EntryNotFound", commit)
                data = entry.serve_bytes if entry.serve_bytes is not None else entry.content
                start, end = 0, len(data)
                wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
                ranged = bool(wanted) and hub.honour_range
                if ranged:
                    start, end = int(wanted[1]), min(int(wanted[2]) + 1 if wanted[2] else len(data), len(data))
                    if start >= len(data):
                        return self._fail(416, "")
                self.send_response(206 if ranged else 200)
                self.send_header("X-Repo-Commit", commit)
                self.send_header("ETag", f'"{entry.sha256}"')
                self.send_header("X-Linked-Etag", f'"{entry.sha256}"')
                self.send_header("X-Linked-Size", str(len(entry.content)))
                self.send_header("Content-Length", str(end - start))
                if ranged:
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
                self.end_headers()
                if body:
                    self._send(entry, data, start, end, spoil=ranged and start > 0)

            def _send(self, entry: HubFile, data: bytes, start: int, end: int, *, spoil: bool) -> None:
                with hub._lock:
                    spoil = spoil and entry.corrupt > 0
                    entry.corrupt -= spoil
                if spoil and entry.corruption == "truncate":
                    end = start + (end - start) // 2  # Content-Length promised more: the client sees a cut answer
                    self.close_connection = True
                for at in range(start, end, CHUNK):
                    chunk = data[at : min(at + CHUNK, end)]
                    if spoil and entry.corruption == "nan" and at <= (start + end) // 2 < at + len(chunk):
                        middle = (start + end) // 2 - at
                        chunk = chunk[:middle] + b"\xff" * 64 + chunk[middle + 64 :]
                    try:
                        self.wfile.write(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        return  # the client had what it wanted and hung up
                    with hub._lock:
                        hub.bytes_served += len(chunk)
                    if hub.rate:
                        time.sleep(len(chunk) / hub.rate)

            def _fail(self, status: int, code: str, commit: str | None = None) -> None:
                self.send_response(status)
                if code:
                    self.send_header("X-Error-Code", code)
                if commit:
                    self.send_header("X-Repo-Commit", commit)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@functools.cache
def timm_like_vgg19(features_file: Path) -> tuple[bytes, str]:
    """(content, sha256) of a file laid out like timm's `vgg19.tv_in1k/model.safetensors` (574.7 MB): the 32
    `features.*` tensors of `features_file` in float32 (80.1 MB), then full-size `head.*` and `pre_logits.*` tensors
    (zeros), no metadata. Built in memory (about 3 s, once per session): the byte-range tests need the real
    proportions (a first run must transfer the 80 MB, not the 575)."""
    import torch
    from safetensors.torch import load_file, save

    tensors = {name: t.float() for name, t in load_file(str(features_file)).items()}
    tensors["pre_logits.fc1.weight"] = torch.zeros(4096, 512, 7, 7)
    tensors["pre_logits.fc1.bias"] = torch.zeros(4096)
    tensors["pre_logits.fc2.weight"] = torch.zeros(4096, 4096, 1, 1)
    tensors["pre_logits.fc2.bias"] = torch.zeros(4096)
    tensors["head.fc.weight"] = torch.zeros(1000, 4096)
    tensors["head.fc.bias"] = torch.zeros(1000)
    content = save(tensors)
    return content, hashlib.sha256(content).hexdigest()


def run_offline(script: str, home: Path, root: Path) -> subprocess.CompletedProcess[str]:
    """`script` in a fresh Python with HF_HUB_OFFLINE=1 and `home` as HF_HOME (huggingface_hub's cache is
    `home/hub`, artstyle's stored convolutions `home/artstyle/weights`). huggingface_hub reads both variables once,
    at import, so a subprocess is the honest way to test them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "ARTSTYLE_"))}
    env.update(HF_HOME=str(home), HF_HUB_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1", PYTHONPATH=str(root))
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=root)


def hub_dirs(home: Path) -> dict[str, str]:
    """load_weights' cache arguments for HF_HOME=`home`, as `run_offline` sees them."""
    return {"cache_dir": str(home / "hub"), "features_dir": str(home / "artstyle" / "weights")}
