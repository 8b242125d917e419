"""webtensor.vision.FaceDetector: MediaPipe's face detectors from their .tflite files."""
import numpy as np
import pytest
from PIL import Image

import webtensor
from webtensor.vision import FaceDetector, blazeface_anchors
from webtensor.vision.image import letterbox_input

from .helpers import ROOT, SAMPLE
from .tflite_writer import run_litert

FACE = ROOT / "node_modules" / "@mediapipe" / "face_detection"


def photo(name="astronaut.png"):
    return np.asarray(Image.open(SAMPLE.with_name(name)).convert("RGB"))


def iou(a, b):
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_anchor_layouts_are_mediapipes():
    short, full = blazeface_anchors(128, ((8, 2), (16, 6))), blazeface_anchors(192, ((4, 1),))
    assert short.shape == (896, 2) and full.shape == (2304, 2)
    np.testing.assert_allclose(short[0], [0.5 / 16, 0.5 / 16])          # cell (0, 0) of the stride-8 grid
    np.testing.assert_allclose(short[512], [0.5 / 8, 0.5 / 8])          # first stride-16 anchor
    np.testing.assert_allclose(full[49], [1.5 / 48, 1.5 / 48])          # row 1, column 1 of 48 x 48


@pytest.mark.parametrize("file,range_", [("face_detection_short_range", "short"), ("face_detection_full_range", "full"),
                                         ("face_detection_full_range_sparse", "full")])
def test_detectors_find_the_face(file, range_):
    det = FaceDetector.read(FACE / f"{file}.tflite", backend="numpy")
    assert det.range == range_ and det.min_score == (0.5 if range_ == "short" else 0.6)
    faces = det.detect(photo())
    assert len(faces) == 1
    # MediaPipe's own FaceDetector (tasks-vision, CPU) on this photo with the short-range model:
    # score 0.92, box x 177, y 82, 95 x 95 (DESIGN.md); the full-range models box the face larger
    ref = (177, 82, 272, 177)
    assert iou(faces[0]["box"], ref) >= (0.9 if range_ == "short" else 0.6), faces[0]
    if range_ == "short":
        assert abs(faces[0]["score"] - 0.92) < 0.01
    x0, y0, x1, y1 = faces[0]["box"]
    for x, y in faces[0]["keypoints"][:4]:          # eyes, nose tip, mouth inside the box
        assert x0 < x < x1 and y0 < y < y1
    assert len(det.detect(photo("camera.png"))) == 1


def test_detection_equals_litert_raw_outputs_decoded():
    """The model part equals LiteRT's: decoding LiteRT's raw outputs gives the same faces."""
    path = FACE / "face_detection_short_range.tflite"
    det = FaceDetector.read(path, backend="numpy")
    img = photo()
    x, (side, px, py) = letterbox_input(img, 128)
    boxes, scores = run_litert(path.read_bytes(), [x])
    want = det.postprocess(scores.reshape(-1), boxes.reshape(-1, 16), side, px, py, img.shape[1], img.shape[0])
    got = det.detect(img)
    assert len(got) == len(want) == 1
    np.testing.assert_allclose(got[0]["box"], want[0]["box"], atol=0.2)
    assert abs(got[0]["score"] - want[0]["score"]) < 1e-3


def test_not_a_face_detector():
    hand = ROOT / "node_modules" / "@mediapipe" / "hands" / "hand_landmark_lite.tflite"
    with pytest.raises(webtensor.ModelFormatError, match="not a MediaPipe face detector"):
        FaceDetector.read(hand)


def test_quantize_a_tflite_detector():
    """webtensor.quantize works on a .tflite model like on a graph model: int8 kernels, the face kept."""
    det = FaceDetector.read(FACE / "face_detection_short_range.tflite", backend="numpy")
    img = photo()
    views = [img, img[:, ::-1], img[:, 64:448]]
    det.model = webtensor.quantize(det.model, [letterbox_input(v, 128)[0] for v in views])
    assert det.model.quantization["int8_kernels"] > 30
    faces = det.detect(img)
    assert len(faces) == 1 and iou(faces[0]["box"], (177, 82, 272, 177)) > 0.85, faces
