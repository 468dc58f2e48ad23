"""The app under hostile use: bad files and parameters, a full queue, concurrent jobs, a cancel storm, and
requests for files it must not serve. One app is launched in this process (so the test can read its run
counter, memory and CPU time) with a small queue, and driven through gradio_client and raw HTTP."""

from __future__ import annotations

import contextlib
import gc
import http.client
import json
import os
import struct
import threading
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import CLIENT_HTTP, REAL_WEIGHTS, STYLES_DIR, needs_shared, served_app

pytestmark = [needs_shared, pytest.mark.slow]  # a real server, real weights
QUEUE = 3  # waiting jobs before "Queue is full"
RSS_SLACK = 120 * 2**20  # memory allowed to stay above the warm baseline after load (allocator caches)
IDLE_CPU = 0.15  # core-seconds per second: more than this after a storm means an optimisation still runs


# --------------------------------------------------------------------------------------------- helpers


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _ticks(stat: str) -> int:
    # utime + stime, fields 14 and 15 of /proc/.../stat (after the parenthesised command name).
    fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_seconds() -> float:
    """CPU time of this process's server side: every thread (torch's native workers included) except
    gradio_client's, which live here too because the test is its own API user."""
    client = {t.native_id for t in threading.enumerate() if t.name.startswith("ThreadPoolExecutor")}
    total = _ticks("/proc/self/stat")
    for tid in client:
        with contextlib.suppress(OSError):  # the thread ended in between
            total -= _ticks(f"/proc/self/task/{tid}/stat")
    return total / os.sysconf("SC_CLK_TCK")


def cpu_use(seconds: float = 2.0) -> float:
    """Core-seconds per second this process spent over the next `seconds`."""
    start = cpu_seconds()
    time.sleep(seconds)
    return (cpu_seconds() - start) / seconds


def png_bomb(path: Path, width: int, height: int) -> Path:
    """A valid PNG header declaring width x height RGB pixels, followed by a few hundred bytes of data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\0" * (1 + width * 3) * 4)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    return path


def settle(demo, timeout: float = 120.0) -> None:
    """Wait until the queue is empty and no run has been active for 2 s. A job cancelled while it waits
    in the queue may still be started (and then stopped at its first step), so one idle moment is not
    enough."""
    runs, deadline = demo.artstyle_runs, time.monotonic() + timeout
    quiet_since, started = time.monotonic(), runs.started
    progress, moved = (runs.finished, runs.last_step), time.monotonic()
    while time.monotonic() < deadline:
        now = time.monotonic()
        if (runs.finished, runs.last_step) != progress:
            progress, moved = (runs.finished, runs.last_step), now
        if runs.active or len(demo._queue) or runs.started != started:
            quiet_since, started = now, runs.started
            if runs.active and now - moved > 10:  # a generator left suspended by a cancel: see wait_idle
                gc.collect()
                moved = now
        elif now - quiet_since >= 2.0:
            return
        time.sleep(0.05)
    wait_idle(runs, timeout=1.0)


def joined(job, timeout: float = 30.0) -> None:
    """Wait until the server has given the job its event id. A gradio_client cancel issued before that
    never reaches the server (the client has nothing to name), so the job would run to its end: a
    storm of cancels that fast tests the client, not the app."""
    deadline = time.monotonic() + timeout
    while job.communicator.event_id is None and not job.done() and time.monotonic() < deadline:
        time.sleep(0.01)


def wait_idle(runs, timeout: float = 60.0) -> bool:
    """Wait until no run is active; True if that took a garbage collection.

    A cancel that lands while Gradio is running a generator's first step (Gradio 6.31) cancels the task
    but leaves the generator suspended, un-closed, until the garbage collector finalises it: it uses no
    CPU, but holds its device and counts as active until then."""
    deadline = time.monotonic() + timeout
    while runs.active and time.monotonic() < deadline:
        time.sleep(0.05)
    collected = bool(runs.active)
    if collected:
        gc.collect()
        time.sleep(1.0)
    assert runs.active == 0 and runs.started == runs.finished, f"runs still active: {runs}"
    return collected


# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(demo, client, base url) for one app with a queue of QUEUE."""
    from gradio_client import Client

    with served_app(tmp_path_factory.mktemp("gradio"), max_queue=QUEUE) as (demo, url):
        yield demo, Client(url, verbose=False, httpx_kwargs=CLIENT_HTTP), url


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    image = Image.new("RGB", (64, 48), (90, 140, 220))
    image.paste((60, 120, 40), (0, 32, 64, 48))
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    image.save(path)
    return path


