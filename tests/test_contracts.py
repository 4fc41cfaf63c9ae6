"""The contract layer: every artefact's file name is spelled once, in ``al_ray.layout``.

A stage module (scoring, selection, labeling, finetune, driver, nightly, data, and the Ray jobs)
that writes ``"labels.parquet"`` itself instead of importing ``LABELS_FILE`` would keep working
until the name changes, then read or write a file nobody else looks at. These tests read every
stage module's syntax tree and fail on a string constant that spells an artefact file name:

- any name registered in ``al_ray.layout.ARTEFACT_FILES`` (``"batch.parquet"``, ``"_summary.json"``,
  the ``".done"`` marker suffix ...), anywhere in a string, messages included;
- any other string that looks like a file name with an artefact's extension (``"foo.parquet"``,
  ``f"{part}.jsonl"``), so a new artefact cannot be added without a name in the contract layer.
  A bare suffix (``".parquet"``, used to list or recognise files of a format) is not a name.

Documentation is not checked: docstrings and other bare string statements, and the text of
``description=`` / ``help=`` arguments (pydantic fields, CLI flags), which tell a user which file a
setting is about.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from al_ray import layout

ROOT = Path(__file__).resolve().parents[1]
STAGE_DIRS = ("al_ray/scoring", "al_ray/selection", "al_ray/labeling", "al_ray/finetune", "al_ray/driver",
              "al_ray/nightly", "al_ray/data", "jobs")
ARTEFACT_EXTENSIONS = ("parquet", "json", "jsonl", "done", "html", "xml", "safetensors")
# A file name: a non-empty stem (letters, digits, _ - . and {} for f-string fields) and an artefact extension.
FILE_NAME = re.compile(r"(?<![\w.{}-])[\w{}-][\w.{}-]*\.(?:" + "|".join(ARTEFACT_EXTENSIONS) + r")(?![\w])")


def stage_files() -> list[Path]:
    files = sorted(p for d in STAGE_DIRS for p in (ROOT / d).rglob("*.py"))
    assert files, "no stage modules found"
    return files


DOC_KEYWORDS = ("description", "help")


def _documentation(tree: ast.AST) -> set[int]:
    """ids of the string nodes that are documentation: bare string statements (docstrings,
    attribute docs) and everything inside a ``description=`` / ``help=`` argument."""
    docs = {id(node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)}
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg in DOC_KEYWORDS:
            docs.update(id(sub) for sub in ast.walk(node.value) if isinstance(sub, (ast.Constant, ast.JoinedStr)))
    return docs


def string_literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string literal outside documentation; an f-string is one literal with
    ``{}`` standing for each interpolated field."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    docs = _documentation(tree)
    inner: set[int] = set()
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            inner.update(id(sub) for sub in ast.walk(node.format_spec))  # "03d" of f"{k:03d}"
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and id(node) not in docs and id(node) not in inner:
            parts = []
            for v in node.values:
                inner.add(id(v))
                is_text = isinstance(v, ast.Constant) and isinstance(v.value, str)
                parts.append(v.value if is_text else "{}")
            out.append((node.lineno, "".join(parts)))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
                and id(node) not in inner):
            out.append((node.lineno, node.value))
    return out


def _spells(text: str, name: str) -> bool:
    if name.startswith("."):  # a suffix such as ".done": on its own, or ending a name
        return re.search(re.escape(name) + r"(?![\w])", text) is not None
    return re.search(r"(?<![\w.-])" + re.escape(name) + r"(?![\w])", text) is not None


def names_in(text: str) -> list[str]:
    """The artefact file names a string spells: registered ones, then any other file-like name."""
    names = [n for n in layout.ARTEFACT_FILES if _spells(text, n)]
    return names + [m.group(0) for m in FILE_NAME.finditer(text) if m.group(0) not in names]


def violations(path: Path) -> list[str]:
    rel = path.relative_to(ROOT)
    return [f"{rel}:{line}: {name!r} in {text[:80]!r}"
            for line, text in string_literals(path) for name in names_in(text)]


def test_no_stage_module_spells_an_artefact_file_name():
    found = [v for p in stage_files() for v in violations(p)]
    assert not found, ("stage modules spell artefact file names; import them from al_ray.layout "
                       "(or use RunLayout) instead:\n" + "\n".join(found))


def test_the_check_catches_what_it_should(tmp_path):
    """The checker itself: literals, f-strings and messages are caught; suffixes and docs are not."""
    bad = tmp_path / "bad.py"
    bad.write_text('"""Writes labels.parquet (documentation: fine)."""\n'
                   'A = "batch.parquet"\n'
                   'B = f"{out}/_summary.json"\n'
                   'C = f"split/{part}.parquet"\n'
                   'D = "see assignments.jsonl for the items"\n'
                   'E = path + ".done"\n'
                   'F = storage.list_files(url, ".parquet")\n'
                   'G = name.endswith((".jsonl", ".csv", ".json"))\n'
                   'H = Field(None, description="Write candidates.parquet beside the batch.")\n'
                   'I = f"{x}" + "labels.parquet"\n', encoding="utf-8")
    tree_hits = [text for _, text in string_literals(bad)]
    assert "Writes labels.parquet (documentation: fine)." not in tree_hits
    found = [(line, name) for line, text in string_literals(bad) for name in names_in(text)]
    assert sorted(found) == [(2, "batch.parquet"), (3, "_summary.json"), (4, "{}.parquet"),
                                 (5, "assignments.jsonl"), (6, ".done"), (10, "labels.parquet")]


def test_the_contract_layer_names_each_file_once():
    names = list(layout.ARTEFACT_FILES)
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def _import_graph() -> dict[str, set[str]]:
    """al_ray module -> the al_ray modules it imports, from every import statement in its source
    (module level, inside functions, under TYPE_CHECKING alike). ``from pkg import sub`` counts as
    importing ``pkg.sub``; a module's imports of its own enclosing packages are left out (a package
    ``__init__`` that re-exports its submodules is not a cycle)."""
    mods: dict[str, tuple[Path, bool]] = {}
    for p in sorted((ROOT / "al_ray").rglob("*.py")):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (p, is_pkg)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, (p, is_pkg) in mods.items():
        pkg = m if is_pkg else m.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                    base = ".".join(up) + (f".{base}" if base else "")
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods]
                names = subs if len(subs) == len(node.names) else [base, *subs]
            else:
                continue
            graph[m].update(n for n in names if n in mods and n != m and not m.startswith(n + "."))
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    """Among others: the annotation readers import ``formats.common`` and it imports none of them;
    the strategies never import the selection config (which imports their registry)."""
    graph = _import_graph()
    assert "al_ray.labeling.formats.canonical" not in graph["al_ray.labeling.formats.common"]
    assert "al_ray.selection.config" not in graph["al_ray.selection.strategies"]
    assert not _cycles(graph)


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_one_registry_of_strategies():
    from al_ray.selection import STRATEGIES, SelectionConfig, build_strategy

    for name, cls in STRATEGIES.items():
        assert cls.name == name
        assert type(build_strategy(SelectionConfig(strategy=name))) is cls
    src = (ROOT / "al_ray/selection/strategies/__init__.py").read_text(encoding="utf-8")
    assert "if name ==" not in src  # no second table of names in an if-chain
