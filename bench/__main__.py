"""``python -m bench`` (``make bench``): run every figure and write BENCHMARKS.md.

``--smoke`` runs tiny sizes in a few seconds and writes to a temporary file
(or ``--out``), so the test suite can prove the bench code still works
without touching the committed report.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.figures import FIGURES
from bench.harness import Row, machine_info, render_markdown

REPO_ROOT = Path(__file__).resolve().parent.parent


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def run_figure(module_name: str, mode: str, timeout: float, workdir: Path) -> list[Row]:
    """Run one figure in its own process; a crash or overrun becomes "not measured" rows."""
    module = importlib.import_module(module_name)
    out = workdir / f"{module_name.rsplit('.', 1)[-1]}.json"
    cmd = [sys.executable, "-m", "bench.run_one", module_name, "--mode", mode, "--out", str(out)]
    started = time.monotonic()
    print(f"[bench] {module.NUMBER}. {module.TITLE} …", flush=True)
    try:
        proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        reason = f"did not finish within its {timeout:.0f} s budget"
        return [Row.not_measured(fid, name, target, reason) for fid, name, target in module.PLANNED]
    elapsed = time.monotonic() - started
    if proc.returncode != 0 or not out.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        reason = f"the figure's process exited with {proc.returncode}: {tail[0][:200]}"
        sys.stderr.write(proc.stderr[-4000:])
        return [Row.not_measured(fid, name, target, reason) for fid, name, target in module.PLANNED]
    if proc.stderr.strip():
        sys.stderr.write(proc.stderr[-2000:])
    rows = [Row.from_dict(r) for r in json.loads(out.read_text(encoding="utf-8"))]
    for row in rows:
        print(f"[bench]   {row.figure} {row.name}: {row.value.fmt() if row.value else '—'} → {row.verdict}")
    print(f"[bench]   ({elapsed:.1f} s)", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds, temp output")
    parser.add_argument("--out", type=Path, help="where to write the report (default BENCHMARKS.md, or a temp file)")
    parser.add_argument("--only", action="append", help="run only figures whose module name contains this")
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "full"
    if args.out is None:
        if args.smoke:
            handle, name = tempfile.mkstemp(prefix="BENCHMARKS-smoke-", suffix=".md")
            os.close(handle)
            args.out = Path(name)
        else:
            args.out = REPO_ROOT / "BENCHMARKS.md"
    machine = machine_info()
    started = time.monotonic()
    rows: list[Row] = []
    titles: dict[str, str] = {}
    notes: dict[str, list[str]] = {}
    os.environ.setdefault("PYTHONHASHSEED", "0")  # figure processes inherit it: same dict/set order every run
    with tempfile.TemporaryDirectory(prefix="matinee-bench-") as tmp:
        for name in FIGURES:
            if args.only and not any(o in name for o in args.only):
                continue
            module = importlib.import_module(name)
            titles[module.NUMBER] = module.TITLE
            notes[module.NUMBER] = list(module.NOTES)
            budget = module.SIZES[mode]["budget_seconds"]
            rows += run_figure(name, mode, budget, Path(tmp))
    elapsed = time.monotonic() - started
    report = render_markdown(
        rows,
        machine,
        mode=mode,
        elapsed_seconds=elapsed,
        figure_titles=titles,
        figure_notes=notes,
        commit=_commit(),
    )
    args.out.write_text(report, encoding="utf-8")
    measured = sum(r.measured for r in rows)
    print(f"[bench] wrote {args.out} ({measured}/{len(rows)} measured, {elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
