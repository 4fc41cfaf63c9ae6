"""Head warm start: read what the classifier head reads, fit a logistic regression on it, load it in.

Why a module of its own: it is a separate learner (scikit-learn on frozen features, no gradient
step) that runs before the training loop in classifier mode, with its own dependency; the head
features it reads are also what the label-efficiency benchmark's logistic baseline fits on.
torch/numpy/scikit-learn are imported inside the functions.
"""

from __future__ import annotations

from typing import Any, Sequence

from al_ray.finetune.inference import classifier_logits
from al_ray.finetune.lora_model import LoraModel


def _head_linear(model: Any) -> tuple[Any, Any] | None:
    """(the module that receives the head's input, the trainable nn.Linear to overwrite), or None
    when the classifier head is not one linear layer (e.g. RoBERTa's dense + out_proj head)."""
    import torch

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    for name in ("classifier", "score"):
        head = getattr(inner, name, None)
        if head is None:
            continue
        # PEFT's ModulesToSaveWrapper trains a copy of the head; that copy is what gets saved and merged
        copies = getattr(head, "modules_to_save", None)
        target = copies[next(iter(copies))] if copies else head
        if isinstance(target, torch.nn.Linear):
            return head, target
        return None
    return None


def head_features(lm: LoraModel, texts: Sequence[str], *, max_length: int, device: str,
                  batch_size: int = 64) -> Any | None:
    """[N, d] float64 numpy array: what the classifier head reads for each text (eval mode), or None
    when the head is not a single linear layer. Read with a forward hook on the head, so it is the
    checkpoint's own pooling (mean for the zero-shot MiniLM, CLS + pooler for a plain BERT)."""
    import numpy as np
    import torch

    found = _head_linear(lm.model)
    if found is None:
        return None
    hook_on, _ = found
    captured: list[Any] = []
    handle = hook_on.register_forward_hook(lambda mod, args, out: captured.append(args[0].detach()))
    was_training = lm.model.training
    lm.model.eval()
    lm.model.to(device)
    try:
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                classifier_logits(lm.model, lm.tokenizer, list(texts[start:start + batch_size]), max_length, device)
    finally:
        handle.remove()
        lm.model.train(was_training)
    return torch.cat(captured).double().cpu().numpy() if captured else np.zeros((0, 0))


def warm_start_head(lm: LoraModel, texts: Sequence[str], label_ids: Sequence[int], weights: Sequence[float],
                    *, c: float, seed: int, max_length: int, device: str) -> dict[str, Any]:
    """Fit a class-weighted logistic regression on the frozen head features and load it into the head.

    Why: a few dozen labels give LoRA too little signal to move a zero-shot head far, while a
    logistic regression on frozen sentence embeddings is the strongest cheap learner in that regime
    (DESIGN.md: 0.28 / 0.41 kappa at 30 / 150 labels where the old recipe got 0.02-0.09). Starting
    the fine-tune from it means the fine-tune starts at that floor instead of at chance.
    scikit-learn fits it (lbfgs, multinomial for K > 2) on standardised features; the scaling is
    folded back into the weights, so the head is an exact copy of the fitted model. Returns what
    was done, for metrics.json.
    """
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    y = np.asarray(label_ids, dtype=np.int64)
    k = len(weights)
    present = sorted(set(y.tolist()))
    if len(present) < k:
        return {"head_init": "skipped", "reason": f"only classes {present} of {k} are labelled"}
    found = _head_linear(lm.model)
    if found is None:
        return {"head_init": "skipped", "reason": "the classifier head is not a single linear layer"}
    _, linear = found
    x = head_features(lm, texts, max_length=max_length, device=device)
    scaler = StandardScaler().fit(x)
    xs = scaler.transform(x)
    clf = LogisticRegression(C=c, class_weight=dict(enumerate(weights)), max_iter=5000,
                             random_state=seed).fit(xs, y)
    coef = clf.coef_ / scaler.scale_  # [1 or K, d], in raw feature units
    intercept = clf.intercept_ - coef @ scaler.mean_
    if k == 2:  # sklearn's binary model is one row (logit of class 1); a 2-row head splits it in halves
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(coef, dtype=linear.weight.dtype))
        linear.bias.copy_(torch.as_tensor(intercept, dtype=linear.bias.dtype))
    return {"head_init": "logistic", "c": c, "train_accuracy": round(float(clf.score(xs, y)), 4),
            "n_features": int(x.shape[1])}
