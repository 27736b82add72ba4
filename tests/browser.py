"""Open a page in headless Chromium (Debian ``chromium``) for tests: a screenshot, the DOM
after load, and what the page logged. Shared by the compare and history tests.

    from tests.browser import open_page
    page = open_page(tmp_path / "page.html", tmp_path)   # skips, or fails in CI, without chromium
    assert page.errors == [] and page.colours() > 1

Without chromium the test is skipped, except in CI (the ``CI`` variable is set), where
``.ci/run`` installs it: there a missing browser fails the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_S = 120


def chromium() -> str:
    """The browser's path; skips the test when there is none (fails when ``CI`` is set)."""
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    message = "chromium is not installed (Debian: apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(message + "; CI must have it (.ci/run installs it)")
    pytest.skip(message)


@dataclass
class Page:
    png: Path
    dom: str
    log: str
    """Chromium's stderr with ``--enable-logging=stderr``: console messages, CSP refusals."""

    @property
    def errors(self) -> list[str]:
        """Lines where the page logged something: headless Chromium logs every console
        message (errors and uncaught exceptions included) as ``INFO:CONSOLE``, and our
        pages log nothing, so each such line counts; also CSP refusals."""
        return [line for line in self.log.splitlines()
                if ":CONSOLE" in line or "Uncaught" in line or "Refused to" in line]

    def colours(self) -> int:
        """How many distinct colours the screenshot has (1 = blank)."""
        import matplotlib.image
        import numpy as np

        pixels = matplotlib.image.imread(self.png)
        return len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0))


def _flags(profile: Path) -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}",
            "--enable-logging=stderr", "--v=0"]


def open_page(html: Path, work: Path, *, size: tuple[int, int] = (1200, 900)) -> Page:
    """Load ``html`` headless: a screenshot (``work/screenshot.png``), the DOM after load and
    the browser's log. Offline: a page that fetched from the network would log errors."""
    browser = chromium()
    url = Path(html).resolve().as_uri()
    Path(work).mkdir(parents=True, exist_ok=True)
    png = Path(work) / "screenshot.png"
    profile = Path(work) / "chromium-profile"
    shot = subprocess.run(
        [browser, *_flags(profile), f"--screenshot={png}", f"--window-size={size[0]},{size[1]}",
         url], capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    dom = subprocess.run([browser, *_flags(profile), "--dump-dom", url], capture_output=True,
                         text=True, timeout=TIMEOUT_S, check=False)
    if not png.exists():
        raise AssertionError(f"chromium wrote no screenshot (exit {shot.returncode}):\n"
                             f"{shot.stderr[-2000:]}")
    return Page(png, dom.stdout, shot.stderr + "\n" + dom.stderr)
