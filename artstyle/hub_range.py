"""Some tensors of a safetensors file on the Hub, fetched by byte range and cached, never the whole file.

timm's VGG19 is 575 MB, of which style transfer reads only the 80 MB of `features.*`. A safetensors file is an
8-byte little-endian header length, a JSON header giving each tensor's dtype, shape and byte offsets, then the
data, written sorted by name (within a dtype), so `features.*` lie together before `head.*` and `pre_logits.*`.
We fetch the header, check it, then ask for only the wanted tensors' bytes (one HTTP Range request per run of
adjacent tensors: one for timm's file) and store them as a small safetensors file, keyed by repo, commit and file
name, with its sha256 beside it: `<features_dir>/<org>--<name>/<commit>/<filename>` (+ `.json`), `refs/<revision>`
naming the commit, as huggingface_hub's own cache does. `features_dir` defaults to `$HF_HOME/artstyle/weights`.

All HTTP goes through huggingface_hub's machinery, so HF_ENDPOINT, the token, its user agent, proxies, timeouts
and retries apply: `get_hf_file_metadata` resolves the revision to a commit (one HEAD), and `http_stream_backoff`
streams each range from that commit's `hf_hub_url`, so every byte comes from the same commit.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import re
import socket
import struct
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

T = TypeVar("T")
W = TypeVar("W")

#: The first request asks for this much, which holds the header of any ordinary checkpoint (timm's VGG19: 3.3 kB).
PREFIX_BYTES = 64 * 1024
#: safetensors' own limit on the JSON header (its Rust reader refuses larger ones).
MAX_HEADER_BYTES = 100_000_000
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "U64": 8, "I32": 4, "U32": 4, "I16": 2, "U16": 2}
DTYPE_BYTES |= {"I8": 1, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")
_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class HubFile:
    repo_id: str
    filename: str
    revision: str | None = None

    @property
    def label(self) -> str:
        return f"hf://{self.repo_id}/{self.filename}" + (f"@{self.revision}" if self.revision else "")


class HubError(Exception):
    """The tensors could not be had from the Hub. The message (one line) says why."""


class Unreachable(HubError):
    """No network, or HF_HUB_OFFLINE=1: nothing can be fetched."""


class BadFile(HubError):
    """The file on the Hub is not what was asked for (found from its header): fetching it again cannot help."""


class BadTransfer(HubError):
    """An answer was truncated, interrupted or not the bytes asked for: worth one more try."""


#: The oldest huggingface_hub this module speaks to: its ranged reads and error mapping use 2.x's HTTP client
#: (httpx2); 1.x's (httpx) raises other exceptions.
MIN_HUB_VERSION = (2, 0)


def check_hub_version(version: str) -> None:
    """Refuse a huggingface_hub older than MIN_HUB_VERSION with one sentence, before any transfer."""
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
    if numbers < MIN_HUB_VERSION:
        raise HubError(
            f"downloading weights from the Hub needs huggingface_hub >= {'.'.join(map(str, MIN_HUB_VERSION))}, and "
            f"this Python has {version}: run pip install -U 'huggingface_hub>=2', or use a local .safetensors file "
            "(--weights PATH or ARTSTYLE_WEIGHTS)."
        )


#: progress(bytes so far, bytes in all) of a fetch.
Progress = Callable[[int, int], None]
#: Seconds to wait for a TCP connection to the Hub before saying there is no network.
REACH_TIMEOUT_S = 5.0
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def _check_reachable(url: str, label: str) -> None:
    """Say at once when the Hub's host cannot be reached (no DNS, refused, no route): huggingface_hub would retry
    a refused connection for about half a minute before saying the same. Behind a proxy the proxy decides, so
    nothing is checked then."""
    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=REACH_TIMEOUT_S):
            pass
    except OSError as exc:
        raise Unreachable(
            f"weights {label} are not cached and the Hub cannot be reached ({parts.hostname}:{port}: "
            f"{exc.strerror or type(exc).__name__}; no network?)."
        ) from exc


@dataclass(frozen=True)
class Entry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int  # offsets in the data section, which starts after the header
    end: int


@dataclass(frozen=True)
class Header:
    data_start: int  # 8 + the JSON header's length
    metadata: dict[str, str]
    entries: dict[str, Entry]


def cached_path(hub: HubFile, *, cache_dir: str | None = None, features_dir: str | None = None) -> Path | None:
    """A local file holding `hub`'s tensors, found with no network: artstyle's stored tensors, else a full copy in
    huggingface_hub's cache (e.g. from a Space's `preload_from_hub`), each checked against its sha256."""
    from huggingface_hub import try_to_load_from_cache

    folder = _repo_folder(features_dir, hub.repo_id)
    commit = hub.revision if hub.revision and _COMMIT.fullmatch(hub.revision) else _read_ref(folder, hub.revision)
    if commit is not None:
        stored = _inside(folder / commit, hub.filename)
        record = stored.with_name(stored.name + ".json")
        if stored.is_file():
            if _recorded_sha256(record) == _sha256(stored):
                return stored
            with contextlib.suppress(OSError):  # damaged on disk since we stored it: the caller fetches it again
                stored.unlink()
    full = try_to_load_from_cache(hub.repo_id, hub.filename, cache_dir=cache_dir, revision=hub.revision)
    return Path(full) if isinstance(full, str) and _blob_matches(Path(full)) else None


def fetch(
    hub: HubFile,
    wanted: Mapping[str, tuple[int, ...]],
    *,
    check: Callable[[Path], T],
    endpoint: str | None = None,
    features_dir: str | None = None,
    progress: Progress | None = None,
) -> T:
    """Fetch the `wanted` tensors (name -> shape) of `hub`'s file into the cache; `check(path)` of the new file,
    which is kept only if the check returns (its exception propagates, the file is dropped). `progress(done,
    total)` hears of the tensors' bytes as they arrive."""
    import huggingface_hub
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url

    check_hub_version(huggingface_hub.__version__)
    if constants.is_offline_mode():
        raise Unreachable(f"weights {hub.label} are not cached and the Hub cannot be reached (HF_HUB_OFFLINE=1).")
    with _hub_errors(hub):
        url = hf_hub_url(hub.repo_id, hub.filename, revision=hub.revision, endpoint=endpoint)
        _check_reachable(url, hub.label)
        meta = get_hf_file_metadata(
            url, endpoint=endpoint, retry_on_errors=True, library_name=LIBRARY, library_version=_version()
        )
        if meta.commit_hash is None:
            raise HubError(f"{url} did not answer as the Hugging Face Hub does (no X-Repo-Commit): check HF_ENDPOINT.")
        source = _Ranges(hf_hub_url(hub.repo_id, hub.filename, revision=meta.commit_hash, endpoint=endpoint))
        header = _fetch_header(source, meta.size, hub.label)
        chosen = select(header, wanted, hub.label)
        folder = _repo_folder(features_dir, hub.repo_id)
        target = _inside(folder / meta.commit_hash, hub.filename)
        copy = functools.partial(_copy_tensors, source, header, chosen, hub.filename, progress=progress)
        digest, result = _replace(target, copy, check)
        record: dict[str, object] = {"repo_id": hub.repo_id, "revision": hub.revision, "commit": meta.commit_hash}
        record |= {"filename": hub.filename, "hub_etag": meta.etag, "hub_size": meta.size, "sha256": digest}
        _write_text(target.with_name(target.name + ".json"), json.dumps(record, indent=1))
        if hub.revision != meta.commit_hash:
            _write_text(_inside(folder / "refs", hub.revision or "main"), meta.commit_hash)
    return result


