"""The measuring and reporting half of the bench: statistics, machine facts, BENCHMARKS.md.

Every number in the report comes from a :class:`Row` built by a figure module
from what actually ran; this module only aggregates (median, min, max over the
runs) and renders. A figure that could not run becomes a row whose verdict is
``not measured: <reason>`` instead of a made-up number.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import sqlite3
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "Row",
    "Stat",
    "machine_info",
    "percentile",
    "ratio_of",
    "render_markdown",
    "verdict",
]


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least ``pct``% of samples at or below it.

    Nearest-rank never interpolates, so a p99 is always a latency that really happened.
    """
    if not values:
        raise ValueError("percentile of no samples")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class Stat:
    """One quantity measured in several runs: the median is the figure, min and max show the spread."""

    median: float
    min: float
    max: float
    runs: int
    unit: str
    integer: bool = False  # counts (rows, requests, bytes) print without decimals

    @classmethod
    def of(cls, samples: Sequence[float], unit: str) -> Stat:
        if not samples:
            raise ValueError("a Stat needs at least one sample")
        integer = all(float(s).is_integer() for s in samples)
        return cls(statistics.median(samples), min(samples), max(samples), len(samples), unit, integer)

    def fmt(self) -> str:
        num = _count if self.integer else _num
        sep = "" if self.unit in ("×", "%") else " "
        text = f"{num(self.median)}{sep}{self.unit}".strip()
        if self.runs > 1:
            text += f" ({num(self.min)}–{num(self.max)})"
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stat:
        return cls(**data)


def _count(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _num(value: float) -> str:
    """Three significant figures, thousands separated, no scientific notation."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, 2 - magnitude)
    return f"{value:,.{decimals}f}"


@dataclass(slots=True)
class Row:
    """One line of the results table.

    ``verdict`` is "pass", "miss" or "not measured: <reason>"; ``ratio`` is
    value ÷ baseline (or whatever ``ratio_note`` says it is).
    """

    figure: str  # "1a"
    name: str
    value: Stat | None
    baseline: Stat | None
    baseline_name: str
    ratio: float | None
    target: str
    verdict: str
    method: str = ""
    details: list[str] = field(default_factory=list)
    ratio_style: str = "times"  # "times" (0.55×) or "percent" (3.7%)

    @classmethod
    def not_measured(cls, figure: str, name: str, target: str, reason: str, method: str = "") -> Row:
        return cls(figure, name, None, None, "", None, target, f"not measured: {reason}", method)

    @property
    def measured(self) -> bool:
        return self.value is not None and not self.verdict.startswith("not measured")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Row:
        data = dict(data)
        for key in ("value", "baseline"):
            if data.get(key) is not None:
                data[key] = Stat.from_dict(data[key])
        return cls(**data)


def verdict(ok: bool) -> str:
    return "pass" if ok else "miss"


def ratio_of(value: Stat, baseline: Stat) -> float | None:
    return value.median / baseline.median if baseline.median else None


def machine_info() -> dict[str, str]:
    """What the figures were measured on: they mean little without it."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        load = "unknown"
    try:
        import discord

        discord_version = discord.__version__
    except Exception:  # pragma: no cover - the bench still reports the rest
        discord_version = "unavailable"
    mem = "unknown"
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal"):
                    mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                    break
    except OSError:
        pass
    return {
        "CPU": cpu,
        "Cores": f"{usable} usable ({os.cpu_count()} online)",
        "Memory": mem,
        "Load average at start (1/5/15 min)": load,
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "discord.py": discord_version,
        "OS": platform.platform(),
        "Date (UTC)": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
    }


def _cell(stat: Stat | None) -> str:
    return "—" if stat is None else stat.fmt()


def render_markdown(
    rows: Sequence[Row],
    machine: dict[str, str],
    *,
    mode: str,
    elapsed_seconds: float,
    figure_titles: dict[str, str],
    figure_notes: dict[str, list[str]],
    commit: str = "",
    escape: Callable[[str], str] = lambda s: s.replace("|", "\\|"),
) -> str:
    """The whole BENCHMARKS.md as a string."""
    lines = [
        "# Matinee benchmarks",
        "",
        "Generated by `python -m bench` (`make bench`). Do not edit by hand: every number below was",
        "computed in the run described here, and each baseline was measured in that same run on the same",
        "machine, so load on the machine affects both sides alike.",
        "",
        "## Machine",
        "",
    ]
    lines += [f"- **{key}:** {value}" for key, value in machine.items()]
    lines += [
        f"- **Mode:** {mode}",
        f"- **Bench wall time:** {elapsed_seconds:.0f} s",
    ]
    if commit:
        lines.append(f"- **Commit:** {commit}")
    lines += [
        "",
        "## Results",
        "",
        "Values are the median of the runs, with (min–max) across runs. Ratio = value ÷ baseline.",
        "",
        "| # | Measure | Value | Baseline | Ratio | Target | Verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        baseline = _cell(row.baseline)
        if row.baseline is not None and row.baseline_name:
            baseline = f"{baseline} ({row.baseline_name})"
        if row.ratio is None:
            ratio = "—"
        elif row.ratio_style == "percent":
            ratio = f"{row.ratio * 100:.1f}%"
        else:
            ratio = f"{row.ratio:.2f}×"
        cells = [row.figure, row.name, _cell(row.value), baseline, ratio, row.target, row.verdict]
        lines.append("| " + " | ".join(escape(c) for c in cells) + " |")
    misses = [r for r in rows if r.verdict == "miss"]
    gaps = [r for r in rows if r.verdict.startswith("not measured")]
    lines += ["", "## Misses and gaps", ""]
    if not misses and not gaps:
        lines.append("Every figure met its target.")
    lines += [f"- **{r.figure} {r.name}** missed its target ({r.target}): {_cell(r.value)}." for r in misses]
    lines += [f"- **{r.figure} {r.name}**: {r.verdict}." for r in gaps]
    lines += ["", "[docs/benchmarks.md](docs/benchmarks.md) gives the reason and the next step for each.", ""]
    lines += ["", "## Method", ""]
    seen: set[str] = set()
    for row in rows:
        number = row.figure.rstrip("abcdefgh")
        if number not in seen:
            seen.add(number)
            lines += ["", f"### {number}. {figure_titles.get(number, '')}", ""]
            lines += [f"- {note}" for note in figure_notes.get(number, [])]
        if row.method:
            lines.append(f"- **{row.figure} {row.name}:** {row.method}")
        lines += [f"  - {detail}" for detail in row.details]
    lines.append("")
    return "\n".join(lines)
