"""The one narrow adapter around PEFT and transformers: everything that touches them lives here.

torch/transformers/peft are imported lazily inside functions, so importing ``al_ray.finetune`` (a
driver, a CLI ``--help``) costs nothing.

Two modes:

- ``classifier``: a ``*ForSequenceClassification`` encoder (round 0: ``al_ray.models.
  build_zero_shot_classifier``); LoRA on the attention projections plus the head trained in full.
- ``generative``: a causal LM; the target is the first token of the label's verbalizer as the next
  token after ``TaskConfig.render_prompt(text)``. The default loss is a softmax over the label
  tokens' logits only. Why: that restricted, renormalised distribution is exactly what the scorer
  turns into p_<label>, entropy and margin, so training on it spends all of the adapter's capacity
  on the decision the loop measures, and it works from the first step even when a small base puts
  almost no mass on the label words. ``generative_loss='full_vocab'`` instead trains the ordinary
  next-token cross-entropy over the whole vocabulary, which additionally pushes the *label mass*
  up (keeps an off-format base on format) at the cost of a slower, noisier signal.

Prompts are encoded by the scorer's own encoder and label tokens picked by the scorer's own
function (``al_ray.verbalize``: leading special tokens, template head, text, template tail, no
closing [SEP]/EOS; an over-long *text* is cut, never the template; a label's probability is the
summed probability of its first-token spellings), so the adapter is trained on the very quantity
the scorer reads.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from al_ray.errors import ConfigError
from al_ray.finetune.config import FinetuneConfig
from al_ray.verbalize import GenerativePromptEncoder, LabelTokens, label_token_ids


# --------------------------------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def deterministic(enabled: bool = True) -> Iterator[None]:
    """``torch.use_deterministic_algorithms`` for the block, restoring the previous setting after.

    ``warn_only``: on CPU every op we use has a deterministic kernel; on CUDA an op without one
    warns rather than fails (set CUBLAS_WORKSPACE_CONFIG=:4096:8 for bit-identical GPU runs).
    """
    import torch

    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    if enabled:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)


@contextlib.contextmanager
def isolated_rng(device: str = "cpu") -> Iterator[None]:
    """Seeding for training happens inside this block and does not leak into the caller's global
    torch random state (a driver or test process keeps its own stream)."""
    import torch

    devices = [] if device == "cpu" else list(range(torch.cuda.device_count()))
    with torch.random.fork_rng(devices=devices):
        yield


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` intra-op threads (None: unchanged), restoring the previous count."""
    import torch

    prev = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def current_threads() -> int:
    import torch

    return torch.get_num_threads()


def pick_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("finetune.device is 'cuda' but no CUDA device is visible to this process")
    return device


# --------------------------------------------------------------------------------------------------
# Model construction
# --------------------------------------------------------------------------------------------------

@dataclass
class LoraModel:
    """A PEFT-wrapped model ready to train, with what the loop needs to feed it."""

    model: Any  # peft.PeftModel
    tokenizer: Any
    mode: str
    model_type: str
    target_modules: list[str]
    modules_to_save: list[str]
    label_tokens: LabelTokens | None = None  # generative mode
    encoder: GenerativePromptEncoder | None = None  # generative mode
    notes: list[str] = field(default_factory=list)

    def trainable_parameters(self) -> tuple[int, int]:
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in self.model.parameters())
        return trainable, total


