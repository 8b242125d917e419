"""The project's dev server: serves one web root, cross-origin isolated.

Every response carries COOP same-origin + COEP require-corp (so the page gets
SharedArrayBuffer); nothing outside the root is ever served (403).
"""
from __future__ import annotations

import http.server
import os
import posixpath
import threading
import urllib.parse
from functools import partial
from pathlib import Path

EXTRA_TYPES = {".wasm": "application/wasm", ".mjs": "text/javascript", ".js": "text/javascript",
               ".whl": "application/zip", ".json": "application/json", ".bin": "application/octet-stream",
               ".y4m": "application/octet-stream"}


class IsolatedHandler(http.server.SimpleHTTPRequestHandler):
    isolated = True           # False serves without COOP/COEP (tests the fallback paths)
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **EXTRA_TYPES}

    def end_headers(self):
        if self.isolated:
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def _outside_root(self) -> bool:
        raw = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        parts = raw.replace("\\", "/").split("/")
        if ".." in parts or "\x00" in raw:
            return True
        root = os.path.realpath(self.directory)
        target = os.path.realpath(os.path.join(root, posixpath.normpath(raw).lstrip("/")))
        return not (target == root or target.startswith(root + os.sep))

    def send_head(self):
        if self._outside_root():
            self.send_error(403, "outside the web root")
            return None
        return super().send_head()

    def list_directory(self, path):
        self.send_error(404, "no directory listings")
        return None

    def log_message(self, fmt, *args):
        if os.environ.get("WEBTENSOR_HTTP_LOG"):
            super().log_message(fmt, *args)


def make_server(root: Path, host: str = "127.0.0.1", port: int = 0, isolated: bool = True):
    handler = partial(type("Handler", (IsolatedHandler,), {"isolated": isolated}), directory=str(root))
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def start_background(root: Path, isolated: bool = True):
    """A server on a free loopback port in a daemon thread -> (server, base_url)."""
    server = make_server(root, "127.0.0.1", 0, isolated)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def serve_forever(root: Path, host: str, port: int) -> None:
    try:
        server = make_server(root, host, port)
    except OSError as e:          # port in use, address not local: one line, not a traceback
        raise SystemExit(f"[webtensor] cannot serve on {host}:{port}: {e.strerror or e} "
                         f"(choose another with --port or --host)") from None
    print(f"[webtensor] serving {root} on http://{host}:{server.server_address[1]}/ "
          f"(cross-origin isolated; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
