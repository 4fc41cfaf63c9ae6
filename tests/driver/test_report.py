"""``al-ray report``: the HTML story of a run, checked as text and as a page a browser lays out.

The run reported on is synthetic but written with the project's own writers and schemas (a
``Manifest``, ``batch.parquet`` / ``annotations.parquet`` / ``labels.parquet`` with the contract
schemas), so no Ray, model or corpus is needed. The browser check renders the page in headless
Chromium and reads back, from the page itself, every broken image and every element wider than the
1280 px window; a second page with a broken image and a 3000 px table proves the check can fail.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pytest

from al_ray import config_io, storage
from al_ray.driver.config import RunConfig
from al_ray.driver.evaluate import KAPPA_LEGEND
from al_ray.driver.manifest import Manifest
from al_ray.driver.report import collect, render, write_report
from al_ray.driver.report.collect import MAX_EXAMPLES, derived_confusion
from al_ray.layout import AGREEMENT_FILE, ANNOTATIONS_FILE, RunLayout
from al_ray.schemas import ANNOTATIONS_SCHEMA, LABELS_SCHEMA, batch_schema

LABELS = ["neither", "offensive", "hate"]
SCRIPT_TEXT = '<script>alert("owned")</script> you are all <b>idiots</b>'
IMG_TEXT = 'look <img src="https://evil.example/x.png"> here'
LONG_TEXT = "https://t.co/" + "x" * 400  # one unbreakable word wider than any column
SECTIONS = ("kappa", "examples", "holdout", "balance", "timing", "config")
CONFUSION = [[40, 6, 4], [5, 30, 5], [3, 7, 20]]


def _batch(r: int, n: int) -> list[dict]:
    rows = []
    for k in range(n):
        p = [0.5, 0.3, 0.2] if k % 2 else [0.2, 0.45, 0.35]
        text = {0: SCRIPT_TEXT, 1: IMG_TEXT, 2: LONG_TEXT}.get(k, f"round {r} tweet number {k} about the weather")
        rows.append({"id": f"r{r}-{k}", "text": text, "p_neither": p[0], "p_offensive": p[1], "p_hate": p[2],
                     "predicted_label": LABELS[p.index(max(p))], "entropy": 1.0, "margin": 0.1,
                     "least_confidence": 0.5, "label_mass": 1.0, "cluster_id": k % 3,
                     "pair_id": k // 2 if r else None,
                     "reason": ("typical member of cluster %d (size 40) of predicted label neither, typicality 1.05"
                                % (k % 3)) if r == 0 else
                               f"boundary pair {k // 2}: nearest opposite-label item r{r}-{k ^ 1} at cosine 0.53; "
                               "overlap of offensive vs rest clusters +2 (83 items) and -3 (21 items)",
                     "round": r})
    return rows


def _write_round_files(layout: RunLayout, r: int, n: int) -> dict[str, int]:
    batch = _batch(r, n)
    storage.write_parquet_atomic(pa.Table.from_pylist(batch, schema=batch_schema(LABELS)), layout.batch(r))
    ann, res = [], []
    for k, row in enumerate(batch):
        gold = LABELS[(k + r) % 3]
        other = LABELS[(k + r + 1) % 3] if k == 4 else gold  # one disagreement per batch
        for a, lab in (("sim-expert-1", gold), ("sim-expert-2", other)):
            ann.append({"id": row["id"], "annotator_id": a, "label": lab, "note": None, "round": r,
                        "source_file": "incoming/simulated"})
        res.append({"id": row["id"], "text": row["text"], "label": gold, "round": r,
                    "source": "adjudicated" if k == 4 else "unanimous", "n_annotations": 2, "propagated_from": None})
    storage.write_parquet_atomic(pa.Table.from_pylist(ann, schema=ANNOTATIONS_SCHEMA),
                                 storage.join(layout.labels_dir(r), ANNOTATIONS_FILE))
    storage.write_parquet_atomic(pa.Table.from_pylist(res, schema=LABELS_SCHEMA), layout.labels(r))
    storage.write_json_atomic(storage.join(layout.labels_dir(r), AGREEMENT_FILE), {
        "agreement": {"observed_agreement": 1 - 1 / n, "mean_cohen_kappa": 0.85, "labels": LABELS},
        "gate": {"metric": "mean_cohen_kappa", "passed": True, "reason": "mean_cohen_kappa 0.850 >= 0.8"}})
    counts: dict[str, int] = {}
    for row in res:
        counts[row["label"]] = counts.get(row["label"], 0) + 1
    return counts


@pytest.fixture
def run_dir(tmp_path) -> Path:
    """Three rounds: r0 (12 chosen, old ``kappa`` key), r1 (8 chosen), r2 (scored and evaluated only)."""
    cfg = config_io.build(RunConfig, {
        "run": {"name": "synthetic <run>", "seed": 1, "max_rounds": 2, "batch_size": 10, "label_budget": 20},
        "task": {"name": "hate3", "labels": LABELS, "positive_label": "hate"},
        "corpus": {"url": "/nowhere/corpus", "gold_url": "/nowhere/gold", "holdout_url": "/nowhere/gold"},
        "selection": {"strategy": "boundary_pairs"}, "simulation": {"kind": "vote_counts"},
    })
    root = tmp_path / "run"
    layout = RunLayout(str(root))
    m = Manifest.open(layout, cfg.model_dump(mode="json"))
    m.data["base_model"] = {"url": str(root / "base_model"), "version": "r000-zero-shot"}
    used = 0
    for r, n in ((0, 12), (1, 8), (2, 0)):
        m.mark(r, "score", seconds=60.0 - 10 * r, model_version="r000-zero-shot" if r == 0 else f"r{r:03d}",
               model=str(root / "base_model") if r == 0 else str(root / f"rounds/r{r - 1:03d}/model/merged"),
               rows_scored=1000)
        per_class = {lab: {"precision": 0.6 + 0.1 * r, "recall": 0.5 + 0.1 * r, "f1": 0.55 + 0.1 * r, "support": 50}
                     for lab in LABELS}
        ev = {"n_eval": 4 * r, "per_class": per_class if r else {},
              "holdout_kappa": 0.2 + 0.25 * r, "n_holdout": 130, "holdout_per_class": per_class,
              "holdout_confusion": CONFUSION, "expert_kappa": None if r == 0 else 0.85, "labels_used": used,
              "entropy_hist": [5, 4, 3, 2, 1], "predicted_counts": {"neither": 700, "offensive": 250, "hate": 50}}
        ev.update({"kappa": None} if r == 0 else {"eval_kappa": 0.3 * r})  # r0: a manifest before eval_kappa
        m.mark(r, "evaluate", seconds=0.5, **ev)
        if not n:
            continue
        m.mark(r, "select", seconds=8.0, n_selected=n, pool_size=200,
               strategy="typical" if r == 0 else "boundary_pairs", cold_start=r == 0)
        _write_round_files(layout, r, n)
        m.mark(r, "labels", seconds=0.1, n_labels=n, expert_kappa=0.85, gate_passed=True,
               agreement_metric="mean_cohen_kappa", gate_bound="estimate", gate_threshold=0.8,
               coefficients={"mean_cohen_kappa": {"estimate": 0.85, "low": 0.7, "high": 0.95},
                             "gwet_ac1": {"estimate": 0.88, "low": 0.75, "high": 0.97}})
        m.mark(r, "finetune", seconds=120.0, version=f"r{r + 1:03d}",
               metrics={"n_train": used + n, "steps": 150, "train_loss_before": 1.1, "train_loss_after": 0.05,
                        "device": "cpu", "environment": {"python": "3.11.7", "torch": "2.13.0+cpu"}})
        used += n
    m.data["references"] = {"random": [[12, 0.3], [20, 0.55]], "crowd": 0.45, "source": "a <benchmark>"}
    m.set_status("budget_spent", detail="20 labels used of a budget of 20")
    return root


class _Attrs(HTMLParser):
    """Every tag's attributes (unescaped), and the body's."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(page: str) -> list[tuple[str, dict]]:
    p = _Attrs()
    p.feed(page)
    return p.tags


