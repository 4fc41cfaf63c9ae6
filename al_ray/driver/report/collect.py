"""What the report shows, gathered into one plain dict before anything is drawn.

Everything comes from the manifest and the round files the run already wrote; nothing is recomputed
from the corpus or a model, so a report of a 1e9-row run costs a few small reads. Keeping the
collected dict free of HTML lets the tests (and other tools) check the numbers without parsing a page.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping

from al_ray import storage
from al_ray.driver.evaluate import eval_kappa
from al_ray.driver.manifest import STEPS, Manifest
from al_ray.layout import AGREEMENT_FILE, ANNOTATIONS_FILE, MANIFEST_FILE, RunLayout
from al_ray.schemas import ID, PREDICTED, TEXT, prob_column

# A batch can hold hundreds of items; the page shows the first few of each (in the batch's own
# order, which is the selection's) and says how many there were, so the file stays small.
MAX_EXAMPLES = 10
# Texts are user data of any length; a cut keeps one long document from filling the page.
MAX_TEXT_CHARS = 500


def _read_optional_json(url: str, so) -> dict[str, Any]:
    return storage.read_json(url, so) if storage.exists(url, so) else {}


def _references(raw: Any) -> dict[str, Any] | None:
    """``{random: [[labels, kappa], ...], crowd: kappa, source: text}`` with malformed parts dropped.

    Reference arms (random selection, crowd labels) are not part of a loop run; a benchmark or a
    user who ran them can put them in the manifest (``references``) or pass them to ``write_report``.
    Only numbers are kept, so a report never draws a point it cannot place.
    """
    if not isinstance(raw, Mapping):
        return None
    random = []
    for pt in raw.get("random") or []:
        try:
            n, k = pt
            random.append((float(n), float(k)))
        except (TypeError, ValueError):
            continue
    crowd = raw.get("crowd")
    if isinstance(crowd, Mapping):
        crowd = crowd.get("kappa")
    crowd = float(crowd) if isinstance(crowd, (int, float)) and not isinstance(crowd, bool) else None
    if not random and crowd is None:
        return None
    return {"random": sorted(random), "crowd": crowd, "source": str(raw.get("source") or "")}


def derived_confusion(per_class: Mapping[str, Any], labels: list[str]) -> list[list[int]] | None:
    """The holdout confusion matrix of a manifest written before ``holdout_confusion`` was stored.

    With two classes it follows exactly from each class's recall and support (a gold item is either
    right or the other class); with more, per-class figures do not determine it and None is returned.
    """
    if len(labels) != 2 or not all(lab in per_class for lab in labels):
        return None
    rows = []
    for i, lab in enumerate(labels):
        support = int(per_class[lab].get("support", 0))
        right = int(round(float(per_class[lab].get("recall", 0.0)) * support))
        row = [0, 0]
        row[i], row[1 - i] = right, support - right
        rows.append(row)
    return rows


def _label_counts(layout: RunLayout, r: int, so) -> dict[str, int]:
    """Expert labels of the items the round chose (propagated duplicates were not chosen)."""
    url = layout.labels(r)
    if not storage.exists(url, so):
        return {}
    t = storage.read_parquet(url, so)
    src = t["source"].to_pylist() if "source" in t.schema.names else [None] * t.num_rows
    return dict(Counter(lab for lab, s in zip(t["label"].to_pylist(), src) if s != "propagated"))


def _examples(layout: RunLayout, r: int, labels: list[str], so) -> dict[str, Any] | None:
    """The first ``MAX_EXAMPLES`` chosen items with their probabilities, reason and expert labels."""
    url = layout.batch(r)
    if not storage.exists(url, so):
        return None
    batch = storage.read_parquet(url, so)
    names = set(batch.schema.names)
    shown = batch.slice(0, MAX_EXAMPLES).to_pylist()
    ids = {str(row[ID]) for row in shown}
    votes: dict[str, list[tuple[str, str]]] = {i: [] for i in ids}
    ann_url = storage.join(layout.labels_dir(r), ANNOTATIONS_FILE)
    if storage.exists(ann_url, so):
        for row in storage.read_parquet(ann_url, so, columns=[ID, "annotator_id", "label"]).to_pylist():
            if str(row[ID]) in votes:
                votes[str(row[ID])].append((str(row["annotator_id"]), str(row["label"])))
    final: dict[str, tuple[str, str | None]] = {}
    if storage.exists(layout.labels(r), so):
        for row in storage.read_parquet(layout.labels(r), so).to_pylist():
            if str(row[ID]) in ids:
                final[str(row[ID])] = (str(row["label"]), row.get("source"))
    items = []
    for row in shown:
        i = str(row[ID])
        text = "" if row.get(TEXT) is None else str(row[TEXT])
        v = votes[i]
        top = Counter(lab for _, lab in v).most_common(1)
        items.append({
            "id": i,
            "text": text[:MAX_TEXT_CHARS] + ("…" if len(text) > MAX_TEXT_CHARS else ""),
            "probs": {lab: row.get(prob_column(lab)) for lab in labels if prob_column(lab) in names},
            "predicted": row.get(PREDICTED),
            "reason": row.get("reason"),
            "votes": sorted(v),
            # how many of the experts who saw the item gave its most common label
            "agree": (top[0][1], len(v)) if top else None,
            "final": final.get(i, (None, None))[0], "source": final.get(i, (None, None))[1],
        })
    predicted = Counter(batch[PREDICTED].to_pylist()) if PREDICTED in names else Counter()
    return {"n": batch.num_rows, "items": items, "predicted_counts": dict(predicted)}


def _step_seconds(steps: Mapping[str, Any]) -> dict[str, float]:
    return {name: float(s["seconds"]) for name, s in steps.items()
            if isinstance(s, Mapping) and isinstance(s.get("seconds"), (int, float))}


def collect(run_url: str, storage_options: Mapping[str, Any] | None = None, *,
            references: Mapping[str, Any] | None = None, cost_per_hour: float | None = None) -> dict[str, Any]:
    """Everything the report shows, from the manifest and the round files under ``run_url``.

    ``references`` (random-selection points and a crowd kappa) and ``cost_per_hour`` (a machine
    price) are not part of a run; given here they replace what the manifest may carry under the
    same keys (top level, or ``config.report``).
    """
    layout = RunLayout(run_url)
    so = storage_options
    if not storage.exists(layout.manifest, so):
        # The one thing every run folder has; without it the user gave a wrong folder (exit 2), which
        # must not look like a crash (a traceback, exit 1 = "partial failure").
        from al_ray.errors import InputError
        from al_ray.security import scrub

        what = "no such folder" if not storage.exists(run_url, so) else f"no {MANIFEST_FILE} in it"
        raise InputError(f"not a run folder ({what}); give the --run location of `al-ray run`",
                         location=scrub(run_url))
    from al_ray.security import redact

    m = Manifest.load(layout, so)
    config = redact(m.data.get("config", {}))  # already redacted when written; a report is shared
    task = config.get("task", {})
    labels = list(task.get("labels", []))
    extra = config.get("report") if isinstance(config.get("report"), Mapping) else {}
    refs = _references(references if references is not None else m.data.get("references", extra.get("references")))
    rate = cost_per_hour if cost_per_hour is not None else m.data.get("cost_per_hour", extra.get("cost_per_hour"))
    rows = []
    for rd in m.rounds():
        r, st = rd["round"], rd["steps"]
        ev, lab, sel = st.get("evaluate", {}), st.get("labels", {}), st.get("select", {})
        sc, ft = st.get("score", {}), st.get("finetune", {})
        metrics = ft.get("metrics") or {}
        agreement = _read_optional_json(storage.join(layout.labels_dir(r), AGREEMENT_FILE), so)
        examples = _examples(layout, r, labels, so)
        confusion = ev.get("holdout_confusion")
        derived = False
        if confusion is None and ev.get("n_holdout"):
            confusion = derived_confusion(ev.get("holdout_per_class") or {}, labels)
            derived = confusion is not None
        rows.append({
            "round": r,
            "model_version": sc.get("model_version"), "model": sc.get("model"),
            "rows_scored": sc.get("rows_scored"), "rows_per_s": sc.get("rows_per_s"),
            "labels_used": ev.get("labels_used", 0),
            "eval_kappa": eval_kappa(ev), "n_eval": ev.get("n_eval", 0), "per_class": ev.get("per_class") or {},
            "holdout_kappa": ev.get("holdout_kappa"), "n_holdout": ev.get("n_holdout", 0),
            "holdout_per_class": ev.get("holdout_per_class") or {},
            "holdout_confusion": confusion, "confusion_derived": derived,
            "expert_kappa_cum": ev.get("expert_kappa"),
            "batch_expert_kappa": lab.get("expert_kappa"),
            "gate_passed": lab.get("gate_passed"),
            # per-batch coefficients {name: {estimate, low, high}} and the gate they were judged by
            "coefficients": lab.get("coefficients") or {},
            "gate": {k: lab.get(k) for k in ("agreement_metric", "gate_bound", "gate_threshold")},
            "gate_reason": (agreement.get("gate") or {}).get("reason"),
            "observed_agreement": (agreement.get("agreement") or {}).get("observed_agreement"),
            "n_selected": sel.get("n_selected"), "strategy": sel.get("strategy"),
            "cold_start": sel.get("cold_start"), "pool_size": sel.get("pool_size"),
            "entropy_hist": ev.get("entropy_hist"), "predicted_counts": ev.get("predicted_counts") or {},
            "selected_label_counts": _label_counts(layout, r, so),
            "examples": examples,
            "batch_predicted_counts": (examples or {}).get("predicted_counts", {}),
            "seconds": _step_seconds(st),
            "trained_version": ft.get("version"), "n_train": metrics.get("n_train"),
            "train_steps": metrics.get("steps"), "train_loss_before": metrics.get("train_loss_before"),
            "train_loss_after": metrics.get("train_loss_after"), "device": metrics.get("device"),
            "environment": metrics.get("environment") or {},
        })
    step_names = [s for s in STEPS if any(s in r["seconds"] for r in rows)]
    step_names += sorted({s for r in rows for s in r["seconds"]} - set(step_names))
    return {"name": config.get("run", {}).get("name", "run"), "status": m.data.get("status"),
            "status_info": m.data.get("status_info", {}), "labels": labels, "rounds": rows,
            "positive": task.get("positive_label"), "task": task.get("name"), "config": config,
            "base_model": m.data.get("base_model") or {}, "created_at": m.data.get("created_at"),
            "updated_at": m.data.get("updated_at"), "references": refs,
            "cost_per_hour": float(rate) if isinstance(rate, (int, float)) and not isinstance(rate, bool) else None,
            "steps": step_names, "run_url": run_url}
