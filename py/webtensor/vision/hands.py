"""Hands as MediaPipe runs them: palm detection -> a rotated crop around each palm -> 21 hand
landmarks, mapped back to image pixels.

The steps and their constants are those of MediaPipe's hand-tracking graphs (we reimplement
them from the documented calculator options, not their code):
- palm detection (palm_detection_{lite,full}.tflite, 192x192, [0, 1] input, letterboxed):
  SSD anchors at strides 8 (2 per cell) and 16 (6 per cell) = 2016, 18 regressors per anchor
  (box + 7 keypoints), clipped sigmoid scores >= 0.5, weighted NMS at IoU 0.3;
- palm -> hand region: rotation so that wrist (keypoint 0) -> middle-finger base (keypoint 2)
  points up, the box shifted by half its height along that direction, made square on its long
  side and scaled 2.6x;
- hand landmarks (hand_landmark_{lite,full}.tflite, 224x224, [0, 1]): 21 x (x, y, z) in crop
  pixels, hand presence and handedness as probabilities (the model ends in sigmoids).
"""
from __future__ import annotations

import math

import numpy as np

from .blazeface import SsdFaceDetector
from .image import check_image_size

PALM_INPUT, LANDMARK_INPUT = 192, 224
PALM_LAYERS = ((8, 2), (16, 6))
ROI_SCALE, ROI_SHIFT_Y = 2.6, -0.5
# the 21 landmarks' skeleton (for drawing): wrist, then 4 joints per finger, thumb first
CONNECTIONS = ((0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11),
               (11, 12), (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19), (19, 20))


class PalmDetector(SsdFaceDetector):
    """MediaPipe's palm detector: the SSD machinery of the face detectors with 7 keypoints."""

    input_size = PALM_INPUT
    anchor_layers = PALM_LAYERS
    coords = 18

    def __init__(self, model, min_score: float = 0.5, iou_threshold: float = 0.3, max_palms: int = 4):
        super().__init__(model, min_score, iou_threshold, max_palms)
        self.find_outputs(model)

    def prepare(self, x: np.ndarray) -> np.ndarray:
        return (x + np.float32(1)) * np.float32(0.5)          # the letterboxed [-1, 1] input -> [0, 1]


def hand_region(palm: dict) -> dict:
    """A palm detection (pixels) -> the rotated square the landmark model looks at:
    {center [x, y], size, rotation (radians, clockwise in image coordinates)}."""
    x0, y0, x1, y1 = palm["box"]
    (wx, wy), _, (mx, my) = palm["keypoints"][:3]
    rotation = _normalise(math.pi / 2 - math.atan2(-(my - wy), mx - wx))
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2 - h * ROI_SHIFT_Y * math.sin(rotation)
    cy = (y0 + y1) / 2 + h * ROI_SHIFT_Y * math.cos(rotation)
    return {"center": [cx, cy], "size": max(w, h) * ROI_SCALE, "rotation": rotation}


def _normalise(angle: float) -> float:
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def _to_image(region: dict, u: np.ndarray, v: np.ndarray, side: int):
    """Crop pixel coordinates (u, v) of a side x side crop -> image coordinates."""
    a, b = (u / side - 0.5) * region["size"], (v / side - 0.5) * region["size"]
    c, s = math.cos(region["rotation"]), math.sin(region["rotation"])
    return region["center"][0] + a * c - b * s, region["center"][1] + a * s + b * c


def crop_region(image: np.ndarray, region: dict, side: int = LANDMARK_INPUT) -> np.ndarray:
    """The rotated square `region` of an HxWx3 uint8 image, resampled bilinearly to
    1 x side x side x 3 float32 in [0, 1]; outside the image is black (zero)."""
    check_image_size(image.shape[1], image.shape[0])
    grid = np.arange(side, dtype=np.float64) + 0.5
    u, v = np.meshgrid(grid, grid)
    x, y = _to_image(region, u, v, side)
    x, y = x - 0.5, y - 0.5                          # pixel centres
    x0, y0 = np.floor(x).astype(np.intp), np.floor(y).astype(np.intp)
    fx, fy = (x - x0).astype(np.float32)[..., None], (y - y0).astype(np.float32)[..., None]
    h, w = image.shape[:2]
    img = image[:, :, :3].astype(np.float32) / np.float32(255)

    def at(yy, xx):
        inside = ((yy >= 0) & (yy < h) & (xx >= 0) & (xx < w))[..., None]
        return img[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)] * inside
    top = at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx
    bottom = at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx
    return (top * (1 - fy) + bottom * fy)[None].astype(np.float32)