def test_report_tells_the_story_escapes_user_text_and_loads_nothing(run_dir):
    out = write_report(str(run_dir))
    assert out == RunLayout(str(run_dir)).report
    page = Path(out).read_text(encoding="utf-8")
    tags = _tags(page)
    ids = {a.get("id") for _, a in tags}
    assert set(SECTIONS) <= ids and {"examples-r0", "examples-r1"} <= ids
    # user texts are text: no script element, no img of theirs, the markup shown escaped
    assert not [t for t, _ in tags if t in ("script", "link", "iframe", "object", "embed")]
    assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in page and "synthetic &lt;run&gt;" in page
    # nothing outside the file: every src/href is a data URI or an anchor, no CSS url()/@import
    refs = [v for _, a in tags for k, v in a.items() if k in ("src", "href", "srcset", "poster", "action", "data")]
    assert refs and all(v.startswith(("data:image/png;base64,", "#")) for v in refs), refs
    assert "url(" not in page and "@import" not in page
    assert len([t for t, _ in tags if t == "img"]) >= 6
    # the two kappas named as everywhere else, the references drawn and their source
    assert KAPPA_LEGEND.replace("'", "&#x27;") in page
    assert "References drawn: random selection, crowd labels (from a &lt;benchmark&gt;)" in page
    # chosen examples bounded and counted; agreement per item; the confusion matrix on the holdout
    assert "Round 0: 12 chosen, the first 10 in selection order shown" in page
    assert "Round 1: 8 chosen</b>" in page
    d = collect(str(run_dir))
    assert [len(r["examples"]["items"]) for r in d["rounds"] if r["examples"]] == [MAX_EXAMPLES, 8]
    assert d["rounds"][0]["examples"]["items"][4]["agree"] == (1, 2)
    assert d["rounds"][0]["eval_kappa"] is None and d["rounds"][2]["eval_kappa"] == pytest.approx(0.6)
    assert d["rounds"][2]["holdout_confusion"] == CONFUSION and ">30</span>" in page
    # class balance against the corpus, time per step (no price given: seconds, said so), versions
    assert "corpus: model" in page and "neither 700 (70%)" in page
    assert "No price per hour was given" in page and "$" not in page.split("id='timing'")[1].split("</section>")[0]
    assert "r000-zero-shot" in page and "torch 2.13.0+cpu" in page
    assert "&quot;strategy&quot;: &quot;boundary_pairs&quot;" in page  # the config
    priced = render(collect(str(run_dir), cost_per_hour=3.6))
    assert "Cost = wall seconds × $3.6 per hour." in priced
    assert "$0.19" in priced and "$0.41" in priced  # round 0: 188.6 s, all rounds: 407.7 s


