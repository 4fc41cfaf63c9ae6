"""The training loop: the weighted cross-entropy objective, the optimiser and schedule, the epochs.

Why a module of its own: this is the one place a gradient step is taken. The generative default
loss is a softmax over the label tokens' logits only (``generative_loss='full_vocab'``: over the
whole vocabulary), see ``al_ray.finetune.peft_adapter``. ``Stepper`` is shared with the
contrastive recipe (``al_ray.finetune.contrastive``). torch is imported inside the functions.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from al_ray.errors import ConfigError
from al_ray.finetune.config import FinetuneConfig
from al_ray.finetune.inference import classifier_logits, label_log_probs, next_token_logits
from al_ray.finetune.lora_model import LoraModel


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
    total_steps = config.optimizer_steps(n)
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
