"""Safe image input and output: any common file, mode or orientation in; sRGB RGB PIL images out.

Everything a user can upload passes through `load_image`: it refuses files that are not images, are
truncated, or declare absurd dimensions (decompression bombs) before decoding them, and normalises
orientation (EXIF), colour profile (ICC -> sRGB), bit depth (16-bit), transparency and animation.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

ImageInput = Union[Image.Image, str, os.PathLike, bytes, np.ndarray]

#: Inputs with more pixels than this are refused before decoding (64 Mpx).
MAX_INPUT_PIXELS = 8192 * 8192
#: Bytes read from a file or accepted as bytes.
MAX_INPUT_BYTES = 100 * 1024 * 1024
MIN_SIDE = 16  # VGG19 pools 4 times before conv5_1: smaller sides leave nothing to compare
#: The only decoders untrusted bytes reach. Pillow would otherwise also try EPS (which runs Ghostscript),
#: PSD, PCX, FITS and dozens more rarely-used parsers: each is attack surface a photo upload never needs.
#: (Multi-picture JPEGs from cameras, Pillow's MPO, are opened by the JPEG decoder.) AVIF is left out on
#: purpose: fuzzing showed Pillow 12's AVIF decoder raising bare RuntimeErrors on damaged files.
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
#: What Pillow's decoders raise on malformed data (the set Pillow's own fuzz tests allow, plus struct.error
#: from short binary headers); anything else is a bug we want to see, not hide.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, ImageCms.PyCMSError)
_HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")  # more than 8 bits per sample
_FLOAT_SLACK = 0.1  # float images slightly outside 0-1 (resampling overshoot) are clipped, not refused


def load_image(source: ImageInput, *, name: str = "image", max_pixels: int = MAX_INPUT_PIXELS) -> Image.Image:
    """Open `source` (PIL image, path, bytes or HxWxC array) as an upright, sRGB, 8-bit RGB image.

    Raises `ValueError` with one sentence naming `name` when the input cannot be used.
    """
    if isinstance(source, Image.Image):
        image = source
    elif isinstance(source, np.ndarray):
        image = _from_array(source, name)
    elif isinstance(source, bytes | bytearray | memoryview):
        image = _open(bytes(source), name)
    elif isinstance(source, str | os.PathLike):
        image = _open(_read_file(Path(source), name), name)
    else:
        raise ValueError(
            f"{name} must be a PIL image, a file path, bytes or a numpy array, got {type(source).__name__}"
        )
    _check_pixels(image, name, max_pixels)
    try:
        return _to_srgb_rgb(image, name)
    except _DECODE_ERRORS as exc:  # truncated or corrupt data surfaces on decode
        if isinstance(source, Image.Image):
            raise ValueError(f"{name}: this {image.mode} PIL image could not be read as RGB ({exc})") from exc
        raise ValueError(f"{name} could not be decoded ({exc}); the file may be truncated or corrupt") from exc


def _read_file(path: Path, name: str) -> bytes:
    # Read the bytes ourselves (at most the cap, so a file growing after stat() cannot get past it): the
    # decoder then never holds a file handle, which animated images would otherwise keep open.
    shown = _shorten(str(path))
    try:
        if not path.exists():
            raise ValueError(f"{name}: no such file {shown!r}")
        if not path.is_file():
            raise ValueError(f"{name}: {shown!r} is not a regular file")
        _check_bytes(path.stat().st_size, name)
        with open(path, "rb") as fh:
            data = fh.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:  # permission denied, name too long, I/O error
        raise ValueError(f"{name}: cannot read {shown!r} ({exc.strerror or exc})") from exc
    _check_bytes(len(data), name)
    return data


def _shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else f"{text[: limit // 2]}...{text[-limit // 2 :]}"


def _check_bytes(nbytes: int, name: str) -> None:
    if nbytes == 0:
        raise ValueError(f"{name} is an empty file")
    if nbytes > MAX_INPUT_BYTES:
        raise ValueError(f"{name} is {nbytes / 2**20:.1f} MB; the limit is {MAX_INPUT_BYTES / 2**20:g} MB")


def _open(data: bytes, name: str) -> Image.Image:
    _check_bytes(len(data), name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we check pixels ourselves
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as exc:
        # Pillow's own guard (twice its MAX_IMAGE_PIXELS) fired while reading the header: nothing decoded yet.
        raise ValueError(f"{name} declares absurd dimensions (a decompression bomb?); refusing to decode it") from exc
    except UnidentifiedImageError as exc:
        raise ValueError(
            f"{name} is not an image in a supported format ({', '.join(ALLOWED_FORMATS)}), or is corrupt"
        ) from exc
    except _DECODE_ERRORS as exc:
        raise ValueError(f"{name} could not be opened ({exc}); the file may be truncated or corrupt") from exc
    return image


def _check_pixels(image: Image.Image, name: str, max_pixels: int) -> None:
    w, h = image.size
    if w * h > max_pixels:
        raise ValueError(
            f"{name} is {w}x{h} pixels ({w * h / 1e6:.0f} Mpx); the limit is "
            f"{max_pixels / 1e6:.0f} Mpx. Downscale it first."
        )
    if w < 1 or h < 1:
        raise ValueError(f"{name} has no pixels ({w}x{h})")


def _from_array(array: np.ndarray, name: str) -> Image.Image:
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ValueError(
            f"{name}: a numpy image must be HxW, HxWx1, HxWx3 or HxWx4 (channels last), got shape {array.shape}"
        )
    if array.size == 0:
        raise ValueError(f"{name} has no pixels (numpy shape {array.shape})")
    data = _array_to_uint8(array, name)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[data.shape[2]]
    return Image.fromarray(np.ascontiguousarray(data[..., 0] if mode == "L" else data), mode)


def _array_to_uint8(array: np.ndarray, name: str) -> np.ndarray:
    """uint8 as is; uint16 scaled from 0-65535; floats taken as 0-1; other integers accepted in 0-255."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return ((array.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError(f"{name}: the image contains NaN or infinite values")
        lo, hi = float(array.min()), float(array.max())
        if lo < -_FLOAT_SLACK or hi > 1 + _FLOAT_SLACK:
            raise ValueError(
                f"{name}: float images must hold values in 0-1, got {lo:g} to {hi:g} (divide 0-255 data by 255)"
            )
        return (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):  # bool is not an integer dtype to numpy: refused below
        lo, hi = int(array.min()), int(array.max())
        if lo < 0 or hi > 255:
            raise ValueError(f"{name}: {array.dtype} images must hold values in 0-255, got {lo} to {hi}")
        return array.astype(np.uint8)
    raise ValueError(
        f"{name}: numpy images must be uint8, uint16, integers in 0-255 or floats in 0-1, got {array.dtype}"
    )