def test_report_without_references_or_rounds_says_so(run_dir, tmp_path):
    page = render(collect(str(run_dir), references={}))
    assert "carries no random-selection or crowd references" in page
    empty = tmp_path / "empty"
    Manifest.open(RunLayout(str(empty)), {"task": {"labels": ["a", "b"]}})
    page = Path(write_report(str(empty))).read_text(encoding="utf-8")
    assert all(f"id='{s}'" in page for s in SECTIONS) and "No round has chosen a batch yet" in page


def test_confusion_of_older_manifests_follows_from_binary_recall_and_support():
    pc = {"neither": {"recall": 0.82, "support": 50}, "violating": {"recall": 0.916, "support": 250}}
    assert derived_confusion(pc, ["neither", "violating"]) == [[41, 9], [21, 229]]
    assert derived_confusion({**pc, "x": {"recall": 1.0, "support": 1}}, ["neither", "violating", "x"]) is None


# ----------------------------------------------------------------------------- the browser

# Run on load, after every collapsed section is opened: broken images, and tables/pre wider than
# their container or any element reaching past the window's right edge.
CHECK_JS = """<script>
window.addEventListener('load', function () {
  document.querySelectorAll('details').forEach(function (d) { d.open = true; });
  var W = document.documentElement.clientWidth, broken = [], overflow = [];
  function name(el) { return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' "' +
                             (el.textContent || '').trim().slice(0, 40) + '"'; }
  document.querySelectorAll('img').forEach(function (im) {
    if (!im.complete || im.naturalWidth === 0) broken.push(name(im) + ' ' + (im.alt || ''));
  });
  document.querySelectorAll('table, pre').forEach(function (el) {
    var p = el.parentElement;
    if (el.scrollWidth > p.clientWidth + 1) overflow.push(name(el) + ' ' + el.scrollWidth + ' > ' + p.clientWidth);
  });
  document.querySelectorAll('body *').forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (r.right > W + 1) overflow.push(name(el) + ' right edge ' + Math.round(r.right) + ' > ' + W);
  });
  document.body.dataset.check = JSON.stringify({broken: broken, overflow: overflow, width: W});
});
</script>"""
BROKEN = ("<img alt='deliberately broken' src='data:image/png;base64,AAAA'>"
          "<table><tr><td><div style='width:3000px'>a 3000 px table</div></td></tr></table>")


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is not installed: run `make browser` (Debian package `chromium`) for the report's "
                    "browser check")
    return exe


