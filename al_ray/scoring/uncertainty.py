"""Per-example uncertainty from label probabilities; pure numpy, vectorised over rows.

``label_probs`` are the raw probabilities a model put on each label (for a generative LLM, the
next-token probability of each label's first token; for a classifier, the softmax). Their row sum
is the *label mass*: low mass means the model answered off-format, which is a different problem
from being unsure, so it is kept next to the renormalised measures.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Calibration = Literal["none", "batch"] | np.ndarray | None


def renormalise(label_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities renormalised over the labels, label mass); zero-mass rows become uniform."""
    p = np.asarray(label_probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"label_probs must have shape (n, K>=2), got {p.shape}")
    p = np.clip(np.nan_to_num(p, nan=0.0, posinf=0.0, neginf=0.0), 0.0, None)
    mass = p.sum(axis=1)
    k = p.shape[1]
    safe = mass > 0
    out = np.full_like(p, 1.0 / k)
    out[safe] = p[safe] / mass[safe, None]
    return out, mass


def calibrate(probs: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
    """Divide out a label prior and renormalise (contextual/batch calibration).

    With ``prior=None`` the prior is estimated as the batch mean of ``probs``: a model biased
    towards one label on *every* input has that bias removed, which moves the decision boundary
    (temperature scaling alone would not change the ranking).
    """
    if len(probs) == 0:
        return probs
    prior = probs.mean(axis=0) if prior is None else np.asarray(prior, dtype=np.float64)
    if prior.shape != (probs.shape[1],) or np.any(prior <= 0):
        raise ValueError(f"prior must be {probs.shape[1]} positive numbers, got {prior}")
    q = probs / prior[None, :]
    return q / q.sum(axis=1, keepdims=True)


def entropy(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy in nats, with 0 log 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(probs > 0, probs * np.log(probs), 0.0)
    return np.maximum(-terms.sum(axis=1), 0.0)


def compute(label_probs: np.ndarray, calibration: Calibration = None) -> dict[str, np.ndarray]:
    """All per-example measures for rows of raw label probabilities.

    Returns float64 arrays ``probs`` (n, K) renormalised (and calibrated if asked), ``entropy``
    (nats), ``entropy_norm`` (entropy / log K, in [0, 1]), ``margin`` (p_(1) - p_(2)),
    ``least_confidence`` (1 - p_(1)), ``label_mass`` (row sum before renormalising) and the int64
    ``predicted`` label index. ``calibration``: None/"none", "batch" (prior = batch mean), or an
    explicit prior vector.
    """
    probs, mass = renormalise(label_probs)
    if isinstance(calibration, str):
        if calibration == "batch":
            probs = calibrate(probs)
        elif calibration != "none":
            raise ValueError(f"unknown calibration {calibration!r}")
    elif calibration is not None:
        probs = calibrate(probs, np.asarray(calibration, dtype=np.float64))
    k = probs.shape[1]
    h = entropy(probs)
    top2 = -np.partition(-probs, 1, axis=1)[:, :2] if len(probs) else np.zeros((0, 2))
    return {
        "probs": probs,
        "entropy": h,
        "entropy_norm": np.clip(h / np.log(k), 0.0, 1.0),
        "margin": np.clip(top2[:, 0] - top2[:, 1], 0.0, 1.0),
        "least_confidence": np.clip(1.0 - top2[:, 0], 0.0, 1.0),
        "label_mass": mass,
        "predicted": probs.argmax(axis=1).astype(np.int64) if len(probs) else np.zeros(0, np.int64),
    }
