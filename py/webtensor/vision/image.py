"""Image decoding (browser codecs in Pyodide, Pillow in CPython) and preprocessing."""
from __future__ import annotations

import io

import numpy as np

from .._io import IN_BROWSER
from ..errors import ImageDecodeError
from ..ops.nn import _bilinear_axis, resize_bilinear as _resize_op

# Decoded images are held as HxWx3 bytes: past these an image is refused with a clear
# error instead of exhausting memory (a 266-byte PNG can declare 20000 x 20000 pixels).
MAX_IMAGE_PIXELS = 50_000_000
MAX_ASPECT = 32


def check_image_size(width: int, height: int, name: str = "image") -> None:
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"{name}: the image has no pixels ({width}x{height})")
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageDecodeError(f"{name}: {width}x{height} is {width * height / 1e6:.0f} megapixels, more than the "
                               f"{MAX_IMAGE_PIXELS // 1_000_000} webtensor decodes")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageDecodeError(f"{name}: {width}x{height} is more than {MAX_ASPECT}:1; a detector cannot "
                               f"see anything in it once letterboxed")


async def decode_image(data: bytes, name: str = "image") -> np.ndarray:
    """Encoded image bytes (PNG, JPEG, ...) -> HxWx3 uint8 RGB; ImageDecodeError names `name`."""
    if not data:
        raise ImageDecodeError(f"{name}: the file is empty")
    if IN_BROWSER:
        return await _decode_in_browser(bytes(data), name)
    try:
        from PIL import Image
    except ImportError:
        raise ImageDecodeError(f"{name}: decoding images in CPython needs Pillow (pip install pillow)") from None
    try:
        with Image.open(io.BytesIO(data)) as im:
            check_image_size(im.width, im.height, name)
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except ImageDecodeError:
        raise
    except Exception as e:
        raise ImageDecodeError(f"{name}: cannot decode image ({e})") from None


async def _decode_in_browser(data: bytes, name: str) -> np.ndarray:
    import js
    from pyodide.ffi import to_js
    u8 = js.Uint8Array.new(len(data))
    u8.assign(data)
    try:
        bitmap = await js.createImageBitmap(js.Blob.new(to_js([u8])))
    except Exception as e:
        raise ImageDecodeError(f"{name}: the browser cannot decode this image ({e})") from None
    try:
        w, h = bitmap.width, bitmap.height
        check_image_size(w, h, name)
        canvas = js.OffscreenCanvas.new(w, h)
        ctx = canvas.getContext("2d")
        ctx.drawImage(bitmap, 0, 0)
        rgba = ctx.getImageData(0, 0, w, h).data
        arr = np.frombuffer(rgba.to_bytes(), dtype=np.uint8).reshape(h, w, 4)
    finally:
        bitmap.close()
    return arr[:, :, :3].copy()


def rgba_to_rgb(buffer, width: int, height: int) -> np.ndarray:
    """Raw RGBA pixels (e.g. a video frame's ImageData) -> HxWx3 uint8."""
    arr = np.frombuffer(buffer, dtype=np.uint8)
    if arr.size != width * height * 4:
        raise ImageDecodeError(f"frame: {arr.size} bytes is not {width}x{height} RGBA")
    return arr.reshape(height, width, 4)[:, :, :3]


def resize_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """HxWxC (any dtype) -> height x width x C float32, TF's ResizeBilinear defaults
    (no corner alignment, no half-pixel centres), as human/TF.js feed BlazeFace."""
    x = image.astype(np.float32, copy=False)[None]
    return _resize_op([x, np.array([height, width], np.int32)], {})[0][0]


def letterbox(image: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Pad to a centred square (black bars) so resizing keeps the aspect ratio.
    Returns (square image, (side, pad_x, pad_y)) to map results back."""
    h, w = image.shape[:2]
    check_image_size(w, h)
    side = max(h, w)
    pad_y, pad_x = (side - h) // 2, (side - w) // 2
    if h == w:
        return image, (float(side), 0.0, 0.0)
    out = np.zeros((side, side) + image.shape[2:], dtype=image.dtype)
    out[pad_y:pad_y + h, pad_x:pad_x + w] = image
    return out, (float(side), float(pad_x), float(pad_y))


def to_model_input(image: np.ndarray, size: int) -> np.ndarray:
    """HxWx3 uint8 -> 1 x size x size x 3 float32 in [-1, 1] (x / 127.5 - 1)."""
    if image.ndim != 3 or image.shape[2] < 3:
        raise ImageDecodeError(f"expected an HxWx3 image, got shape {list(image.shape)}")
    resized = resize_bilinear(image[:, :, :3], size, size)
    return (resized / np.float32(127.5) - np.float32(1.0))[None].astype(np.float32)


def letterbox_input(image: np.ndarray, size: int) -> tuple[np.ndarray, tuple[float, float, float]]:
    """to_model_input(letterbox(image)[0], size) without the square: the bilinear resize
    reads only the rows and columns it samples, so only those are gathered (memory is
    size x width, not side x side).  Returns (1 x size x size x 3 input, (side, pad_x, pad_y))."""
    if image.ndim != 3 or image.shape[2] < 3:
        raise ImageDecodeError(f"expected an HxWx3 image, got shape {list(image.shape)}")
    h, w = image.shape[:2]
    check_image_size(w, h)
    side = max(h, w)
    pad_y, pad_x = (side - h) // 2, (side - w) // 2
    y0, y1, fy = _bilinear_axis(side, size, False, False)
    x0, x1, fx = _bilinear_axis(side, size, False, False)

    rgb = image[:, :, :3]
    yin = [(ys - pad_y >= 0) & (ys - pad_y < h) for ys in (y0, y1)]
    xin = [(xs - pad_x >= 0) & (xs - pad_x < w) for xs in (x0, x1)]

    def corner(rows, k, xs, j):
        """Source pixels of the padded square as float32 (the bars read zero), gathered from
        the uint8 rows the resize reads: only 4 x size^2 pixels are converted."""
        v = rows.take(np.clip(xs - pad_x, 0, w - 1), axis=1).astype(np.float32)
        inside = yin[k][:, None] & xin[j][None, :]
        if not inside.all():
            v *= inside[..., None]
        return v
    fx_ = fx[None, :, None]
    # the same arithmetic as the ResizeBilinear reference, in the same order
    top, bottom = (rgb.take(np.clip(ys - pad_y, 0, h - 1), axis=0) for ys in (y0, y1))
    # (in place: t = tl + (tr - tl) * fx in `tr`, b likewise in `br`, then t + (b - t) * fy in `br`)
    tl, t = corner(top, 0, x0, 0), corner(top, 0, x1, 1)
    t -= tl
    t *= fx_
    t += tl
    bl, b = corner(bottom, 1, x0, 0), corner(bottom, 1, x1, 1)
    b -= bl
    b *= fx_
    b += bl
    b -= t
    b *= fy[:, None, None]
    b += t
    b /= np.float32(127.5)
    b -= np.float32(1.0)
    return b[None], (float(side), float(pad_x), float(pad_y))