def _browser(page: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([_chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,2000",
                           "--virtual-time-budget=5000", f"--user-data-dir={tmp_path / 'chromium-profile'}", *extra,
                           page.resolve().as_uri()], capture_output=True, text=True, timeout=180)


def browser_check(report: Path, tmp_path: Path, inject: str = "") -> dict:
    """Lay the report out in headless Chromium at 1280 px; what the page found wrong with itself."""
    copy = tmp_path / f"checked-{len(inject)}.html"
    copy.write_text(report.read_text(encoding="utf-8").replace("</body>", inject + CHECK_JS + "</body>"),
                    encoding="utf-8")
    proc = _browser(copy, tmp_path, "--dump-dom")
    body = [a for t, a in _tags(proc.stdout) if t == "body"]
    assert body and "data-check" in body[0], f"the check did not run: {proc.stdout[-500:]} {proc.stderr[-2000:]}"
    return json.loads(body[0]["data-check"])


@pytest.mark.slow
def test_report_renders_in_chromium_without_broken_images_or_overflow(run_dir, tmp_path):
    report = Path(write_report(str(run_dir)))
    found = browser_check(report, tmp_path)
    assert found["width"] >= 1200, found
    assert found["broken"] == [] and found["overflow"] == [], found
    # the check can fail: a broken image and a 3000 px table in the same page are both reported
    bad = browser_check(report, tmp_path, inject=BROKEN)
    assert any("deliberately broken" in b for b in bad["broken"]), bad
    assert any(o.startswith("table") for o in bad["overflow"]), bad
    shot = tmp_path / "report.png"
    proc = _browser(report, tmp_path, "--hide-scrollbars", f"--screenshot={shot}")
    assert shot.exists() and shot.stat().st_size > 20_000, proc.stderr[-2000:]
    from PIL import Image

    assert Image.open(shot).size == (1280, 2000)


def test_price_and_references_come_from_the_run_config(run_dir):
    """A run config's `report` section is what the report draws when nothing else is given."""
    mf = RunLayout(str(run_dir)).manifest
    data = json.loads(Path(mf).read_text())
    data.pop("references")
    data["config"]["report"] = {"cost_per_hour": 3.6,
                                "references": {"random": [[10, 0.25]], "crowd": 0.5, "source": "config"}}
    Path(mf).write_text(json.dumps(data))
    d = collect(str(run_dir))
    assert d["cost_per_hour"] == 3.6 and d["references"] == {"random": [(10.0, 0.25)], "crowd": 0.5, "source": "config"}


def test_report_command_takes_a_price_and_a_references_file(run_dir, tmp_path):
    from tests.cli.conftest import run_cli

    refs = tmp_path / "refs.yaml"
    refs.write_text("random: [[12, 0.31], [20, 0.52]]\ncrowd: 0.47\nsource: my random arm\n")
    res = run_cli("report", str(run_dir), "--references", str(refs), "--cost-per-hour", "3.6")
    assert res.code == 0, res.output
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "Cost = wall seconds × $3.6 per hour." in page and "(from my random arm)" in page
    refs.write_text("random: [[12, 1.5]]\n")  # a kappa above 1: bad input, named
    res = run_cli("report", str(run_dir), "--references", str(refs))
    assert res.code == 2 and "Traceback" not in res.output, res.output
    assert str(refs) in res.stderr and "kappa within [-1, 1]" in res.stderr
    res = run_cli("report", str(run_dir), "--references", str(tmp_path / "missing.yaml"))
    assert res.code == 2 and "--references file not found" in res.stderr and "config file" not in res.stderr


def test_run_config_refuses_a_bad_report_section():
    base = {"task": {"labels": ["a", "b"]}, "corpus": {"url": "/c"}}
    with pytest.raises(Exception, match="cost_per_hour"):
        config_io.build(RunConfig, {**base, "report": {"cost_per_hour": -1}})
    with pytest.raises(Exception, match="referencez"):
        config_io.build(RunConfig, {**base, "report": {"referencez": {}}})
