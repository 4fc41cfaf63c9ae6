"""The one narrow adapter around PEFT and transformers: its public face.

Everything that touches PEFT/transformers lives in this package's adapter modules, one job each,
and is imported by the rest of al_ray (``train.py``, ``contrastive.py``, tests, benchmarks) from here:

- ``runtime``: determinism, an isolated random stream, intra-op threads, the device;
- ``lora_model``: loading the base checkpoint and wrapping it with LoRA (``LoraModel``);
- ``inference``: logits and probabilities over the label set, the engines' reference;
- ``training_loop``: the objective, the optimiser/schedule (``Stepper``) and ``train``;
- ``head_init``: the classifier head's logistic-regression warm start;
- ``checkpoints``: saving the adapter / merged model, loading them back.

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

from al_ray.finetune.checkpoints import adapter_state, load_peft_model, save_adapter, save_merged
from al_ray.finetune.head_init import _head_linear, head_features, warm_start_head
from al_ray.finetune.inference import (
    classifier_logits, label_log_probs, label_probabilities, next_token_logits,
)
from al_ray.finetune.lora_model import LoraModel, build_lora_model, load_base_model, load_tokenizer
from al_ray.finetune.runtime import current_threads, deterministic, isolated_rng, pick_device, torch_threads
from al_ray.finetune.training_loop import Stepper, TrainReport, _Objective, evaluate_training_set, train

__all__ = [
    # runtime
    "current_threads", "deterministic", "isolated_rng", "pick_device", "torch_threads",
    # model construction
    "LoraModel", "build_lora_model", "load_base_model", "load_tokenizer",
    # inference (the reference the engines are checked against)
    "classifier_logits", "label_log_probs", "label_probabilities", "next_token_logits",
    # training loop
    "Stepper", "TrainReport", "_Objective", "evaluate_training_set", "train",
    # head warm start
    "_head_linear", "head_features", "warm_start_head",
    # saving / loading
    "adapter_state", "load_peft_model", "save_adapter", "save_merged",
]
