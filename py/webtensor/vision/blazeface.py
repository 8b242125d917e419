"""BlazeFace (MediaPipe's back-camera face detector, 256x256) post-processing.

Anchors, box decoding and weighted NMS follow MediaPipe's SSD anchor and
tensors-to-detections calculators (face_detection_back configuration): anchor
centres at stride * (cell + 0.5), fixed unit anchor size, coordinates scaled by
the input size, and a 'weighted' NMS that averages overlapping boxes by score.
"""
from __future__ import annotations

import math

import numpy as np

from ..ops.nn import sigmoid
from .image import letterbox_input

INPUT_SIZE = 256
# (stride, anchors per cell): strides 16 and 32 after merging MediaPipe's 4 layers
ANCHOR_LAYERS = ((16, 2), (32, 6))
KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion")
# the model's outputs: scores (512, 384) and regressors (512, 384), by tensor name
SCORE_OUTPUTS = ("Identity:0", "Identity_1:0")
BOX_OUTPUTS = ("Identity_2:0", "Identity_3:0")


def blazeface_anchors(input_size: int = INPUT_SIZE, layers=ANCHOR_LAYERS) -> np.ndarray:
    """N x 2 anchor centres, normalised to [0, 1] (896 for BlazeFace's layers).  `layers` are
    (stride, anchors per cell), MediaPipe's SSD layers of equal stride merged: with fixed
    anchor size every anchor of a cell has the same centre, so only their count matters."""
    centres = []
    for stride, per_cell in layers:
        cells = input_size // stride
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        c = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(c, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(centres).astype(np.float32)


def decode_boxes(raw: np.ndarray, anchors: np.ndarray, input_size: int = INPUT_SIZE):
    """raw N x (4 + 2K) regressors (K = 6 for faces, 7 for palms) -> (N x 4 boxes [x0, y0, x1, y1],
    N x K x 2 keypoints), normalised."""
    raw = raw.reshape(len(anchors), -1).astype(np.float32)
    scale = np.float32(input_size)
    cx = raw[:, 0] / scale + anchors[:, 0]
    cy = raw[:, 1] / scale + anchors[:, 1]
    w = raw[:, 2] / scale
    h = raw[:, 3] / scale
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kps = raw[:, 4:].reshape(len(raw), -1, 2) / scale + anchors[:, None, :]
    return boxes, kps


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda b: np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)
    union = area(box) + area(boxes) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(scores: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray,
                 iou_threshold: float = 0.3, max_out: int = 100):
    """MediaPipe's weighted NMS: each kept detection is the score-weighted mean of
    the boxes/keypoints overlapping the best remaining one; its score is the best's.
    Returns a list of (score, box[4], keypoints[6, 2])."""
    order = np.argsort(-scores, kind="stable")
    remaining = order
    out = []
    while remaining.size and len(out) < max_out:
        best = remaining[0]
        overlaps = iou(boxes[best], boxes[remaining]) >= iou_threshold
        overlaps[0] = True
        group = remaining[overlaps]
        w = scores[group][:, None]
        box = (boxes[group] * w).sum(0) / w.sum()
        kps = (keypoints[group] * w[:, :, None]).sum(0) / w.sum()
        out.append((float(scores[best]), box, kps))
        remaining = remaining[~overlaps]
    return out


