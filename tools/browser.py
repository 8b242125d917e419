"""Headless Chromium (Debian's) driven by Playwright, with the flags this machine needs."""
from __future__ import annotations

import os
from pathlib import Path

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
# No network here: these stop Chromium's background connections (DESIGN.md section 2).
BASE_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", "--disable-quic", "--enable-unsafe-swiftshader",
             "--disable-dev-shm-usage", "--disable-features=" + ",".join(
                 # Chromium keeps only the last --disable-features switch, and Playwright passes its
                 # own list (these, for the pinned version) before ours: it is repeated here.
                 ["AvoidUnnecessaryBeforeUnloadCheckSync", "DestroyProfileOnBrowserClose",
                  "DialMediaRouteProvider", "GlobalMediaControls", "HttpsUpgrades", "LensOverlay",
                  "MediaRouter", "PaintHolding", "ThirdPartyStoragePartitioning",
                  "BlockOriginHeaderModificationOnRedirect", "AvoidCorsURLLoaderRestartOnRedirect",
                  "Translate", "AutoDeElevate", "OptimizationHints", "NetworkTimeServiceQuerying",
                  "AimEnabled"]
                 # Chromium 156 loads the omnibox popup's WebUI page (chrome://omnibox-popup.top-chrome)
                 # in a renderer of its own with each new page, headless too: ~0.5 s of CPU on
                 # these 2 cores in the middle of the page's start-up (seen in a trace).  Puppeteer
                 # turns both off by default for the same reason.
                 + ["WebUIOmniboxPopup", "WebUIOmniboxAimPopup"])]
# WebGPU: off by default in Chromium on Linux; with no GPU here, SwiftShader's Vulkan
# device serves it (DESIGN.md).  WEBTENSOR_WEBGPU_ADAPTER picks another adapter
# ("" leaves Chromium's choice, for a machine with a GPU).
WEBGPU_ARGS = ["--enable-unsafe-webgpu"]


def webgpu_args() -> list[str]:
    adapter = os.environ.get("WEBTENSOR_WEBGPU_ADAPTER", "swiftshader")
    return WEBGPU_ARGS + ([f"--use-webgpu-adapter={adapter}"] if adapter else [])


def find_chromium() -> str | None:
    env = os.environ.get("WEBTENSOR_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for c in CHROMIUM_CANDIDATES:
        if Path(c).exists():
            return c
    return None


def launch(playwright, extra_args: list[str] | None = None, webgpu: bool = True):
    exe = find_chromium()
    if exe is None:
        raise RuntimeError("no Chromium found: run `python3 build.py setup` or set $WEBTENSOR_CHROMIUM")
    return playwright.chromium.launch(executable_path=exe, headless=True,
                                      args=BASE_ARGS + (webgpu_args() if webgpu else []) + list(extra_args or []))
