"""Data sets for al_ray: a safe demo corpus, the Davidson tweets prepared for two tasks, and a
synthetic corpus of any size for benchmarks. All share one layout (``al_ray.data.layout``):
corpus shards (id, text) beside a gold folder (labels, vote counts, test split)."""

from al_ray.data.layout import PreparedDataset, default_gold_url, read_gold, read_gold_info, read_test_ids

__all__ = ["PreparedDataset", "default_gold_url", "read_gold", "read_gold_info", "read_test_ids"]
