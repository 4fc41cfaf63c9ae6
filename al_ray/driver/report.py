"""An HTML report of a run: one self-contained file (plots embedded as PNG) anyone can open.

Plots: kappa per round against labels used with the expert ceiling; normalised-entropy histograms
per round; class balance of the selected items against the model's view of the corpus; expert
agreement per batch. Everything comes from the manifest and the round files, never recomputed
from the corpus.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any, Mapping

from al_ray import storage
from al_ray.driver.manifest import Manifest
from al_ray.layout import MANIFEST_FILE, RunLayout


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _label_counts(layout: RunLayout, r: int, so) -> dict[str, int]:
    url = layout.labels(r)
    if not storage.exists(url, so):
        return {}
    out: dict[str, int] = {}
    for lab in storage.read_parquet(url, so, columns=["label"])["label"].to_pylist():
        out[lab] = out.get(lab, 0) + 1
    return out


def collect(run_url: str, storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    layout = RunLayout(run_url)
    if not storage.exists(layout.manifest, storage_options):
        # The one thing every run folder has; without it the user gave a wrong folder (exit 2), which
        # must not look like a crash (a traceback, exit 1 = "partial failure").
        from al_ray.errors import InputError
        from al_ray.security import scrub

        what = ("no such folder" if not storage.exists(run_url, storage_options)
                else f"no {MANIFEST_FILE} in it")
        raise InputError(f"not a run folder ({what}); give the --run location of `al-ray run`",
                         location=scrub(run_url))
    m = Manifest.load(layout, storage_options)
    labels = m.data["config"]["task"]["labels"]
    rows = []
    for rd in m.rounds():
        r, st = rd["round"], rd["steps"]
        ev = st.get("evaluate", {})
        rows.append({
            "round": r,
            "model_version": st.get("score", {}).get("model_version"),
            "rows_scored": st.get("score", {}).get("rows_scored"),
            "labels_used": ev.get("labels_used", 0),
            "kappa": ev.get("kappa"), "n_eval": ev.get("n_eval", 0),
            "holdout_kappa": ev.get("holdout_kappa"), "n_holdout": ev.get("n_holdout", 0),
            "expert_kappa_cum": ev.get("expert_kappa"),
            "batch_expert_kappa": st.get("labels", {}).get("expert_kappa"),
            "gate_passed": st.get("labels", {}).get("gate_passed"),
            # per-batch coefficients {name: {estimate, low, high}} and the gate they were judged by
            "coefficients": st.get("labels", {}).get("coefficients") or {},
            "gate": {k: st.get("labels", {}).get(k)
                     for k in ("agreement_metric", "gate_bound", "gate_threshold")},
            "n_selected": st.get("select", {}).get("n_selected"),
            "entropy_hist": ev.get("entropy_hist"), "predicted_counts": ev.get("predicted_counts", {}),
            "selected_label_counts": _label_counts(layout, r, storage_options),
        })
    return {"name": m.data["config"].get("run", {}).get("name", "run"), "status": m.data.get("status"),
            "status_info": m.data.get("status_info", {}), "labels": labels, "rounds": rows,
            "positive": m.data["config"]["task"].get("positive_label")}


def _plots(d: dict[str, Any]) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows, out = d["rounds"], []
    x = [r["labels_used"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for key, name, style in (("kappa", "model–expert (held-out expert labels)", "o-"),
                             ("holdout_kappa", "model–expert (holdout set)", "s--")):
        pts = [(xi, r[key]) for xi, r in zip(x, rows) if r[key] is not None]
        if pts:
            ax.plot(*zip(*pts), style, label=name)
    ceil = [r["expert_kappa_cum"] for r in rows if r["expert_kappa_cum"] is not None]
    if ceil:
        ax.axhline(ceil[-1], color="grey", ls=":", label=f"expert–expert ceiling {ceil[-1]:.2f}")
    ax.set_xlabel("expert labels used")
    ax.set_ylabel("Cohen's kappa")
    ax.set_title("Agreement with experts per round")
    ax.legend(fontsize=8)
    out.append(("Kappa against labels used", _png(fig)))

    hists = [(r["round"], r["entropy_hist"]) for r in rows if r["entropy_hist"]]
    if hists:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for rnd, h in hists:
            h = np.asarray(h, dtype=float)
            edges = np.linspace(0, 1, len(h) + 1)
            ax.step(edges[:-1], h / max(h.sum(), 1), where="post", label=f"round {rnd}")
        ax.set_yscale("log")
        ax.set_xlabel("normalised entropy")
        ax.set_ylabel("share of corpus")
        ax.set_title("Uncertainty per round")
        ax.legend(fontsize=8)
        out.append(("Uncertainty histograms", _png(fig)))

    pos = d["positive"]
    bal = [(r["round"], r["selected_label_counts"], r["predicted_counts"]) for r in rows if r["selected_label_counts"]]
    if bal and pos:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        rr = [b[0] for b in bal]
        sel = [b[1].get(pos, 0) / max(sum(b[1].values()), 1) for b in bal]
        corp = [b[2].get(pos, 0) / max(sum(b[2].values()), 1) for b in bal]
        w = 0.38
        ax.bar(np.array(rr) - w / 2, sel, w, label=f"selected items labelled {pos} (experts)")
        ax.bar(np.array(rr) + w / 2, corp, w, label=f"corpus predicted {pos} (model)")
        ax.set_xlabel("round")
        ax.set_ylabel(f"share {pos}")
        ax.set_title("Class balance: selected vs corpus")
        ax.legend(fontsize=8)
        out.append(("Class balance", _png(fig)))

    # the gate's coefficient per batch with its interval, and the configured threshold (manifests
    # from before the gate recorded them: mean pairwise kappa against 0.8, the former gate)
    gated = [r for r in rows
             if r["gate"].get("agreement_metric") and r["gate"].get("gate_threshold") is not None]
    metric = gated[-1]["gate"]["agreement_metric"] if gated else "mean_cohen_kappa"
    threshold = gated[-1]["gate"]["gate_threshold"] if gated else 0.8
    bound = gated[-1]["gate"].get("gate_bound") if gated else "estimate"
    ag = []
    for r in rows:
        iv = r["coefficients"].get(metric) or {}
        est = iv.get("estimate") if r["coefficients"] else r["batch_expert_kappa"]
        if est is not None:
            ag.append((r["round"], est, iv.get("low"), iv.get("high")))
    if ag:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        est = np.array([a[1] for a in ag])
        lo = np.array([a[1] - (a[2] if a[2] is not None else a[1]) for a in ag])
        hi = np.array([(a[3] if a[3] is not None else a[1]) - a[1] for a in ag])
        ax.bar([a[0] for a in ag], est, yerr=np.vstack([lo, hi]), capsize=3)
        what = "lower bound" if bound == "lower" else "estimate"
        ax.axhline(threshold, color="red", ls="--", label=f"gate: {what} >= {threshold:g}")
        ax.set_xlabel("round")
        ax.set_ylabel(metric)
        ax.set_title("Expert agreement per batch (bars: estimate; whiskers: interval)")
        ax.legend(fontsize=8)
        out.append(("Agreement per batch", _png(fig)))
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}"
    return html.escape(str(v))


# the batch's coefficients in the table, as "estimate [low, high]"
_COEFFICIENT_COLS = {"gwet_ac1": "batch AC1", "brennan_prediger": "batch PABAK/BP",
                     "mean_cohen_kappa": "batch kappa", "min_cohen_kappa": "batch min kappa",
                     "krippendorff_alpha": "batch alpha", "fleiss_kappa": "batch Fleiss",
                     "minority_specific_agreement": "batch minority agreement"}


def _cell(r: dict[str, Any], col: str) -> str:
    if col not in _COEFFICIENT_COLS:
        return _fmt(r.get(col))
    iv = (r.get("coefficients") or {}).get(col) or {}
    if iv.get("estimate") is None:
        return "–"
    ci = f" [{iv['low']:.2f}, {iv['high']:.2f}]" if iv.get("low") is not None else ""
    return f"{iv['estimate']:.3f}{ci}"


def render(d: dict[str, Any]) -> str:
    cols = ["round", "model_version", "rows_scored", "labels_used", "kappa", "n_eval", "holdout_kappa",
            "n_holdout", "batch_expert_kappa", "gate_passed", "n_selected"]
    if any(r.get("coefficients") for r in d["rounds"]):
        cols = cols[:8] + list(_COEFFICIENT_COLS) + cols[9:]  # batch kappa replaces batch_expert_kappa
    head = "".join(f"<th>{html.escape(_COEFFICIENT_COLS.get(c, c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r, c)}</td>" for c in cols) + "</tr>" for r in d["rounds"])
    figs = "".join(f"<h2>{html.escape(t)}</h2><img src='{src}'/>" for t, src in _plots(d))
    info = html.escape(str(d["status_info"].get("detail", "")))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>al_ray run {html.escape(d['name'])}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.2em .5em;text-align:right}}</style></head><body>
<h1>al_ray run: {html.escape(d['name'])}</h1>
<p>Status: <b>{html.escape(str(d['status']))}</b> {info}</p>
<table><tr>{head}</tr>{body}</table>{figs}</body></html>"""


def write_report(run_url: str, out_url: str | None = None, storage_options: Mapping[str, Any] | None = None) -> str:
    layout = RunLayout(run_url)
    out_url = out_url or layout.report
    storage.write_bytes_atomic(out_url, render(collect(run_url, storage_options)).encode(), storage_options)
    return out_url
