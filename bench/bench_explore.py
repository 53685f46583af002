"""The page's responsiveness in a real browser: first paint and hover latency at 512x512.

Starts ``corr2d explore``'s server in this process, drives Debian's Chromium with
Playwright, and measures, over several rounds:

* page load to first contentful paint (the browser's own ``paint`` timing, from the start
  of navigation), on a fresh browser context each time;
* the time from a mouse move over a 512x512 photograph's output to the frame that shows
  its lit window and its arithmetic (``event.timeStamp`` to a ``requestAnimationFrame``
  callback's task), 40 moves per round.

Run it alone (``/work/tools/exclusive`` on the shared machine); it prints medians and the
spread (min-max) over the rounds.

    python bench/bench_explore.py [--rounds 7] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import threading

import numpy as np

from corr2d.explore import create_server

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def first_paint(browser, url: str) -> tuple[float, float]:
    """First contentful paint, and the time until the first view is computed (ms)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#c-output td")
    fcp = page.evaluate(
        "() => performance.getEntriesByType('paint')"
        ".find(e => e.name === 'first-contentful-paint').startTime"
    )
    ready = page.evaluate("() => performance.now()")
    context.close()
    return fcp, ready


def hovers(browser, url: str, moves: int, seed: int) -> list[float]:
    """Latencies (ms) of ``moves`` hovers over the 512x512 photograph's output."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(url + "#src=sample%3Agrace-hopper&size=512&k=1,2,1;0,0,0;-1,-2,-1&pad=same")
    page.wait_for_selector("#c-output canvas")
    box = page.locator("#c-output canvas").first.bounding_box()
    page.evaluate("() => { window.corr2dTimings.hover.length = 0; }")
    for y, x in np.random.default_rng(seed).integers(0, 510, size=(moves, 2)):
        page.mouse.move(box["x"] + 1.5 + x, box["y"] + 1.5 + y)
    page.wait_for_function(f"() => window.corr2dTimings.hover.length >= {moves}")
    times = page.evaluate("() => window.corr2dTimings.hover")
    context.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--moves", type=int, default=40)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    options = parser.parse_args()

    from playwright.sync_api import sync_playwright

    server = create_server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=options.chromium, args=ARGS)
            first_paint(browser, server.url)  # warm: compiled loops, samples, page assets
            hovers(browser, server.url, 5, 0)
            paints, readies, medians, p95s = [], [], [], []
            for round_ in range(options.rounds):
                fcp, ready = first_paint(browser, server.url)
                paints.append(fcp)
                readies.append(ready)
                times = hovers(browser, server.url, options.moves, round_ + 1)
                medians.append(statistics.median(times))
                p95s.append(float(np.percentile(times, 95)))
            browser.close()
    finally:
        server.shutdown()
        server.close()

    def line(name: str, values: list[float]) -> str:
        return (
            f"{name:<44} median {statistics.median(values):7.1f} ms   "
            f"spread {min(values):7.1f} - {max(values):7.1f} ms"
        )

    print(f"{options.rounds} rounds; {options.moves} hovers per round")
    print(line("page load to first contentful paint", paints))
    print(line("page load to the first view computed", readies))
    print(line("hover at 512x512, median of a round", medians))
    print(line("hover at 512x512, 95th percentile of a round", p95s))


if __name__ == "__main__":
    main()
