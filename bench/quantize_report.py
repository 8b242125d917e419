"""`build.py quantize-report`: int8 against float32, in one headless Chromium run.

For BlazeFace (human's blazeface.json) and MobileNetV2 (nsfwjs, layers model): the model is
quantised in the page (webtensor.quantize under Pyodide, calibrated on two versions of the
sample photo: as is, mirrored and a narrower cut), saved in TF.js form and loaded back, then float32 and int8 are timed
alternately on each wasm backend (median of --runs), and their outputs compared on five
versions of the photo (three of them not used for calibration: a crop, a darker copy and
the top part, letterboxed with a bar below): max/mean absolute error
per output, and for BlazeFace the detections (count, IoU of each int8 box with its float
box).  Weight bytes are what the saved shards hold.  Prints a table, writes JSON.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = {"blazeface": ("models/blazeface.json", False), "mobilenetv2": ("models/mobilenet_v2/model.json", True)}

CODE = """
import json, js, numpy as np, webtensor
from pyodide.http import pyfetch
from webtensor.vision import image as vi
from webtensor.vision.blazeface import BlazeFace, iou
from webtensor.quantization import compare_outputs
layers = {layers}
load = webtensor.load_layers_model if layers else webtensor.load_graph_model
fm = await load({url!r})
photo = await vi.decode_image(await (await pyfetch('samples/astronaut.png')).bytes())
views = {{'photo': photo, 'mirrored': photo[:, ::-1], 'crop': photo[100:400, 50:400],
         'darker': (photo * 0.6).astype(np.uint8), 'top part': photo[:300]}}
def model_input(im):
    if layers:
        return (vi.resize_bilinear(im, 224, 224) / np.float32(255))[None].astype(np.float32)
    return vi.to_model_input(vi.letterbox(im)[0], 256)
# calibration: the photo, mirrored, and a narrower cut (letterboxed with side bars)
cal = [model_input(views['photo']), model_input(views['mirrored']), model_input(photo[:, 64:448])]
t0 = js.performance.now()
q = webtensor.quantize(fm, cal)
quantize_ms = js.performance.now() - t0
path = webtensor.save_graph_model(q, '/tmp/quantized', {name!r})
qm = webtensor.read_graph_model(path)      # the saved files (Pyodide's file system), loaded back
import os
bytes_int8 = os.path.getsize(str(path)[:-5] + '.bin')
names = [o.name for o in fm.outputs]
acc = []
for view, im in views.items():
    x = model_input(im)
    fm.backend_name = qm.backend_name = 'numpy'
    a, b = fm.execute(x, names), qm.execute(x, names)
    row = {{'view': view, 'errors': compare_outputs(a, b, names)}}
    if layers:
        row['top1_float'], row['top1_int8'] = int(np.argmax(a[0])), int(np.argmax(b[0]))
    else:
        df, dq = BlazeFace(fm).detect(im), BlazeFace(qm).detect(im)
        row['faces_float'], row['faces_int8'] = len(df), len(dq)
        row['iou'] = [float(iou(np.array(f['box']), np.array([g['box']]))[0]) for f, g in zip(df, dq)]
    acc.append(row)
x = model_input(views['photo'])
timing = {{}}
for be in {backends}:
    if not webtensor.backends()[be]['available']:
        continue
    fm.backend_name = qm.backend_name = be
    for m in (fm, qm):
        m.predict(x); m.predict(x)
    ms = {{'float32': [], 'int8': []}}
    for _ in range({runs}):
        for kind, m in (('float32', fm), ('int8', qm)):
            t = js.performance.now(); m.predict(x); ms[kind].append(js.performance.now() - t)
    timing[be] = ms
    timing[be + ':fallbacks'] = qm.report()['fallbacks']
qm.backend_name = 'numpy'
ref = qm.execute(x, names)
for be in {backends}:
    if be in timing:
        qm.backend_name = be
        timing[be + ':vs_numpy'] = max(float(np.max(np.abs(u - v))) for u, v in zip(ref, qm.execute(x, names)))
json.dumps({{'quantize_ms': quantize_ms, 'bytes_float32': fm.weight_bytes(), 'bytes_int8': bytes_int8,
            'quantization': q.quantization, 'accuracy': acc, 'timing': timing}})
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="build.py quantize-report", description=__doc__)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--backends", default="wasm,wasm-simd,wasm-simd-threads")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "quantize.json"))
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from tools.quiet import check_quiet
    from tools.session import app_page
    check_quiet()
    backends = [b for b in args.backends.split(",") if b]
    report = {}
    with app_page() as (page, _, _):
        for name in [m for m in args.models.split(",") if m]:
            url, layers = MODELS[name]
            code = CODE.format(layers=layers, url=url, name=name, backends=backends, runs=args.runs)
            report[name] = json.loads(page.evaluate("(c) => window.webtensorApp.python(c)", code))
            print(f"  {name}: done", flush=True)
    print()
    for name, r in report.items():
        q = r["quantization"]
        print(f"{name}: {q['int8_kernels']} int8 kernels, {len(q['float_kernels'])} float; weights "
              f"{r['bytes_float32'] / 1e6:.2f} MB float32 -> {r['bytes_int8'] / 1e6:.2f} MB int8 "
              f"({r['bytes_float32'] / r['bytes_int8']:.1f}x); quantised in {r['quantize_ms'] / 1e3:.1f} s")
        head = f"  {'backend':<20}{'float32 ms':>11}{'int8 ms':>9}{'int8/f32':>9}  max |diff| vs numpy int8"
        print(head + "\n  " + "-" * (len(head) - 2))
        for be in backends:
            if be not in r["timing"]:
                continue
            f, i = statistics.median(r["timing"][be]["float32"]), statistics.median(r["timing"][be]["int8"])
            print(f"  {be:<20}{f:>11.2f}{i:>9.2f}{i / f:>9.2f}  {r['timing'][be + ':vs_numpy']:.2g}")
        for row in r["accuracy"]:
            errs = ", ".join(f"{e['output']}: max {e['max_abs_error']:.3g} mean {e['mean_abs_error']:.3g}"
                             for e in row["errors"])
            extra = (f"top-1 {row['top1_float']}/{row['top1_int8']}" if "top1_float" in row else
                     f"faces {row['faces_float']}/{row['faces_int8']} IoU {[round(v, 3) for v in row['iou']]}")
            print(f"  {row['view']:<10} {extra}; {errs}")
        print()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
