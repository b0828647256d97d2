"""The committed Study 1 reports (examples/studies/cutoff/reports/) as one page in a real browser.

Issue 27 asks that the HTML report of the cutoff models opens from a single file with every plot visible
and shows provenance per model. These tests render the committed JSON reports with the package's report
command into an otherwise empty folder, open the page in headless Chromium (the probe of
``test_html_browser``) and check every image, the absence of page errors, and one provenance block per
model naming its sha256. They skip, with the reason, without a browser or without committed reports.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from test_html_browser import browser, probe  # noqa: F401  (browser is a fixture)

ROOT = Path(__file__).resolve().parents[2]
CUTOFF = ROOT / "examples" / "studies" / "cutoff"


def study_reports() -> list[Path]:
    """Per recipe and cutoff the complete ``ci`` report when there is one, else the partial one (the rule
    of ``examples/studies/make_figures.py``)."""
    chosen: dict[tuple[str, str], Path] = {}
    for path in sorted((CUTOFF / "reports").glob("*/cutoff-c*.json")):
        m = re.match(r"cutoff-c(\d+(?:\.\d+)?)\.(ci(?:-.*)?)\.json$", path.name)
        if m and ((path.parent.name, m.group(1)) not in chosen or m.group(2) == "ci"):
            chosen[(path.parent.name, m.group(1))] = path
    return [chosen[k] for k in sorted(chosen)]


@pytest.fixture(scope="module")
def reports() -> list[Path]:
    found = study_reports()
    if not found:
        pytest.skip(f"no committed study reports under {CUTOFF / 'reports'}")
    return found


def _models(paths: list[Path]) -> dict[str, str]:
    """``model name -> sha256`` over the reports."""
    out = {}
    for path in paths:
        for m in json.loads(path.read_text(encoding="utf-8"))["models"]:
            out[m["name"]] = m["sha256"]
    return out


def _check_page(browser: str, page: Path, n_models: int) -> None:  # noqa: F811
    html = page.read_text(encoding="utf-8")
    # single file: every image is embedded, nothing is fetched from beside the page
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources), [s[:40] for s in sources]
    assert not re.search(r'<(?:link|script)[^>]*\s(?:href|src)="(?!data:)', html)
    result, stderr = probe(browser, page)
    images = result["images"]
    assert len(images) == len(sources) >= 1 + n_models  # a comparison figure and at least one plot per model
    for image in images:
        assert image["complete"] and image["naturalWidth"] > 100 and image["naturalHeight"] > 100, image
        assert image["width"] > 0 and image["height"] > 0, image
    assert result["errors"] == []
    assert "CONSOLE" not in stderr


def _check_provenance(html: str, models: dict[str, str]) -> None:
    prov = html[html.index("<h2>Provenance</h2>") :]
    blocks = dict(re.findall(r"<h3>([^<]+)</h3>(.*?)</dl>", prov, re.S))
    assert set(models) <= set(blocks), (sorted(models), sorted(blocks))
    for name, sha in models.items():
        assert sha and f"<dt>model sha256</dt><dd>{sha}</dd>" in blocks[name], name
        assert "<dt>reference pack</dt>" in blocks[name] and "<dt>environment</dt>" in blocks[name], name


def test_committed_cutoff_reports_render_as_one_self_contained_page(browser, reports, tmp_path):  # noqa: F811
    pytest.importorskip("matplotlib")
    from pytest_lips.__main__ import main

    page = tmp_path / "alone" / "cutoff.html"
    rc = main(["report", *map(str, reports), "--format", "html", "-o", str(page)])
    assert rc in (0, 1)  # 1: some model fails a gate, which the study reports do
    assert [p.name for p in page.parent.iterdir()] == [page.name]  # no side files
    moved = tmp_path / "elsewhere" / page.name  # the page travels alone
    moved.parent.mkdir()
    shutil.move(str(page), moved)
    models = _models(reports)
    _check_page(browser, moved, len(models))
    _check_provenance(moved.read_text(encoding="utf-8"), models)


def test_committed_comparison_page_of_the_cutoff_study(browser, tmp_path):  # noqa: F811
    pages = sorted(CUTOFF.glob("comparison_*.html"))
    if not pages:
        pytest.skip(f"no committed comparison page in {CUTOFF} (python examples/studies/make_figures.py cutoff)")
    for committed in pages:
        page = tmp_path / committed.name
        shutil.copy(committed, page)
        html = page.read_text(encoding="utf-8")
        files = re.findall(r"<td><code>([^<]+\.json)</code></td>", html)  # the page's "Reports" table
        assert files, f"{committed.name}: no source reports listed"
        models = _models([ROOT / f if (ROOT / f).exists() else CUTOFF / f for f in files])
        # issue 27: the page of the reduced-recipe sweep shows every cutoff of the study (3, 4, 5, 6 A)
        cutoffs = {m.group(1) for f in files if "/e16-20/" in f and (m := re.search(r"cutoff-c(\d+)\.", f))}
        if "e16-20" in committed.name:
            assert cutoffs == {"3", "4", "5", "6"}, f"{committed.name}: cutoffs {sorted(cutoffs)}"
        _check_page(browser, page, len(models))
        _check_provenance(html, models)
