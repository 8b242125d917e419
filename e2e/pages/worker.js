// A bare Pyodide worker: installs the webtensor wheel and runs the Python it is sent.
importScripts('/pyodide/pyodide.js');
const ready = (async () => {
  const pyodide = await loadPyodide({ indexURL: new URL('/pyodide/', self.location).href });
  await pyodide.loadPackage(['micropip', 'numpy']);
  const { wheel } = await (await fetch('/webtensor-build.json')).json();
  await pyodide.pyimport('micropip').install(new URL('/' + wheel, self.location).href);
  return pyodide;
})();
self.onmessage = async (ev) => {
  const { id, code } = ev.data;
  try {
    const pyodide = await ready;
    self.postMessage({ id, ok: true, result: await pyodide.runPythonAsync(code) });
  } catch (err) {
    self.postMessage({ id, ok: false, error: String(err.message || err) });
  }
};
