"""The contract layer's names: every file and folder the stages exchange, and where a run keeps them.

No stage spells one of these names itself; it imports the constant (or asks ``RunLayout``), so a
name is written exactly once (``tests/test_contracts.py`` checks it). The columns of each file are
in ``al_ray.schemas``.

A run (``RunLayout``)::

    RUN/manifest.json                      run config + per-round step status (driver)
    RUN/report.html
    RUN/data/corpus/, RUN/data/gold/       the corpus the run prepared (demo / Davidson), see below
    RUN/base_model/                        the zero-shot classifier of round 0 (when no base is given)
    RUN/_job_summary_<job>.json            a Ray job's outcome (jobs/)
    RUN/rounds/r000/scores/<shard>.parquet  (+ .done markers, .ids.npy and .cand.pq sidecars,
                                            _summary.json, _calibration.json, _duplicate_ids/)
    RUN/rounds/r000/candidates.parquet
    RUN/rounds/r000/batch/batch.parquet, batch.jsonl, dedup_groups.parquet, selection_summary.json,
                         assignments.jsonl, labelstudio_tasks.json, labelstudio_config.xml,
                         argilla_records.json, argilla_settings.json, export.json,
                         labelstudio_project.json, simulation.json
    RUN/rounds/r000/labels/annotations.parquet, labels.parquet, agreement.json, adjudication.jsonl,
                          adjudications.parquet, labelstudio_export.json,
                          adjudicated_simulated.jsonl, incoming/ (dropped annotation files)
    RUN/rounds/r000/split/train.parquet, eval.parquet
    RUN/rounds/r000/model/adapter/, merged/, metrics.json
    RUN/rounds/r000/eval.json

A prepared data set (``al_ray.data``)::

    DATA/corpus/part-00000.parquet ..., DATA/corpus/_dataset.json
    DATA/gold/gold.parquet, test_ids.parquet, dataset.json

A checkpoint directory: ``config.json`` (transformers), ``al_ray_version.txt`` (the weights'
version); a LoRA adapter directory: ``adapter_config.json``, ``adapter_model.safetensors`` (PEFT).
"""

from __future__ import annotations

from dataclasses import dataclass

from al_ray.storage import DONE_SUFFIX, join

# -- run (driver) -------------------------------------------------------------------------------
MANIFEST_FILE = "manifest.json"
REPORT_FILE = "report.html"
ROUNDS_DIR = "rounds"
DATA_DIR = "data"
BASE_MODEL_DIR = "base_model"
EVAL_FILE = "eval.json"
SPLIT_DIR = "split"
SPLIT_PARTS = ("train", "eval")

# -- prepared data set (al_ray.data) ------------------------------------------------------------
CORPUS_DIR = "corpus"
GOLD_DIR = "gold"
GOLD_FILE = "gold.parquet"
TEST_IDS_FILE = "test_ids.parquet"
GOLD_INFO_FILE = "dataset.json"
CORPUS_INFO_FILE = "_dataset.json"  # leading "_": shard listing ignores it
TASK_FILE = "task.yaml"  # DATA/task.yaml, written by `al-ray data import`: what --task takes

# -- scoring ------------------------------------------------------------------------------------
SCORES_DIR = "scores"
SCORES_SUMMARY_FILE = "_summary.json"
CALIBRATION_FILE = "_calibration.json"
NIGHTLY_STATE_FILE = "_nightly_state.json"
# The duplicate-id check's partitions as last checked (al_ray.scoring.duplicate_state), so a resume
# after a change reads only the changed shards' id sidecars.
DUPLICATE_STATE_DIR = "_duplicate_ids"
DUPLICATE_STATE_FILE = "state.json"  # in it, written last: which token's partitions are the state
# Beside each score file ``<shard>.parquet``: its rows' id hashes (uint64 .npy, written by the
# scoring actor before the .done marker) for the distributed duplicate-id check. Not ".parquet":
# readers list score files by that suffix.
SCORE_IDS_SUFFIX = ".ids.npy"
# Beside each score file: its top-K rows per uncertainty measure and per predicted label, with the
# shard's cut-offs in the schema metadata (al_ray.scoring.topk), so the candidate pool merges
# K x shards rows instead of reading every score row. Parquet bytes, but not named ".parquet" for
# the same reason as above: a sidecar must never be listed as a score file.
SCORE_CANDIDATES_SUFFIX = ".cand.pq"