@pytest.fixture(scope="module")
def baseline(served, photo) -> int:
    """RSS after one finished job: weights read, torch and the thread pools started."""
    demo, client, _ = served
    client.predict(**_args(photo))
    wait_idle(demo.artstyle_runs)
    gc.collect()
    return rss_bytes()


def _args(photo, **overrides):
    from gradio_client import handle_file

    # A 64x48 photo at size 64 (the slider's minimum) runs at 64x48: the jobs stay tiny.
    args = dict(
        content=handle_file(str(photo)),
        style=None,
        preset="starry_night",
        size=64,
        steps=2,
        style_strength=5,
        preserve_color=None,
        seed=0,
        api_name="/stylize",
    )
    args.update(overrides)
    return args


def _error(client, **args) -> str:
    with pytest.raises(Exception) as info:  # noqa: PT011  # the message is what is checked
        client.predict(**args)
    message = str(info.value)
    assert "Traceback" not in message and "upstream Gradio app has raised an exception" not in message
    return message


# --------------------------------------------------------------------------------------------- hostile files


def _hostile_file(kind: str, folder: Path, photo: Path) -> Path:
    data = photo.read_bytes()
    path = folder / {"jpeg": "holiday.jpg", "bomb": "bomb.png", "big_bomb": "bomb.png"}.get(kind, "upload.png")
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "jpeg":  # a JPEG start marker, then noise
        path.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(2000))
    elif kind == "text":
        path.write_text("dear diary, this is not a picture\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "bomb":  # 100 Mpx declared: past artstyle's 67 Mpx cap, under Pillow's refusal threshold
        png_bomb(path, 10_000, 10_000)
    elif kind == "big_bomb":  # 900 Mpx: Pillow's Image.open refuses it inside Gradio's preprocess
        png_bomb(path, 30_000, 30_000)
    return path


@pytest.mark.parametrize(
    ("kind", "slot", "message"),
    [
        ("truncated", "content", "truncated or corrupt"),
        ("jpeg", "content", "not an image file we can read"),
        ("text", "content", "not an image file we can read"),
        ("empty", "content", "not an image file we can read"),
        ("bomb", "content", r"10000x10000 pixels .* the limit is 67 Mpx"),
        ("big_bomb", "content", "declares too many pixels to open safely"),
        ("text", "style", "style image .* not an image file we can read"),
        ("big_bomb", "style", "style image.* declares too many pixels"),
    ],
)
def test_hostile_upload_gets_one_sentence(served, photo, tmp_path, kind, slot, message):
    import re

    from gradio_client import handle_file

    _, client, _ = served
    bad = handle_file(str(_hostile_file(kind, tmp_path, photo)))
    text = _error(client, **_args(photo, **{slot: bad}))
    assert re.search(message, text, re.IGNORECASE), text


def test_upload_cap_holds_on_the_http_upload_route(served, photo, tmp_path):
    import httpx
    from gradio import utils
    from gradio_client import handle_file

    import app

    _, client, url = served
    cap = utils._parse_file_size(app.MAX_UPLOAD)
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as fh:
        fh.write(photo.read_bytes())
        fh.write(b"\0" * (cap + 1))
    # gradio_client refuses before sending (it reads the cap from the app's config) ...
    assert "exceeds the maximum file size" in _error(client, **_args(photo, content=handle_file(str(huge))))
    # ... and the server refuses a client that ignores it, before the file reaches any component.
    with open(huge, "rb") as fh:
        response = httpx.post(f"{url}gradio_api/upload", files={"files": ("huge.png", fh, "image/png")}, timeout=60)
    assert response.status_code == 413, response.text
    assert "maximum" in response.text.lower()


# --------------------------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("size", -64, "less than minimum value 64"),
        ("size", 10**9, "greater than maximum value"),
        ("size", "big", "'big' is not a valid value"),
        ("steps", "ten", "'ten' is not a valid value"),
        ("steps", 2.5, "whole number"),
        ("steps", 0, "less than minimum value 1"),
        ("style_strength", "strong", "not a valid value"),
        ("style_strength", -1, "less than minimum value 0"),
        ("seed", -1, "less than minimum value 0"),
        ("seed", 1e30, "between 0 and"),
        ("preset", 123, "not in the list of choices"),
        ("preset", "../../etc/passwd", "not in the list of choices"),
        ("preserve_color", "yes", "not in the list of choices"),
    ],
)
def test_bad_parameter_is_named(served, photo, name, value, message):
    _, client, _ = served
    text = _error(client, **_args(photo, **{name: value}))
    assert name.replace("_", " ").lower() in text.replace("_", " ").lower() and message in text, text