class HandTracker:
    """Palm detection + hand landmarks on an image: `detect(image)` -> hands, each
    {score (palm), box, presence, handedness {label, score}, landmarks [[x, y, z] x 21], region}."""

    def __init__(self, palm_model, landmark_model, min_palm_score: float = 0.5, min_presence: float = 0.5,
                 max_hands: int = 2):
        self.palms = PalmDetector(palm_model, min_palm_score, max_palms=max_hands)
        self.landmarks = landmark_model
        self.min_presence = min_presence
        self.max_hands = max_hands
        self.input_size = PALM_INPUT
        names = [o.name for o in landmark_model.outputs]
        shapes = [tuple(o.shape or ()) for o in landmark_model.outputs]
        if len(names) != 4 or shapes[0] != (1, 63) or shapes[1] != (1, 1) or shapes[2] != (1, 1):
            from ..errors import ModelFormatError
            raise ModelFormatError(f"{landmark_model.graph.source}: not a MediaPipe hand landmark model "
                                   f"(outputs {shapes})")
        self._outputs = names[:3]              # landmarks, presence, handedness (world landmarks unused)

    @property
    def model(self):
        """The landmark model (what the page's memory and precision controls act on)."""
        return self.landmarks

    @model.setter
    def model(self, m):
        self.landmarks = m

    @property
    def min_score(self) -> float:
        return self.palms.min_score

    @classmethod
    async def load(cls, palm_url: str, landmark_url: str, **kw) -> "HandTracker":
        from ..model import load_tflite_model
        return cls(await load_tflite_model(palm_url), await load_tflite_model(landmark_url), **kw)

    @classmethod
    def read(cls, palm_path, landmark_path, backend: str | None = None, **kw) -> "HandTracker":
        from ..model import read_tflite_model
        return cls(read_tflite_model(palm_path, backend), read_tflite_model(landmark_path, backend), **kw)

    def detect(self, image: np.ndarray) -> list[dict]:
        hands = []
        for palm in self.palms.detect(image):
            region = hand_region(palm)
            hands.append(self._hand(palm, region, self.landmarks.execute(crop_region(image, region), self._outputs)))
        return [h for h in hands if h]

    async def detect_async(self, image: np.ndarray) -> list[dict]:
        """`detect` through `execute_async` (every backend, WebGPU included)."""
        hands = []
        for palm in await self.palms.detect_async(image):
            region = hand_region(palm)
            out = await self.landmarks.execute_async(crop_region(image, region), self._outputs)
            hands.append(self._hand(palm, region, out))
        return [h for h in hands if h]

    def _hand(self, palm: dict, region: dict, outputs) -> dict | None:
        points, presence, handed = outputs
        presence, handed = float(presence.reshape(-1)[0]), float(handed.reshape(-1)[0])
        if presence < self.min_presence:
            return None
        p = points.reshape(21, 3).astype(np.float64)
        x, y = _to_image(region, p[:, 0], p[:, 1], LANDMARK_INPUT)
        z = p[:, 2] * region["size"] / LANDMARK_INPUT
        return {"score": palm["score"], "box": palm["box"], "presence": round(presence, 4),
                # MediaPipe's label convention: as seen in a mirrored (selfie) view
                "handedness": {"label": "Right" if handed > 0.5 else "Left", "score": round(max(handed, 1 - handed), 4)},
                "landmarks": [[round(float(a), 1), round(float(b), 1), round(float(c), 1)] for a, b, c in zip(x, y, z)],
                "region": {"center": [round(v, 1) for v in region["center"]], "size": round(region["size"], 1),
                           "rotation": round(region["rotation"], 4)}}