# -- selection (the batch directory) ------------------------------------------------------------
BATCH_DIR = "batch"
BATCH_FILE = "batch.parquet"
BATCH_JSONL = "batch.jsonl"
DEDUP_FILE = "dedup_groups.parquet"
CANDIDATES_FILE = "candidates.parquet"
SELECTION_SUMMARY_FILE = "selection_summary.json"

# -- labelling: export (batch directory) --------------------------------------------------------
ASSIGNMENTS_FILE = "assignments.jsonl"
LS_TASKS_FILE = "labelstudio_tasks.json"
LS_CONFIG_FILE = "labelstudio_config.xml"
ARGILLA_RECORDS_FILE = "argilla_records.json"
ARGILLA_SETTINGS_FILE = "argilla_settings.json"
EXPORT_SUMMARY_FILE = "export.json"
LS_PROJECT_FILE = "labelstudio_project.json"
SIMULATION_REPORT_FILE = "simulation.json"

# -- labelling: labels directory ----------------------------------------------------------------
LABELS_DIR = "labels"
INCOMING_DIR = "incoming"
ANNOTATIONS_FILE = "annotations.parquet"
LABELS_FILE = "labels.parquet"
AGREEMENT_FILE = "agreement.json"
QUEUE_FILE = "adjudication.jsonl"
ADJUDICATIONS_FILE = "adjudications.parquet"
LS_EXPORT_FILE = "labelstudio_export.json"
SIMULATED_ANNOTATIONS_FILE = "simulated.jsonl"  # in incoming/: the driver's simulated experts
SIMULATED_ADJUDICATIONS_FILE = "adjudicated_simulated.jsonl"

# -- fine-tune (the round's model directory) ----------------------------------------------------
MODEL_DIR = "model"
ADAPTER_DIR = "adapter"
MERGED_DIR = "merged"
METRICS_FILE = "metrics.json"

# -- checkpoints --------------------------------------------------------------------------------
MODEL_VERSION_FILE = "al_ray_version.txt"
SCORING_CONFIG_FILE = "al_ray_scoring.yaml"  # beside a checkpoint made by `al-ray model init`
CHECKPOINT_CONFIG_FILE = "config.json"  # transformers' config: what makes a directory a checkpoint
ADAPTER_CONFIG_FILE = "adapter_config.json"  # PEFT
ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors"  # PEFT

# Files an annotation inbox (labels/incoming/) takes; anything else there is left alone.
ANNOTATION_FILE_SUFFIXES = (".jsonl", ".csv", ".json")


def shard_name(index: int) -> str:
    """``part-00000.parquet``: zero-padded so lexicographic listing order is shard order."""
    return f"part-{index:05d}.parquet"


def sim_annotator_file(k: int) -> str:
    """The simulated annotator ``k``'s annotation file (k = position in the assignments, never an id)."""
    return f"sim_annotator_{k:03d}.jsonl"


def job_summary_file(job: str) -> str:
    """Where a Ray job (``jobs/<job>.py``) writes its outcome by default, beside its output."""
    return f"_job_summary_{job}.json"


def split_file(part: str) -> str:
    return f"{part}.parquet"


def is_gold_file(url: str) -> bool:
    """A gold/test-id location names the Parquet file itself (else it is the gold folder)."""
    return str(url).endswith(".parquet")


def gold_file(gold_url: str) -> str:
    """``gold.parquet`` in a gold folder, or the Parquet file given."""
    return gold_url if is_gold_file(gold_url) else join(gold_url, GOLD_FILE)


def test_ids_file(gold_url: str) -> str:
    return gold_url if is_gold_file(gold_url) else join(gold_url, TEST_IDS_FILE)


