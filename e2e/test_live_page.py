"""The live page with a fake webcam (a y4m made from the sample photo) in headless Chromium."""

import numpy as np
import pytest

from tests.helpers import ROOT, SAMPLE
from tools.fakecam import photo_frame, write_y4m

from .conftest import ARTIFACTS

HAND_PHOTO = ROOT / ".cache" / "samples" / "zidane.jpg"
# where BlazeFace finds the astronaut's face in the 512x512 photo (CPython, numpy backend)
PHOTO_FACE = (174.9, 76.1, 277.0, 178.2)


def iou(a, b):
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])
    return inter / (area(a) + area(b) - inter)


@pytest.fixture(scope="module")
def camera(tmp_path_factory, built, playwright):
    frame, (scale, ox, oy) = photo_frame(SAMPLE)
    y4m = write_y4m(tmp_path_factory.mktemp("cam") / "astronaut.y4m", frame)
    expected = [PHOTO_FACE[0] * scale + ox, PHOTO_FACE[1] * scale + oy, PHOTO_FACE[2] * scale + ox,
                PHOTO_FACE[3] * scale + oy]
    from tools.browser import launch
    browser = launch(playwright, ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                                  f"--use-file-for-fake-video-capture={y4m}"])
    yield browser, expected
    browser.close()


def wait_frames(page, n, timeout=180_000):
    page.wait_for_function(f"window.webtensorApp.frames >= {n}", timeout=timeout)


def test_live_camera_detection_backend_switch_and_flat_memory(camera, base_url):
    browser, expected = camera
    page = browser.new_page()
    try:
        page.goto(f"{base_url}/index.html")               # camera starts by itself
        page.wait_for_function("window.webtensorApp !== undefined")
        page.evaluate("window.webtensorApp.ready.then(() => true)")
        wait_frames(page, 3)
        res = page.evaluate("window.webtensorApp.lastResult")
        # the page starts on the fastest backend it has (cross-origin isolated: threads)
        assert res["backend"] == "wasm-simd-threads" and page.input_value("#backend") == "wasm-simd-threads"
        assert (res["width"], res["height"]) == (640, 480)
        assert len(res["faces"]) == 1 and iou(res["faces"][0]["box"], expected) > 0.6, (res, expected)
        assert float(page.text_content("#fps")) > 0
        assert page.text_content("#camera-state") == "on"
        # the memory panel updates
        n0 = page.evaluate("window.webtensorApp.memoryUpdates")
        page.wait_for_function(f"window.webtensorApp.memoryUpdates > {n0 + 1}", timeout=10_000)
        assert page.text_content("#mem-tensors") != "–"
        # switching backend keeps detecting
        page.select_option("#backend", "wasm-simd")
        page.wait_for_function("window.webtensorApp.lastResult.backend === 'wasm-simd'", timeout=30_000)
        start = page.evaluate("window.webtensorApp.frames")
        wait_frames(page, start + 5)
        res = page.evaluate("window.webtensorApp.lastResult")
        assert len(res["faces"]) == 1 and iou(res["faces"][0]["box"], expected) > 0.6
        # after 300 frames nothing grows: tensors, bytes, wasm heap
        page.wait_for_function("window.webtensorApp.memory.backends['wasm-simd'] !== undefined", timeout=10_000)
        m0 = page.evaluate("window.webtensorApp.memory")
        wait_frames(page, start + 300, timeout=300_000)
        page.wait_for_function(f"window.webtensorApp.memoryUpdates > {page.evaluate('window.webtensorApp.memoryUpdates')}")
        m1 = page.evaluate("window.webtensorApp.memory")
        assert (m1["num_tensors"], m1["num_bytes"]) == (m0["num_tensors"], m0["num_bytes"])
        assert m1["backends"]["wasm-simd"]["heap_used_bytes"] == m0["backends"]["wasm-simd"]["heap_used_bytes"]
        # the profile panel: one inference, per-op times
        prof = page.evaluate("window.webtensorApp.runProfile()")
        assert prof["backend"] == "wasm-simd" and len(prof["kernels"]) >= 40   # BlazeFace: 44 calls, 32 separable
        assert prof["kernels"][0]["ms"] >= prof["kernels"][-1]["ms"] and "run_op" in prof["timing"]
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "live-page-camera.png"), full_page=True)
    finally:
        page.close()


def test_camera_denied_offers_the_image_input(browser, base_url):
    context = browser.new_context()                     # no camera permission, no fake device
    page = context.new_page()
    try:
        page.goto(f"{base_url}/index.html")
        page.wait_for_selector("#error:not([hidden])", timeout=60_000)
        text = page.text_content("#error")
        assert "camera" in text and "Open an image" in text
        assert page.text_content("#camera-state") == "unavailable"
        # the image path still works
        page.evaluate("window.webtensorApp.ready.then(() => true)")
        page.set_input_files("#file", str(SAMPLE))
        page.wait_for_function("document.getElementById('faces').textContent === '1'", timeout=60_000)
        faces = page.evaluate("window.webtensorApp.lastResult.faces")
        assert iou(faces[0]["box"], PHOTO_FACE) > 0.8
    finally:
        context.close()


def test_live_hands_from_the_camera(built, playwright, base_url, tmp_path):
    """The hands pipeline on the page's live camera: a fake webcam showing the pointing hand of
    the hand photo (its right part, 640x480, unscaled); 21 landmarks per hand drawn each frame."""
    from PIL import Image
    from tools.browser import launch
    frame = np.asarray(Image.open(HAND_PHOTO).convert("RGB"))[180:660, 640:1280]
    y4m = write_y4m(tmp_path / "hand.y4m", np.ascontiguousarray(frame))
    browser = launch(playwright, ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                                  f"--use-file-for-fake-video-capture={y4m}"])
    try:
        page = browser.new_page()
        page.goto(f"{base_url}/index.html?model=models/mediapipe/hand_landmark_lite.tflite")
        page.wait_for_function("window.webtensorApp !== undefined")
        page.evaluate("window.webtensorApp.ready.then(() => true)")
        wait_frames(page, 3)
        res = page.evaluate("window.webtensorApp.lastResult")
        assert res["kind"] == "hands" and len(res["connections"]) == 21
        assert len(res["faces"]) == 1 and len(res["faces"][0]["keypoints"]) == 21, res["faces"]
        tip = res["faces"][0]["keypoints"][8]          # the index fingertip: (1150, 412) in the photo
        assert 480 < tip[0] < 535 and 215 < tip[1] < 255, tip
        assert page.text_content("#faces") == "1"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "live-page-hands.png"), full_page=True)
    finally:
        browser.close()
