"""Hostile and unusual image inputs: each one loads correctly or raises one clear ValueError.

Every file here is generated in memory or in tmp_path: no image from ../shared is needed or committed.
"""

from __future__ import annotations

import functools
import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, features

import artstyle
from artstyle import images
from artstyle.images import MAX_INPUT_PIXELS, fit_long_side, load_image

# ---------------------------------------------------------------- builders


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def quadrants(width: int = 48, height: int = 32) -> Image.Image:
    """An asymmetric test card: red top-left, green top-right, blue bottom-left, white bottom-right."""
    card = Image.new("RGB", (width, height))
    hw, hh = width // 2, height // 2
    for box, colour in (
        ((0, 0, hw, hh), (255, 0, 0)),
        ((hw, 0, width, hh), (0, 255, 0)),
        ((0, hh, hw, height), (0, 0, 255)),
        ((hw, hh, width, height), (255, 255, 255)),
    ):
        card.paste(colour, box)
    return card


def quadrant_means(image: Image.Image) -> list[tuple[int, ...]]:
    """Mean colour of the centre of each quadrant, TL, TR, BL, BR (edges skipped: JPEG rings there)."""
    w, h = image.size
    a = np.asarray(image.convert("RGB"), dtype=np.float64)
    cells = [a[: h // 2, : w // 2], a[: h // 2, w // 2 :], a[h // 2 :, : w // 2], a[h // 2 :, w // 2 :]]
    return [tuple(int(round(v)) for v in c[2:-2, 2:-2].mean(axis=(0, 1))) for c in cells]


def assert_card(image: Image.Image, size: tuple[int, int] = (48, 32), tol: int = 12) -> None:
    assert image.mode == "RGB" and image.size == size
    expected = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]
    for got, want in zip(quadrant_means(image), expected, strict=True):
        assert max(abs(g - w) for g, w in zip(got, want, strict=True)) <= tol, (got, want)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG header (valid CRCs) that declares width x height RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def matrix_profile(red, green, blue, *, gamma: float) -> bytes:
    """A minimal ICC v2 RGB display profile: colorants (XYZ, D50) and one gamma curve per channel."""
    xyz = lambda v: b"XYZ \0\0\0\0" + b"".join(_s15(c) for c in v)  # noqa: E731
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    text = b"test profile\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 8 + b"\0\0\0" + b"\0" * 67
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz((0.9642, 1.0, 0.8249))),
        (b"rXYZ", xyz(red)),
        (b"gXYZ", xyz(green)),
        (b"bXYZ", xyz(blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\0\0\0\0public domain\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"\0\0\0\0"
        + bytes([2, 0x10, 0, 0])
        + b"mntrRGB XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 24
        + struct.pack(">I", 0)
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


# sRGB's primaries adapted to D50, as in the ICC's sRGB profile.
SRGB_R, SRGB_G, SRGB_B = (0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)


def load_error(source, **kwargs) -> str:
    with pytest.raises(ValueError) as info:
        load_image(source, name="content", **kwargs)
    message = str(info.value)
    assert "content" in message and "\n" not in message and "Traceback" not in message
    return message


# ---------------------------------------------------------------- broken files


def test_truncated_and_corrupt_files_raise_value_error():
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    jpeg, png = encode(noise, "JPEG", quality=90), encode(noise, "PNG")  # noise: every byte is pixel data
    for data in (jpeg[: len(jpeg) // 2], jpeg[:20], png[: len(png) // 2], png[:40], png[:-100]):
        message = load_error(data)
        assert "truncated" in message or "corrupt" in message


def test_corrupt_png_crc_is_refused():
    png = bytearray(encode(quadrants(), "PNG"))
    idat = png.index(b"IDAT")
    png[idat + 8] ^= 0xFF  # flip a byte inside IDAT: its CRC no longer matches
    load_error(bytes(png))


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the damaged TIFF metadata
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "TIFF", "BMP"])
def test_random_byte_damage_never_escapes_as_another_exception(fmt):
    """Fuzz: flip bytes all over a valid file. Every outcome is a usable RGB image or a ValueError."""
    good = encode(quadrants(40, 40), fmt)
    rng = np.random.default_rng(1234)
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(100):
        data = bytearray(good)
        for pos in rng.integers(0, len(data), size=int(rng.integers(1, 8))):
            data[pos] = int(rng.integers(0, 256))
        if rng.random() < 0.3:
            data = data[: int(rng.integers(1, len(data)))]
        try:
            image = load_image(bytes(data))
        except ValueError:
            outcomes["refused"] += 1
        else:
            assert image.mode == "RGB" and min(image.size) >= 1
            outcomes["loaded"] += 1
    assert outcomes["refused"] > 0  # the damage is real


def test_empty_file_text_file_and_directory(tmp_path: Path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    assert "empty" in load_error(empty)
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture\n")
    assert "not an image" in load_error(text)
    assert "not an image" in load_error(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    assert "not a regular file" in load_error(tmp_path)
    assert "no such file" in load_error(tmp_path / "missing.jpg")
    assert "no such file" in load_error("photo\x00.jpg")
    long_name = load_error("x" * 5000 + ".jpg")  # the OS refuses the name: still one short sentence
    assert "cannot read" in long_name and "File name too long" in long_name and len(long_name) < 300


def test_formats_outside_the_allowlist_are_refused_without_decoding():
    # An EPS would make Pillow run Ghostscript; PSD/PCX/etc. are parsers an upload never needs.
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    assert "supported format" in load_error(eps)
    refused = ["PCX", "PPM", "TGA", "ICO"] + (["AVIF"] if features.check("avif") else [])
    for fmt in refused:
        assert "supported format" in load_error(encode(quadrants(), fmt)), fmt


def test_byte_cap_on_bytes_and_paths(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(images, "MAX_INPUT_BYTES", 1000)
    data = encode(quadrants(64, 64), "PNG", compress_level=0)
    assert len(data) > 1000
    assert "limit" in load_error(data)
    path = tmp_path / "big.png"
    path.write_bytes(data)
    assert "limit" in load_error(path)
    sparse = tmp_path / "sparse.png"  # a huge file refused from its size alone, without reading it
    with open(sparse, "wb") as fh:
        fh.truncate(10**12)
    assert "limit" in load_error(sparse)


# ---------------------------------------------------------------- sizes and bombs


def test_tiny_and_elongated_images():
    one = load_image(encode(Image.new("RGB", (1, 1), (10, 20, 30)), "PNG"))
    assert one.size == (1, 1) and one.getpixel((0, 0)) == (10, 20, 30)
    assert fit_long_side(one, 64).size == (64, 64)
    thin = load_image(encode(Image.new("L", (3, 6000), 128), "PNG"))
    assert thin.size == (3, 6000) and thin.mode == "RGB"
    with pytest.raises(ValueError, match=r"content is 3x6000: .* short side would be 1 px"):
        fit_long_side(thin, 512, name="content")


def test_stylize_iter_refuses_bad_images_before_loading_weights(tmp_path: Path):
    missing = tmp_path / "no-such-weights.safetensors"  # never reached: images are checked first
    good = quadrants(64, 64)
    with pytest.raises(ValueError, match="content is an empty file"):
        artstyle.stylize_iter(b"", good, weights=missing, size=64, steps=1)
    with pytest.raises(ValueError, match="style is 3x6000"):
        artstyle.stylize_iter(good, Image.new("RGB", (3, 6000)), weights=missing, size=64, steps=1)


@pytest.mark.parametrize(
    ("width", "height", "words"),
    [
        (100_000, 100_000, "absurd dimensions"),  # Pillow's own bomb guard (> 2x its 89 Mpx warning level)
        (2**31 - 1, 1, "absurd dimensions"),
        (9000, 9000, "limit is 67 Mpx"),  # under Pillow's guard, over ours
    ],
)
def test_decompression_bomb_headers_are_refused_before_decoding(width, height, words):
    data = png_declaring(width, height)
    assert len(data) < 200
    start = time.perf_counter()
    message = load_error(data)
    assert words in message
    assert time.perf_counter() - start < 1.0  # refused from the header, never decoded


@pytest.mark.parametrize(
    ("kind", "prefix"), [(b"zTXt", b"Comment\0\0"), (b"iTXt", b"Comment\0\1\0\0\0"), (b"iCCP", b"icc\0\0")]
)
def test_png_metadata_zip_bombs_are_refused(kind, prefix):
    png = encode(quadrants(), "PNG")
    bomb = png_chunk(kind, prefix + _inflates_to_64mb())
    start = time.perf_counter()
    assert "too large" in load_error(png[:33] + bomb + png[33:])  # after the 8-byte signature and IHDR
    assert time.perf_counter() - start < 2.0


@functools.cache
def _inflates_to_64mb() -> bytes:
    return zlib.compress(b"A" * (64 << 20), 9)  # ~64 KB


def test_jpeg_bomb_header_is_refused():
    jpeg = bytearray(encode(quadrants(), "JPEG"))
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)  # height, width
    assert "absurd dimensions" in load_error(bytes(jpeg))


def test_truncated_file_opened_by_the_caller_is_refused(tmp_path: Path):
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    path = tmp_path / "cut.png"
    path.write_bytes(encode(noise, "PNG")[:3000])
    with Image.open(path) as lazy:  # PIL opens lazily: the damage shows when load_image decodes it
        assert "PIL image could not be read as RGB (image file is truncated)" in load_error(lazy)


def test_pixel_cap_applies_to_pil_images_and_arrays():
    assert "limit" in load_error(Image.new("1", (9000, 9000)))  # 81 Mpx > 67 Mpx
    assert "limit" in load_error(quadrants(), max_pixels=100)
    assert "limit" in load_error(np.zeros((20, 20), np.uint8), max_pixels=100)
    assert MAX_INPUT_PIXELS == 8192 * 8192


# ---------------------------------------------------------------- modes and depths


def test_sixteen_bit_png_is_scaled_not_clipped():
    ramp = np.linspace(0, 65535, 64 * 16, dtype=np.float64).reshape(16, 64).astype(np.uint16)
    source = Image.fromarray(ramp)
    assert source.mode == "I;16"
    loaded = np.asarray(load_image(encode(source, "PNG")))
    expected = np.round(ramp / 257.0)
    assert np.abs(loaded[..., 0].astype(int) - expected).max() <= 1
    assert loaded.min() == 0 and loaded.max() == 255 and 120 <= loaded.mean() <= 135  # not clipped white
    # A dark 16-bit image stays dark (values < 256 are not mistaken for 8-bit data).
    dark = load_image(encode(Image.fromarray(np.full((8, 8), 200, np.uint16)), "PNG"))
    assert dark.getpixel((0, 0)) == (1, 1, 1)


def test_sixteen_bit_rgb_and_tiff_float():
    rgb16 = load_image(encode(Image.fromarray(np.full((8, 8), 32768, np.uint16)), "TIFF"))
    assert rgb16.getpixel((0, 0)) == (128, 128, 128)
    grey = load_image(encode(Image.fromarray(np.full((8, 8), 0.5, np.float32)), "TIFF"))  # mode F
    assert grey.getpixel((0, 0)) == (128, 128, 128)


def test_cmyk_jpeg_keeps_its_colours():
    cmyk = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # pure red in CMYK
    loaded = load_image(encode(cmyk, "JPEG", quality=95))
    r, g, b = loaded.getpixel((16, 16))
    assert loaded.mode == "RGB" and r > 230 and g < 30 and b < 30


@pytest.mark.parametrize(
    ("mode", "colour", "expected"),
    [
        ("RGBA", (255, 0, 0, 0), (255, 255, 255)),  # fully transparent -> white background
        ("RGBA", (255, 0, 0, 255), (255, 0, 0)),
        ("RGBA", (0, 0, 0, 128), (127, 127, 127)),  # half-transparent black over white
        ("LA", (0, 0), (255, 255, 255)),
        ("LA", (50, 255), (50, 50, 50)),
        ("L", 77, (77, 77, 77)),
        ("1", 1, (255, 255, 255)),
        ("1", 0, (0, 0, 0)),
        ("I", 300, (1, 1, 1)),  # 32-bit int holding 16-bit data
        ("I", 200, (200, 200, 200)),  # 32-bit int holding 8-bit data
        ("F", 0.25, (64, 64, 64)),  # float 0-1
        ("F", 200.0, (200, 200, 200)),  # float on Pillow's 0-255 scale
        ("F", float("nan"), (0, 0, 0)),
        ("YCbCr", (76, 85, 255), (254, 0, 0)),
        ("HSV", (0, 255, 255), (255, 0, 0)),
        ("LAB", (128, 128, 128), (119, 119, 119)),  # L* = 50 grey, through a real Lab -> sRGB conversion
    ],
)
def test_pil_images_in_odd_modes(mode, colour, expected):
    loaded = load_image(Image.new(mode, (20, 20), colour))
    assert loaded.mode == "RGB" and loaded.size == (20, 20)
    assert max(abs(a - b) for a, b in zip(loaded.getpixel((5, 5)), expected, strict=True)) <= 2


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "WEBP"])
def test_alpha_files_are_flattened_on_white(fmt):
    image = Image.new("RGBA", (20, 20), (0, 0, 255, 0))
    image.paste((0, 0, 255, 255), (0, 0, 10, 20))
    loaded = load_image(encode(image, fmt, **({"lossless": True} if fmt == "WEBP" else {})))
    assert loaded.getpixel((2, 2)) == (0, 0, 255) and loaded.getpixel((17, 2)) == (255, 255, 255)


def test_palette_images_with_and_without_transparency():
    plain = quadrants().convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    assert_card(load_image(encode(plain, "PNG")), tol=2)
    assert_card(load_image(encode(plain, "GIF")), tol=2)
    keyed = quadrants().convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    red_index = keyed.getpixel((2, 2))
    for fmt in ("PNG", "GIF"):
        loaded = load_image(encode(keyed, fmt, transparency=red_index))
        assert loaded.getpixel((2, 2)) == (255, 255, 255), fmt  # the transparent colour shows as white
        assert loaded.getpixel((40, 2)) == (0, 255, 0), fmt
    la = Image.new("LA", (8, 8), (0, 0))
    assert load_image(encode(la, "PNG")).getpixel((0, 0)) == (255, 255, 255)
    one_bit = load_image(encode(Image.new("1", (8, 8), 1), "PNG"))
    assert one_bit.getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF"])
def test_every_accepted_format_round_trips(fmt, tmp_path: Path):
    path = tmp_path / f"card.{fmt.lower()}"
    quadrants().save(path, fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP", "AVIF") else {}))
    assert_card(load_image(path), tol=25)
    assert_card(load_image(path.read_bytes()), tol=25)


# ---------------------------------------------------------------- orientation


# What a camera stores for each EXIF orientation, given the upright picture (TIFF/EXIF 2.3 semantics:
# the tag says how the stored pixels must be transformed for display).
STORED = {
    1: lambda im: im,
    2: lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    3: lambda im: im.rotate(180),
    4: lambda im: im.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
    6: lambda im: im.rotate(90, expand=True),  # display = rotate 90 degrees clockwise
    8: lambda im: im.rotate(-90, expand=True),  # display = rotate 90 degrees counter-clockwise
}


@pytest.mark.parametrize("orientation", sorted(STORED))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_rotated_photos_come_out_upright(orientation, fmt):
    stored = STORED[orientation](quadrants())
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(stored, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))
    assert_card(load_image(data))


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_broken_exif_is_ignored():
    data = encode(quadrants(), "JPEG", quality=95, exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff\xff")
    assert_card(load_image(data))


# ---------------------------------------------------------------- animation


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animated_images_give_their_first_frame(fmt):
    frames = [Image.new("RGB", (24, 24), c) for c in ((200, 0, 0), (0, 200, 0), (0, 0, 200))]
    extra = {"lossless": True} if fmt == "WEBP" else {}
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **extra)
    opened = Image.open(io.BytesIO(data))
    assert getattr(opened, "n_frames", 1) == 3
    opened.seek(2)  # a PIL image left on a later frame still gives frame 0
    for source in (data, opened):
        loaded = load_image(source)
        assert loaded.size == (24, 24)
        r, g, b = loaded.getpixel((12, 12))
        assert r > 180 and g < 20 and b < 20, (fmt, (r, g, b))


def test_multi_picture_jpeg_from_a_camera_gives_its_first_picture():
    first, second = Image.new("RGB", (32, 24), (200, 0, 0)), Image.new("RGB", (32, 24), (0, 200, 0))
    data = encode(first, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(data)).format == "MPO"  # Pillow's name for it; opened via the JPEG decoder
    r, g, b = load_image(data).getpixel((16, 12))
    assert r > 180 and g < 20 and b < 20


# ---------------------------------------------------------------- colour profiles


def test_icc_tagged_image_is_converted_to_srgb():
    linear = matrix_profile(SRGB_R, SRGB_G, SRGB_B, gamma=1.0)  # sRGB primaries, linear light
    ImageCms.ImageCmsProfile(io.BytesIO(linear))  # a valid profile for LittleCMS
    grey = Image.new("RGB", (16, 16), (128, 128, 128))
    for fmt in ("PNG", "JPEG", "TIFF", "WEBP"):
        loaded = load_image(encode(grey, fmt, icc_profile=linear, **({"quality": 100} if fmt != "PNG" else {})))
        r, g, b = loaded.getpixel((8, 8))
        # linear 0.502 is sRGB 0.735 -> 188: the profile was applied (untouched it would stay 128).
        assert all(abs(v - 188) <= 3 for v in (r, g, b)), (fmt, (r, g, b))


def test_icc_with_swapped_primaries_moves_colours():
    swapped = matrix_profile(SRGB_G, SRGB_R, SRGB_B, gamma=1.0)  # its "red" channel is sRGB's green
    loaded = load_image(encode(Image.new("RGB", (8, 8), (255, 0, 0)), "PNG", icc_profile=swapped))
    r, g, b = loaded.getpixel((4, 4))
    assert g > 240 and r < 15 and b < 15, (r, g, b)


def test_srgb_icc_keeps_colours_and_broken_icc_is_ignored():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    card = quadrants()
    assert_card(load_image(encode(card, "PNG", icc_profile=srgb)), tol=3)
    for junk in (b"not a profile at all", srgb[:200], matrix_profile(SRGB_R, SRGB_G, SRGB_B, gamma=1.0)[:150]):
        loaded = load_image(encode(card, "PNG", icc_profile=junk))
        assert np.array_equal(np.asarray(loaded), np.asarray(card))


def test_grey_image_with_rgb_profile_is_not_refused():
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    loaded = load_image(encode(Image.new("L", (8, 8), 90), "PNG", icc_profile=srgb))
    assert loaded.getpixel((0, 0)) == (90, 90, 90)


# ---------------------------------------------------------------- numpy arrays


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.full((8, 8, 3), (10, 20, 30), np.uint8), (10, 20, 30)),
        (np.full((8, 8), 77, np.uint8), (77, 77, 77)),
        (np.full((8, 8, 1), 77, np.uint8), (77, 77, 77)),
        (np.full((8, 8, 4), (255, 0, 0, 0), np.uint8), (255, 255, 255)),
        (np.full((8, 8, 3), 65535, np.uint16), (255, 255, 255)),
        (np.full((8, 8, 3), 32768, np.uint16), (128, 128, 128)),
        (np.full((8, 8, 3), 0.5, np.float32), (128, 128, 128)),
        (np.full((8, 8, 3), 1.05, np.float64), (255, 255, 255)),  # small overshoot: clipped
        (np.full((8, 8, 3), 0.5, np.float16), (128, 128, 128)),
        (np.full((8, 8, 3), 200, np.int64), (200, 200, 200)),  # np.array([...]) of Python ints
        (np.full((8, 8, 3), (10, 20, 30), np.uint8)[:, ::-1], (10, 20, 30)),  # negative strides
    ],
)
def test_numpy_arrays_that_load(array, expected):
    loaded = load_image(array)
    assert loaded.mode == "RGB" and loaded.size == (array.shape[1], array.shape[0])
    assert loaded.getpixel((3, 3)) == expected


