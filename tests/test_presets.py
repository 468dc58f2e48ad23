"""The presets catalogue and how a preset's image is found, fetched, verified and cached."""

from __future__ import annotations

import http.server
import io
import threading
from collections.abc import Iterator

import pytest
from PIL import Image

from artstyle.presets import (
    USER_AGENT,
    Preset,
    get_preset,
    load_catalogue,
    preset_image,
    preset_status,
    wikimedia_thumbnail,
)
from tests.conftest import STYLES_DIR, needs_shared

STYLES = STYLES_DIR
PAPER_PAINTINGS = {"starry_night", "shipwreck_of_the_minotaur", "the_scream", "composition_vii"}


def test_catalogue_is_valid_and_has_the_papers_paintings():
    catalogue = load_catalogue()
    assert len(catalogue) == 13
    ids = {p.id for p in catalogue}
    assert ids >= PAPER_PAINTINGS
    assert {p.id for p in catalogue if p.in_paper} == PAPER_PAINTINGS
    for preset in catalogue:
        if preset.downloadable:
            assert preset.source_url.startswith("https://upload.wikimedia.org/wikipedia/")
        else:  # a museum page until a Commons file is verified: the notes must say so
            assert preset.source_url.startswith("https://") and "Commons" in preset.notes
        assert "public domain" in preset.licence.lower()
        assert preset.style_weight > 0
        assert preset.title in preset.caption and preset.artist in preset.caption
    assert "restricted" not in " ".join(p.source_url for p in catalogue)


@needs_shared
def test_every_public_domain_painting_of_shared_is_a_preset():
    files = {p.stem for p in STYLES.iterdir() if p.is_file() and p.suffix.lower() in (".jpg", ".png")}
    assert files == {p.id for p in load_catalogue()}


def test_a_preset_without_a_downloadable_image_asks_for_a_local_copy(tmp_path, monkeypatch):
    monkeypatch.delenv("ARTSTYLE_PRESETS_DIR", raising=False)
    pending = [p for p in load_catalogue() if not p.downloadable]
    assert pending  # Gauguin and Mondrian, until a Commons file of each is verified
    for preset in pending:
        status = preset_status(preset, cache_dir=tmp_path)  # no request is made
        assert not status.available and "ARTSTYLE_PRESETS_DIR" in status.reason
    bad = tmp_path / "catalogue.json"
    bad.write_text('{"presets": [{"id": "a", "title": "A", "artist": "B", "year": "1", "licence": "PD", '
                   '"source_url": "https://e/a.jpg", "downloadable": "no"}]}')  # fmt: skip
    with pytest.raises(ValueError, match="downloadable"):
        load_catalogue(bad)


def test_unknown_and_path_like_ids_are_rejected():
    with pytest.raises(ValueError, match="not in the catalogue"):
        get_preset("no_such_painting")
    with pytest.raises(ValueError, match="not in the catalogue"):
        preset_status("../restricted/candy")
    bad = Preset(id="../x", title="t", artist="a", year="1", licence="PD", source_url="https://e/x.jpg")
    with pytest.raises(ValueError, match="lower-case letters"):
        preset_status(bad, presets_dir="/tmp")


def test_malformed_catalogue_is_a_clear_error(tmp_path):
    path = tmp_path / "catalogue.json"
    path.write_text('{"presets": [{"id": "a", "title": "A"}]}')
    with pytest.raises(ValueError, match="malformed"):
        load_catalogue(path)


def test_wikimedia_thumbnail_url():
    url = "https://upload.wikimedia.org/wikipedia/commons/2/2e/Shipwreck_turner.jpg"
    assert wikimedia_thumbnail(url, 1280) == (
        "https://upload.wikimedia.org/wikipedia/commons/thumb/2/2e/Shipwreck_turner.jpg/1280px-Shipwreck_turner.jpg"
    )
    assert wikimedia_thumbnail("http://127.0.0.1:8000/a.jpg", 1280) is None


@needs_shared
def test_local_presets_dir_serves_every_catalogue_entry(monkeypatch):
    monkeypatch.setenv("ARTSTYLE_PRESETS_DIR", str(STYLES))
    for preset in load_catalogue():
        status = preset_status(preset)
        assert status.available, status.reason
        assert status.path.parent == STYLES and status.path.stem == preset.id


def test_missing_local_file_is_unavailable_with_reason(tmp_path):
    status = preset_status("the_scream", presets_dir=tmp_path)
    assert not status.available
    assert "the_scream" in status.reason and str(tmp_path) in status.reason
    (tmp_path / "the_scream.png").write_bytes(b"<html>not an image</html>")
    status = preset_status("the_scream", presets_dir=tmp_path)
    assert not status.available and "not an image" in status.reason
    with pytest.raises(ValueError, match="unavailable"):
        preset_image("the_scream", presets_dir=tmp_path)


class _Handler(http.server.BaseHTTPRequestHandler):
    image = b""
    requests: list[tuple[str, str]] = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        type(self).requests.append((self.path, self.headers.get("User-Agent", "")))
        if self.path == "/painting.png":
            body, code, ctype = self.image, 200, "image/png"
        elif self.path == "/html.jpg":
            body, code, ctype = b"<html>Please log in</html>", 200, "text/html"
        else:
            body, code, ctype = b"missing", 404, "text/plain"
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server() -> Iterator[str]:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buffer, format="PNG")
    _Handler.image, _Handler.requests = buffer.getvalue(), []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _preset(url: str) -> Preset:
    return Preset(id="test_painting", title="T", artist="A", year="1900", licence="Public domain", source_url=url)


