"""Fine-tune stage: PEFT LoRA on the round's expert labels, in classifier or generative mode.

Reads ``labels.parquet`` files (``al_ray.schemas.LABELS_SCHEMA``), writes ``adapter/``, ``merged/``
(classifier mode) and ``metrics.json`` under the round's model folder (``RunLayout.model_dir``).
Nothing heavy is imported here: torch/transformers/peft load when training starts.
"""

from al_ray.finetune.config import FinetuneConfig, vllm_max_lora_rank
from al_ray.finetune.data import TrainingData, class_weights, read_labels
from al_ray.finetune.remote import submit_train_round, train_round_remote
from al_ray.finetune.train import FinetuneResult, output_urls, train_round

__all__ = [
    "FinetuneConfig",
    "FinetuneResult",
    "TrainingData",
    "class_weights",
    "output_urls",
    "read_labels",
    "submit_train_round",
    "train_round",
    "train_round_remote",
    "vllm_max_lora_rank",
]
