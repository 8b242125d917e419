"""Browser tests: the real page in Debian's headless Chromium, served by tools/server.py.
One Playwright + Chromium for the whole session; each test opens its own pages."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"
ARTIFACTS = ROOT / "artifacts"


SOURCES = ("py/webtensor", "kernels_wasm", "shaders", "web")


def stale_sources(stamp: Path) -> list[str]:
    """Source files changed after dist/ was built (its webtensor-build.json)."""
    built_at = stamp.stat().st_mtime
    return sorted(str(p.relative_to(ROOT)) for d in SOURCES for p in (ROOT / d).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.stat().st_mtime > built_at)


@pytest.fixture(scope="session")
def built():
    stamp = DIST / "webtensor-build.json"
    if not stamp.exists():
        pytest.fail("dist/ is not built: run `python3 build.py test` (or `python3 build.py build`) first")
    stale = stale_sources(stamp)
    if stale:       # the browser would test the old wheel and kernels
        pytest.fail(f"dist/ is older than {len(stale)} source file(s) ({', '.join(stale[:3])}...): "
                    f"run `python3 build.py build` (or `python3 build.py test`, which builds first)")
    return DIST


@pytest.fixture(scope="session")
def base_url(built):
    from tools.session import served
    with served(built) as base:
        yield base


@pytest.fixture(scope="session")
def playwright():
    """One Playwright per session (it allows no second one alongside)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(built, playwright):
    from tools.browser import launch
    b = launch(playwright)
    yield b
    b.close()


@pytest.fixture(scope="session")
def app(browser, base_url):
    """(page, base_url, console) of index.html with the worker and BlazeFace ready."""
    from tools.session import open_app
    page, console = open_app(browser, base_url)
    yield page, base_url, console
    page.close()


@pytest.fixture()
def scratch(built):
    """A folder inside the web root for files a test serves (removed afterwards)."""
    import shutil
    d = DIST / "_test"
    d.mkdir(exist_ok=True)
    yield d
    shutil.rmtree(d, ignore_errors=True)
