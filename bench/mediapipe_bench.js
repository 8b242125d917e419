// The MediaPipe peer: @mediapipe/tasks-vision 1.1.0 (npm), its FaceDetector with the CPU
// delegate running the same .tflite file (plus the image metadata Tasks requires, added by
// tools/tflite_metadata.py) on the same photo as webtensor's FaceDetector.  Each timed call
// is a whole detect(): image to tensor, inference, decoding and NMS, as webtensor's is.
import { FaceDetector, FilesetResolver } from '../mediapipe/vision_bundle.mjs';

let detector = null, image = null;

window.bench = {
  async setup({ modelUrl, imageUrl, minScore }) {
    const fileset = await FilesetResolver.forVisionTasks(new URL('../mediapipe/wasm', location.href).href);
    image = await createImageBitmap(await (await fetch(imageUrl)).blob());
    const t0 = performance.now();
    detector = await FaceDetector.createFromOptions(fileset, {
      baseOptions: { modelAssetPath: modelUrl, delegate: 'CPU' }, runningMode: 'IMAGE',
      minDetectionConfidence: minScore, minSuppressionThreshold: 0.3 });
    const loadMs = performance.now() - t0;
    const t1 = performance.now();
    const first = detector.detect(image);
    const firstMs = performance.now() - t1;
    document.getElementById('status').textContent = 'MediaPipe Tasks ready';
    return { load_ms: loadMs, first_ms: firstMs, detections: this.boxes(first),
             simd: WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0,
                                                        10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11])) };
  },
  boxes(result) {
    return result.detections.map((d) => ({ score: d.categories[0].score,
      box: [d.boundingBox.originX, d.boundingBox.originY, d.boundingBox.originX + d.boundingBox.width,
            d.boundingBox.originY + d.boundingBox.height] }));
  },
  async time(n) {
    const ms = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      detector.detect(image);
      ms.push(performance.now() - t);
    }
    return ms;
  },
  detections() { return this.boxes(detector.detect(image)); },
};