class SsdFaceDetector:
    """What MediaPipe's SSD face detectors share: letterboxed [-1, 1] input, anchors, box and
    keypoint decode, weighted NMS, boxes mapped back to image pixels.  Subclasses name the
    model's outputs (`output_names`) and put them in anchor order (`split`)."""

    input_size = INPUT_SIZE
    anchor_layers = ANCHOR_LAYERS

    def __init__(self, model, min_score: float = 0.5, iou_threshold: float = 0.3, max_faces: int = 100):
        self.model = model
        self.min_score = min_score
        self.iou_threshold = iou_threshold
        self.max_faces = max_faces
        self.anchors = blazeface_anchors(self.input_size, self.anchor_layers)

    coords = 16          # regressors per anchor: the box, then 2 per keypoint

    def find_outputs(self, model) -> None:
        """MediaPipe's .tflite detectors: the score [1, N, 1] and regressor [1, N, coords] outputs,
        found by shape (their names differ from file to file)."""
        from ..errors import ModelFormatError
        n = len(self.anchors)
        by_shape = {tuple(o.shape or ()): o.name for o in model.outputs}
        self._scores, self._boxes = by_shape.get((1, n, 1)), by_shape.get((1, n, self.coords))
        if self._boxes is None or self._scores is None:
            raise ModelFormatError(f"{model.graph.source}: expected outputs of shapes [1, {n}, {self.coords}] and "
                                   f"[1, {n}, 1], got {[o.shape for o in model.outputs]}")

    def output_names(self) -> list[str]:
        return [self._scores, self._boxes]

    def split(self, outputs) -> tuple[np.ndarray, np.ndarray]:
        """The model's outputs -> (N scores, N x coords regressors) in anchor order."""
        scores, boxes = outputs
        return scores.reshape(-1), boxes.reshape(-1, self.coords)

    def prepare(self, x: np.ndarray) -> np.ndarray:
        """The letterboxed [-1, 1] input -> what the model takes (face detectors: as is)."""
        return x

    def raw_outputs(self, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Model input -> (N scores, N x 16 regressors), anchor order."""
        return self.split(self.model.execute(self.prepare(tensor), self.output_names()))

    def detect(self, image: np.ndarray) -> list[dict]:
        """HxWx3 uint8 image -> faces [{score, box [x0, y0, x1, y1], keypoints [[x, y] x6]}] in pixels.
        The image is letterboxed to a square first so faces keep their aspect ratio."""
        x, (side, pad_x, pad_y) = letterbox_input(image, self.input_size)
        scores, regress = self.raw_outputs(x)
        return self.postprocess(scores, regress, side, pad_x, pad_y, image.shape[1], image.shape[0])

    async def detect_async(self, image: np.ndarray) -> list[dict]:
        """`detect` through `execute_async`: on every backend, WebGPU included."""
        x, (side, pad_x, pad_y) = letterbox_input(image, self.input_size)
        scores, regress = self.split(await self.model.execute_async(self.prepare(x), self.output_names()))
        return self.postprocess(scores, regress, side, pad_x, pad_y, image.shape[1], image.shape[0])

    def postprocess(self, scores, regress, side, pad_x, pad_y, width, height) -> list[dict]:
        # MediaPipe clips raw scores to +-100 before the sigmoid (score_clipping_thresh); the
        # sigmoid runs only on anchors near or above the threshold's logit (a few of thousands)
        scores = scores.astype(np.float32).reshape(-1)
        p = min(max(self.min_score, 1e-6), 1 - 1e-6)
        near = np.flatnonzero(scores >= np.float32(math.log(p / (1 - p)) - 0.01))
        probs = sigmoid(np.clip(scores[near], -100, 100))
        keep = near[probs >= self.min_score]
        if not keep.size:
            return []
        probs = probs[probs >= self.min_score]
        boxes, kps = decode_boxes(regress[keep], self.anchors[keep], self.input_size)
        faces = []
        for score, box, kp in weighted_nms(probs, boxes, kps, self.iou_threshold, self.max_faces):
            px = box * side - np.array([pad_x, pad_y, pad_x, pad_y])
            px[[0, 2]] = np.clip(px[[0, 2]], 0, width)
            px[[1, 3]] = np.clip(px[[1, 3]], 0, height)
            kpx = kp * side - np.array([pad_x, pad_y])
            faces.append({"score": round(score, 4), "box": [round(float(v), 1) for v in px],
                          "keypoints": [[round(float(x), 1), round(float(y), 1)] for x, y in kpx]})
        return faces


class BlazeFace(SsdFaceDetector):
    """Face detector around a loaded BlazeFace GraphModel (human's TF.js conversion of
    MediaPipe's back-camera model, 256x256)."""

    @classmethod
    async def load(cls, url: str, **kw) -> "BlazeFace":
        from ..model import load_graph_model
        return cls(await load_graph_model(url), **kw)

    def output_names(self) -> list[str]:
        return list(SCORE_OUTPUTS + BOX_OUTPUTS)

    def split(self, outputs) -> tuple[np.ndarray, np.ndarray]:
        return _anchor_order(outputs)


def _anchor_order(outputs) -> tuple[np.ndarray, np.ndarray]:
    s0, s1, b0, b1 = outputs
    return np.concatenate([s0.reshape(-1), s1.reshape(-1)]), np.concatenate([b0.reshape(-1, 16), b1.reshape(-1, 16)])
