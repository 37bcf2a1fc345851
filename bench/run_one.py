"""Run one figure in this (fresh) process and write its rows as JSON.

``python -m bench`` starts one process per figure: each gets a clean heap (the
footprint figure reads RSS), a crash in one figure cannot take the others down,
and a figure that overruns its time budget can be stopped without killing the bench.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import traceback
from pathlib import Path

from bench.harness import Row
from bench.world import FeatureMissing, quiet_logs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_one")
    parser.add_argument("module")
    parser.add_argument("--mode", choices=("full", "smoke"), default="full")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    quiet_logs()
    module = importlib.import_module(args.module)
    try:
        rows = asyncio.run(module.run(module.SIZES[args.mode]))
    except FeatureMissing as exc:
        rows = [Row.not_measured(fid, name, target, str(exc)) for fid, name, target in module.PLANNED]
    except Exception as exc:
        traceback.print_exc()
        reason = f"the bench raised {type(exc).__name__}: {exc}"[:300]
        rows = [Row.not_measured(fid, name, target, reason) for fid, name, target in module.PLANNED]
    args.out.write_text(json.dumps([r.to_dict() for r in rows]), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
