"""The hands pipeline (palm detection -> rotated crop -> 21 landmarks) on a photo with a hand."""
import math

import numpy as np
import pytest
from PIL import Image

from webtensor.vision.hands import HandTracker, crop_region, hand_region, _to_image

from .helpers import ROOT
from .tflite_writer import run_litert

MP = ROOT / ".cache" / "models" / "mediapipe"
LANDMARKS = ROOT / "node_modules" / "@mediapipe" / "hands"
PHOTO = ROOT / ".cache" / "samples" / "zidane.jpg"      # Zidane pointing (build.py setup, from ultralytics' wheel)


def zidane():
    return np.asarray(Image.open(PHOTO).convert("RGB"))


@pytest.fixture(scope="module")
def tracker():
    return HandTracker.read(MP / "palm_detection_lite.tflite", LANDMARKS / "hand_landmark_lite.tflite", backend="numpy")


def test_one_pointing_hand(tracker):
    hands = tracker.detect(zidane())
    assert len(hands) == 1
    h = hands[0]
    assert h["presence"] > 0.9 and len(h["landmarks"]) == 21
    pts = np.array(h["landmarks"])[:, :2]
    # the photo: the pointing index fingertip near (1150, 412), the hand between x 960 and 1160
    tip = pts[8]
    assert 1120 < tip[0] < 1175 and 395 < tip[1] < 435, tip
    assert tip[0] == pts[:, 0].max()                         # the fingertip is the rightmost point
    assert np.all((pts[:, 0] > 950) & (pts[:, 0] < 1180) & (pts[:, 1] > 380) & (pts[:, 1] < 520)), pts
    assert tracker.detect(np.asarray(Image.open(ROOT / ".cache" / "samples" / "camera.png").convert("RGB"))) == []


def test_landmarks_equal_litert_on_the_same_crop(tracker):
    img = zidane()
    (palm,) = tracker.palms.detect(img)
    crop = crop_region(img, hand_region(palm))
    want = run_litert((LANDMARKS / "hand_landmark_lite.tflite").read_bytes(), [crop])
    got = tracker.landmarks.execute(crop, tracker._outputs)
    np.testing.assert_allclose(got[0], want[0], atol=1e-3 * (1 + np.abs(want[0]).max()))
    np.testing.assert_allclose(got[1], want[1], atol=1e-3)


def test_region_geometry():
    # a palm pointing right (wrist left of the middle-finger base): rotated a quarter turn
    palm = {"box": [100, 100, 140, 140], "keypoints": [[100, 120], [0, 0], [140, 120]]}
    r = hand_region(palm)
    assert math.isclose(r["rotation"], math.pi / 2, abs_tol=1e-9)
    # shifted half the box height towards the fingers (+x), square on the long side, x2.6
    assert np.allclose(r["center"], [140, 120]) and math.isclose(r["size"], 104)
    # the crop's top edge (the fingers' side) lies to the right of the centre in the image
    x, y = _to_image(r, np.array([112.0]), np.array([0.0]), 224)
    assert np.allclose([x[0], y[0]], [140 + 52, 120])


def test_crop_samples_the_rotated_square():
    yy, xx = np.mgrid[0:200, 0:300]
    img = np.stack([xx % 256, yy % 256, np.zeros_like(xx)], -1).astype(np.uint8)
    region = {"center": [150.0, 100.0], "size": 40.0, "rotation": 0.0}
    crop = crop_region(img, region, side=40)[0] * 255
    assert np.allclose(crop[:, :, 0], np.arange(130, 170)[None, :], atol=1e-3)    # x runs 130..169
    assert np.allclose(crop[:, :, 1], np.arange(80, 120)[:, None], atol=1e-3)
    turned = crop_region(img, {**region, "rotation": math.pi / 2}, side=40)[0] * 255
    # a quarter turn: the crop's columns run down the image, its rows run right to left
    assert np.allclose(turned[:, :, 1], np.arange(80, 120)[None, :], atol=1e-3)
    assert np.allclose(turned[:, :, 0], np.arange(169, 129, -1)[:, None], atol=1e-3)
    outside = crop_region(img, {"center": [-100.0, -100.0], "size": 10.0, "rotation": 0.3}, side=8)
    assert not outside.any()                                   # beyond the image: black
