"""A fake webcam for Chromium (--use-file-for-fake-video-capture): a .y4m video made
from a still photo with numpy (header `C420`, BT.601 limited range, as DESIGN.md notes)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def rgb_to_i420(rgb: np.ndarray) -> bytes:
    f = rgb.astype(np.float32) / 255.0
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    cb = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    cr = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    h, w = y.shape
    sub = lambda c: c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    planes = [np.clip(np.round(p), 0, 255).astype(np.uint8) for p in (y, sub(cb), sub(cr))]
    return b"".join(p.tobytes() for p in planes)


def photo_frame(photo: Path, width: int = 640, height: int = 480) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The photo scaled to the frame height and centred: (frame, (scale, offset_x, offset_y))."""
    from PIL import Image
    with Image.open(photo) as im:
        im = im.convert("RGB")
        scale = min(height / im.height, width / im.width)
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.BILINEAR)
        frame = np.zeros((height, width, 3), np.uint8)
        ox, oy = (width - im.width) // 2, (height - im.height) // 2
        frame[oy:oy + im.height, ox:ox + im.width] = np.asarray(im)
    return frame, (scale, float(ox), float(oy))


def write_y4m(path: Path, frame: np.ndarray, frames: int = 10, fps: int = 30) -> Path:
    h, w = frame.shape[:2]
    data = rgb_to_i420(frame)
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n")
            f.write(data)
    return path
