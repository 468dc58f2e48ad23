"""A small HTTP server imitating the Hugging Face Hub's file endpoints, for huggingface_hub's real client.

It answers HEAD and GET on /{repo_id}/resolve/{revision}/{filename} with the headers `hf_hub_download`
relies on (X-Repo-Commit, ETag / X-Linked-Etag, X-Linked-Size, Content-Length) and honours Range requests.
Files are registered as bytes; `serve_bytes` can serve different bytes than the advertised hash (corruption).
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class HubFile:
    content: bytes
    sha256: str = ""  # the advertised hash; defaults to the content's own
    serve_bytes: bytes | None = None  # what is actually sent (to simulate corruption in transit)

    def __post_init__(self) -> None:
        self.sha256 = self.sha256 or hashlib.sha256(self.content).hexdigest()


@dataclass
class FakeHub:
    files: dict[tuple[str, str], HubFile] = field(default_factory=dict)  # (repo_id, filename) -> file
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path) log
    server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, repo_id: str, filename: str, content: bytes, **kwargs) -> HubFile:
        self.files[(repo_id, filename)] = HubFile(content, **kwargs)
        return self.files[(repo_id, filename)]

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
                hub.requests.append((self.command, self.path))
                match = re.match(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+?)(\?.*)?$", self.path)
                entry = match and hub.files.get((match["repo"], match["file"]))
                if entry is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound" if match else "RepoNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = entry.serve_bytes if entry.serve_bytes is not None else entry.content
                start, end = 0, len(data)
                range_header = self.headers.get("Range")
                if range_header and (m := re.match(r"bytes=(\d+)-(\d*)", range_header)):
                    start, end = int(m[1]), int(m[2]) + 1 if m[2] else len(data)
                self.send_response(206 if range_header else 200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{entry.sha256}"')
                self.send_header("X-Linked-Etag", f'"{entry.sha256}"')
                self.send_header("X-Linked-Size", str(len(entry.content)))
                self.send_header("Content-Length", str(end - start))
                if range_header:
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
                self.end_headers()
                if body:
                    self.wfile.write(data[start:end])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
