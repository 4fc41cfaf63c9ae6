"""The collected run as one HTML page: the run's story from kappa to cost, no external resources.

Every value that came from the run (texts, ids, reasons, labels, config) is HTML-escaped: they are
user data, and a tweet containing ``<script>`` must show as text, not run. Tables are kept narrow
(few columns, fixed layout, wrapping cells) so the page fits 1280 px without a horizontal scroll;
``tests/driver/test_report.py`` renders it in headless Chromium to hold that.
"""

from __future__ import annotations

import html
import json
from typing import Any, Iterable, Sequence

from al_ray.driver.evaluate import KAPPA_LEGEND
from al_ray.driver.report import plots
from al_ray.driver.report.collect import MAX_TEXT_CHARS

SECTIONS = (("kappa", "Kappa against labels used"), ("examples", "Chosen examples per round"),
            ("holdout", "Holdout: confusion matrix and per-class precision and recall"),
            ("balance", "Class balance: batches against the corpus"), ("timing", "Time and cost per step"),
            ("uncertainty", "Uncertainty over the corpus"), ("config", "Config and model versions"))

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;
 line-height:1.45;color:#222}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
h3{margin:1.2em 0 .3em;font-size:1.05em}
table{border-collapse:collapse;margin:.4em 0 1em;font-size:.88em;max-width:100%}
table.wide{width:100%;table-layout:fixed}
td,th{border:1px solid #ccc;padding:.25em .5em;vertical-align:top;text-align:left;overflow-wrap:anywhere;
 word-break:break-word}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto;display:block}