def load_tokenizer(model_dir: str | Path, mode: str) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    if mode == "generative" and tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def load_base_model(model_dir: str | Path, mode: str, labels: Sequence[str],
                    dtype: str = "float32") -> tuple[Any, list[str]]:
    """Load the base checkpoint for ``mode``; returns (model, notes)."""
    import torch

    torch_dtype = getattr(torch, dtype)
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification

    notes: list[str] = []
    cfg = AutoConfig.from_pretrained(str(model_dir))
    if mode == "classifier":
        archs = list(getattr(cfg, "architectures", None) or [])
        has_head = any(a.endswith("ForSequenceClassification") for a in archs)
        if has_head:
            ckpt_labels = [cfg.id2label[i] for i in sorted(cfg.id2label)] if cfg.id2label else []
            if ckpt_labels != list(labels):
                raise ConfigError(
                    f"classifier checkpoint {model_dir} has labels {ckpt_labels}, the task has {list(labels)} "
                    "(same names, same order); rebuild the round-0 classifier for this task"
                )
            model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), dtype=torch_dtype)
        else:
            notes.append("base has no classification head: a new head was initialised from the seed")
            model = AutoModelForSequenceClassification.from_pretrained(
                str(model_dir), dtype=torch_dtype, num_labels=len(labels),
                id2label=dict(enumerate(labels)), label2id={lab: i for i, lab in enumerate(labels)},
            )
        from al_ray.models import apply_checkpoint_pooling

        apply_checkpoint_pooling(model)
    elif mode == "generative":
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch_dtype)
    else:
        raise ConfigError(f"mode must be 'classifier' or 'generative', got {mode!r}")
    return model, notes


