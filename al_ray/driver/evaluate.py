"""Model–expert agreement, from the score files the round's scoring already wrote.

Evaluating from the corpus-wide score files (rather than a separate inference pass) means every
reported kappa comes from the model exactly as it is served by the scorers, and costs one
column-pruned scan instead of another engine start-up.
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.metrics import cohen_kappa_score, confusion_matrix, precision_recall_fscore_support

from al_ray import storage
from al_ray.schemas import ID, PREDICTED


def predictions_for(scores_url: str, ids: Sequence[str], storage_options: Mapping[str, Any] | None = None) -> dict[str, str]:
    """predicted_label for each of ``ids`` found in the score files under ``scores_url``."""
    wanted = pa.array(list(ids), type=pa.string())
    out: dict[str, str] = {}
    if len(wanted) == 0:
        return out
    for fi in storage.list_files(scores_url, ".parquet", storage_options):
        table = storage.read_parquet(fi.url, storage_options, columns=[ID, PREDICTED])
        hit = table.filter(pc.is_in(table[ID], value_set=wanted))
        out.update(zip(hit[ID].to_pylist(), hit[PREDICTED].to_pylist()))
    return out


def agreement(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Cohen's kappa, per-class precision/recall and the confusion matrix (rows: expert label, columns:
    prediction, both in ``labels`` order) of predictions against expert labels.

    The matrix is kept because per-class figures cannot be turned back into it for more than two
    classes, and the report shows which classes the model mixes up."""
    n = len(y_true)
    if n == 0:
        return {"n": 0, "kappa": None, "accuracy": None, "per_class": {}, "confusion": None}
    y_true, y_pred = list(y_true), list(y_pred)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined kappa (one class) is reported as None below
        kappa = float(cohen_kappa_score(y_true, y_pred, labels=list(labels)))
    if np.isnan(kappa):  # one class only on both sides: agreement is undefined, not perfect
        kappa = None
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(labels), zero_division=0)
    return {
        "n": n,
        "kappa": kappa,
        "accuracy": float(np.mean([a == b for a, b in zip(y_true, y_pred)])),
        "per_class": {
            lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, lab in enumerate(labels)
        },
        "confusion": confusion_matrix(y_true, y_pred, labels=list(labels)).tolist(),
    }


def evaluate_against(scores_url: str, gold: Mapping[str, str], labels: Sequence[str],
                     storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Agreement of the scored model with ``gold`` (id -> label); ids missing from the scores are counted."""
    preds = predictions_for(scores_url, list(gold), storage_options)
    ids = [i for i in gold if i in preds]
    result = agreement([gold[i] for i in ids], [preds[i] for i in ids], labels)
    result["missing"] = len(gold) - len(ids)
    return result


# The two kappas of a round, one name each, everywhere (manifest, `al-ray status`, the report):
#   eval kappa    (``eval_kappa``): the model against expert labels of this run kept out of training
#                 (``run.eval_fraction``), a few dozen items; what the stopping rules read;
#   holdout kappa (``holdout_kappa``): the model against the gold test split (``corpus.holdout_url``),
#                 when the run has one; the figure benchmarks and the README quote.
KAPPA_LEGEND = ("eval kappa: the model against this run's expert labels kept out of training (run.eval_fraction); "
                "holdout kappa: the model against the gold test split (corpus.holdout_url).")


def eval_kappa(evaluation: Mapping[str, Any]) -> float | None:
    """A round's eval kappa; manifests written before the key was named ``eval_kappa`` call it ``kappa``."""
    return evaluation.get("eval_kappa", evaluation.get("kappa"))
