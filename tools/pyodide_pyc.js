// Compile Python sources to the bytecode of the Pyodide the page runs (CPython 3.12, here in
// node), so the browser imports webtensor without compiling it first: compiling ~9000 lines
// was most of webtensor's ~2 s import on the live page.  The .pyc files are "unchecked hash"
// ones (valid whatever the unpacked sources' timestamps), written beside the sources in
// __pycache__/ as Python looks for them.
//   node tools/pyodide_pyc.js <node_modules/pyodide> <source tree> <site-packages path>
'use strict';
const fs = require('fs');
const path = require('path');

const [pyodideDir, tree, sitePackages] = process.argv.slice(2);

function walk(dir, out = []) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.name.endsWith('.py')) out.push(path.relative(tree, p));
  }
  return out;
}

(async () => {
  const { loadPyodide } = require(path.resolve(pyodideDir, 'pyodide.js'));
  const py = await loadPyodide({ indexURL: path.resolve(pyodideDir) + path.sep });
  const files = walk(tree);
  for (const rel of files) {
    const dest = `${sitePackages}/${rel}`;
    py.FS.mkdirTree(path.posix.dirname(dest));
    py.FS.writeFile(dest, fs.readFileSync(path.join(tree, rel)));
  }
  const compiled = py.runPython(`
import importlib.util, py_compile, json
out = []
for rel in json.loads(${JSON.stringify(JSON.stringify(files))}):
    src = ${JSON.stringify(sitePackages)} + "/" + rel
    cfile = importlib.util.cache_from_source(src)
    py_compile.compile(src, cfile=cfile, doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    out.append([rel, cfile[len(${JSON.stringify(sitePackages)}) + 1:]])
json.dumps(out)
`);
  for (const [, rel] of JSON.parse(compiled)) {
    const dest = path.join(tree, rel);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, py.FS.readFile(`${sitePackages}/${rel}`));
  }
  process.stderr.write(`${JSON.parse(compiled).length} files compiled for ${py.runPython('import sys; sys.implementation.cache_tag')}\n`);
})().catch((e) => { console.error(e); process.exit(1); });