def build_lora_model(model_dir: str | Path, mode: str, labels: Sequence[str], config: FinetuneConfig,
                     prompt_template: str | None = None) -> LoraModel:
    """Load ``model_dir`` and wrap it with fresh LoRA matrices (seeded from ``config.seed``)."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model

    tokenizer = load_tokenizer(model_dir, mode)
    torch.manual_seed(config.seed)  # a classifier head missing from the checkpoint is drawn here
    base, notes = load_base_model(model_dir, mode, labels, config.dtype)
    model_type = str(base.config.model_type)
    targets = config.target_modules_for(model_type)
    to_save = config.modules_to_save_for(mode)
    lora_cfg = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        modules_to_save=list(to_save) or None,  # a copy: PEFT extends the list it is given
        bias="none",
        task_type=TaskType.SEQ_CLS if mode == "classifier" else TaskType.CAUSAL_LM,
    )
    torch.manual_seed(config.seed)  # LoRA A matrices (kaiming-uniform) come from the global generator
    try:
        model = get_peft_model(base, lora_cfg)
    except ValueError as exc:  # PEFT: "Target modules {...} not found in the base model"
        raise ConfigError(f"cannot apply LoRA to {model_type} checkpoint {model_dir}: {exc}") from exc
    # What PEFT actually trains in full (SEQ_CLS adds the usual head names 'classifier'/'score' itself),
    # restricted to the modules this model has.
    effective = list(getattr(model.peft_config["default"], "modules_to_save", None) or [])
    names = {name.rsplit(".", 1)[-1] for name, _ in base.named_modules()}
    to_save = list(dict.fromkeys(m for m in effective if m in names))
    lm = LoraModel(model=model, tokenizer=tokenizer, mode=mode, model_type=model_type,
                   target_modules=targets, modules_to_save=to_save, notes=notes)
    if mode == "generative":
        if prompt_template is None:
            raise ConfigError("generative mode needs the task's prompt_template")
        lm.encoder = GenerativePromptEncoder(tokenizer, prompt_template, list(labels), config.max_length)
        lm.label_tokens = label_token_ids(tokenizer, list(labels), lm.encoder.tail, config.label_variants)
    return lm


# --------------------------------------------------------------------------------------------------
# Forward passes: logits over the label set, one row per text
# --------------------------------------------------------------------------------------------------

def classifier_logits(model: Any, tokenizer: Any, texts: Sequence[str], max_length: int, device: str) -> Any:
    """[B, K] head logits of a (PEFT or plain) sequence classifier."""
    enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    enc = {k: v.to(device) for k, v in enc.items()}
    return model(**enc).logits


def next_token_logits(model: Any, prompt_ids: Sequence[Sequence[int]], pad_id: int, device: str) -> Any:
    """[B, V] next-token logits after each prompt (token ids; left-padded, positions count real tokens)."""
    import torch

    width = max(len(p) for p in prompt_ids)
    ids = torch.full((len(prompt_ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompt_ids), width), dtype=torch.long)
    for i, p in enumerate(prompt_ids):
        ids[i, width - len(p):] = torch.tensor(list(p), dtype=torch.long)
        mask[i, width - len(p):] = 1
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=position_ids.to(device),
                logits_to_keep=1)
    return out.logits[:, -1, :]


def label_log_probs(next_logits: Any, lt: LabelTokens, over_vocab: bool) -> Any:
    """[B, K] log-probability of each label: log of the summed probability of its tokens, the softmax
    taken over the label tokens only (``over_vocab`` False: renormalised, what the scorer reports)
    or over the whole vocabulary (True: the raw label mass, below 1)."""
    import torch

    tok_ids = torch.tensor(lt.token_ids, dtype=torch.long, device=next_logits.device)
    logits = next_logits if next_logits.dtype == torch.float64 else next_logits.float()
    logp = torch.log_softmax(logits, dim=-1)[:, tok_ids] if over_vocab else torch.log_softmax(logits[:, tok_ids], -1)
    owner = torch.tensor(lt.token_label, dtype=torch.long, device=logits.device)
    cols = [torch.logsumexp(logp[:, owner == k], dim=-1) for k in range(len(lt.labels))]
    return torch.stack(cols, dim=-1)


def label_probabilities(model: Any, tokenizer: Any, texts: Sequence[str], *, mode: str, max_length: int,
                        labels: Sequence[str] | None = None, prompt_template: str | None = None,
                        label_variants: str = "both", batch_size: int = 32, device: str = "cpu") -> Any:
    """[N, K] probabilities over the label set, renormalised as the scorer does (float64 tensor).

    Generative mode renders ``prompt_template`` around each text with the scorer's encoding and
    reads the label tokens after it. Inference only: the reference the engines are checked against.
    """
    import torch

    if mode == "generative":
        if labels is None or prompt_template is None:
            raise ConfigError("generative mode needs labels and prompt_template")
        encoder = GenerativePromptEncoder(tokenizer, prompt_template, list(labels), max_length)
        lt = label_token_ids(tokenizer, list(labels), encoder.tail, label_variants)
    was_training = model.training
    model.eval()
    rows = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            chunk = list(texts[start:start + batch_size])
            if mode == "classifier":
                logp = torch.log_softmax(classifier_logits(model, tokenizer, chunk, max_length, device).double(), -1)
            else:
                nt = next_token_logits(model, encoder.encode(list(chunk))[0], tokenizer.pad_token_id, device)
                logp = label_log_probs(nt.double(), lt, over_vocab=False)
            rows.append(logp.exp().cpu())
    model.train(was_training)
    return torch.cat(rows) if rows else torch.zeros((0, 0), dtype=torch.float64)


# --------------------------------------------------------------------------------------------------
# Training loop
# --------------------------------------------------------------------------------------------------

@dataclass
class TrainReport:
    train_loss_per_epoch: list[float]
    train_loss_before: float | None
    train_loss_after: float | None
    train_accuracy_after: float | None
    steps: int
    seconds: float


class _Objective:
    """Weighted cross-entropy for one mode, on batches given as index lists into ``texts``."""

    def __init__(self, lm: LoraModel, texts: Sequence[str], weights: Sequence[float],
                 config: FinetuneConfig, device: str) -> None:
        import torch

        self.lm, self.config, self.device = lm, config, device
        self.class_w = torch.tensor(list(weights), dtype=torch.float32, device=device)
        self.full_vocab = config.generative_loss == "full_vocab"
        # generative prompts are tokenised once: the encoding does not change between epochs
        self.inputs: Sequence[Any] = lm.encoder.encode(list(texts))[0] if lm.mode == "generative" else texts

    def label_logp(self, idx: Sequence[int]) -> Any:
        """[B, K] label log-probabilities (classifier: log-softmax of the head)."""
        import torch

        batch = [self.inputs[i] for i in idx]
        if self.lm.mode == "classifier":
            logits = classifier_logits(self.lm.model, self.lm.tokenizer, batch, self.config.max_length, self.device)
            return torch.log_softmax(logits.float(), dim=-1)
        nt = next_token_logits(self.lm.model, batch, self.lm.tokenizer.pad_token_id, self.device)
        return label_log_probs(nt, self.lm.label_tokens, over_vocab=self.full_vocab)

    def loss(self, logp: Any, y: Any) -> Any:
        """Batch mean of -log p(true label), weighted by class weight (torch's weighted-mean convention)."""
        import torch.nn.functional as F

        return F.nll_loss(logp, y, weight=self.class_w)

    def batch_weight(self, y: Any) -> float:
        return float(self.class_w[y].double().sum())

    def evaluate(self, labels_t: Any, batch_size: int) -> tuple[float, float]:
        """(weighted loss, accuracy) over the whole training set in eval mode (no dropout)."""
        import torch

        n = len(self.inputs)
        self.lm.model.eval()
        total, total_w, correct = 0.0, 0.0, 0
        with torch.no_grad():
            for start in range(0, n, batch_size):
                idx = list(range(start, min(n, start + batch_size)))
                y = labels_t[idx]
                logp = self.label_logp(idx)
                bw = self.batch_weight(y)
                total += float(self.loss(logp, y)) * bw
                total_w += bw
                correct += int((logp.argmax(-1) == y).sum())
        self.lm.model.train()
        return total / max(total_w, 1e-12), correct / max(n, 1)


class Stepper:
    """AdamW on the trainable parameters with a linear warm-up then linear decay to 0, gradient
    clipping, one ``step(loss)`` per batch: the optimiser both recipes (cross-entropy and
    contrastive) share. The schedule is written out rather than transformers'
    ``get_linear_schedule_with_warmup`` because its warm-up starts at (step + 1) / (warmup + 1), not
    0: the recorded ablation and the bit-identical determinism tests were measured with it. No
    schedule of ``transformers.get_scheduler`` matches (those with a linear decay warm up from 0;
    the one warming up from above 0 decays on a cosine). After the warm-up, and throughout when
    ``warmup_ratio`` is 0, it equals ``get_linear_schedule_with_warmup`` value for value
    (tests/finetune/test_schedule.py)."""

    def __init__(self, lm: LoraModel, config: FinetuneConfig, total_steps: int, *, lr: float) -> None:
        import torch

        self.params = [p for p in lm.model.parameters() if p.requires_grad]
        self.max_grad_norm = config.max_grad_norm
        self.opt = torch.optim.AdamW(self.params, lr=lr, weight_decay=config.weight_decay)
        warmup = int(total_steps * config.warmup_ratio)

        def lr_lambda(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lr_lambda)

    def step(self, loss: Any) -> None:
        import torch

        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.max_grad_norm)
        self.opt.step()
        self.sched.step()


