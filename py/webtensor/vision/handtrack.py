"""Hand boxes from `handtrack` (human 3.3's hand detector: an SSD from the TF object-detection
API, with a preprocessing while-loop and a 7-way class head), decoded as human decodes it.

human runs the model up to its raw outputs (`Postprocessor/Slice`: 7 class scores per anchor,
`Postprocessor/ExpandDims_1`: one [y0, x0, y1, x1] box per anchor, both normalised), drops the
`face` class, takes each anchor's best class, and keeps boxes by TF's non-max suppression
(IoU 0.2, score > 0.5, at most max_hands + 1), best first.  The image is resized to the
model's input without keeping its aspect ratio, as human (and the model's own preprocessing
loop) does.  The model's full signature (its own 100-box NMS post-processor) runs too:
`model.execute_async(x)`.

One difference from human, deliberate: human labels a detection with its class list *before*
removing `face` (so its `tip` and `pinchtip` come out as `face` and `tip`); here the label is the
class the score belongs to.
"""
from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError
from ..ops.control import non_max_suppression
from .image import check_image_size, resize_bilinear

CLASSES = ("hand", "fist", "pinch", "point", "face", "tip", "pinchtip")
FACE = CLASSES.index("face")
RAW_OUTPUTS = ("StatefulPartitionedCall/Postprocessor/Slice", "StatefulPartitionedCall/Postprocessor/ExpandDims_1")
BOX_EXPAND = 1.4          # human's detectorExpandFact: the region its landmark model would look at


class HandDetector:
    """`detect(image)` -> hands, best first, each {score, label, box [x0, y0, x1, y1] in image
    pixels, box_raw [x, y, w, h] normalised and expanded 1.4x (human's boxRaw)}."""

    def __init__(self, model, min_score: float = 0.5, iou_threshold: float = 0.2, max_hands: int = 2):
        self.model = model
        self.min_score, self.iou_threshold, self.max_hands = float(min_score), float(iou_threshold), int(max_hands)
        shape = model.inputs[0].shape if model.inputs else None
        if not shape or len(shape) != 4 or shape[1] < 1 or shape[2] < 1:
            raise ModelFormatError(f"{model.graph.source}: not the handtrack model (input shape {shape})")
        self.input_height, self.input_width = int(shape[1]), int(shape[2])
        names = {n.name for n in model.graph.nodes}
        missing = [o for o in RAW_OUTPUTS if o not in names]
        if missing:
            raise ModelFormatError(f"{model.graph.source}: not the handtrack model (no {missing[0]!r})")

    @property
    def input_size(self) -> int:
        return self.input_height

    @classmethod
    async def load(cls, url: str, **kw) -> "HandDetector":
        from ..model import load_graph_model
        return cls(await load_graph_model(url), **kw)

    @classmethod
    def read(cls, path, backend: str | None = None, **kw) -> "HandDetector":
        from ..model import read_graph_model
        return cls(read_graph_model(path, backend), **kw)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 -> 1 x H x W x 3 uint8 at the model's input size (bilinear, TF's
        ResizeBilinear defaults, cast by truncation as human's tf.cast does)."""
        if image.ndim != 3 or image.shape[2] < 3:
            raise ModelFormatError(f"expected an HxWx3 image, got shape {list(image.shape)}")
        check_image_size(image.shape[1], image.shape[0])
        resized = resize_bilinear(image[:, :, :3], self.input_height, self.input_width)
        return np.clip(np.trunc(resized), 0, 255).astype(np.uint8)[None]

    def decode(self, scores: np.ndarray, boxes: np.ndarray, width: int, height: int) -> list[dict]:
        scores = np.asarray(scores, np.float32).reshape(-1, len(CLASSES))
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        kept = [c for c in range(len(CLASSES)) if c != FACE]
        per_class = scores[:, kept]
        best, which = per_class.max(axis=1), per_class.argmax(axis=1)
        picked, _, _ = non_max_suppression(boxes, best, self.max_hands + 1, self.iou_threshold, self.min_score)
        hands = []
        for i in picked.tolist():
            y0, x0, y1, x1 = (float(v) for v in boxes[i])
            x, y, w, h = x0, y0, x1 - x0, y1 - y0
            ew, eh = w * BOX_EXPAND, h * BOX_EXPAND
            hands.append({"score": float(best[i]), "label": CLASSES[kept[int(which[i])]],
                          "box": [x0 * width, y0 * height, x1 * width, y1 * height],
                          "box_raw": [x - (ew - w) / 2, y - (eh - h) / 2, ew, eh], "keypoints": []})
        hands.sort(key=lambda d: -d["score"])
        return hands[:self.max_hands]

    def detect(self, image: np.ndarray) -> list[dict]:
        scores, boxes = self.model.execute(self.prepare(image), list(RAW_OUTPUTS))
        return self.decode(scores, boxes, image.shape[1], image.shape[0])

    async def detect_async(self, image: np.ndarray) -> list[dict]:
        """`detect` through `execute_async` (every backend, WebGPU included)."""
        scores, boxes = await self.model.execute_async(self.prepare(image), list(RAW_OUTPUTS))
        return self.decode(scores, boxes, image.shape[1], image.shape[0])
