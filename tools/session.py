"""A headless page of the app: server + Chromium + page, ready to call webtensorApp."""
from __future__ import annotations

import contextlib
from pathlib import Path

from .browser import launch
from .server import start_background

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"


@contextlib.contextmanager
def app_page(query: str = "camera=0", browser_args: list[str] | None = None, isolated: bool = True,
             ready_timeout_ms: int = 180_000):
    """Yields (page, base_url, console_lines) once the app's worker and model are ready."""
    from playwright.sync_api import sync_playwright
    server, base = start_background(DIST, isolated=isolated)
    console: list[str] = []
    try:
        with sync_playwright() as p:
            browser = launch(p, browser_args)
            try:
                page = browser.new_page()
                page.on("console", lambda m: console.append(f"[{m.type}] {m.text}"))
                page.on("pageerror", lambda e: console.append(f"[pageerror] {e}"))
                page.goto(f"{base}/index.html?{query}")
                page.wait_for_function("window.webtensorApp !== undefined", timeout=30_000)
                # `ready` rejects with the start-up error, which evaluate re-raises here
                page.evaluate(f"Promise.race([window.webtensorApp.ready, new Promise((_, rej) => "
                              f"setTimeout(() => rej(new Error('start-up took over {ready_timeout_ms} ms')), "
                              f"{ready_timeout_ms}))]).then(() => true)")
                yield page, base, console
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