def train(lm: LoraModel, inputs: Sequence[str], label_ids: Sequence[int], weights: Sequence[float],
          config: FinetuneConfig, *, device: str = "cpu",
          log: Callable[[str], None] | None = None) -> TrainReport:
    """Plain torch loop: AdamW, linear warm-up/decay, seeded shuffle, weighted cross-entropy.

    ``inputs`` are the raw texts (generative mode wraps them in the prompt). Reproducible: the shuffle
    uses its own ``torch.Generator`` seeded from ``config.seed`` and dropout draws from the global
    generator reseeded here, so the same seed on the same machine gives the same adapter bit for bit.
    """
    import torch

    t0 = time.perf_counter()
    n = len(inputs)
    if n == 0:
        raise ConfigError("no training examples")
    lm.model.to(device)
    labels_t = torch.tensor(list(label_ids), dtype=torch.long, device=device)
    obj = _Objective(lm, inputs, weights, config, device)

    steps_per_epoch = math.ceil(n / config.batch_size)
    total_steps = max(steps_per_epoch * config.epochs, config.min_steps)
    n_epochs = math.ceil(total_steps / steps_per_epoch)
    log_every = max(1, n_epochs // 10)
    stepper = Stepper(lm, config, total_steps, lr=config.learning_rate_for(lm.mode))

    before = None
    if config.eval_train_loss:
        before, _ = obj.evaluate(labels_t, config.batch_size)

    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)  # dropout masks
    lm.model.train()
    per_epoch: list[float] = []
    step = 0
    for epoch in range(n_epochs):
        order = torch.randperm(n, generator=gen).tolist()
        epoch_loss, epoch_w = 0.0, 0.0
        for start in range(0, n, config.batch_size):
            if step >= total_steps:  # the last pass of a min_steps budget stops part-way
                break
            idx = order[start:start + config.batch_size]
            y = labels_t[idx]
            loss = obj.loss(obj.label_logp(idx), y)
            stepper.step(loss)
            step += 1
            bw = obj.batch_weight(y)
            epoch_loss += float(loss.detach()) * bw
            epoch_w += bw
        per_epoch.append(epoch_loss / max(epoch_w, 1e-12))
        if log and ((epoch + 1) % log_every == 0 or epoch + 1 == n_epochs):
            log(f"epoch {epoch + 1}/{n_epochs} (step {step}/{total_steps}): weighted train loss {per_epoch[-1]:.4f}")

    after = acc = None
    if config.eval_train_loss:
        after, acc = obj.evaluate(labels_t, config.batch_size)
    lm.model.eval()
    return TrainReport(train_loss_per_epoch=per_epoch, train_loss_before=before, train_loss_after=after,
                       train_accuracy_after=acc, steps=step, seconds=time.perf_counter() - t0)


