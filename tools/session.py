"""Headless sessions of the app: a server, a Chromium, and the page with its worker ready."""
from __future__ import annotations

import contextlib
from pathlib import Path

from .browser import launch
from .server import start_background

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"


@contextlib.contextmanager
def served(root: Path = DIST, isolated: bool = True):
    """The web root on a free loopback port -> base URL."""
    server, base = start_background(root, isolated=isolated)
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def chromium(browser_args: list[str] | None = None):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = launch(p, browser_args)
        try:
            yield browser
        finally:
            browser.close()


def open_app(browser, base: str, query: str = "camera=0&backend=numpy", ready_timeout_ms: int = 180_000, context=None):
    """Open index.html with its test hook (?test=1); return (page, console lines) once the
    worker and model are ready.
    The default query starts the page on numpy (the page alone picks the fastest backend):
    tests and tools choose backends explicitly.  If start-up fails, the page's own error
    is raised here."""
    page = (context or browser).new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"[{m.type}] {m.text}"))
    page.on("pageerror", lambda e: console.append(f"[pageerror] {e}"))
    page.goto(f"{base}/index.html?{query}&test=1")      # test=1: the run-Python hook tools and tests use
    page.wait_for_function("window.webtensorApp !== undefined", timeout=30_000)
    page.evaluate(f"Promise.race([window.webtensorApp.ready, new Promise((_, rej) => "
                  f"setTimeout(() => rej(new Error('start-up took over {ready_timeout_ms} ms')), "
                  f"{ready_timeout_ms}))]).then(() => true)")
    return page, console


@contextlib.contextmanager
def app_page(query: str = "camera=0&backend=numpy", browser_args: list[str] | None = None, isolated: bool = True):
    """Standalone: server + browser + ready page -> (page, base_url, console)."""
    with served(DIST, isolated) as base, chromium(browser_args) as browser:
        page, console = open_app(browser, base, query)
        yield page, base, console


def startup_visit(context, base: str, query: str = "camera=0&backend=wasm-simd-threads", snapshot_route=None) -> dict:
    """One visit of the live page in `context` (a fresh context: a cold visit; the same one
    again: a second visit, its HTTP cache warm): the page's start-up record once the sample
    photo's detection is drawn -> {"stages": [[name, ms since navigation], ...], "readyMs",
    "pyodideBoot"}."""
    page = context.new_page()
    if snapshot_route is not None:
        page.route("**/pyodide-snapshot.bin", snapshot_route)
    try:
        page.goto(f"{base}/index.html?{query}&test=1")
        page.wait_for_function("window.webtensorApp !== undefined", timeout=30_000)
        page.evaluate("window.webtensorApp.ready.then(() => true)")
        page.click("#sample")
        page.wait_for_function("window.webtensorApp.startup.readyMs !== undefined", timeout=120_000)
        startup = page.evaluate("window.webtensorApp.startup")
        page.evaluate("window.webtensorApp.cacheWritten?.()")    # for the next visit (not timed)
        return startup
    finally:
        page.close()
