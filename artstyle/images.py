"""Safe image input and output: any common file, mode or orientation in; sRGB RGB PIL images out.

Everything a user can upload passes through `load_image`: it refuses files that are not images, are
truncated, or declare absurd dimensions (decompression bombs) before decoding them, and normalises
orientation (EXIF), colour profile (ICC -> sRGB), bit depth (16-bit), transparency and animation.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

ImageInput = Union[Image.Image, str, os.PathLike, bytes, np.ndarray]

#: Inputs with more pixels than this are refused before decoding (64 Mpx).
MAX_INPUT_PIXELS = 8192 * 8192
#: Bytes read from a file or accepted as bytes.
MAX_INPUT_BYTES = 100 * 1024 * 1024
_MIN_SIDE = 16  # VGG19 pools 4 times before conv5_1: smaller sides leave nothing to compare


def load_image(source: ImageInput, *, name: str = "image", max_pixels: int = MAX_INPUT_PIXELS) -> Image.Image:
    """Open `source` (PIL image, path, bytes or HxWxC array) as an upright, sRGB, 8-bit RGB image.

    Raises `ValueError` with one sentence naming `name` when the input cannot be used.
    """
    if isinstance(source, Image.Image):
        image = source
    elif isinstance(source, np.ndarray):
        image = _from_array(source, name)
    elif isinstance(source, bytes | bytearray | memoryview):
        image = _open(io.BytesIO(bytes(source)), name, len(source))
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"{name}: no such file {str(path)!r}")
        image = _open(path, name, path.stat().st_size)
    else:
        raise ValueError(
            f"{name} must be a PIL image, a file path, bytes or a numpy array, got {type(source).__name__}"
        )
    _check_pixels(image, name, max_pixels)
    try:
        return _to_srgb_rgb(image)
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data surfaces on decode
        raise ValueError(f"{name} could not be decoded ({exc}); the file may be truncated or corrupt") from exc


def _open(fp: Any, name: str, nbytes: int) -> Image.Image:
    if nbytes == 0:
        raise ValueError(f"{name} is an empty file")
    if nbytes > MAX_INPUT_BYTES:
        raise ValueError(f"{name} is {nbytes / 2**20:.0f} MB; the limit is {MAX_INPUT_BYTES // 2**20} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we check pixels ourselves
            image = Image.open(fp)
    except Image.DecompressionBombError as exc:
        raise ValueError(f"{name} declares absurd dimensions ({exc}); refusing to decode it") from exc
    except UnidentifiedImageError as exc:
        raise ValueError(f"{name} is not an image file Pillow can read (JPEG, PNG, WebP, GIF, BMP, TIFF, ...)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"{name} could not be opened: {exc}") from exc
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
        raise ValueError(f"{name}: a numpy image must be HxW, HxWx1, HxWx3 or HxWx4, got shape {array.shape}")
    if array.dtype == np.uint8:
        data = array
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError(f"{name}: the numpy image contains NaN or infinite values")
        data = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)  # floats are taken as 0-1
    elif array.dtype == np.uint16:
        data = (array >> 8).astype(np.uint8)
    else:
        raise ValueError(f"{name}: numpy images must be uint8, uint16 or float in 0-1, got {array.dtype}")
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[data.shape[2]]
    return Image.fromarray(np.ascontiguousarray(data.squeeze(2) if mode == "L" else data), mode)


def _to_srgb_rgb(image: Image.Image) -> Image.Image:
    if getattr(image, "is_animated", False):
        image.seek(0)  # animated GIF/WebP/PNG: the first frame
    image.load()
    image = ImageOps.exif_transpose(image) or image
    icc = image.info.get("icc_profile")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = _sixteen_bit_to_l(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = _flatten_alpha(image.convert("RGBA"))
    if icc and image.mode in ("RGB", "CMYK", "L"):
        converted = _icc_to_srgb(image, icc)
        if converted is not None:
            return converted
    return image.convert("RGB")


def _sixteen_bit_to_l(image: Image.Image) -> Image.Image:
    # Pillow's convert("L") clips 16-bit values at 255 instead of scaling them: scale ourselves.
    array = np.asarray(image, dtype=np.uint32)
    peak = 65535 if array.max() > 255 else 255
    return Image.fromarray((array * 255 // peak).astype(np.uint8), "L")


def _flatten_alpha(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))  # transparent shows as white
    return Image.alpha_composite(background, rgba).convert("RGB")


def _icc_to_srgb(image: Image.Image, icc: bytes) -> Image.Image | None:
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        dst = ImageCms.createProfile("sRGB")
        return ImageCms.profileToProfile(image, src, dst, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None  # a broken profile is ignored rather than failing the image


def fit_long_side(image: Image.Image, size: int, *, name: str = "image") -> Image.Image:
    """Resize so that the long side is `size` px, keeping the aspect ratio."""
    w, h = image.size
    scale = size / max(w, h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    if min(new_w, new_h) < _MIN_SIDE:
        raise ValueError(
            f"{name} is {w}x{h}: at {size} px its short side would be {min(new_w, new_h)} px, "
            f"below the {_MIN_SIDE} px VGG19 needs. Use a less elongated image or a larger size."
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
