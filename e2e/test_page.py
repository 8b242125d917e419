"""The page itself: detection on the sample photo, and clear error states."""
import shutil

from .conftest import ARTIFACTS, DIST


def test_sample_photo_button_draws_one_face(app):
    page, _, _ = app
    page.click("#sample")
    page.wait_for_function("document.getElementById('faces').textContent === '1'", timeout=60_000)
    faces = page.evaluate("window.webtensorApp.lastResult.faces")
    x0, y0, x1, y1 = faces[0]["box"]
    assert 150 < x0 < 200 and 50 < y0 < 100
    assert page.is_hidden("#error")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page-sample-photo.png"))


def startup_error(browser, base_url, query):
    page = browser.new_page()
    try:
        page.goto(f"{base_url}/index.html?{query}")
        page.wait_for_selector("#error:not([hidden])", timeout=120_000)
        return page.text_content("#error")
    finally:
        page.close()


def test_page_shows_a_malformed_model_instead_of_hanging(browser, base_url, scratch):
    (scratch / "broken.json").write_text('{"format": "graph-model", "modelTopology": ')
    text = startup_error(browser, base_url, "camera=0&model=_test/broken.json")
    assert "ModelFormatError" in text and "broken.json" in text


def test_page_shows_a_missing_shard(browser, base_url, scratch):
    shutil.copy(DIST / "models" / "blazeface.json", scratch / "noshard.json")
    text = startup_error(browser, base_url, "camera=0&model=_test/noshard.json")
    assert "WeightsError" in text and "blazeface.bin" in text


def test_page_refuses_a_model_from_another_origin_and_has_no_python_hook(browser, base_url):
    page = browser.new_page()
    try:
        page.goto(f"{base_url}/index.html?camera=0&backend=numpy&model=http://127.0.0.2:9/evil.json")
        page.wait_for_selector("#error:not([hidden])", timeout=60_000)
        text = page.text_content("#error")
        assert "refused" in text and "models/blazeface.json" in text
        page.evaluate("window.webtensorApp.ready.then(() => true)")      # the default model loaded instead
        assert page.evaluate("typeof window.webtensorApp.python") == "undefined"   # no ?test=1: no hook
    finally:
        page.close()


def test_detector_choice_runs_mediapipe_tflite_detectors(browser, base_url):
    """?model= a .tflite starts the page on a MediaPipe detector; the Detector select switches
    in the running worker and re-detects the image on show."""
    from tools.session import open_app
    page, _ = open_app(browser, base_url, "camera=0&backend=wasm-simd&model=models/mediapipe/face_detection_full_range.tflite")
    try:
        assert page.input_value("#detector") == "models/mediapipe/face_detection_full_range.tflite"
        page.click("#sample")
        page.wait_for_function("document.getElementById('faces').textContent === '1'", timeout=60_000)
        page.evaluate("window.webtensorApp.lastResult = null")
        page.select_option("#detector", "models/mediapipe/face_detection_short_range.tflite")
        page.wait_for_function("window.webtensorApp.lastResult !== null && "
                               "document.getElementById('status').textContent.includes('FaceDetector')", timeout=60_000)
        faces = page.evaluate("window.webtensorApp.lastResult.faces")
        assert len(faces) == 1 and abs(faces[0]["score"] - 0.92) < 0.01, faces
        assert "face_detection_short_range.tflite" in page.url
        page.select_option("#detector", "models/blazeface.json")
        page.wait_for_function("document.getElementById('status').textContent.includes('BlazeFace')", timeout=60_000)
        assert page.is_hidden("#error")
    finally:
        page.close()


def test_page_shows_a_broken_tflite_file(browser, base_url, scratch):
    (scratch / "broken.tflite").write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 40)
    text = startup_error(browser, base_url, "camera=0&model=_test/broken.tflite")
    assert "broken.tflite" in text and "ModelFormatError" in text
