"""The bench's smoke mode runs end to end, so bench code cannot rot between full runs.

This asserts what the bench produced (a report with every figure's rows, each
either measured or explicitly "not measured: <reason>"), never how fast
anything was: wall-clock assertions have no place in the test suite.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.figures import FIGURES
from bench.harness import Row, Stat, percentile, render_markdown

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_percentile_is_nearest_rank() -> None:
    samples = list(range(1, 101))
    assert percentile(samples, 50) == 50
    assert percentile(samples, 99) == 99
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_stat_keeps_median_min_max() -> None:
    stat = Stat.of([3.5, 1.25, 2.5], "ms")
    assert (stat.median, stat.min, stat.max, stat.runs) == (2.5, 1.25, 3.5, 3)
    assert stat.fmt() == "2.50 ms (1.25–3.50)"
    assert Stat.of([1038, 1040], "requests").fmt() == "1,039 requests (1,038–1,040)"


def test_report_shows_not_measured_rows_with_their_reason() -> None:
    rows = [
        Row(
            "1a",
            "Throughput",
            Stat.of([10.5, 12.5, 11.5], "msg/s"),
            Stat.of([20.0], "rows/s"),
            "raw",
            0.55,
            "≥ 5 msg/s",
            "pass",
        ),
        Row.not_measured("2a", "Autocomplete p50", "report", "feature missing | here"),
    ]
    text = render_markdown(
        rows,
        {"CPU": "test"},
        mode="smoke",
        elapsed_seconds=1.0,
        figure_titles={"1": "One", "2": "Two"},
        figure_notes={"1": ["note"]},
    )
    assert "| 1a | Throughput | 11.5 msg/s (10.5–12.5) | 20 rows/s (raw) | 0.55× | ≥ 5 msg/s | pass |" in text
    assert "not measured: feature missing \\| here" in text
    assert "### 1. One" in text and "- note" in text


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_smoke_mode_writes_a_report_with_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS-smoke.md"
    committed = REPO_ROOT / "BENCHMARKS.md"
    before = committed.stat().st_mtime_ns if committed.exists() else None
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text(encoding="utf-8")
    assert (committed.stat().st_mtime_ns if committed.exists() else None) == before, "smoke mode touched BENCHMARKS.md"
    assert "## Machine" in text and "SQLite" in text and "Python" in text
    table = [line for line in text.splitlines() if re.match(r"^\| \d[a-z] \|", line)]
    figures = {line.split("|")[1].strip()[0] for line in table}
    assert figures == {str(n) for n in range(1, len(FIGURES) + 1)}
    for line in table:
        verdict = line.rstrip(" |").rsplit("|", 1)[-1].strip()
        assert verdict in ("pass", "miss", "reported") or verdict.startswith("not measured: "), line
        if verdict in ("pass", "miss", "reported"):
            value = line.split("|")[3].strip()
            assert value != "—", line