figure{margin:.5em 0 1em}figcaption,.note{font-size:.85em;color:#555;max-width:60em}
pre{white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word;background:#f6f6f6;padding:.6em;
 font-size:.8em;max-height:40em;overflow-y:auto}
nav a{margin-right:1em}summary{cursor:pointer;margin:.6em 0 .3em}
.ok{color:#1a7f37}.bad{color:#b42318}.small{font-size:.85em;color:#555}
"""


def _in_run(d: dict[str, Any], url: Any) -> Any:
    """A location inside the run folder as ``RUN/...``: shorter, and the same wherever the run was copied."""
    root = str(d.get("run_url") or "").rstrip("/")
    if isinstance(url, str) and root and url.startswith(root + "/"):
        return "RUN" + url[len(root):]
    return url


def esc(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def num(v: Any, nd: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return esc(v)


def table(head: Sequence[str], rows: Iterable[Sequence[str]], *, widths: Sequence[int] | None = None,
          numeric: Sequence[int] = (), cls: str = "") -> str:
    """Cells are HTML already (escape before); ``widths`` (percent) make a fixed-layout full-width table."""
    cols = "<colgroup>" + "".join(f"<col style='width:{w}%'>" for w in widths) + "</colgroup>" if widths else ""
    klass = " ".join(c for c in (cls, "wide" if widths else "") if c)
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td class='n'>{c}</td>" if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table class='{klass}'>{cols}<thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def figure(src: str | None, caption: str, alt: str) -> str:
    if src is None:
        return f"<p class='note'>{caption}</p>"
    return f"<figure><img src='{src}' alt='{esc(alt)}'><figcaption>{caption}</figcaption></figure>"


def _counts(c: dict[str, int], labels: Sequence[str]) -> str:
    total = max(sum(c.values()), 1)
    keys = list(labels) + sorted(set(c) - set(labels))
    return " · ".join(f"{esc(k)} {c[k]} ({100 * c[k] / total:.0f}%)" for k in keys if k in c) or "–"


def _interval(iv: dict[str, Any] | None) -> str:
    if not iv or iv.get("estimate") is None:
        return "–"
    ci = f" [{iv['low']:.2f}, {iv['high']:.2f}]" if iv.get("low") is not None and iv.get("high") is not None else ""
    return f"{iv['estimate']:.3f}{ci}"


# ----------------------------------------------------------------------------- sections

def _summary(d: dict[str, Any]) -> str:
    rows = d["rounds"]
    last_ho = next((r for r in reversed(rows) if r["holdout_kappa"] is not None), None)
    ceil = next((r["expert_kappa_cum"] for r in reversed(rows) if r["expert_kappa_cum"] is not None), None)
    used = max([r["labels_used"] or 0 for r in rows] + [0])
    secs = sum(sum(r["seconds"].values()) for r in rows)
    facts = [f"{len(rows)} round{'s' if len(rows) != 1 else ''}", f"{used} expert labels used by the last model"]
    if last_ho:
        facts.append(f"holdout kappa {last_ho['holdout_kappa']:.3f} (round {last_ho['round']})")
    if ceil is not None:
        facts.append(f"expert–expert ceiling {ceil:.3f}")
    facts.append(f"{secs / 60:.1f} min of step wall time")
    info = esc(d["status_info"].get("detail", ""))
    nav = "".join(f"<a href='#{i}'>{esc(t.split(':')[0])}</a>" for i, t in SECTIONS)
    return (f"<h1>al_ray run: {esc(d['name'])}</h1>"
            f"<p>Task <b>{esc(d.get('task'))}</b> (labels: {esc(', '.join(d['labels']))}). "
            f"Status: <b>{esc(d['status'])}</b> {info}</p><p>{esc('; '.join(facts))}.</p>"
            f"<p class='small'>RUN = {esc(d.get('run_url'))}; created {esc(d.get('created_at'))}, "
            f"updated {esc(d.get('updated_at'))}</p>"
            f"<nav>{nav}</nav>")


def _kappa(d: dict[str, Any]) -> str:
    refs = d.get("references")
    if refs:
        have = [n for n, ok in (("random selection", refs.get("random")),
                                ("crowd labels", refs.get("crowd") is not None)) if ok]
        ref_note = (f"References drawn: {esc(', '.join(have))}"
                    + (f" (from {esc(refs['source'])})" if refs.get("source") else "") + ".")
    else:
        ref_note = ("This run carries no random-selection or crowd references (they are separate runs, e.g. "
                    "the label-efficiency benchmark's arms); only the run's own curves and the expert ceiling "
                    "are drawn.")
    caption = (f"Cohen's kappa of each round's model against labels used so far (point labels: round). "
               f"{esc(KAPPA_LEGEND)} The ceiling is the experts' agreement with each other on the batches so far "
               f"(the last round's value). {ref_note}")
    rows = [[esc(r["round"]), esc(r["model_version"]), esc(r["labels_used"]),
             f"{num(r['eval_kappa'])} <span class='small'>(n={esc(r['n_eval'])})</span>",
             f"{num(r['holdout_kappa'])} <span class='small'>(n={esc(r['n_holdout'])})</span>",
             num(r["expert_kappa_cum"])] for r in d["rounds"]]
    tab = table(["round", "model scored", "labels used", "eval kappa", "holdout kappa",
                 "expert–expert kappa so far"], rows, numeric=(0, 2, 3, 4, 5))
    return figure(plots.kappa_plot(d), caption, "kappa against labels used") + tab


def _example_table(labels: Sequence[str], ex: dict[str, Any]) -> str:
    rows = []
    for it in ex["items"]:
        probs = "<br>".join((f"<b>{esc(k)} {v:.3f}</b>" if k == it["predicted"] else f"{esc(k)} {v:.3f}")
                            for k, v in it["probs"].items() if v is not None) or esc(it["predicted"])
        votes = "<br>".join(f"{esc(a)}: {esc(lab)}" for a, lab in it["votes"]) or "–"
        agree = f"{it['agree'][0]}/{it['agree'][1]}" if it["agree"] else "–"
        if it["agree"] and it["agree"][1] > 1:
            agree = f"<span class='{'ok' if it['agree'][0] == it['agree'][1] else 'bad'}'>{agree}</span>"
        final = esc(it["final"]) + (f" <span class='small'>({esc(it['source'])})</span>" if it["source"] else "")
        rows.append([f"<span class='small'>{esc(it['id'])}</span><br>{esc(it['text'])}", probs, esc(it["reason"]),
                     votes, agree, final or "–"])
    return table(["id / text", "model p (bold: predicted)", "reason chosen", "expert labels", "agree",
                  "final label"], rows, widths=(32, 13, 25, 15, 6, 9))


def _examples(d: dict[str, Any]) -> str:
    rows = d["rounds"]
    batch_rows = []
    for r in rows:
        if r["n_selected"] is None and r["examples"] is None:
            continue
        metric = r["gate"].get("agreement_metric") or "mean_cohen_kappa"
        coef = _interval(r["coefficients"].get(metric)) if r["coefficients"] else num(r["batch_expert_kappa"])
        others = "; ".join(f"{esc(k)} {_interval(v)}" for k, v in r["coefficients"].items() if k != metric)
        if r["observed_agreement"] is not None:
            others = "; ".join(x for x in (f"observed agreement {r['observed_agreement']:.3f}", others) if x)
        gate = {True: "<span class='ok'>passed</span>", False: "<span class='bad'>not passed</span>"}.get(
            r["gate_passed"], "–")
        pool = f" of {r['pool_size']}" if r["pool_size"] else ""
        batch_rows.append([esc(r["round"]), esc(r["strategy"]) + (" (cold start)" if r["cold_start"] else ""),
                           f"{esc(r['n_selected'])}{esc(pool)}", f"{esc(metric)} {coef}",
                           gate + (f"<br><span class='small'>{esc(r['gate_reason'])}</span>"
                                   if r["gate_reason"] else ""),
                           others or "–"])
    out = [table(["round", "strategy", "chosen of pool", "expert agreement on the batch", "gate",
                  "other measures"], batch_rows, widths=(7, 15, 12, 22, 22, 22)) if batch_rows
           else "<p class='note'>No round has chosen a batch yet.</p>"]
    out.append(figure(plots.agreement_plot(d), "The labelling gate's agreement coefficient on each batch, with its "
                      "interval, against the configured threshold.", "expert agreement per batch"))
    chosen = [r for r in rows if r["examples"]]
    if chosen:
        out.append("<p class='note'>Click a round to see its chosen items (the latest round is open). Texts are "
                   f"cut at {MAX_TEXT_CHARS} characters.</p>")
    for r in chosen:
        ex = r["examples"]
        shown = len(ex["items"])
        more = f", the first {shown} in selection order shown" if shown < ex["n"] else ""
        is_open = " open" if r is chosen[-1] else ""
        out.append(f"<details id='examples-r{r['round']}'{is_open}><summary><b>Round {r['round']}: {ex['n']} "
                   f"chosen{esc(more)}</b></summary>{_example_table(d['labels'], ex)}</details>")
    return "".join(out)


def _holdout(d: dict[str, Any]) -> str:
    labels = d["labels"]
    last = next((r for r in reversed(d["rounds"]) if r["n_holdout"]), None)
    if last is None:
        ev = next((r for r in reversed(d["rounds"]) if r["per_class"]), None)
        msg = "<p class='note'>This run has no holdout set (corpus.holdout_url), so no confusion matrix is kept.</p>"
        if ev is None:
            return msg
        return msg + (f"<p>Per-class figures of round {ev['round']}'s model on the eval labels "
                      f"(n={esc(ev['n_eval'])}) instead:</p>") + _per_class_table(labels, ev["per_class"])
    out = [f"<p>Model {esc(last['model_version'])} (round {last['round']}) on {esc(last['n_holdout'])} "
           f"holdout items, holdout kappa {num(last['holdout_kappa'])}.</p>"]
    cm = last["holdout_confusion"]
    if cm:
        head = ["gold ↓ / predicted →"] + [esc(lab) for lab in labels]
        rows = []
        for lab, row in zip(labels, cm):
            total = max(sum(row), 1)
            shade = "background:rgba(31,119,180,{:.2f});padding:0 .3em"
            cells = [f"<span style='{shade.format(0.1 + 0.6 * v / total)}'>{v}</span>"
                     f" <span class='small'>{100 * v / total:.0f}%</span>" for v in row]
            rows.append([f"<b>{esc(lab)}</b>"] + cells)
        out.append(table(head, rows, numeric=tuple(range(1, len(labels) + 1))))
        if last["confusion_derived"]:
            out.append("<p class='note'>This manifest predates the stored matrix: it is derived from each class's "
                       "recall and support, which fixes it exactly for two classes.</p>")
    else:
        out.append("<p class='note'>No confusion matrix recorded for this round (manifests before "
                   "holdout_confusion keep only per-class figures, which fix it only for two classes).</p>")
    out.append(_per_class_table(labels, last["holdout_per_class"]))
    out.append(figure(plots.per_class_plot(d), "Holdout recall (solid) and precision (dashed) of each class per "
                      "round.", "per-class precision and recall per round"))
    return "".join(out)


def _per_class_table(labels: Sequence[str], pc: dict[str, Any]) -> str:
    rows = [[esc(lab), num(pc[lab].get("precision")), num(pc[lab].get("recall")), num(pc[lab].get("f1")),
             esc(pc[lab].get("support"))] for lab in labels if lab in pc]
    return table(["class", "precision", "recall", "F1", "support"], rows, numeric=(1, 2, 3, 4))


def _balance(d: dict[str, Any]) -> str:
    labels = d["labels"]
    rows = [[esc(r["round"]), _counts(r["selected_label_counts"], labels),
             _counts(r["batch_predicted_counts"], labels), _counts(r["predicted_counts"], labels)]
            for r in d["rounds"] if r["selected_label_counts"] or r["predicted_counts"]]
    gold = next((r["holdout_per_class"] for r in reversed(d["rounds"]) if r["holdout_per_class"]), None)
    gold_note = (" The holdout's gold labels, a sample of the same data: "
                 + _counts({k: int(v.get("support", 0)) for k, v in gold.items()}, labels) + ".") if gold else ""
    caption = ("Label shares per round: the batch as the experts labelled it, the batch as the model predicted it, "
               "and the whole corpus as the model predicted it (the corpus has no labels; propagated duplicates are "
               "not counted as chosen)." + gold_note)
    return (figure(plots.balance_plot(d), caption, "class balance per round")
            + table(["round", "batch: expert labels", "batch: model", "corpus: model"], rows, widths=(8, 30, 30, 32)))


def _timing(d: dict[str, Any]) -> str:
    steps, rate = d["steps"], d.get("cost_per_hour")
    head = ["round"] + [esc(s) for s in steps] + ["total"] + (["cost"] if rate else [])
    rows, totals = [], {s: 0.0 for s in steps}
    for r in d["rounds"]:
        tot = sum(r["seconds"].values())
        for s in steps:
            totals[s] += r["seconds"].get(s, 0.0)
        rows.append([esc(r["round"])] + [_secs(r["seconds"].get(s)) for s in steps] + [_secs(tot)]
                    + ([f"${tot * rate / 3600:.2f}"] if rate else []))
    grand = sum(totals.values())
    rows.append(["<b>all</b>"] + [f"<b>{_secs(totals[s])}</b>" for s in steps] + [f"<b>{_secs(grand)}</b>"]
                + ([f"<b>${grand * rate / 3600:.2f}</b>"] if rate else []))
    cost = (f"Cost = wall seconds × ${rate:g} per hour." if rate else
            "No price per hour was given (manifest cost_per_hour), so cost is shown as wall seconds only; "
            "multiply by your machine's hourly price.")
    caption = ("Wall seconds of each step (from the manifest). The labels step is the import and resolution of the "
               "experts' answers; the experts' own time is not measured. " + cost)
    return (figure(plots.timing_plot(d), caption, "wall seconds per step per round")
            + table(head, rows, numeric=tuple(range(1, len(head)))))


def _secs(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}" if v < 10 else f"{v:.1f}"


def _config(d: dict[str, Any]) -> str:
    from al_ray import __version__

    base = d.get("base_model") or {}
    rows = [[esc(r["round"]), num(r["model_version"]), esc(_in_run(d, r["model"])),
             num(r["trained_version"]), num(r["n_train"]), num(r["train_steps"]),
             f"{num(r['train_loss_before'])} → {num(r['train_loss_after'])}" if r["train_loss_before"] is not None
             else "–"] for r in d["rounds"]]
    env = next((r for r in reversed(d["rounds"]) if r["environment"]), None)
    soft = [f"al_ray {__version__}"]
    if env:
        soft += [f"{k} {v}" for k, v in sorted(env["environment"].items()) if k != "host_cpus"]
        soft.append(f"fine-tuned on {env['device']}")
    out = [f"<p>Base model: {esc(base.get('version'))} <span class='small'>{esc(_in_run(d, base.get('url')))}</span>"
           "</p>"
           if base else "",
           table(["round", "scored with", "weights", "trained here →", "train items", "steps", "train loss"], rows,
                 widths=(7, 11, 38, 12, 9, 8, 15)),
           f"<p class='small'>Software: {esc(', '.join(soft))}.</p>",
           "<h3>Run config (as recorded in the manifest, secrets redacted)</h3>",
           f"<pre>{esc(json.dumps(d['config'], indent=1, sort_keys=True, default=str))}</pre>"]
    return "".join(out)


def render(d: dict[str, Any]) -> str:
    body = {"kappa": _kappa, "examples": _examples, "holdout": _holdout, "balance": _balance, "timing": _timing,
            "uncertainty": lambda x: figure(plots.entropy_plot(x), "Share of the corpus per normalised-entropy bin "
                                            "(log scale), one line per round's model.", "entropy histograms"),
            "config": _config}
    sections = "".join(f"<section id='{i}'><h2>{esc(t)}</h2>{body[i](d)}</section>" for i, t in SECTIONS)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>al_ray run {esc(d['name'])}</title><style>{CSS}</style></head><body>"
            f"<header id='summary'>{_summary(d)}</header>{sections}</body></html>")
