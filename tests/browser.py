"""Render an HTML file in headless Chromium (Debian's `chromium`, installed by `make test`) and report what a
reader would see: every section's size and every image's loaded and laid-out size, read from the page itself.

Chromium runs twice, both offline (`--disable-background-networking`, file:// only): `--dump-dom` on a copy
of the page with a small script that writes its measurements into the DOM after `load`, and `--screenshot`
of the page as is, kept under `.test-artifacts/` (or $MLOPS_TEST_ARTIFACTS) for people to look at.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--hide-scrollbars", "--virtual-time-budget=10000"]
PROBE = """<script>
window.addEventListener('load', () => {
  const box = e => e.getBoundingClientRect();
  const images = [...document.images].map(i => ({alt: i.alt, complete: i.complete, naturalWidth: i.naturalWidth,
    naturalHeight: i.naturalHeight, width: box(i).width, height: box(i).height,
    visible: getComputedStyle(i).visibility !== 'hidden' && getComputedStyle(i).display !== 'none'}));
  const sections = [...document.querySelectorAll('section')].map(s => ({id: s.id,
    title: (s.querySelector('h2') || {}).textContent, height: box(s).height, width: box(s).width}));
  const out = document.createElement('pre');
  out.id = 'render-check';
  out.textContent = JSON.stringify({title: document.title, images, sections});
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not found:
        pytest.skip("chromium is not installed (make test installs Debian's chromium)")
    return found


def artifacts_dir() -> Path:
    path = Path(os.environ.get("MLOPS_TEST_ARTIFACTS", REPO / ".test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def render(page: Path, screenshot_name: str, workdir: Path, height: int = 6000) -> dict:
    """Measurements of `page` as rendered by Chromium; the screenshot goes to the artifacts directory."""
    browser = chromium()
    probed = workdir / f"probed-{page.name}"
    text = page.read_text(encoding="utf-8")
    probed.write_text(text.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    profile = workdir / "chromium-profile"
    env = {**os.environ, "HOME": str(workdir)}
    dom = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", probed.resolve().as_uri()],
                         capture_output=True, text=True, timeout=180, env=env)
    match = re.search(r'<pre id="render-check">(.*?)</pre>', dom.stdout, re.S)
    assert match, f"chromium rendered no measurements (rc {dom.returncode}): {dom.stderr[-2000:]}"
    result = json.loads(html.unescape(match.group(1)))
    shot = artifacts_dir() / screenshot_name
    subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
                    f"--window-size=1280,{height}", page.resolve().as_uri()],
                   capture_output=True, text=True, timeout=180, env=env)
    assert shot.is_file() and shot.stat().st_size > 10_000, f"no screenshot at {shot}"
    result["screenshot"] = str(shot)
    return result


def assert_all_visible(result: dict, sections: list[str]) -> None:
    """Each named section is laid out with a size, and every image decoded and shows at a non-zero size."""
    laid_out = {s["id"]: s for s in result["sections"]}
    for section in sections:
        assert section in laid_out, f"section {section} missing: {sorted(laid_out)}"
        assert laid_out[section]["height"] > 20 and laid_out[section]["width"] > 100, laid_out[section]
    assert result["images"], "no images on the page"
    for image in result["images"]:
        assert image["complete"] and image["naturalWidth"] > 0 and image["naturalHeight"] > 0, image
        assert image["visible"] and image["width"] > 0 and image["height"] > 0, image
