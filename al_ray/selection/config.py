"""``SelectionConfig``: every knob of the selection stage; the field descriptions are the docs.

Load it from YAML with ``al_ray.config_io.load(SelectionConfig, url, overrides)``; the CLI layers
its flags on top.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from al_ray.selection.strategies import STRATEGIES

Measure = Literal["entropy", "margin", "least_confidence"]


class DedupConfig(BaseModel):
    """Duplicate removal before the batch is filled (exact -> near -> semantic)."""

    model_config = ConfigDict(extra="forbid")

    exact: bool = Field(True, description="Drop items whose normalised text (NFKC, case-folded, "
                        "punctuation and repeated whitespace removed) hashes equal to a kept item's.")
    near: bool = Field(True, description="Drop near-duplicates found by MinHash LSH (datasketch).")
    semantic: bool = Field(True, description="Drop items whose embedding has cosine >= "
                           "semantic_threshold with a kept item of the same cluster.")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations.")
    jaccard_threshold: float = Field(0.8, gt=0, le=1, description="LSH Jaccard threshold for near-duplicates.")
    shingle: Literal["char", "word"] = Field("char", description="Shingles: character or word n-grams "
                                             "of the normalised text.")
    shingle_size: int = Field(5, ge=1, le=32, description="n of the n-gram shingles.")
    semantic_threshold: float = Field(0.95, gt=0, le=1, description="Cosine similarity at or above "
                                      "which two items of one cluster are semantic duplicates.")


class EmbeddingConfig(BaseModel):
    """Where candidate embeddings come from (they are stored in candidates.parquet)."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["auto", "scores", "scoring_model", "minilm", "none"] = Field(
        "auto", description="'scores': a vector column in the score files (see column); "
        "'scoring_model': mean-pool the hidden states of the checkpoint named by the score files' "
        "model_id (or `model`), which must be a local directory; 'minilm': the offline "
        "sentence-transformers/all-MiniLM-L6-v2; 'auto': scores column if present, else the "
        "scoring model if it is a local encoder checkpoint, else MiniLM; 'none': no embeddings "
        "(only strategies and dedup kinds that do not need them can run).",
    )
    column: str = Field("embedding", description="Score-file column holding a vector (source 'scores').")
    model: str | None = Field(None, description="Checkpoint directory to pool instead of the score "
                              "files' model_id (source 'scoring_model').")
    batch_size: int = Field(64, ge=1, description="Texts per forward pass.")
    max_length: int = Field(128, ge=8, description="Tokens per text (longer texts are truncated).")


class BoundaryConfig(BaseModel):
    """Cross-label boundary pairs (DESIGN.md)."""

    model_config = ConfigDict(extra="forbid")

    multiclass: Literal["ovr", "pairwise"] = Field(
        "ovr", description="Multi-class tasks: one-vs-rest per label, or every pair of labels. "
        "Binary tasks always use positive_label vs the other label.")
    clusters_per_side: int | None = Field(
        None, ge=1, description="k-means clusters for each side (predicted positive / negative); "
        "None: ceil(sqrt(n_side / 2)), at most 100.")
    radius_quantile: float = Field(
        0.8, gt=0, le=1, description="A cluster's radius is this quantile of its members' distances "
        "to its centroid; two opposite-label clusters overlap when a member of one lies inside "
        "the other's radius.")