@pytest.mark.slow  # a subprocess or a server
def test_fetch_verifies_and_caches(server, tmp_path, monkeypatch):
    monkeypatch.delenv("ARTSTYLE_PRESETS_DIR", raising=False)
    preset = _preset(f"{server}/painting.png")
    status = preset_status(preset, cache_dir=tmp_path)
    assert status.available, status.reason
    assert status.path == tmp_path / "test_painting.png"
    assert Image.open(status.path).size == (40, 30)
    assert _Handler.requests == [("/painting.png", USER_AGENT)]
    again = preset_status(preset, cache_dir=tmp_path)  # served from the cache: no second request
    assert again.path == status.path and len(_Handler.requests) == 1
    assert not list(tmp_path.glob(".part-*"))


@pytest.mark.slow  # a subprocess or a server
def test_failed_fetch_is_unavailable_with_reason(server, tmp_path, monkeypatch):
    monkeypatch.delenv("ARTSTYLE_PRESETS_DIR", raising=False)
    status = preset_status(_preset(f"{server}/gone.jpg"), cache_dir=tmp_path)
    assert not status.available and "HTTP 404" in status.reason
    status = preset_status(_preset(f"{server}/html.jpg"), cache_dir=tmp_path)
    assert not status.available and "not an image" in status.reason
    assert not list(tmp_path.iterdir())  # nothing half-written or unverified is kept
    status = preset_status(_preset("http://127.0.0.1:9/x.jpg"), cache_dir=tmp_path, timeout=5)
    assert not status.available and "cannot connect" in status.reason
    status = preset_status(_preset(f"{server}/painting.png"), cache_dir=tmp_path, fetch=False)
    assert not status.available and status.reason == "not downloaded yet"


def test_cache_dir_defaults_under_hf_home(monkeypatch, tmp_path):
    from artstyle.presets import default_cache_dir

    monkeypatch.delenv("ARTSTYLE_PRESETS_CACHE", raising=False)
    assert default_cache_dir().parts[-2:] == ("artstyle", "presets")
    monkeypatch.setenv("ARTSTYLE_PRESETS_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path


def test_a_style_argument_names_a_preset_by_id_a_file_wins(tmp_path, monkeypatch):
    from artstyle.presets import as_preset

    assert as_preset("starry_night").id == "starry_night"
    assert as_preset("preset:udnie").id == "udnie"
    assert as_preset(get_preset("the_scream")).id == "the_scream"
    assert as_preset("painting.jpg") is None and as_preset(b"bytes") is None  # images, left to load_image
    monkeypatch.chdir(tmp_path)
    (tmp_path / "starry_night").write_bytes(b"a file named like an id")
    assert as_preset("starry_night") is None  # the file wins ...
    assert as_preset("preset:starry_night").id == "starry_night"  # ... unless the prefix says the preset
    with pytest.raises(ValueError, match="'starry_nite' is neither a file nor a preset id; artstyle --list-presets"):
        as_preset("starry_nite")
    with pytest.raises(ValueError, match="not in the catalogue"):
        as_preset("preset:no_such_painting")


def test_recommended_settings_of_one_painting_or_a_mix():
    from artstyle.params import StyleParams
    from artstyle.presets import recommended, with_recommended

    starry, scream = get_preset("starry_night"), get_preset("the_scream")  # 3e3 and 1e3
    assert recommended([starry], (1.0,))["style_weight"] == pytest.approx(3e3)
    assert recommended([starry, scream], (0.5, 0.5))["style_weight"] == pytest.approx((3e3 * 1e3) ** 0.5)
    assert recommended([None, scream], (1.0, 1.0))["style_weight"] == pytest.approx(1e3)  # an upload: the default
    assert recommended([None], (1.0,)) == {}
    defaults = StyleParams()
    assert with_recommended(defaults, [starry]).style_weight == pytest.approx(3e3)
    chosen = StyleParams(style_weight=5e2)
    assert with_recommended(chosen, [starry]).style_weight == 5e2  # a setting the caller chose wins
    assert with_recommended(defaults, [starry], explicit={"style_weight"}).style_weight == defaults.style_weight


def test_only_paintings_that_can_be_had_are_offered(tmp_path, monkeypatch):
    from artstyle.presets import offered

    monkeypatch.delenv("ARTSTYLE_PRESETS_DIR", raising=False)
    monkeypatch.setenv("ARTSTYLE_PRESETS_CACHE", str(tmp_path))
    statuses = [preset_status(p, fetch=False) for p in load_catalogue()]
    shown = {s.preset.id for s in offered(statuses)}
    hidden = {p.id for p in load_catalogue() if not p.downloadable}
    assert hidden and not hidden & shown  # Gauguin and Mondrian: no verified download, no local copy
    assert "starry_night" in shown  # downloadable: fetched on first use
    reason = next(s.reason for s in statuses if s.preset.id in hidden)
    assert "no verified public download" in reason and "ARTSTYLE_PRESETS_DIR" in reason
