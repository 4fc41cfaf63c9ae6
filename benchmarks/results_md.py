"""Regenerate the tables of benchmarks/RESULTS.md from the result files (``make results``).

A table in RESULTS.md that comes from a result file sits between two markers::

    <!-- generated: NAME -->
    | ... the table ... |
    <!-- /generated -->

and NAME is one entry of ``BLOCKS`` below: the JSON under benchmarks/results/ and the benchmark's
own function that formats it. ``python -m benchmarks.results_md`` rewrites every marked block from
its file; ``--check`` changes nothing and exits 1 when a block differs from what its file gives
(tests/benchmarks/test_results_md.py runs it), so a figure in a marked table cannot drift from
its source or be edited by hand. Prose around the tables is written by people and says where
each figure comes from.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent
RESULTS_MD = ROOT / "RESULTS.md"
RESULTS_DIR = ROOT / "results"

# name -> (result file, "module:function" that turns its JSON into Markdown)
BLOCKS: dict[str, tuple[str, str]] = {
    "recipe_ablation": ("recipe_ablation.json", "benchmarks.bench_recipe:markdown_table"),
    "label_efficiency_small": ("label_efficiency-small.json", "benchmarks.bench_label_efficiency:markdown_table"),
    "scout_calibration": ("scout_calibration.json", "benchmarks.bench_scout_calibration:markdown_table"),
    "gate": ("gate.json", "benchmarks.bench_gate:markdown_table"),
    "gate_shares": ("gate.json", "benchmarks.bench_gate:share_table"),
    "pool_sidecars_quick": ("pool_sidecars-quick.json", "benchmarks.bench_pool_sidecars:markdown_table"),
    "pool_sidecars_200x50k": ("pool_sidecars-200x50k.json", "benchmarks.bench_pool_sidecars:markdown_table"),
}

_BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(\n<!-- /generated -->)", re.S)


def _formatter(spec: str) -> Callable[[dict], str]:
    module, func = spec.split(":")
    return getattr(importlib.import_module(module), func)


def render_block(name: str, results_dir: Path = RESULTS_DIR) -> str:
    if name not in BLOCKS:
        raise KeyError(f"RESULTS.md marks a block {name!r} that benchmarks/results_md.py does not know "
                       f"(known: {sorted(BLOCKS)})")
    file, spec = BLOCKS[name]
    return _formatter(spec)(json.loads((results_dir / file).read_text())).rstrip("\n")


def regenerate(text: str, results_dir: Path = RESULTS_DIR) -> tuple[str, list[str]]:
    """``text`` with every marked block rewritten; and the names of the blocks that changed."""
    changed: list[str] = []

    def sub(m: re.Match) -> str:
        body = render_block(m.group("name"), results_dir)
        if body != m.group("body"):
            changed.append(m.group("name"))
        return m.group(1) + body + m.group(4)

    return _BLOCK.sub(sub, text), changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a block is out of date")
    ap.add_argument("--file", type=Path, default=RESULTS_MD)
    args = ap.parse_args(argv)
    text = args.file.read_text()
    new, changed = regenerate(text)
    n = len(_BLOCK.findall(text))
    if args.check:
        if changed:
            print(f"{args.file}: out of date with benchmarks/results/: {', '.join(changed)} (run `make results`)")
            return 1
        print(f"{args.file}: {n} generated blocks, all up to date")
        return 0
    if changed:
        args.file.write_text(new)
    print(f"{args.file}: {n} generated blocks, {len(changed)} rewritten ({', '.join(changed) or 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
