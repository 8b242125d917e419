"""MediaPipe's face detectors from their .tflite files (short range 128x128, full range
192x192, dense or sparse), with MediaPipe's own post-processing options.

The options are those of MediaPipe's face_detection_short_range / _full_range graphs
(SsdAnchorsCalculator and TensorsToDetectionsCalculator): short range has anchors at
strides 8 (2 per cell) and 16 (three layers of 2 merged: 6 per cell) = 896, full range
one anchor per cell at stride 4 = 2304; fixed anchor size, centres at (cell + 0.5) * stride,
regressors scaled by the input size, sigmoid scores clipped at +-100, minimum score 0.5
(short) / 0.6 (full), weighted NMS at IoU 0.3.
"""
from __future__ import annotations

from ..errors import ModelFormatError
from .blazeface import SsdFaceDetector

# range -> (input size, (stride, anchors per cell) layers, minimum score)
RANGES = {"short": (128, ((8, 2), (16, 6)), 0.5), "full": (192, ((4, 1),), 0.6)}
# `build.py detect --model NAME` and the page's detector choice: name -> (file, range)
MEDIAPIPE_FACE_MODELS = {"mediapipe-short": ("face_detection_short_range.tflite", "short"),
                         "mediapipe-full": ("face_detection_full_range.tflite", "full"),
                         "mediapipe-full-sparse": ("face_detection_full_range_sparse.tflite", "full")}


class FaceDetector(SsdFaceDetector):
    """`FaceDetector(model)` around a loaded MediaPipe face-detection .tflite model; the range
    (short or full) is read from the model's input size unless given."""

    def __init__(self, model, range: str | None = None, min_score: float | None = None,
                 iou_threshold: float = 0.3, max_faces: int = 100):
        size = model.inputs[0].shape[1] if model.inputs and model.inputs[0].shape else None
        if range is None:
            range = {128: "short", 192: "full"}.get(size)
        if range not in RANGES:
            raise ModelFormatError(f"{model.graph.source}: not a MediaPipe face detector (input size {size}); "
                                   f"pass range='short' or 'full'")
        self.range = range
        self.input_size, self.anchor_layers, default_score = RANGES[range]
        if size != self.input_size:
            raise ModelFormatError(f"{model.graph.source}: the {range}-range detector takes "
                                   f"{self.input_size}x{self.input_size} input, the model {size}")
        super().__init__(model, default_score if min_score is None else min_score, iou_threshold, max_faces)
        self.find_outputs(model)

    @classmethod
    async def load(cls, url: str, **kw) -> "FaceDetector":
        from ..model import load_tflite_model
        return cls(await load_tflite_model(url), **kw)

    @classmethod
    def read(cls, path, backend: str | None = None, **kw) -> "FaceDetector":
        from ..model import read_tflite_model
        return cls(read_tflite_model(path, backend), **kw)
