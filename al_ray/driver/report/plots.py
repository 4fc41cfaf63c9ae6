"""The report's figures, each returned as a PNG data URI so the page stays one self-contained file.

matplotlib is imported inside each call: ``al-ray`` starts without it, and only a report pays
for it. Every legend sits outside the axes (a legend over the ceiling line hid the number the
plot is about), and every axis that counts rounds has integer ticks.
"""

from __future__ import annotations

import base64
import io
from typing import Any

WIDTH = 7.2  # inches; at the 110 dpi below ~800 px, narrower than the page


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _integer_x(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _legend_right(ax) -> None:
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, frameon=False)


def kappa_plot(d: dict[str, Any]) -> str | None:
    """Kappa against expert labels used, with the expert ceiling and the reference arms present."""
    rows = d["rounds"]
    refs = d.get("references") or {}
    curves = []
    for key, name, style in (("eval_kappa", "eval kappa", "o-"), ("holdout_kappa", "holdout kappa", "s-")):
        pts = [(r["labels_used"], r[key], r["round"]) for r in rows if r[key] is not None]
        if pts:
            curves.append((name, style, pts))
    ceil = [r["expert_kappa_cum"] for r in rows if r["expert_kappa_cum"] is not None]
    if not curves and not ceil and not refs:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(WIDTH, 3.8))
    for name, style, pts in curves:
        x, y, rr = zip(*pts)
        ax.plot(x, y, style, label=f"{name} (this run)")
        for xi, yi, ri in pts:
            ax.annotate(f"r{ri}", (xi, yi), textcoords="offset points", xytext=(-4, 6), fontsize=7, color="#555")
    if refs.get("random"):
        x, y = zip(*refs["random"])
        ax.plot(x, y, "^:", color="tab:green", label="random selection, same number of labels (reference)")
    if refs.get("crowd") is not None:
        ax.axhline(refs["crowd"], color="tab:red", ls="-.", lw=1,
                   label=f"crowd labels {refs['crowd']:.3f} (reference)")
    if ceil:
        ax.axhline(ceil[-1], color="grey", ls="--", lw=1, label=f"expert–expert ceiling {ceil[-1]:.3f}")
    ax.set_xlabel("expert labels used")
    ax.set_ylabel("Cohen's kappa")
    lo = min([0.0] + [p[1] for _, _, pts in curves for p in pts] + [k for _, k in refs.get("random", [])])
    ax.set_ylim(lo - 0.05, 1.02)
    _integer_x(ax)
    ax.grid(alpha=0.3)
    _legend_right(ax)
    return _png(fig)