def _raw_call(url: str, data: list, timeout: float = 60.0) -> str:
    """POST /gradio_api/call/stylize with `data` serialised as Python's json does (NaN allowed, which
    gradio_client refuses to send) and return the event stream's text."""
    import httpx

    body = json.dumps({"data": data}, allow_nan=True)
    start = httpx.post(
        f"{url}gradio_api/call/stylize", content=body, headers={"Content-Type": "application/json"}, timeout=timeout
    )
    start.raise_for_status()
    event_id = start.json()["event_id"]
    return httpx.get(f"{url}gradio_api/call/stylize/{event_id}", timeout=timeout).text


def _uploaded(url: str, photo: Path) -> dict:
    import httpx

    with open(photo, "rb") as fh:
        response = httpx.post(f"{url}gradio_api/upload", files={"files": (photo.name, fh, "image/png")}, timeout=60)
    return {"path": response.json()[0], "meta": {"_type": "gradio.FileData"}}


@pytest.mark.parametrize(
    ("index", "name", "value"),
    [(3, "size", "NaN"), (4, "steps", "NaN"), (5, "style_strength", "NaN"), (7, "seed", "Infinity")],
)
def test_nan_and_infinity_over_raw_http_are_named(served, photo, index, name, value):
    _, _, url = served
    data = [_uploaded(url, photo), None, "starry_night", 64, 2, 5, None, 0, None, None, 0.5, None, 1, "gram", "single"]
    data[index] = float(value)
    stream = _raw_call(url, data)
    assert "event: error" in stream and name in stream.lower(), stream
    assert "Traceback" not in stream


# --------------------------------------------------------------------------------------------- queue and load


def test_full_queue_says_busy_try_again(served, photo):
    demo, client, _ = served
    runs = demo.artstyle_runs
    running = client.submit(**_args(photo, steps=1000))
    joined(running)
    deadline = time.monotonic() + 60
    while runs.active == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    waiting = [client.submit(**_args(photo, steps=1000)) for _ in range(QUEUE)]
    for job in waiting:
        joined(job)
    time.sleep(1.0)  # let the joins land
    refused = client.submit(**_args(photo))
    try:
        with pytest.raises(Exception, match="Queue is full! Please try again") as info:
            refused.result(timeout=60)
        assert "Traceback" not in str(info.value)
    finally:
        for job in [*waiting, running]:
            job.cancel()
        wait_idle(runs)


