"""The page in a real browser: Debian's Chromium driven by Playwright.

Playwright cannot download its own browser here, so it drives the system Chromium
(``CORR2D_CHROMIUM``, else ``chromium`` on the PATH).  Without one these tests are skipped
with a loud notice, except on CI (``CI=true``), where a missing browser is a failure;
``tests/browser-setup.sh`` installs it where it can.

Every test writes a screenshot into its tmp dir; with ``CORR2D_EXPLORE_DOCS=1`` they also
go to ``docs/figures/explore_*.png`` (regenerated on purpose, for docs/explore.md).
Timings (first paint, hover latency at 512x512) are written to ``timings.json`` in the tmp
dir and printed; ``bench/bench_explore.py`` measures them properly.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import statistics
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from corr2d import corr2d, receptive_field
from corr2d.explore.images import sample_image
from corr2d.io import read_kernel

DOCS = Path(__file__).resolve().parents[2] / "docs" / "figures"
ON_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def _missing(reason: str) -> None:
    message = f"BROWSER TESTS NOT RUN: {reason} (run tests/browser-setup.sh as root)"
    if ON_CI:
        pytest.fail(f"{message}; on CI the browser tests must run", pytrace=False)
    warnings.warn(message, stacklevel=2)
    pytest.skip(message)


@pytest.fixture(scope="module")
def chromium() -> str:
    path = os.environ.get("CORR2D_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        _missing("no Chromium found (CORR2D_CHROMIUM, or 'chromium' on the PATH)")
    return path


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the Python package 'playwright' is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser, server) -> Iterator[Any]:
    contexts = []

    def open_(hash_: str = "") -> Any:
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, accept_downloads=True
        )
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.errors = errors
        page.goto(server.url + (f"#{hash_}" if hash_ else ""))
        page.wait_for_selector("body[data-ready='1']")
        return page

    yield open_
    for context in contexts:
        for page in context.pages:
            assert page.errors == [], page.errors
        context.close()


def shoot(page: Any, tmp_path: Path, name: str, selector: str | None = None) -> Path:
    target = tmp_path / f"explore_{name}.png"
    if selector:
        page.locator(selector).screenshot(path=str(target))
    else:
        page.screenshot(path=str(target), full_page=True)
    if os.environ.get("CORR2D_EXPLORE_DOCS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, DOCS / target.name)
    return target


def record(tmp_path: Path, **values: Any) -> None:
    path = tmp_path / "timings.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(values)
    path.write_text(json.dumps(data, indent=2))
    print(f"timings: {json.dumps(values)}")


def cell_texts(page: Any, selector: str) -> list[list[str]]:
    return page.eval_on_selector(
        selector,
        "t => Array.from(t.rows, r => Array.from(r.cells, c => "
        "c.querySelector('input') ? c.querySelector('input').value : c.textContent))",
    )


def png(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def numbers(rows: list[list[str]]) -> np.ndarray:
    return np.array([[float(v) for v in row] for row in rows])


# --- Correlation ---------------------------------------------------------------------------


def test_hover_the_first_output_cell_of_the_chapter(open_page, tmp_path):
    page = open_page()
    page.wait_for_selector("#c-output td")
    paint = page.evaluate(
        "() => Object.fromEntries(performance.getEntriesByType('paint')"
        ".map(e => [e.name, e.startTime]))"
    )
    record(tmp_path, first_contentful_paint_ms=paint.get("first-contentful-paint"))
    assert numbers(cell_texts(page, "#c-output table")).tolist() == [[19, 25], [37, 43]]
    page.hover("#c-output td >> nth=0")
    arith = page.locator("#c-arith")
    assert arith.inner_text() == "Y[0, 0] = 0×0 + 1×1 + 3×2 + 4×3 = 19"
    lit = page.locator("#c-input td.lit input")
    assert lit.count() == 4
    assert [lit.nth(k).input_value() for k in range(4)] == ["0", "1", "3", "4"]
    assert "Y = corr2d.corr2d(X, K)" in page.inner_text("#c-code-corr2d")
    assert "F.conv2d(x, w)" in page.inner_text("#c-code-torch")
    shoot(page, tmp_path, "correlation")


def test_edit_a_kernel_cell_and_the_output_is_recomputed(open_page, tmp_path):
    page = open_page()
    page.wait_for_selector("#c-output td")
    page.fill("#c-kernel tr:nth-child(1) td:nth-child(1) input", "-1.5")
    page.fill("#c-kernel tr:nth-child(2) td:nth-child(2) input", "1/4")
    expected = corr2d(np.arange(9.0).reshape(3, 3), [[-1.5, 1.0], [2.0, 0.25]])
    page.wait_for_function(
        "() => document.querySelector('#c-code-corr2d').textContent.includes('-1.5')"
    )
    shown = numbers(cell_texts(page, "#c-output table"))
    np.testing.assert_allclose(shown, expected, rtol=1e-3)
    assert "K = np.array([[-1.5, 1], [2, 0.25]], dtype=float)" in page.inner_text("#c-code-corr2d")
    # pin a cell: hovering elsewhere leaves it; the view is in the URL and comes back
    page.click("#c-output tr:nth-child(2) td:nth-child(2)")
    page.hover("#c-output td >> nth=0")
    text = page.inner_text("#c-arith")
    assert text.startswith("pinned Y[1, 1] = 4×(-1.5) + 5×1 + 7×2 + 8×0.25 = ")
    assert text.endswith(f"= {expected[1, 1]:g}")
    page.wait_for_function("() => location.hash.includes('pin=1%2C1')")
    again = open_page(page.url.split("#", 1)[1])
    again.wait_for_selector("#c-output td.pinned")
    assert again.inner_text("#c-arith") == text
    np.testing.assert_allclose(numbers(cell_texts(again, "#c-output table")), shown)
    # convolution: the flipped kernel is shown and slid
    page.select_option("#c-op", "convolution")
    page.wait_for_function(
        "() => document.querySelector('#c-output-caption').textContent.includes('convolve2d')"
    )
    assert numbers(cell_texts(page, "#c-applied table")).tolist() == [[0.25, 2], [1, -1.5]]
    shoot(page, tmp_path, "convolution")
    # the kernel as a file that `corr2d filter --kernel` reads
    with page.expect_download() as download:
        page.click("button[data-download='c'][data-format='txt']")
    path = tmp_path / "kernel.txt"
    download.value.save_as(path)
    np.testing.assert_array_equal(read_kernel(path), [[-1.5, 1], [2, 0.25]])


def test_a_bad_cell_shows_its_message(open_page, tmp_path):
    page = open_page()
    page.wait_for_selector("#c-output td")
    page.fill("#c-kernel tr:nth-child(1) td:nth-child(2) input", "abc")
    message = page.locator("#c-message")
    page.wait_for_function("() => document.querySelector('#c-message').textContent !== ''")
    assert message.inner_text().startswith("kernel row 1, column 2: 'abc' is not a number")
    assert page.locator("#c-kernel td.bad").count() == 1
    assert page.locator("#c-output.stale").count() == 1
    shoot(page, tmp_path, "bad_cell")
    page.fill("#c-kernel tr:nth-child(1) td:nth-child(2) input", "1")
    page.wait_for_function("() => document.querySelector('#c-message').textContent === ''")
    assert page.locator("#c-kernel td.bad").count() == 0
    # a kernel larger than the input in 'valid' mode, and one larger than the page takes
    page.fill("#c-krows", "4")
    page.dispatch_event("#c-krows", "change")
    page.wait_for_function("() => document.querySelector('#c-message').textContent !== ''")
    assert "larger than the input" in message.inner_text()
    page.fill("#c-krows", "16")
    page.dispatch_event("#c-krows", "change")
    page.wait_for_function(
        "() => document.querySelector('#c-message').textContent.includes('16x2')"
    )
    assert message.inner_text() == "the kernel is 16x2; the largest allowed is 15x15"


def test_upload_an_image(open_page, tmp_path):
    page = open_page()
    page.select_option("#c-source", "upload")
    rgb = np.zeros((40, 60, 3), dtype=np.uint8)
    rgb[:, 30:] = (200, 100, 50)
    page.set_input_files(
        "#c-upload", files=[{"name": "half.png", "mimeType": "image/png", "buffer": png(rgb)}]
    )
    page.wait_for_selector("#c-output canvas")
    assert page.inner_text("#c-input-caption") == "half.png"
    assert page.inner_text("#c-output-caption") == "39x59 by corr2d.corr2d"
    assert "read_image('half.png')" in page.inner_text("#c-code-corr2d")
    # an image larger than the page takes
    page.set_input_files(
        "#c-upload",
        files=[
            {
                "name": "big.png",
                "mimeType": "image/png",
                "buffer": png(np.zeros((1100, 1000), np.uint8)),
            }
        ],
    )
    page.wait_for_function("() => document.querySelector('#c-message').textContent !== ''")
    assert page.inner_text("#c-message").startswith(
        "the image is too large for the page (it takes up to 1,048,576 pixels"
    )


def test_hover_at_512x512(open_page, tmp_path):
    page = open_page("src=sample%3Agrace-hopper&size=512&k=0,1;2,3")
    page.wait_for_selector("#c-output canvas")
    box = page.locator("#c-output canvas").first.bounding_box()
    assert box["width"] == 511 + 2  # 511x511 output at one pixel each, in a 1 px border
    # mouse events carry whole-pixel coordinates: aim at pixels on whole coordinates
    left, top = math.ceil(box["x"] + 1), math.ceil(box["y"] + 1)
    page.evaluate("() => { window.corr2dTimings.hover.length = 0; }")
    rng = np.random.default_rng(7)
    points = rng.integers(5, 500, size=(40, 2))
    for y, x in points:
        page.mouse.move(left + x + 0.5, top + y + 0.5)
    page.wait_for_function("() => window.corr2dTimings.hover.length >= 40")
    hover = page.evaluate("() => window.corr2dTimings.hover")
    record(
        tmp_path,
        hover_512_median_ms=statistics.median(hover),
        hover_512_max_ms=max(hover),
        hover_512_count=len(hover),
    )
    expected = corr2d(sample_image("grace-hopper", 512), [[0.0, 1.0], [2.0, 3.0]])
    y, x = points[-1]
    text = page.inner_text("#c-arith")
    match = re.match(r"Y\[(\d+), (\d+)\] = .* = (\S+)$", text)
    assert match is not None, text
    assert (int(match[1]), int(match[2])) == (y, x)
    assert float(match[3]) == pytest.approx(expected[y, x], rel=1e-3)
    shoot(page, tmp_path, "photo_512")


# --- Edges ---------------------------------------------------------------------------------


def test_paint_a_diagonal_edge(open_page, tmp_path):
    page = open_page("tab=edges")
    page.wait_for_selector("#e-out td")
    page.click("#e-ones")
    page.select_option("#e-paint", "0")
    # paint the cells on and below the diagonal black, one stroke per row
    for i in range(6):
        start = page.locator(f"#e-image tr:nth-child({i + 1}) td:nth-child(1)").bounding_box()
        end = page.locator(f"#e-image tr:nth-child({i + 1}) td:nth-child({i + 1})").bounding_box()
        page.mouse.move(start["x"] + 5, start["y"] + 5)
        page.mouse.down()
        page.mouse.move(end["x"] + 5, end["y"] + 5, steps=4 * (i + 1))
        page.mouse.up()
    X = np.ones((6, 8))
    for i in range(6):
        X[i, : i + 1] = 0
    assert numbers(cell_texts(page, "#e-image table")).tolist() == X.tolist()
    across = corr2d(X, [[1.0, -1.0]])
    down = corr2d(X, [[1.0], [-1.0]])
    page.wait_for_function(
        "n => document.querySelectorAll('#e-out td.neg').length === n", arg=int((across < 0).sum())
    )
    page.wait_for_timeout(200)
    np.testing.assert_array_equal(numbers(cell_texts(page, "#e-out table")), across)
    np.testing.assert_array_equal(numbers(cell_texts(page, "#e-outT table")), down)
    assert np.abs(across).sum() == 6 and np.abs(down).sum() == 5  # the diagonal shows in both
    assert "ex=" in page.url
    shoot(page, tmp_path, "edges")


# --- Learning ------------------------------------------------------------------------------


def _status(page: Any) -> str:
    return page.inner_text("#l-status")


def test_train_from_the_chapters_start(open_page, tmp_path):
    page = open_page("tab=learn")
    # stop, resume and reset first, at a slow pace
    page.select_option("#l-rate", "10")
    page.fill("#l-steps", "500")
    page.dispatch_event("#l-steps", "change")
    page.click("#l-train")
    page.wait_for_function(
        "() => /step [3-9]/.test(document.querySelector('#l-status').textContent)"
    )
    page.click("#l-stop")
    page.wait_for_function(
        "() => document.querySelector('#l-status').textContent.startsWith('stopped')"
    )
    stopped_at = int(re.search(r"step (\d+)", _status(page))[1])
    page.wait_for_timeout(400)
    assert int(re.search(r"step (\d+)", _status(page))[1]) == stopped_at
    page.click("#l-train")
    page.wait_for_function(
        "n => +/step (\\d+)/.exec(document.querySelector('#l-status').textContent)[1] > n",
        arg=stopped_at,
    )
    page.click("#l-reset")
    assert _status(page) == "Press Train."
    # the chapter's run: lr 0.03, summed squared error, from its initial kernel
    page.select_option("#l-rate", "40")
    page.fill("#l-steps", "20")
    page.dispatch_event("#l-steps", "change")
    page.click("#l-train")
    page.wait_for_function(
        "() => document.querySelector('#l-status').textContent.startsWith('done')", timeout=20_000
    )
    status = _status(page)
    assert status.startswith("done: step 20 of 20, loss ")
    loss = float(status.rsplit(" ", 1)[1])
    assert loss < 1e-3
    kernel = numbers(cell_texts(page, "#l-kernel table"))
    assert np.abs(kernel - [[1, -1]]).max() < 0.05
    assert numbers(cell_texts(page, "#l-exact table")).tolist() == [[1, -1]]
    assert page.inner_text("#l-distance").startswith("‖learned − exact‖ = ")
    shoot(page, tmp_path, "learning")
    with page.expect_download() as download:
        page.click("button[data-download='l']")
    path = tmp_path / "learned.txt"
    download.value.save_as(path)
    learned = read_kernel(path)
    assert np.abs(learned - [[1, -1]]).max() < 0.05
    np.testing.assert_allclose(learned, kernel, atol=1e-4)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_diverging_run_says_why(open_page):
    page = open_page("tab=learn&llr=1000&lsteps=200&lrate=0")
    page.click("#l-train")
    page.wait_for_function("() => document.querySelector('#l-message').textContent !== ''")
    assert "lower the learning rate" in page.inner_text("#l-message")
    assert _status(page).startswith("diverged")


# --- Receptive fields ----------------------------------------------------------------------


def test_hover_a_unit_of_a_dilated_stack(open_page, tmp_path):
    page = open_page("tab=rf")
    layers = ["3x3", "3x3/d2", "3x3/d4"]
    page.wait_for_selector("#r-grid-3 td")
    page.hover("#r-grid-3 tr:nth-child(5) td:nth-child(4)")
    page.wait_for_function(
        "() => document.querySelector('#r-info').textContent.includes('unit (4, 3)')"
    )
    field = receptive_field(layers, (24, 24))
    window = field.to_input(4, 3)
    lit = page.eval_on_selector_all(
        "#r-grid-0 td.lit", "cells => cells.map(c => [+c.dataset.i, +c.dataset.j])"
    )
    assert len(lit) == field.size[0] * field.size[1] == 225
    rows, cols = zip(*lit, strict=True)
    assert (min(rows), max(rows) + 1) == window.rows
    assert (min(cols), max(cols) + 1) == window.cols
    assert "receptive field 15 (jump 1, start 7)" in page.inner_text("#r-info")
    shoot(page, tmp_path, "receptive_field")
    # one dilated layer: the field's extent has holes the gradient never reaches
    page.select_option("#r-preset", "2")
    page.wait_for_selector("#r-grid-1 td")
    page.wait_for_function("() => document.querySelectorAll('#r-grid-0 td').length === 81")
    page.hover("#r-grid-1 tr:nth-child(3) td:nth-child(3)")
    page.wait_for_function(
        "() => document.querySelector('#r-info').textContent.includes('unit (2, 2)')"
    )
    assert page.locator("#r-grid-0 td.lit").count() == 9
    assert page.locator("#r-grid-0 td.extent").count() == 25
    assert "reaches 9 input pixels of the 25 in its extent" in page.inner_text("#r-info")
    assert page.inner_text("#r-message") == ""
    shoot(page, tmp_path, "receptive_field_holes")
    # a stack with no output gets the library's reason
    page.fill("#r-rows", "3")
    page.dispatch_event("#r-rows", "change")
    page.wait_for_function("() => document.querySelector('#r-message').textContent !== ''")
    assert "no wider" in page.inner_text("#r-message")
