"""Fetching model files: `fetch` in the browser (Pyodide), files or urllib in CPython."""
from __future__ import annotations

import asyncio
import sys
import urllib.parse
from pathlib import Path

IN_BROWSER = sys.platform == "emscripten"


def join_url(base: str, relative: str) -> str:
    """Resolve a shard path against model.json's location (URL or file path)."""
    if "://" in base:
        return urllib.parse.urljoin(base, relative)
    return str(Path(base).parent / relative)


async def fetch_bytes(url: str) -> bytes:
    """The bytes at `url`; raises OSError (with the URL) when it cannot be read."""
    if IN_BROWSER:
        from pyodide.http import pyfetch
        try:
            resp = await pyfetch(url)
        except Exception as e:  # network failure surfaces as a JS error
            raise OSError(f"cannot fetch {url}: {e}") from None
        if not resp.ok:
            raise OSError(f"cannot fetch {url}: HTTP {resp.status}")
        return await resp.bytes()
    if url.startswith(("http://", "https://")):
        import urllib.request     # here, not at the top: it pulls http.client, email, ssl
        # (~200 ms of a ~600 ms webtensor import in Pyodide, which never takes this path)

        def get():
            with urllib.request.urlopen(url, timeout=60) as r:
                return r.read()
        try:
            return await asyncio.to_thread(get)
        except Exception as e:
            raise OSError(f"cannot fetch {url}: {e}") from None
    return read_file(url)


def read_file(url: str) -> bytes:
    path = url[len("file://"):] if url.startswith("file://") else url
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise OSError(f"cannot read {path}: {e.strerror or e}") from None