class SelectionConfig(BaseModel):
    """The selection stage: candidate pool, strategy, dedup, batch size."""

    model_config = ConfigDict(extra="forbid")

    n: int = Field(100, ge=1, description="Items in the labelling batch.")
    strategy: str = Field("boundary_pairs", description="Strategy name: boundary_pairs, "
                          "cluster_margin, top_uncertainty, entropy, margin, least_confidence, random, "
                          "typical (TypiClust-style cold start for rounds with no or few labels).")
    measure: Measure = Field("entropy", description="Uncertainty measure for the pool and for "
                             "uncertainty-ranked strategies (margin: smaller is more uncertain).")
    pool_size: int | None = Field(None, ge=1, description="Candidates kept from the score files; "
                                  "None: pool_factor * n, clamped to [1000, 100000].")
    pool_factor: int = Field(20, ge=1, description="Default pool size as a multiple of n.")
    pool_order: Literal["auto", "uncertainty", "random"] = Field(
        "auto", description="Which rows of the score files make the pool: 'uncertainty' the most "
        "uncertain ones; 'random' a seeded random sample (rows ranked by a hash of (seed, id), so it "
        "streams in bounded memory like the uncertainty ranking and does not depend on file layout); "
        "'auto': what the strategy asks for (random for typical, uncertainty for the others).")
    stratify: bool | None = Field(None, description="Keep the top ceil(pool_size / n_labels) per "
                                  "predicted label (by pool_order) instead of the top pool_size overall; "
                                  "None: what the strategy asks for (True for typical, else False).")
    threshold: float | None = Field(
        None, description="Keep only rows at least this uncertain (entropy: entropy_norm >= t, in "
        "[0, 1]; least_confidence >= t; margin <= t), still capped at pool_size (first by pool_order).")
    exclude_empty_text: bool = Field(True, description="Skip rows the scorer flagged empty_text.")
    nan_policy: Literal["warn", "error"] = Field(
        "warn", description="Rows whose measure or probabilities are NaN: 'warn' skips them and "
        "names the file in a warning; 'error' stops with InputError naming the file.")
    allow_mixed_versions: bool = Field(
        False, description="Score files from different model_version values normally stop "
        "selection (InputError naming two files); True downgrades that to a warning.")
    allow_partial: bool = Field(
        False, description="When the deduplicated pool holds fewer than n items, write a smaller "
        "batch with a warning instead of raising PoolExhaustedError.")
    n_clusters: int | None = Field(
        None, ge=1, description="k-means clusters over the whole pool (Cluster-Margin, semantic "
        "dedup, cluster_id of other strategies); None: ceil(sqrt(pool / 2)), at most 256.")
    k_m_factor: float = Field(10.0, ge=1.0, description="Cluster-Margin: the k_m = k_m_factor * n "
                              "lowest-margin candidates are diversified.")
    boundary: BoundaryConfig = Field(default_factory=BoundaryConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    seed: int = Field(0, description="Seed of the numpy Generator passed to the strategy and k-means, "
                      "and of the random pool (pool_order 'random').")
    io_workers: int = Field(4, ge=1, le=64, description="Score/corpus files read concurrently.")
    read_batch_size: int = Field(131072, ge=1024, description="Rows per record batch when streaming.")
    threads: int | None = Field(
        None, ge=1, description="BLAS/OpenMP threads for k-means, similarity products and "
        "embedding (threadpoolctl + torch); None leaves the libraries' defaults. On a machine shared "
        "with other busy processes, 1 avoids spin-waiting threads (measured 5-10x faster there).")
    write_candidates: bool = Field(True, description="Write candidates.parquet (pool + text + "
                                   "embedding + duplicate_of) beside the batch.")

    @field_validator("strategy")
    @classmethod
    def _check(cls, v: str) -> str:  # a field validator, so the error is located at `strategy`
        if v not in STRATEGIES:
            raise ValueError(f"unknown strategy {v!r}; choose one of {sorted(STRATEGIES)}")
        return v

    def effective_pool_order(self) -> str:
        return STRATEGIES[self.strategy].pool_order if self.pool_order == "auto" else self.pool_order

    def effective_stratify(self) -> bool:
        return bool(STRATEGIES[self.strategy].pool_stratify if self.stratify is None else self.stratify)

    def effective_pool_size(self) -> int:
        if self.pool_size is not None:
            return max(self.pool_size, 1)
        return int(min(max(self.pool_factor * self.n, 1000), 100_000))