# Every file name above (what tests/test_contracts.py looks for in the stages).
ARTEFACT_FILES: tuple[str, ...] = (
    MANIFEST_FILE, REPORT_FILE, EVAL_FILE, GOLD_FILE, TEST_IDS_FILE, GOLD_INFO_FILE, CORPUS_INFO_FILE,
    SCORES_SUMMARY_FILE, CALIBRATION_FILE, NIGHTLY_STATE_FILE, BATCH_FILE, BATCH_JSONL, DEDUP_FILE,
    CANDIDATES_FILE, SELECTION_SUMMARY_FILE, ASSIGNMENTS_FILE, LS_TASKS_FILE, LS_CONFIG_FILE,
    ARGILLA_RECORDS_FILE, ARGILLA_SETTINGS_FILE, EXPORT_SUMMARY_FILE, LS_PROJECT_FILE,
    SIMULATION_REPORT_FILE, ANNOTATIONS_FILE, LABELS_FILE, AGREEMENT_FILE, QUEUE_FILE, ADJUDICATIONS_FILE,
    LS_EXPORT_FILE, SIMULATED_ANNOTATIONS_FILE, SIMULATED_ADJUDICATIONS_FILE, METRICS_FILE,
    MODEL_VERSION_FILE, SCORING_CONFIG_FILE, CHECKPOINT_CONFIG_FILE, ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, DONE_SUFFIX,
    SCORE_CANDIDATES_SUFFIX,
)


@dataclass(frozen=True)
class RunLayout:
    root: str

    @property
    def manifest(self) -> str:
        return join(self.root, MANIFEST_FILE)

    @property
    def report(self) -> str:
        return join(self.root, REPORT_FILE)

    @property
    def data_dir(self) -> str:
        """Where the run prepares its own corpus (``corpus.url`` unset)."""
        return join(self.root, DATA_DIR)

    @property
    def corpus(self) -> str:
        return join(self.data_dir, CORPUS_DIR)

    @property
    def gold(self) -> str:
        return join(self.data_dir, GOLD_DIR)

    @property
    def base_model(self) -> str:
        """Round 0's zero-shot classifier, when the run builds one."""
        return join(self.root, BASE_MODEL_DIR)

    def job_summary(self, job: str) -> str:
        return join(self.root, job_summary_file(job))

    def round_dir(self, r: int) -> str:
        return join(self.root, ROUNDS_DIR, f"r{r:03d}")

    def scores(self, r: int) -> str:
        return join(self.round_dir(r), SCORES_DIR)

    def candidates(self, r: int) -> str:
        return join(self.round_dir(r), CANDIDATES_FILE)

    def batch_dir(self, r: int) -> str:
        return join(self.round_dir(r), BATCH_DIR)

    def batch(self, r: int) -> str:
        return join(self.batch_dir(r), BATCH_FILE)

    def dedup_groups(self, r: int) -> str:
        return join(self.batch_dir(r), DEDUP_FILE)

    def labels_dir(self, r: int) -> str:
        return join(self.round_dir(r), LABELS_DIR)

    def labels(self, r: int) -> str:
        return join(self.labels_dir(r), LABELS_FILE)

    def adjudication_queue(self, r: int) -> str:
        return join(self.labels_dir(r), QUEUE_FILE)

    def incoming(self, r: int) -> str:
        """Annotation files dropped here are imported by the labels step."""
        return join(self.labels_dir(r), INCOMING_DIR)

    def simulated_annotations(self, r: int) -> str:
        return join(self.incoming(r), SIMULATED_ANNOTATIONS_FILE)

    def split(self, r: int, part: str) -> str:
        """The round's labels split for training (``train``) or evaluation (``eval``)."""
        return join(self.round_dir(r), SPLIT_DIR, split_file(part))

    def model_dir(self, r: int) -> str:
        return join(self.round_dir(r), MODEL_DIR)

    def eval(self, r: int) -> str:
        return join(self.round_dir(r), EVAL_FILE)


def batch_dir_beside(labels_dir: str) -> str:
    """The batch directory of the round whose labels directory is ``labels_dir`` (its sibling)."""
    parent = str(labels_dir).rstrip("/").rsplit("/", 1)[0]
    return join(parent, BATCH_DIR)