def _to_srgb_rgb(image: Image.Image, name: str) -> Image.Image:
    if getattr(image, "is_animated", False):
        image.seek(0)  # animated GIF/WebP/PNG: the first frame
    image.load()
    image = _upright(image)
    icc = image.info.get("icc_profile")
    if image.mode in _HIGH_DEPTH_MODES:
        image = _high_depth_to_l(image, name)
    if image.has_transparency_data:
        image = _flatten_alpha(image.convert("RGBA"))
    elif image.mode == "LAB":
        return _lab_to_srgb(image)
    elif image.mode not in ("RGB", "L", "CMYK"):
        image = image.convert("RGB")  # P, 1, YCbCr, HSV, ...: their ICC profile (if any) is an RGB one
    if icc:
        converted = _icc_to_srgb(image, icc)
        if converted is not None:
            return converted
    return image.convert("RGB")


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation (phones store photos sideways and set a tag); broken EXIF is ignored."""
    try:
        return ImageOps.exif_transpose(image) or image
    except _DECODE_ERRORS:
        return image


def _high_depth_to_l(image: Image.Image, name: str) -> Image.Image:
    # Pillow's convert("L") clips 16-bit and float values at 255 instead of scaling them: scale ourselves.
    array = np.asarray(image)
    if image.mode.startswith("I;16"):
        array = array.astype(np.uint16)
    elif image.mode == "I":
        # 32-bit integers: Pillow opens some 16-bit files (PNG, TIFF) this way; 8-bit data stays 8-bit.
        array = np.clip(array, 0, 65535).astype(np.uint16 if array.max() > 255 else np.uint8)
    else:
        # Float files (mode F) carry no scale: 0-1 data is taken as 0-1, anything larger on Pillow's own
        # 0-255 scale; NaN reads as black. Lenient on purpose: a file is not a programmer's array.
        array = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        array = np.clip(array / 255.0 if array.max() > 1 + _FLOAT_SLACK else array, 0.0, 1.0)
    return Image.fromarray(_array_to_uint8(array, name), "L")


def _flatten_alpha(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))  # transparent shows as white
    return Image.alpha_composite(background, rgba).convert("RGB")


def _lab_to_srgb(image: Image.Image) -> Image.Image:
    # Pillow's convert() copies LAB channels into RGB unchanged; CIELab TIFFs need a real conversion.
    lab, srgb = ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB")
    converted = ImageCms.profileToProfile(image, lab, srgb, outputMode="RGB")
    assert converted is not None  # None only with inPlace=True
    return converted


def _icc_to_srgb(image: Image.Image, icc: bytes) -> Image.Image | None:
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        dst = ImageCms.createProfile("sRGB")
        return ImageCms.profileToProfile(image, src, dst, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None  # a broken or mismatched profile is ignored rather than failing the image


def fit_long_side(image: Image.Image, size: int, *, name: str = "image") -> Image.Image:
    """Resize so that the long side is `size` px, keeping the aspect ratio."""
    w, h = image.size
    scale = size / max(w, h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    if min(new_w, new_h) < MIN_SIDE:
        raise ValueError(
            f"{name} is {w}x{h}: at {size} px its short side would be {min(new_w, new_h)} px, "
            f"below the {MIN_SIDE} px VGG19 needs. Use a less elongated image or a larger size."
        )
    if (new_w, new_h) == (w, h):
        return image
    return image.resize((new_w, new_h), Image.Resampling.LANCZOS, reducing_gap=3.0)


def to_tensor(image: Image.Image, device: torch.device | str = "cpu") -> torch.Tensor:
    """RGB PIL image -> float32 tensor (1, 3, H, W) in [0, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous().to(device)


def to_pil(tensor: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) tensor in [0, 1] -> RGB PIL image."""
    array = tensor.detach()[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array, "RGB")


def resize_tensor(image: torch.Tensor, size: torch.Size | tuple[int, int], *, mode: str) -> torch.Tensor:
    """A (1, C, H, W) tensor resized to `size` = (H, W), antialiased; a copy even when the size is unchanged."""
    if image.shape[-2:] == size:
        return image.clone()
    return torch.nn.functional.interpolate(image, size=tuple(size), mode=mode, align_corners=False, antialias=True)
