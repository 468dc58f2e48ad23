"""Local weights files that are missing, pickled, truncated or wrong: refused with a message saying what to do.

(Downloads through an imitation Hub are tested elsewhere; everything here is local and offline.)
"""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import artstyle
from artstyle.cli import main
from artstyle.weights import ENV_WEIGHTS, WeightsError, load_weights


class _Exploit:
    """Unpickling this creates a marker file: proof that a loader ran code from a weights file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def write_pickle(path: Path, marker: Path) -> Path:
    torch.save({"features.0.weight": _Exploit(marker)}, path)
    return path


def first_conv(**overrides: torch.Tensor) -> dict[str, torch.Tensor]:
    tensors = {"features.0.weight": torch.zeros(64, 3, 3, 3), "features.0.bias": torch.zeros(64)}
    tensors.update(overrides)
    return tensors


def weights_error(source) -> str:
    with pytest.raises(WeightsError) as info:
        load_weights(source)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize("suffix", [".pth", ".pt", ".bin", ".pkl", ".ckpt"])
def test_pickle_files_are_refused_unread(tmp_path: Path, suffix):
    marker = tmp_path / "pwned"
    path = write_pickle(tmp_path / f"vgg19{suffix}", marker)
    for source in (str(path), path):
        assert "only .safetensors weights are accepted" in weights_error(source)
    assert not marker.exists()


def test_pickle_renamed_to_safetensors_is_not_unpickled(tmp_path: Path):
    marker = tmp_path / "pwned"
    path = write_pickle(tmp_path / "vgg19.safetensors", marker)
    assert "not a valid safetensors file" in weights_error(path)
    assert not marker.exists()


def test_missing_local_file_names_the_environment_variables(tmp_path: Path, monkeypatch):
    missing = tmp_path / "nowhere" / "vgg19.safetensors"
    message = weights_error(missing)
    assert "does not exist" in message and str(missing) in message
    assert ENV_WEIGHTS in message and "HF_HUB_OFFLINE" in message
    monkeypatch.setenv(ENV_WEIGHTS, str(missing))
    assert "does not exist" in weights_error(None)
    with pytest.raises(WeightsError, match=ENV_WEIGHTS):  # the engine's memoised path says the same
        artstyle.stylize_iter(torch.rand(32, 32, 3).numpy(), torch.rand(32, 32, 3).numpy(), size=32)


@pytest.mark.parametrize("source", [123, 1.5, b"vgg19.safetensors", ["vgg19.safetensors"], object()])
def test_wrong_typed_sources(source):
    assert "weights must be a .safetensors path or a Hub id" in weights_error(source)
    image = torch.rand(32, 32, 3).numpy()
    with pytest.raises(WeightsError, match="weights must be"):  # the engine's memoised path too
        artstyle.stylize_iter(image, image, weights=source, size=32)


def test_unparseable_sources():
    for spec in ("not a repo id", "a/b/c/d", "vgg19.SAFETENSORS", "", "../../etc/passwd"):
        assert "cannot read weights source" in weights_error(spec), spec


@pytest.mark.parametrize(
    ("tensors", "words"),
    [
        ({"features.0.weight": torch.zeros(64, 3, 3, 3)}, "features.0.weight is missing"),
        ({"classifier.0.weight": torch.zeros(2, 2)}, "not a VGG19 checkpoint"),
        (first_conv(**{"features.0.weight": torch.zeros(64, 3, 5, 5)}), "has shape (64, 3, 5, 5)"),
        (first_conv(**{"features.0.bias": torch.zeros(32)}), "expected (64, 3, 3, 3)"),
        (first_conv(**{"features.0.weight": torch.full((64, 3, 3, 3), float("nan"))}), "NaN or infinite"),
        (first_conv(**{"features.0.bias": torch.full((64,), float("inf")).half()}), "NaN or infinite"),
        (first_conv(), "features.2.weight is missing"),  # a single conv: the rest of VGG19 is absent
    ],
)
def test_wrong_tensors_are_refused(tmp_path: Path, tensors, words):
    path = tmp_path / "bad.safetensors"
    save_file(tensors, str(path))
    message = weights_error(path)
    assert words in message and str(path) in message


def test_unknown_convention_is_refused(tmp_path: Path, monkeypatch):
    import artstyle.weights as weights_module

    # Only the first conv is real: pretend VGG19 has one layer so the metadata check is reached.
    monkeypatch.setattr(weights_module, "CONV_INDICES", (0,))
    monkeypatch.setattr(weights_module, "CONV_SHAPES", ((64, 3),))
    path = tmp_path / "odd.safetensors"
    save_file(first_conv(), str(path), metadata={"input_convention": "bgr-0-1"})
    assert "unknown input_convention 'bgr-0-1'" in weights_error(path)
    save_file(first_conv(), str(path), metadata={"input_convention": "caffe"})
    assert load_weights(path).convention == "caffe"


def test_truncated_empty_and_garbage_files(tmp_path: Path):
    good = tmp_path / "good.safetensors"
    save_file(first_conv(), str(good))
    data = good.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    cases = {
        "empty": b"",
        "short": data[:5],
        "header-cut": data[: 8 + header_len // 2],
        "data-cut": data[: 8 + header_len + 100],  # header intact, tensors cut off
        "garbage": os.urandom(4096),
        "huge-header": struct.pack("<Q", 2**62) + b"{}",
        "bad-json": struct.pack("<Q", 10) + b"{not json}",
        "overlapping": data[:8] + data[8 : 8 + header_len].replace(b'"data_offsets":[0,', b'"data_offsets":[9,'),
    }
    for name, blob in cases.items():
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(blob)
        message = weights_error(path)
        assert "truncated or not a valid safetensors file" in message and "Delete it" in message, (name, message)


def test_cli_reports_weights_problems_in_one_line(capsys, tmp_path: Path):
    content = tmp_path / "c.png"
    torch.save({}, tmp_path / "w.pth")
    from PIL import Image

    Image.new("RGB", (32, 32), "red").save(content)
    code = main([str(content), str(content), "-o", str(tmp_path / "o.png"), "--weights", str(tmp_path / "w.pth")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "only .safetensors" in err and "\n" not in err
    assert not (tmp_path / "o.png").exists()


def test_pickle_module_is_never_imported_for_weights(tmp_path: Path, monkeypatch):
    """Belt and braces: reading a valid safetensors file never calls pickle.load(s)."""
    calls = []
    monkeypatch.setattr(pickle, "load", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(a))
    path = tmp_path / "one.safetensors"
    save_file(first_conv(), str(path))
    weights_error(path)  # fails on the missing second conv, after reading the first
    assert calls == []