def parse_header(raw: bytes, file_size: int, label: str) -> Header:
    """Validate a safetensors header (`raw` = the 8 length bytes + the JSON) against the file's size."""
    try:
        table = json.loads(raw[8:].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadFile(f"{label}: the safetensors header is not valid JSON ({exc}).") from exc
    if not isinstance(table, dict):
        raise BadFile(f"{label}: the safetensors header is not a JSON object.")
    metadata = table.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise BadFile(f"{label}: the safetensors __metadata__ is not a table of strings.")
    data_size = file_size - len(raw)
    entries = {}
    for name, info in table.items():
        try:
            dtype, shape, (begin, end) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
            valid = all(isinstance(n, int) and n >= 0 for n in (*shape, begin, end)) and begin <= end
        except (TypeError, KeyError, ValueError):
            valid = False
        if not valid or (dtype in DTYPE_BYTES and end - begin != math.prod(shape) * DTYPE_BYTES[dtype]):
            raise BadFile(f"{label}: the header's entry for {name!r} is malformed: not a safetensors file.")
        if end > data_size:
            raise BadFile(
                f"{label}: tensor {name} ends at byte {len(raw) + end} but the file has {file_size}: truncated."
            )
        entries[name] = Entry(name, dtype, shape, begin, end)
    return Header(len(raw), metadata, entries)


def select(header: Header, wanted: Mapping[str, tuple[int, ...]], label: str) -> list[Entry]:
    """The wanted entries in file order, checked for name, shape, a float dtype and no overlap."""
    chosen = []
    for name, shape in wanted.items():
        entry = header.entries.get(name)
        if entry is None:
            raise BadFile(f"{label} is not a VGG19 checkpoint: tensor {name} is missing.")
        if entry.shape != shape or entry.dtype not in FLOAT_DTYPES:
            raise BadFile(f"{label}: {name} is {entry.dtype} {entry.shape}, expected a float tensor of shape {shape}.")
        chosen.append(entry)
    chosen.sort(key=lambda e: e.begin)
    for before, after in zip(chosen, chosen[1:], strict=False):
        if after.begin < before.end:
            raise BadFile(f"{label}: tensors {before.name} and {after.name} overlap: not a valid safetensors file.")
    return chosen


class _Ranges:
    """Byte ranges of one URL through huggingface_hub's session, its headers, timeout and retries."""

    def __init__(self, url: str) -> None:
        from huggingface_hub.utils import build_hf_headers

        self.url = url
        # identity: offsets are into the file itself, not into a compressed stream of it
        self.headers = build_hf_headers(library_name=LIBRARY, library_version=_version())
        self.headers |= {"Accept-Encoding": "identity"}

    def stream(self, start: int, end: int, sink: Callable[[bytes], object]) -> None:
        """Bytes [start, end) to `sink`. A server that ignores Range (200, whole file) is read from its start,
        the bytes before `start` dropped, and the connection closed at `end`: nothing past it is kept or read on."""
        import httpx2
        from huggingface_hub import constants
        from huggingface_hub.utils import hf_raise_for_status, http_stream_backoff

        headers = self.headers | {"Range": f"bytes={start}-{end - 1}"}
        failure = None
        try:
            with http_stream_backoff(
                "GET", self.url, headers=headers, timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT
            ) as response:
                hf_raise_for_status(response)
                skip = self._skip(response, start, end)
                try:
                    missing = _drain(response.iter_bytes(), skip, end - start, sink)
                except httpx2.TransportError as exc:
                    # Caught inside the `with`: thrown into http_stream_backoff's generator, it would be "retried"
                    # there with the response already consumed. We fetch again from the start instead.
                    failure = exc
        except httpx2.TransportError as exc:  # could not open it, even after huggingface_hub's retries
            failure = exc
        if failure is not None:
            raise BadTransfer(f"bytes {start}-{end - 1} of {self.url} were cut off: {failure}") from failure
        if missing:
            raise BadTransfer(f"bytes {start}-{end - 1} of {self.url} were truncated: {missing} bytes short")

    def _skip(self, response, start: int, end: int) -> int:
        """How many bytes of the answer precede `start`: 0 for the range asked for, `start` for a whole file."""
        if response.status_code == 200:
            return start
        answered = response.headers.get("Content-Range", "")
        if response.status_code != 206 or not answered.startswith(f"bytes {start}-{end - 1}/"):
            raise BadTransfer(
                f"asked {self.url} for bytes {start}-{end - 1}, got HTTP {response.status_code} "
                f"({answered or 'no Content-Range'})"
            )
        return 0


def _fetch_header(source: _Ranges, size: int | None, label: str) -> Header:
    """The header, validated (its length against the file's size first) before any tensor's bytes are asked for."""
    if size is None or size < 10:
        raise BadFile(f"{label}: the Hub gave its size as {size}: not a safetensors file.")
    raw = bytearray()
    source.stream(0, min(PREFIX_BYTES, size), raw.extend)
    (length,) = struct.unpack("<Q", raw[:8])
    if not 2 <= length <= min(MAX_HEADER_BYTES, size - 8):
        raise BadFile(f"{label}: header length {length} does not fit a {size}-byte file: not a safetensors file.")
    if len(raw) < 8 + length:
        source.stream(len(raw), 8 + length, raw.extend)
    return parse_header(bytes(raw[: 8 + length]), size, label)


def _copy_tensors(
    source: _Ranges, header: Header, chosen: list[Entry], filename: str, fh: BinaryIO, *, progress: Progress | None
) -> str:
    """Write a safetensors file of the chosen tensors to `fh`, fetching each run of adjacent ones as one range.
    Returns the written file's sha256."""
    from huggingface_hub.utils import tqdm

    table: dict[str, object] = {}
    offset = 0
    for entry in chosen:
        size = entry.end - entry.begin
        table[entry.name] = {"dtype": entry.dtype, "shape": list(entry.shape), "data_offsets": [offset, offset + size]}
        offset += size
    if header.metadata:
        table["__metadata__"] = header.metadata  # input_convention, for one, lives here
    text = json.dumps(table, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # tensors 8-byte aligned, as safetensors writes them
    digest = hashlib.sha256(struct.pack("<Q", len(text)) + text)
    fh.write(struct.pack("<Q", len(text)) + text)
    received = 0
    with tqdm(total=offset, unit="B", unit_scale=True, desc=f"{filename} (convolutions only)") as bar:

        def sink(chunk: bytes) -> None:
            nonlocal received
            fh.write(chunk)
            digest.update(chunk)
            bar.update(len(chunk))
            received += len(chunk)
            if progress is not None:
                progress(received, offset)

        for begin, end in _runs(chosen):
            source.stream(header.data_start + begin, header.data_start + end, sink)
    return digest.hexdigest()


def _drain(chunks: Iterator[bytes], skip: int, wanted: int, sink: Callable[[bytes], object]) -> int:
    """Give `sink` the `wanted` bytes that follow the first `skip` of `chunks`, and stop reading (the caller closes the
    connection). Returns how many of them never came."""
    for chunk in chunks:  # as they arrive, so that nothing is read far past the end
        dropped = min(skip, len(chunk))
        chunk, skip = chunk[dropped : dropped + wanted], skip - dropped
        if chunk:
            sink(chunk)
            wanted -= len(chunk)
        if not wanted:
            break
    return wanted


def _runs(chosen: list[Entry]) -> Iterator[tuple[int, int]]:
    """(begin, end) of each run of adjacent entries: the ranges to ask for."""
    begin, end = chosen[0].begin, chosen[0].end
    for entry in chosen[1:]:
        if entry.begin != end:
            yield begin, end
            begin = entry.begin
        end = entry.end
    yield begin, end


@contextlib.contextmanager
def _hub_errors(hub: HubFile) -> Iterator[None]:
    """huggingface_hub's and httpx's exceptions as one-line HubErrors."""
    import httpx2
    from huggingface_hub.errors import (
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        yield
    except (OfflineModeIsEnabled, httpx2.ConnectError, httpx2.TimeoutException) as exc:
        raise Unreachable(
            f"weights {hub.label} are not cached and the Hub cannot be reached (no network, or HF_HUB_OFFLINE=1): "
            f"{type(exc).__name__}."
        ) from exc
    except (RepositoryNotFoundError, RevisionNotFoundError, RemoteEntryNotFoundError) as exc:
        raise HubError(f"weights {hub.label} not found on the Hub ({type(exc).__name__}).") from exc
    except HfHubHTTPError as exc:
        raise HubError(f"the Hub answered HTTP {exc.response.status_code} for weights {hub.label}.") from exc
    except httpx2.HTTPError as exc:
        raise BadTransfer(f"weights {hub.label}: {exc!r}.") from exc
    except OSError as exc:  # after HfHubHTTPError, an OSError too: here, the cache folder
        raise HubError(f"weights {hub.label}: cannot store them ({exc}): set HF_HOME to a writable folder.") from exc


#: huggingface_hub's user agent names the library asking, and its version.
LIBRARY = "artstyle"


def _version() -> str:
    from . import __version__

    return __version__


def _repo_folder(features_dir: str | None, repo_id: str) -> Path:
    if features_dir is None:
        from huggingface_hub import constants  # HF_HOME honours $HF_HOME and $XDG_CACHE_HOME

        features_dir = os.path.join(constants.HF_HOME, "artstyle", "weights")
    return Path(features_dir) / repo_id.replace("/", "--")


def _read_ref(folder: Path, revision: str | None) -> str | None:
    ref = _inside(folder / "refs", revision or "main")
    commit = ref.read_text().strip() if ref.is_file() else ""
    return commit if _COMMIT.fullmatch(commit) else None


def _inside(folder: Path, relative: str) -> Path:
    """`folder / relative` for a Hub file name or revision, which may hold "/" but must not climb out."""
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise BadFile(f"{relative!r} is not a plain relative name.")
    return folder.joinpath(*parts)


def _replace(target: Path, write: Callable[[BinaryIO], W], check: Callable[[Path], T]) -> tuple[W, T]:
    """(write(fh), check(path)) for a temporary file that then replaces `target`, atomically; a failed write or
    check leaves `target` as it was and no temporary file behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".incomplete")
    try:
        with os.fdopen(fd, "wb") as fh:
            written = write(fh)
        checked = check(Path(part))
        os.replace(part, target)
    finally:
        Path(part).unlink(missing_ok=True)
    return written, checked


def _write_text(target: Path, text: str) -> None:
    _replace(target, lambda fh: fh.write(text.encode()), lambda path: None)


def _recorded_sha256(record: Path) -> str | None:
    try:
        return json.loads(record.read_text()).get("sha256")
    except (OSError, ValueError, AttributeError):
        return None


def _blob_matches(path: Path) -> bool:
    """Whether a huggingface_hub cached file hashes to its blob's name. LFS files are stored as blobs named by their
    sha256 (the ETag); small non-LFS files have git-sha1 names, which we cannot check: accepted."""
    blob = path.resolve()
    return not re.fullmatch(r"[0-9a-f]{64}", blob.name) or _sha256(blob) == blob.name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()