def test_concurrent_jobs_finish_or_are_refused_and_memory_returns(served, photo, baseline):
    """8 jobs at once into a queue of 3: each finishes with its PNG or is refused as busy."""
    demo, client, _ = served
    outcomes: list[str] = []
    lock = threading.Lock()

    def one(seed: int) -> None:
        try:
            result = client.predict(**_args(photo, steps=3, seed=seed))
            outcome = "done" if Image.open(result).size == (64, 48) else f"bad result {result}"
        except Exception as exc:  # noqa: BLE001  # what matters is which exception it is
            outcome = "busy" if "Queue is full! Please try again" in str(exc) else f"error {exc}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert len(outcomes) == 8 and set(outcomes) <= {"done", "busy"}, outcomes
    assert outcomes.count("done") >= QUEUE, outcomes  # the queue's places were used
    wait_idle(demo.artstyle_runs)
    gc.collect()
    grown = rss_bytes() - baseline
    assert grown < RSS_SLACK, f"RSS grew by {grown / 2**20:.0f} MiB after the load"


def test_cancel_storm_leaves_nothing_running(served, photo, baseline):
    demo, client, _ = served
    runs = demo.artstyle_runs
    started = runs.started
    for seed in range(10):
        job = client.submit(**_args(photo, steps=1000, seed=seed))
        joined(job)
        time.sleep(0.1 * (seed % 3))  # some cancelled while queued, some after they started
        job.cancel()
    settle(demo)
    wait_idle(runs)
    assert runs.started - started <= 10
    use = cpu_use(2.0)
    assert use < IDLE_CPU, f"the server still uses {use:.2f} cores after the storm ({runs})"
    gc.collect()
    grown = rss_bytes() - baseline
    assert grown < RSS_SLACK, f"RSS grew by {grown / 2**20:.0f} MiB after the storm"


def test_server_still_works_after_all_that(served, photo):
    demo, client, _ = served
    assert Image.open(client.predict(**_args(photo, steps=2))).size == (64, 48)
    assert demo.artstyle_runs.active == 0


# --------------------------------------------------------------------------------------------- security


def _get(url: str, path: str) -> tuple[int, bytes]:
    """GET `path` byte for byte: http.client does not normalise '..' the way httpx and browsers do."""
    host, port = url.split("//")[1].strip("/").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_files_outside_gradio_temp_are_not_served(served, photo):
    demo, client, url = served
    temp = os.environ["GRADIO_TEMP_DIR"]
    app_py = Path(__file__).resolve().parent.parent / "app.py"
    refused = [
        "/gradio_api/file=/etc/passwd",
        f"/gradio_api/file={temp}/../../../../etc/passwd",
        f"/gradio_api/file={temp}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/gradio_api/file=..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/gradio_api/file/etc/passwd",  # the deprecated route
        f"/gradio_api/file={app_py}",
        "/gradio_api/file=app.py",  # relative to the working directory
        f"/gradio_api/file={REAL_WEIGHTS}",
        f"/gradio_api/file={STYLES_DIR / 'starry_night.jpg'}",  # presets are shown through Gradio's cache copies
    ]
    for path in refused:
        status, body = _get(url, path)
        assert status in (403, 404), (path, status)
        assert b"root:" not in body
    # What the app produced is served from Gradio's temp folder, not from where it was written.
    result = Path(client.predict(**_args(photo)))
    written = next(Path(demo.artstyle_results).glob(result.name))  # the original, outside the temp folder
    assert _get(url, f"/gradio_api/file={written}")[0] == 403
    assert demo.allowed_paths == []  # nothing opened up beyond Gradio's own folders


def test_api_cannot_smuggle_a_server_path_in_as_an_upload(served, photo):
    _, _, url = served
    for path in ("/etc/passwd", str(STYLES_DIR / "starry_night.jpg"), f"{os.environ['GRADIO_TEMP_DIR']}/../x.png"):
        data = [{"path": path, "meta": {"_type": "gradio.FileData"}}, None, "starry_night", 64, 2, 5, None, 0]
        stream = _raw_call(url, data)
        assert "event: error" in stream and "root:" not in stream, stream
