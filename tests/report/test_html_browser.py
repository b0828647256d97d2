"""The HTML report in a real browser: a headless Chromium opens the single file, every image loads with a
non-zero size and the page logs no error.

The browser is the system Chromium (``apt-get install chromium``; playwright's own browser download is
not needed): ``LIPS_BROWSER=/path/to/chrome`` picks another one. Without a browser the test is skipped
with that reason. A probe script is put into a copy of the page; after the ``load`` event it writes, into
the DOM that ``--dump-dom`` prints, each image's state and every error the page raised (``console.error``,
uncaught exceptions, resources that failed to load). The first test shows that the probe catches a broken
image and a console error, so a clean result of the second means something.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

_PROBE = """<script>
window.__lipsErrors = [];
(function () {
  var original = console.error;
  console.error = function () {
    window.__lipsErrors.push("console.error: " + Array.from(arguments).join(" "));
    original.apply(console, arguments);
  };
})();
window.addEventListener("error", function (ev) {
  var t = ev.target;
  window.__lipsErrors.push(t && t.tagName ? "failed to load " + t.tagName + " " + String(t.src || t.href).slice(0, 60)
                                          : "error: " + ev.message);
}, true);
window.addEventListener("unhandledrejection", function (ev) { window.__lipsErrors.push("rejection: " + ev.reason); });
window.addEventListener("load", function () {
  var images = Array.from(document.images).map(function (img) {
    var box = img.getBoundingClientRect();
    return {alt: img.alt, complete: img.complete, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight,
            width: box.width, height: box.height};
  });
  var pre = document.createElement("pre");
  pre.id = "lips-probe";
  pre.textContent = JSON.stringify({images: images, errors: window.__lipsErrors});
  document.body.appendChild(pre);
});
</script>"""


def find_browser() -> str | None:
    """A headless-capable Chromium/Chrome: ``$LIPS_BROWSER`` or the first of the usual names on PATH."""
    explicit = os.environ.get("LIPS_BROWSER")
    if explicit:
        return explicit if Path(explicit).is_file() or shutil.which(explicit) else None
    return next((path for name in _BROWSERS if (path := shutil.which(name))), None)


@pytest.fixture(scope="module")
def browser() -> str:
    path = find_browser()
    if path is None:
        pytest.skip(
            "no headless browser: install Chromium (apt-get install chromium) or set LIPS_BROWSER=/path/to/chrome"
        )
    return path


def _chromium(browser: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",  # root in containers/CI
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--virtual-time-budget=10000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )


def probe(browser: str, page: Path) -> tuple[dict, str]:
    """Open ``page`` (a copy with the probe script) in ``browser``; return the probe's result and stderr."""
    html = page.read_text(encoding="utf-8")
    probed = page.with_name(page.stem + ".probe.html")
    head = html.index("<head>") + len("<head>")
    probed.write_text(html[:head] + _PROBE + html[head:], encoding="utf-8")
    result = _chromium(browser, "--dump-dom", probed.as_uri())
    match = re.search(r'<pre id="lips-probe">(.*?)</pre>', result.stdout, re.S)
    assert match, f"the browser did not run the page's load event (exit {result.returncode}): {result.stderr[-2000:]}"
    text = match.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return json.loads(text), result.stderr


def test_the_probe_sees_a_broken_image_and_a_console_error(browser, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
        '<img src="data:image/png;base64,iVBORw0KGgo=" alt="truncated png"><img src="missing.png" alt="missing">'
        '<script>console.error("boom")</script></body></html>'
    )
    result, _ = probe(browser, page)
    assert [i["naturalWidth"] for i in result["images"]] == [0, 0]
    assert "console.error: boom" in result["errors"]
    assert sum(e.startswith("failed to load IMG") for e in result["errors"]) == 2


def test_comparison_page_loads_every_image_without_errors(browser, tmp_path):
    pytest.importorskip("matplotlib")
    from test_compare import _two_models

    from pytest_lips.__main__ import main
    from pytest_lips.report import write_report

    a, b = _two_models(pack_b="d" * 64)
    paths = [write_report(a, tmp_path / "a.json"), write_report(b, tmp_path / "b.json")]
    page = tmp_path / "site" / "report.html"
    assert main(["report", *map(str, paths), "--format", "html", "-o", str(page)]) == 0
    result, stderr = probe(browser, page)
    images = result["images"]
    assert len(images) == 3 + 2 * 4
    for image in images:
        assert image["complete"] and image["naturalWidth"] > 100 and image["naturalHeight"] > 100, image
        assert image["width"] > 0 and image["height"] > 0, image
    assert result["errors"] == []
    assert "CONSOLE" not in stderr  # nothing from the page reached the browser's console
    shot = os.environ.get("LIPS_SCREENSHOT")  # e.g. LIPS_SCREENSHOT=/tmp/lips-page.png to look at it
    if shot:
        _chromium(browser, f"--screenshot={shot}", "--window-size=1400,4200", page.as_uri())
