"""BlazeFace anchors, decoding and weighted NMS on synthetic raw outputs."""
import numpy as np
import pytest

from webtensor.vision import blazeface_anchors, decode_boxes, weighted_nms
from webtensor.vision.blazeface import BlazeFace
from webtensor.vision.image import letterbox, to_model_input


def test_anchor_layout():
    a = blazeface_anchors()
    assert a.shape == (896, 2)
    # stride 16: 16x16 cells, 2 anchors each, centres at (cell + .5) / 16
    np.testing.assert_allclose(a[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[1], a[0])
    np.testing.assert_allclose(a[2], [1.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[511], [15.5 / 16, 15.5 / 16])
    # stride 32: 8x8 cells, 6 anchors each
    np.testing.assert_allclose(a[512:518], np.tile([0.5 / 8, 0.5 / 8], (6, 1)))
    np.testing.assert_allclose(a[-1], [7.5 / 8, 7.5 / 8])


def test_decode_offsets_scale_by_input_size():
    anchors = np.array([[0.5, 0.5]], np.float32)
    raw = np.zeros((1, 16), np.float32)
    raw[0, :4] = [25.6, -25.6, 51.2, 102.4]        # dx, dy, w, h in input pixels (256)
    raw[0, 4:6] = [12.8, 0]
    boxes, kps = decode_boxes(raw, anchors)
    np.testing.assert_allclose(boxes[0], [0.6 - 0.1, 0.4 - 0.2, 0.6 + 0.1, 0.4 + 0.2], atol=1e-6)
    np.testing.assert_allclose(kps[0, 0], [0.55, 0.5], atol=1e-6)
    np.testing.assert_allclose(kps[0, 1], [0.5, 0.5], atol=1e-6)


def test_weighted_nms_merges_overlaps_and_keeps_separate_faces():
    boxes = np.array([[0.1, 0.1, 0.3, 0.3], [0.12, 0.1, 0.32, 0.3], [0.6, 0.6, 0.8, 0.8]], np.float32)
    kps = np.zeros((3, 6, 2), np.float32)
    kps[:, :, 0] = boxes[:, :1]
    scores = np.array([0.9, 0.6, 0.8], np.float32)
    out = weighted_nms(scores, boxes, kps, iou_threshold=0.3)
    assert len(out) == 2
    score, box, kp = out[0]
    assert score == np.float32(0.9)                      # the best score is kept
    want = (boxes[0] * 0.9 + boxes[1] * 0.6) / 1.5       # boxes averaged by score
    np.testing.assert_allclose(box, want, atol=1e-6)
    np.testing.assert_allclose(kp[0, 0], want[0], atol=1e-6)
    np.testing.assert_allclose(out[1][1], boxes[2])


class FakeModel:
    """Raw outputs that place one face at cell (3, 3) of the stride-32 layer."""
    ANCHOR = 512 + (3 * 8 + 3) * 6
    def __init__(self):
        self.scores = np.full(896, -10.0, np.float32)
        self.regress = np.zeros((896, 16), np.float32)
        self.scores[self.ANCHOR] = 3.0
        self.regress[self.ANCHOR, 2:4] = [64, 64]   # 64 px square in 256-space

    def execute(self, x, names):
        assert x.shape == (1, 256, 256, 3)
        s, r = self.scores, self.regress
        return [s[:512].reshape(1, 512, 1), s[512:].reshape(1, 384, 1),
                r[:512].reshape(1, 512, 16), r[512:].reshape(1, 384, 16)]


def test_detect_maps_back_through_the_letterbox():
    det = BlazeFace(FakeModel())
    faces = det.detect(np.zeros((100, 200, 3), np.uint8))   # letterboxed into 200x200, pad_y = 50
    assert len(faces) == 1
    f = faces[0]
    cx = 3.5 / 8 * 200
    cy = 3.5 / 8 * 200 - 50
    half = 64 / 256 * 200 / 2
    np.testing.assert_allclose(f["box"], [cx - half, cy - half, cx + half, cy + half], atol=0.11)
    assert abs(f["score"] - 1 / (1 + np.exp(-3))) < 1e-3


def test_preprocessing_matches_tfjs_convention():
    img = np.full((10, 10, 3), 255, np.uint8)
    x = to_model_input(img, 256)
    assert x.shape == (1, 256, 256, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x, 1.0)
    sq, (side, px, py) = letterbox(np.zeros((3, 5, 3), np.uint8))
    assert sq.shape == (5, 5, 3) and (side, px, py) == (5.0, 0.0, 1.0)


def test_images_beyond_the_size_limits_are_refused_before_they_are_expanded():
    """Issue 17 (4): a tiny PNG declaring 20000x3 pixels (266 bytes) is refused by its aspect,
    a 9000x6000 one by its pixel count, each with an ImageDecodeError naming the image."""
    import asyncio
    import io

    from PIL import Image

    from webtensor.errors import ImageDecodeError
    from webtensor.vision.image import decode_image

    for size, why in [((20000, 3), "more than 32:1"), ((9000, 6000), "megapixels")]:
        buf = io.BytesIO()
        Image.new("RGB", size).save(buf, "PNG")
        with pytest.raises(ImageDecodeError, match=f"huge.png: .*{why}"):
            asyncio.run(decode_image(buf.getvalue(), "huge.png"))


@pytest.mark.parametrize("shape", [(100, 200, 3), (301, 120, 3), (64, 64, 3), (5, 9, 4)])
def test_letterbox_input_equals_letterbox_then_resize(shape):
    """The detector's input is gathered without building the square: bit-identical."""
    from webtensor.vision.image import letterbox_input
    img = np.random.default_rng(3).integers(0, 256, shape).astype(np.uint8)
    want = to_model_input(letterbox(img)[0], 256)
    got, meta = letterbox_input(img, 256)
    np.testing.assert_array_equal(got, want)
    assert meta == letterbox(img)[1]


def _independent_bilinear_input(img: np.ndarray, size: int) -> np.ndarray:
    """BlazeFace's input as human feeds it, written out per output pixel in float64 from
    the definitions (TF ResizeBilinear without corner alignment or half-pixel centres:
    source = dst * in / out, clamped neighbour, linear weights; then x / 127.5 - 1),
    sharing no code with webtensor.vision."""
    h, w = img.shape[:2]
    out = np.empty((size, size, 3))
    for oy in range(size):
        sy = oy * h / size
        y0 = int(np.floor(sy))
        y1, fy = min(y0 + 1, h - 1), sy - y0
        for ox in range(size):
            sx = ox * w / size
            x0 = int(np.floor(sx))
            x1, fx = min(x0 + 1, w - 1), sx - x0
            top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
            bottom = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
            out[oy, ox] = top * (1 - fy) + bottom * fy
    return out / 127.5 - 1.0


@pytest.mark.parametrize("shape", [(97, 131, 3), (256, 256, 3), (300, 200, 3)])
def test_preprocessing_matches_an_independent_reference(shape):
    """On non-constant images (an all-255 image passes with any normalisation)."""
    img = np.random.default_rng(11).integers(0, 256, shape).astype(np.uint8)
    img[: shape[0] // 3] = 255                       # flat, edge and noise regions
    got = to_model_input(img, 64)[0]
    want = _independent_bilinear_input(img.astype(np.float64), 64)
    np.testing.assert_allclose(got, want, atol=2e-5)
    assert got.min() < -0.9 and got.max() > 0.99  # the full [-1, 1] range is used
