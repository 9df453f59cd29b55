"""report.html in a real browser: headless Chromium lays the page out at 1400 and 800 px and
measures what a reader would see: no sideways page scroll, the side-by-side table fits, no number
or header word split over two lines, the latency legend on screen.

Chromium runs as a subprocess on a file:// URL (no socket in this process: pytest-socket stays on).
The page under test is report.html plus one measuring script appended by this test (the report
itself has no script); the script writes its measurements into the DOM, which `--dump-dom` prints.
Skipped when Chromium is not installed (`apt-get install -y chromium`, Debian's package).
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from routing.evaluation.html import render_html

from tests.unit.test_report import _report, _summaries

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install -y chromium) - report browser check skipped",
)

# Runs after layout; every check is a number or a list of offenders, so a failure says what broke.
MEASURE = r"""
<script>
(() => {
  const lines = (node) => {
    const range = document.createRange();
    range.selectNodeContents(node);
    return new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top))).size;
  };
  const text = (el) => el.textContent.trim();
  const table = document.getElementById('side-by-side');
  const wrap = table.closest('.table-wrap') || table;
  const legendNode = document.getElementById('latency-legend');
  const legend = legendNode ? legendNode.getBoundingClientRect() : {width: 0, height: 0, right: 0};
  const result = {
    viewport: window.innerWidth,
    page_scroll_width: document.documentElement.scrollWidth,
    page_client_width: document.documentElement.clientWidth,
    table_scroll_width: wrap.scrollWidth,
    table_client_width: wrap.clientWidth,
    split_cells: [...document.querySelectorAll('#side-by-side td:not(:first-child)')].filter(td => lines(td) > 1).map(text),
    split_header_words: [...document.querySelectorAll('#side-by-side th')].flatMap(th => {
      const words = th.querySelectorAll('.nb');
      // Without word spans, a header split over more lines than it has words broke inside one.
      return words.length ? [...words].filter(s => lines(s) > 1).map(text)
                          : (lines(th) > text(th).split(/\s+/).length ? [text(th)] : []);
    }),
    legend: {width: legend.width, height: legend.height, right: legend.right},
    legend_text: legendNode ? text(legendNode) : '',
    wide_elements: [...document.body.querySelectorAll('*')]
      .filter(el => el.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
      .map(el => el.tagName + (el.id ? '#' + el.id : '')).slice(0, 10),
  };
  const out = document.createElement('pre');
  out.id = 'measurements';
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
})();
</script>
"""


def measure(page: str, width: int, folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "report.html"
    path.write_text(page.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    profile = folder / "profile"  # a fresh profile per launch: nothing from an earlier run
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--hide-scrollbars", f"--window-size={width},1000",
         "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    found = re.search(r'<pre id="measurements">(.*?)</pre>', result.stdout, re.S)
    assert found, f"chromium printed no measurements (exit {result.returncode}): {result.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def page() -> str:
    summaries = _summaries()
    report = _report(summaries, offline=True)
    # Wide real values: a custom-model deployment ARN (the distilled row), a slow baseline's five-digit
    # latencies and a four-digit cost, the base student's invalid answers.
    baseline = report["models"][2]
    baseline["latency_ms"] = {"p50": 10_234.0, "p95": 15_880.0, "p99": 23_456.0, "mean": 11_000.0}
    baseline["cost_per_1m_queries_usd"] = 1_234.5678
    return render_html(report, {s.candidate: s.latencies_ms for s in summaries})


@pytest.mark.parametrize("width", [1400, 800])
def test_the_report_fits_the_window_and_keeps_values_whole(page: str, width: int, tmp_path: Path) -> None:
    seen = measure(page, width, tmp_path / str(width))
    assert seen["viewport"] == width
    assert seen["page_scroll_width"] <= seen["page_client_width"], seen["wide_elements"]
    assert seen["table_scroll_width"] <= seen["table_client_width"], "the table needs its own scroll bar"
    assert seen["split_cells"] == []
    assert seen["split_header_words"] == []
    legend = seen["legend"]
    assert legend["height"] > 0 and legend["right"] <= width
    assert "p50" in seen["legend_text"] and "p95" in seen["legend_text"]
