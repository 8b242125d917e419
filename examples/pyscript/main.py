# Face detection with webtensor, in PyScript (runs on the page's main thread).
import js
from pyodide.ffi import create_proxy
from pyodide.http import pyfetch
from pyscript import document

import webtensor
from webtensor.vision import BlazeFace, decode_image
from webtensor.vision.image import rgba_to_rgb

status = document.getElementById("status")
overlay = document.getElementById("overlay")

webtensor.set_backend("wasm-simd")        # or "webgl", "wasm", "wasm-simd-threads"
detector = await BlazeFace.load("../../models/blazeface.json")


def draw(faces, width, height):
    overlay.width, overlay.height = width, height
    ctx = overlay.getContext("2d")
    ctx.clearRect(0, 0, width, height)
    ctx.lineWidth = 3
    ctx.strokeStyle = "#00e060"
    for face in faces:
        x0, y0, x1, y1 = face["box"]
        ctx.strokeRect(x0, y0, x1 - x0, y1 - y0)
        for x, y in face["keypoints"]:
            ctx.fillStyle = "#ff3060"
            ctx.fillRect(x - 2, y - 2, 4, 4)


photo = await decode_image(await (await pyfetch("../../samples/astronaut.png")).bytes(), "astronaut.png")
faces = detector.detect(photo)
draw(faces, photo.shape[1], photo.shape[0])
status.textContent = (f"{len(faces)} face(s) on the sample photo, backend {webtensor.get_backend().name}, "
                      f"score {faces[0]['score']:.2f}" if faces else "no face found")
document.body.dataset.faces = str(len(faces))


# The webcam, when the user allows it: detect on each frame.
async def use_webcam(_event):
    video = document.getElementById("video")
    video.srcObject = await js.navigator.mediaDevices.getUserMedia(js.Object.fromEntries([["video", True]]))
    await video.play()
    video.hidden = False
    document.getElementById("photo").hidden = True
    canvas = js.OffscreenCanvas.new(video.videoWidth, video.videoHeight)
    ctx = canvas.getContext("2d", js.Object.fromEntries([["willReadFrequently", True]]))

    def frame(_time):
        w, h = video.videoWidth, video.videoHeight
        ctx.drawImage(video, 0, 0, w, h)
        rgba = ctx.getImageData(0, 0, w, h).data.to_bytes()
        found = detector.detect(rgba_to_rgb(rgba, w, h))
        draw(found, w, h)
        status.textContent = f"{len(found)} face(s), webcam"
        js.requestAnimationFrame(frame_proxy)

    frame_proxy = create_proxy(frame)
    js.requestAnimationFrame(frame_proxy)


document.getElementById("webcam").onclick = create_proxy(use_webcam)
document.getElementById("webcam").disabled = False