@pytest.mark.parametrize(
    ("array", "words"),
    [
        (np.full((8, 8, 3), np.nan, np.float32), "NaN or infinite"),
        (np.full((8, 8, 3), np.inf, np.float32), "NaN or infinite"),
        (np.full((8, 8, 3), 200.0), "values in 0-1"),
        (np.full((8, 8, 3), -1.0), "values in 0-1"),
        (np.full((8, 8, 3), 300, np.int32), "values in 0-255"),
        (np.full((8, 8, 3), -1, np.int16), "values in 0-255"),
        (np.ones((8, 8, 3), bool), "got bool"),
        (np.ones((8, 8, 3), np.complex64), "got complex64"),
        (np.array([["a"]]), "got <U1"),
        (np.zeros((8, 8, 2), np.uint8), "got shape (8, 8, 2)"),
        (np.zeros((1, 8, 8, 3), np.uint8), "got shape (1, 8, 8, 3)"),
        (np.zeros((3, 8, 8), np.uint8), "channels last"),
        (np.zeros((8,), np.uint8), "got shape (8,)"),
        (np.zeros((0, 0, 3), np.uint8), "no pixels"),
        (np.zeros((0, 5), np.uint8), "no pixels"),
    ],
)
def test_numpy_arrays_that_are_refused(array, words):
    assert words in load_error(array)


def test_unsupported_input_types():
    for source in (None, 42, 3.5, ["a.png"], {"path": "a.png"}):
        assert "must be a PIL image, a file path, bytes or a numpy array" in load_error(source)
