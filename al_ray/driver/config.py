"""The run configuration: one YAML file describes a whole active-learning run.

Stage sections (scoring, selection, labeling, finetune) are passed through to each stage's own
validated config; ``RunConfig.validate_stages`` builds them once up front so a typo fails before
any engine starts, with the error naming the section and field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from al_ray.driver.stopping import StoppingConfig
from al_ray.task import TaskConfig


class RunSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("run", description="Name shown in status and reports.")
    seed: int = Field(0, description="Seeds every random choice of the run (selection, splits, simulation, training).")
    max_rounds: int = Field(5, ge=1, description="Most labelling rounds; a final scoring pass evaluates the last model.")
    batch_size: int = Field(100, ge=1, description="Items sent to annotators per round.")
    label_budget: int = Field(500, ge=1, description="Most expert-labelled items over the whole run.")
    eval_fraction: float = Field(
        0.2, ge=0, lt=1,
        description="Share of each round's expert labels kept out of training to measure model–expert kappa; "
        "the evaluation set only grows.",
    )


# The corpus's size sets most of the demo's time: every round rescores all of it (~200 rows/s after
# a ~25 s engine start on a 2-core AVX2 machine, RESULTS.md section 2). 8K rows in 4 shards keep the
# story (3 rounds, holdout kappa rising on ~800 test items) in about 8 minutes on such a machine;
# 20K rows took ~16 minutes there (issue 14).
DEMO_ROWS = 8000
DEMO_SHARDS = 4


class CorpusConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, description="Corpus shards (Parquet) under any fsspec URL. Null with a "
                            "source: the corpus is prepared under RUN/data/ first.")
    source: Literal["demo", "davidson"] | None = Field(
        None, description="Prepare a corpus (plus gold votes and a test split) under RUN/data/: the generated "
        "demo corpus, or the Davidson tweets from csv.",
    )
    csv: str | None = Field(None, description="davidson: path of labeled_data.csv.")
    davidson_task: Literal["violating", "hate"] = Field("violating", description="davidson: which binary task.")
    n_rows: int = Field(20000, ge=100, description="demo: rows to generate.")
    n_shards: int = Field(8, ge=1, description="Shards to write when preparing a corpus.")
    positive_rate: float = Field(0.05, gt=0, lt=1, description="demo: share of violating rows.")
    test_fraction: float = Field(0.2, ge=0, lt=1, description="Prepared corpora: share held out as the test split.")
    gold_url: str | None = Field(
        None, description="Simulation only: a gold folder or gold.parquet (al_ray.data.layout: id, label, "
        "votes_<label>, split); simulated annotators answer from it.",
    )
    holdout_url: str | None = Field(
        None, description="Optional held-out evaluation set, never selected and evaluated every round: a Parquet "
        "with id and label, or a gold folder/file whose rows with split == 'test' are used.",
    )


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base: str | None = Field(
        None, description="Base checkpoint (local dir or URL). Classifier mode with none given: a zero-shot "
        "MiniLM classifier is built from the task's label descriptions.",
    )


class SimulationConfig(BaseModel):
    """Simulated experts, for the demo and benchmarks only."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["vote_counts", "noisy_gold"] = Field(
        "vote_counts", description="vote_counts: each expert answers the item's majority vote, flipped with "
        "flip_prob; noisy_gold: each answers the gold label with error_rate.",
    )
    n_annotators: int = Field(3, ge=1)
    flip_prob: float = Field(0.05, ge=0, le=1, description="Per-expert chance of not giving the majority label.")


class ReportReferences(BaseModel):
    """Reference arms to draw beside the loop's curve. They are separate runs (random selection on the
    same test split, a model trained on crowd labels), so a run cannot measure them itself; whoever
    ran them writes the figures here."""

    model_config = ConfigDict(extra="forbid")

    random: list[tuple[int, float]] = Field(
        default_factory=list, description="[labels used, holdout kappa] points of random selection, same recipe.")
    crowd: float | None = Field(None, ge=-1, le=1, description="Holdout kappa of a model trained on crowd labels.")
    source: str = Field("", description="Where the references come from (shown under the plot).")

    @field_validator("random")
    @classmethod
    def _kappas_in_range(cls, pts: list[tuple[int, float]]) -> list[tuple[int, float]]:
        for n, k in pts:
            if n < 0 or not -1 <= k <= 1:
                raise ValueError(f"[{n}, {k}]: labels used must be >= 0 and kappa within [-1, 1]")
        return pts


class ReportConfig(BaseModel):
    """What the HTML report needs that a run does not measure: a price, and reference arms."""

    model_config = ConfigDict(extra="forbid")

    cost_per_hour: float | None = Field(
        None, gt=0, description="Price of the machine per hour; the report's cost column is wall time x this.")
    references: ReportReferences | None = None