def evaluate_training_set(lm: LoraModel, inputs: Sequence[str], label_ids: Sequence[int], weights: Sequence[float],
                          config: FinetuneConfig, device: str) -> tuple[float, float]:
    """(weighted cross-entropy, accuracy) of the model as it is, over its training set."""
    import torch

    labels_t = torch.tensor(list(label_ids), dtype=torch.long, device=device)
    result = _Objective(lm, inputs, weights, config, device).evaluate(labels_t, config.batch_size)
    lm.model.eval()
    return result


# --------------------------------------------------------------------------------------------------
# Head warm start
# --------------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------------

def save_adapter(lm: LoraModel, out_dir: str | Path, *, base_model_name: str | None = None) -> Path:
    """``adapter_config.json`` + ``adapter_model.safetensors`` (what vLLM's LoRARequest and
    ``PeftModel.from_pretrained`` read). ``base_model_name`` is recorded in the adapter config."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = lm.model
    if base_model_name is not None:
        for cfg in model.peft_config.values():
            cfg.base_model_name_or_path = base_model_name
    model.save_pretrained(str(out))
    return out


def save_merged(lm: LoraModel, out_dir: str | Path) -> Path:
    """Fold the LoRA deltas into the base weights (``merge_and_unload``) and write a plain checkpoint
    plus the tokenizer. Consumes ``lm.model``: save the adapter first."""
    import torch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        merged = lm.model.merge_and_unload()
    merged.save_pretrained(str(out))
    tok = lm.tokenizer
    tok.save_pretrained(str(out))
    lm.model = merged
    return out


def adapter_state(adapter_dir: str | Path) -> dict[str, Any]:
    """The saved adapter tensors (for comparisons in tests and audits)."""
    from safetensors.torch import load_file

    from al_ray.layout import ADAPTER_WEIGHTS_FILE

    return load_file(str(Path(adapter_dir) / ADAPTER_WEIGHTS_FILE))


def load_peft_model(base_dir: str | Path, adapter_dir: str | Path, mode: str) -> tuple[Any, Any]:
    """Base + saved adapter as a PEFT model (eval mode) and its tokenizer: the reference
    implementation the engines are checked against."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    tok = load_tokenizer(base_dir, mode)
    cls = AutoModelForSequenceClassification if mode == "classifier" else AutoModelForCausalLM
    base = cls.from_pretrained(str(base_dir), dtype=torch.float32)
    if mode == "classifier":
        from al_ray.models import apply_checkpoint_pooling

        apply_checkpoint_pooling(base)
    model = PeftModel.from_pretrained(base, str(adapter_dir))
    model.eval()
    return model, tok
