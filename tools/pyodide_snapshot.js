// A memory snapshot of a booted Pyodide, made at build time in node: the page's worker
// restores it (loadPyodide's `_loadSnapshot`) instead of initialising Python, which was
// most of its start-up (Pyodide ready: ~4.5 s -> ~1.4 s measured in headless Chromium here).
// Before saving, the interpreter imports the pure-Python standard modules that the page's
// start-up imports anyway (Pyodide's package loader for numpy, the worker's sysconfig
// call, numpy's and webtensor's own imports: ctypes alone was ~50 ms), so the page does not
// run them again.
// Pyodide 0.27's snapshot holds no dynamically loaded library, so numpy (a set of wasm side
// modules) still loads at run time; the snapshot must hold no JS reference either, checked
// here.  Only the Pyodide build that made it can restore it (its build id is checked on load).
//   node tools/pyodide_snapshot.js <node_modules/pyodide> <output file>
'use strict';
const fs = require('fs');
const path = require('path');

const [pyodideDir, out] = process.argv.slice(2);

// Standard modules only: no extension module outside the main wasm, nothing that keeps a
// JS object (such a reference could not be restored).
const PREIMPORTS = [
  'sysconfig', 'json', 'dataclasses', 'hashlib', 'base64', 'weakref', 'functools', 'typing',
  'pathlib', 'platform', 'pickle', 'numbers', 'datetime', 'csv', 'tarfile', 'zipfile', 'email.message',
  'email.parser', 'importlib.metadata', 'urllib.parse', '__future__', 'ctypes',
];

(async () => {
  const { loadPyodide } = require(path.resolve(pyodideDir, 'pyodide.js'));
  const py = await loadPyodide({ indexURL: path.resolve(pyodideDir) + path.sep, _makeSnapshot: true });
  py.runPython(PREIMPORTS.map((m) => `import ${m}`).join('\n'));
  const snapshot = py.makeMemorySnapshot();
  // header: [magic, offset of the memory image, JSON length, 0, build id x8], then the JSON
  // of the JS references the interpreter held: every one must be absent (null)
  const words = new Uint32Array(snapshot.buffer, snapshot.byteOffset, 4);
  const json = new TextDecoder().decode(snapshot.subarray(48, 48 + words[2]));
  const state = JSON.parse(json);
  if (state.hiwireKeys.some((k) => k !== null) || state.immortalKeys.length) {
    throw new Error(`the snapshot would hold JS references: ${json.slice(0, 200)}`);
  }
  fs.writeFileSync(out, snapshot);
  process.stderr.write(`Pyodide memory snapshot: ${(snapshot.length / 2 ** 20).toFixed(1)} MiB, ` +
                       `${PREIMPORTS.length} standard modules imported\n`);
})().catch((e) => { console.error(e); process.exit(1); });
