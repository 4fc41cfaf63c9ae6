"""Regenerate the tables of benchmarks/RESULTS.md from the result files (``make results``).

A table in RESULTS.md that comes from a result file sits between two markers::

    <!-- generated: NAME -->
    | ... the table ... |
    <!-- /generated -->

(indented as a whole when the table sits in a list item, or each line after ``> `` when it sits in
a blockquote), and NAME is one entry of ``BLOCKS``
below: the JSON file(s) under benchmarks/results/ and the function that formats them, the
benchmark's own or one in benchmarks/results_tables.py. ``python -m benchmarks.results_md``
rewrites every marked block from its files; ``--check`` changes nothing and exits 1 when a block
differs from what its files give (tests/benchmarks/test_results_md.py runs it), so a figure in a
marked table cannot drift from its source or be edited by hand. A formatter that reads a key its
file lacks fails with ``MissingKey``, naming the file and the key. Prose around the tables is
written by people and says where each figure comes from.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent
RESULTS_MD = ROOT / "RESULTS.md"
RESULTS_DIR = ROOT / "results"

# name -> (result file or files, "module:function" that turns their JSON into Markdown; a function
# given several files gets one argument per file, in this order)
_T = "benchmarks.results_tables"
BLOCKS: dict[str, tuple[str | tuple[str, ...], str]] = {
    "recipe_ablation": ("recipe_ablation.json", "benchmarks.bench_recipe:markdown_table"),
    "label_efficiency_small": ("label_efficiency-small.json", "benchmarks.bench_label_efficiency:markdown_table"),
    "scout_calibration": ("scout_calibration.json", "benchmarks.bench_scout_calibration:markdown_table"),
    "gate": ("gate.json", "benchmarks.bench_gate:markdown_table"),
    "gate_shares": ("gate.json", "benchmarks.bench_gate:share_table"),
    "pool_sidecars_quick": ("pool_sidecars-quick.json", "benchmarks.bench_pool_sidecars:markdown_table"),
    "pool_sidecars_200x50k": ("pool_sidecars-200x50k.json", "benchmarks.bench_pool_sidecars:markdown_table"),
    "pool_sidecars_100000x100": ("pool_sidecars-100000x100.json", "benchmarks.bench_pool_sidecars:markdown_table"),
    "label_efficiency_full": ("label_efficiency.json", f"{_T}:label_efficiency_table"),
    "label_efficiency_curve": ("label_efficiency.json", f"{_T}:label_efficiency_curve"),
    "label_efficiency_replicates": ("label_efficiency.json", f"{_T}:label_efficiency_replicates"),
    "label_efficiency_defaults": (("label_efficiency.json", "label_efficiency-2026-12-01-violating.json",
                                   "label_efficiency-2026-12-01-hate.json"), f"{_T}:defaults_comparison_table"),
    "label_efficiency_today_curve": (("label_efficiency-2026-12-01-violating.json",
                                      "label_efficiency-2026-12-01-hate.json"), f"{_T}:today_curve"),
    "loop_step_seconds": (("label_efficiency-2026-12-01-violating.json", "label_efficiency-2026-12-01-hate.json"),
                          f"{_T}:loop_step_seconds_table"),
    "demo": ("demo.json", f"{_T}:demo_table"),
    "pooling_probe": ("pooling_probe.json", f"{_T}:pooling_probe_table"),
    "run_all_quick": ("run_all-quick.json", f"{_T}:run_all_table"),
    "recipe_contrastive": ("recipe_ablation.json", f"{_T}:recipe_contrastive_table"),
    # not marked in RESULTS.md until scoring_full.json is rerun: the present file predates the keys it reads
    "scoring_full": ("scoring_full.json", f"{_T}:scoring_table"),
    "scoring_full_more": ("scoring_full.json", f"{_T}:scoring_more_table"),
    "actors": ("actors.json", f"{_T}:actors_table"),
    "selection_extract": ("selection.json", f"{_T}:selection_extract_table"),
    "selection_stages": ("selection.json", f"{_T}:selection_stages_table"),
    "faults": ("faults.json", f"{_T}:faults_table"),
    "scoring_driver": ("scoring_driver.json", f"{_T}:scoring_driver_table"),
    "duplicate_check_quick": ("duplicate_check-quick.json", f"{_T}:duplicate_check_table"),
    "duplicate_check": ("duplicate_check.json", f"{_T}:duplicate_check_table"),
    "scoring_driver_s3_quick": ("scoring_driver_s3-quick.json", f"{_T}:scoring_driver_s3_table"),
    "scoring_driver_s3": ("scoring_driver_s3.json", f"{_T}:scoring_driver_s3_table"),
    "gpu_transformers": ("transformers_gpu.json", f"{_T}:gpu_table"),
    "gpu_planners": (("transformers_gpu-old-planner.json", "transformers_gpu-fill025.json",
                      "transformers_gpu.json"), f"{_T}:gpu_planner_table"),
    "plan_1e9_h100": ("plan-1e9-h100-transformers.json", f"{_T}:plan_table"),
}

# The body never runs into another block's markers, so a block without a body or closing marker
# does not swallow the next block (it fails in regenerate, named, instead).
_BLOCK = re.compile(r"^(?P<indent>[ \t]*(?:>[ \t]?)*)(?P<open><!-- generated: (?P<name>[\w-]+) -->\n)"
                    r"(?P<body>(?:(?!<!-- /?generated).)*?)"
                    r"(?P<close>\n(?P=indent)<!-- /generated -->)", re.S | re.M)
_OPEN = re.compile(r"^[ \t]*(?:>[ \t]?)*<!-- generated: ([\w-]+) -->$", re.M)


class MissingKey(KeyError):
    """A formatter read a key that its result file does not have."""

    def __str__(self) -> str:  # KeyError's own str() is the repr of its argument
        return str(self.args[0])


class Record(dict):
    """One JSON object of a result file. A missing key raises MissingKey naming the file, the key and
    the keys the object does have: a bare KeyError would name only the key, and a formatter can
    read several files."""

    def __init__(self, file: str, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        self.file = file

    def __missing__(self, key: str):
        raise MissingKey(f"benchmarks/results/{self.file}: no key {key!r} in an object with keys "
                         f"{', '.join(map(repr, self)) or '(none)'}")


def load(file: str, results_dir: Path = RESULTS_DIR) -> dict:
    """A result file whose every object is a Record."""
    return json.loads((results_dir / file).read_text(), object_pairs_hook=lambda pairs: Record(file, pairs))


def _formatter(spec: str) -> Callable[..., str]:
    module, func = spec.split(":")
    return getattr(importlib.import_module(module), func)


def render_block(name: str, results_dir: Path = RESULTS_DIR) -> str:
    if name not in BLOCKS:
        raise KeyError(f"RESULTS.md marks a block {name!r} that benchmarks/results_md.py does not know "
                       f"(known: {sorted(BLOCKS)})")
    files, spec = BLOCKS[name]
    files = (files,) if isinstance(files, str) else files
    try:
        return _formatter(spec)(*(load(f, results_dir) for f in files)).rstrip("\n")
    except MissingKey as exc:
        raise MissingKey(f"block {name!r} ({spec}): {exc}") from exc


def blocks(text: str) -> dict[str, str]:
    """The body of every marked block in ``text``, by name, without the block's indentation."""
    return {m.group("name"): _unprefix(m.group("body"), m.group("indent")) for m in _BLOCK.finditer(text)}


def _prefix(body: str, indent: str) -> str:
    # inside a blockquote an empty line must keep its '>', or it would end the quote
    return textwrap.indent(body, indent, (lambda line: True) if ">" in indent else None)


def _unprefix(body: str, indent: str) -> str:
    if ">" not in indent:
        return textwrap.dedent(body)
    return re.sub(rf"^{re.escape(indent.rstrip())} ?", "", body, flags=re.M)


def regenerate(text: str, results_dir: Path = RESULTS_DIR) -> tuple[str, list[str]]:
    """``text`` with every marked block rewritten; and the names of the blocks that changed."""
    changed: list[str] = []

    def sub(m: re.Match) -> str:
        body = _prefix(render_block(m.group("name"), results_dir), m.group("indent"))
        if body != m.group("body"):
            changed.append(m.group("name"))
        return m.group("indent") + m.group("open") + body + m.group("close")

    matched = [m.group("name") for m in _BLOCK.finditer(text)]
    broken = [n for n in _OPEN.findall(text) if n not in matched]
    if broken:
        raise ValueError(f"generated blocks {broken}: need at least one line of body and a closing "
                         "'<!-- /generated -->' at the same indentation")
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