class ColdStartConfig(BaseModel):
    """``selection.cold_start``: the strategy of the first rounds, before labels exist.

    Uncertainty of a zero-shot model is a poor first batch on skewed data (it can be nearly all
    one true class); with no or few labels, typical members of distinct clusters do better
    (Hacohen et al., ICML 2022, TypiClust). Rounds ``< rounds`` use ``strategy`` (whose pool is
    then, by default, a seeded random sample stratified by predicted label); later rounds use
    ``selection.strategy``. ``selection.cold_start: null`` or ``rounds: 0`` turns it off.
    """

    model_config = ConfigDict(extra="forbid")

    strategy: str = Field("typical", description="Selection strategy of the cold-start rounds.")
    rounds: int = Field(1, ge=0, description="Rounds 0 .. rounds-1 use the cold-start strategy; 0: off.")

    @field_validator("strategy")
    @classmethod
    def _known(cls, v: str) -> str:
        from al_ray.selection.strategies import STRATEGIES

        if v not in STRATEGIES:
            raise ValueError(f"unknown strategy {v!r}; choose one of {sorted(STRATEGIES)}")
        return v


def cold_start(selection: dict[str, Any]) -> ColdStartConfig | None:
    """The run's cold start from its selection section: absent -> the default (typical, 1 round)."""
    if "cold_start" not in selection:
        return ColdStartConfig()
    raw = selection["cold_start"]
    if raw is None:
        return None
    cs = ColdStartConfig.model_validate(raw)
    return cs if cs.rounds > 0 else None


def selection_fields(selection: dict[str, Any], r: int) -> tuple[dict[str, Any], bool]:
    """SelectionConfig fields for round r (cold_start resolved away) and whether it is a cold-start round."""
    fields = {k: v for k, v in selection.items() if k != "cold_start"}
    cs = cold_start(selection)
    if cs is not None and r < cs.rounds:
        fields["strategy"] = cs.strategy
        return fields, True
    return fields, False


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: RunSettings = Field(default_factory=RunSettings)
    task: TaskConfig
    corpus: CorpusConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    scoring: dict[str, Any] = Field(default_factory=dict, description="al_ray.scoring.config.ScoringConfig fields.")
    selection: dict[str, Any] = Field(
        default_factory=dict, description="al_ray.selection.config.SelectionConfig fields, plus `cold_start` "
        "(ColdStartConfig: strategy of the first rounds; default typical for round 0; null: off).")
    labeling: dict[str, Any] = Field(default_factory=dict, description="al_ray.labeling.config.LabelingConfig fields.")
    finetune: dict[str, Any] = Field(default_factory=dict, description="al_ray.finetune.config.FinetuneConfig fields.")
    simulation: SimulationConfig | None = Field(
        None, description="Simulated experts (demo/benchmarks). Null: batches go to real annotators and the run "
        "waits for their labels.",
    )
    stopping: StoppingConfig = Field(default_factory=StoppingConfig)
    report: ReportConfig = Field(default_factory=ReportConfig, description="Price and reference arms for the report.")
    storage_options: dict[str, Any] = Field(default_factory=dict, description="fsspec options for every URL.")

    @property
    def mode(self) -> str:
        return str(self.scoring.get("mode", "classifier"))

    @model_validator(mode="after")
    def _simulation_needs_gold(self) -> "RunConfig":
        c = self.corpus
        if not c.url and not c.source:
            raise ValueError("corpus needs a url, or a source to prepare (demo | davidson)")
        if c.source == "davidson" and not c.csv:
            raise ValueError("corpus.source davidson needs corpus.csv (path of labeled_data.csv)")
        if self.simulation is not None and not c.gold_url and not c.source:
            raise ValueError("simulation needs corpus.gold_url (the file simulated annotators answer from)")
        if self.mode == "generative" and not self.model.base:
            raise ValueError("generative mode needs model.base (a causal LM checkpoint)")
        return self


def validate_stages(config: RunConfig) -> None:
    """Build every stage's own config once so that a bad field fails now, named by section."""
    from pydantic import ValidationError

    from al_ray.errors import ConfigError
    from al_ray.finetune.config import FinetuneConfig
    from al_ray.labeling.config import LabelingConfig
    from al_ray.scoring.config import ScoringConfig
    from al_ray.selection.config import SelectionConfig

    def selection() -> None:
        # cold_start is the driver's, not SelectionConfig's: it is validated on its own, then the
        # selection config of a cold-start round and of a later round (both strategies must run).
        sel = config.selection
        try:
            cs = cold_start(sel)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in ("cold_start", *err["loc"]))
                problems.append(f"  selection.{loc}: {err['msg']}")
            sel, cs = {**sel, "cold_start": None}, None
        for r in sorted({0, cs.rounds if cs is not None else 0}):
            SelectionConfig(**{**selection_fields(sel, r)[0], "n": config.run.batch_size})

    problems: list[str] = []
    checks = {
        "scoring": lambda: ScoringConfig(**{**config.scoring, "task": config.task, "model": config.model.base or "."}),
        "selection": selection,
        "labeling": lambda: LabelingConfig(**config.labeling),
        "finetune": lambda: FinetuneConfig(**config.finetune),
    }
    for section, build in checks.items():
        try:
            build()
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                problems.append(f"  {section}.{loc}: {err['msg']}")
        except TypeError as exc:
            problems.append(f"  {section}: {exc}")
    if problems:
        raise ConfigError("invalid run configuration\n" + "\n".join(problems))