def per_class_plot(d: dict[str, Any]) -> str | None:
    """Holdout precision and recall of each class per round: which class the rounds improved."""
    rows = [r for r in d["rounds"] if r["holdout_per_class"]]
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(WIDTH, 3.4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, lab in enumerate(d["labels"]):
        c = colors[i % len(colors)]
        rr = [r["round"] for r in rows if lab in r["holdout_per_class"]]
        for key, style in (("recall", "o-"), ("precision", "s--")):
            ys = [r["holdout_per_class"][lab][key] for r in rows if lab in r["holdout_per_class"]]
            ax.plot(rr, ys, style, color=c, label=f"{lab} {key}")
    ax.set_xlabel("round (model scored at the start of the round)")
    ax.set_ylabel("holdout")
    ax.set_ylim(-0.02, 1.02)
    _integer_x(ax)
    ax.grid(alpha=0.3)
    _legend_right(ax)
    return _png(fig)


def balance_plot(d: dict[str, Any]) -> str | None:
    """Per round, the label shares of the chosen batch (experts' labels and the model's predictions)
    beside the model's predicted shares over the corpus: does selection find the rare class?"""
    rows = [r for r in d["rounds"] if r["selected_label_counts"]]
    if not rows:
        return None
    import numpy as np

    plt = _plt()
    labels = d["labels"]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, ax = plt.subplots(figsize=(WIDTH, 3.6))
    kinds = [("batch: experts", lambda r: r["selected_label_counts"], None),
             ("batch: model", lambda r: r["batch_predicted_counts"], "//"),
             ("corpus: model", lambda r: r["predicted_counts"], "..")]
    w = 0.27
    for k, (kind, get, hatch) in enumerate(kinds):
        xs = np.array([r["round"] for r in rows]) + (k - 1) * w
        bottom = np.zeros(len(rows))
        for i, lab in enumerate(labels):
            shares = np.array([get(r).get(lab, 0) / max(sum(get(r).values()), 1) for r in rows])
            ax.bar(xs, shares, w * 0.95, bottom=bottom, color=colors[i % len(colors)], hatch=hatch,
                   edgecolor="white", label=f"{lab} ({kind})")
            bottom += shares
    ax.set_xlabel("round (bars: batch experts | batch model | corpus model)")
    ax.set_ylabel("share of items")
    _integer_x(ax)
    _legend_right(ax)
    return _png(fig)


def timing_plot(d: dict[str, Any]) -> str | None:
    """Wall seconds per step, stacked per round: where the time of a round goes."""
    rows = [r for r in d["rounds"] if r["seconds"]]
    if not rows:
        return None
    import numpy as np

    plt = _plt()
    fig, ax = plt.subplots(figsize=(WIDTH, 3.4))
    xs = [r["round"] for r in rows]
    bottom = np.zeros(len(rows))
    for step in d["steps"]:
        s = np.array([r["seconds"].get(step, 0.0) for r in rows])
        if s.sum() > 0:
            ax.bar(xs, s, 0.6, bottom=bottom, label=step)
            bottom += s
    ax.set_xlabel("round")
    ax.set_ylabel("wall seconds")
    _integer_x(ax)
    _legend_right(ax)
    return _png(fig)


def entropy_plot(d: dict[str, Any]) -> str | None:
    """Normalised-entropy histograms over the corpus per round: how uncertain the model still is."""
    hists = [(r["round"], r["entropy_hist"]) for r in d["rounds"] if r["entropy_hist"]]
    if not hists:
        return None
    import numpy as np

    plt = _plt()
    fig, ax = plt.subplots(figsize=(WIDTH, 3.4))
    for rnd, h in hists:
        h = np.asarray(h, dtype=float)
        edges = np.linspace(0, 1, len(h) + 1)
        ax.step(edges[:-1], h / max(h.sum(), 1), where="post", label=f"round {rnd}")
    ax.set_yscale("log")
    ax.set_xlabel("normalised entropy")
    ax.set_ylabel("share of corpus")
    _legend_right(ax)
    return _png(fig)


def agreement_plot(d: dict[str, Any]) -> str | None:
    """The gate's coefficient per batch with its interval, and the configured threshold.

    Manifests from before the gate recorded them: mean pairwise kappa against 0.8, the former gate.
    """
    import numpy as np

    rows = d["rounds"]
    gated = [r for r in rows if r["gate"].get("agreement_metric") and r["gate"].get("gate_threshold") is not None]
    metric = gated[-1]["gate"]["agreement_metric"] if gated else "mean_cohen_kappa"
    threshold = gated[-1]["gate"]["gate_threshold"] if gated else 0.8
    bound = gated[-1]["gate"].get("gate_bound") if gated else "estimate"
    ag = []
    for r in rows:
        iv = r["coefficients"].get(metric) or {}
        est = iv.get("estimate") if r["coefficients"] else r["batch_expert_kappa"]
        if est is not None:
            ag.append((r["round"], est, iv.get("low"), iv.get("high")))
    if not ag:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(WIDTH, 3.2))
    est = np.array([a[1] for a in ag])
    lo = np.array([a[1] - (a[2] if a[2] is not None else a[1]) for a in ag])
    hi = np.array([(a[3] if a[3] is not None else a[1]) - a[1] for a in ag])
    ax.bar([a[0] for a in ag], est, 0.6, yerr=np.vstack([lo, hi]), capsize=3, label=f"{metric} (bar: estimate, "
           "whiskers: interval)")
    what = "lower bound" if bound == "lower" else "estimate"
    ax.axhline(threshold, color="red", ls="--", label=f"gate: {what} >= {threshold:g}")
    ax.set_xlabel("round")
    ax.set_ylabel(metric)
    _integer_x(ax)
    _legend_right(ax)
    return _png(fig)
