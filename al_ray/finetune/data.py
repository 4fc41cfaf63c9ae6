"""Training data: resolved labels (``labels.parquet``, schema ``al_ray.schemas.LABELS_SCHEMA``) in, texts
and label ids out, plus the class weights that counter the corpus's imbalance.

Cumulative retraining: the driver passes every round's labels file so far, and each round trains
from the original round-0 base on all of them. Rounds are then independent of training-order
accidents (round 3's model does not depend on what round 2's optimiser happened to do), a round can
be re-run alone, and an item relabelled in a later round simply carries its latest label: when the
same id occurs more than once, the occurrence with the highest ``round`` wins (ties: the later file,
then the later row).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from al_ray import storage
from al_ray.errors import InputError, StorageError
from al_ray.schemas import ID, TEXT
from al_ray.security import scrub

REQUIRED_COLUMNS = (ID, TEXT, "label")


@dataclass(frozen=True)
class TrainingData:
    """Deduplicated labelled examples in a fixed order (by round, then file, then row)."""

    labels: list[str]  # the task's label set; label_ids index into it
    ids: list[str]
    texts: list[str]
    label_ids: list[int]
    files: list[str] = field(default_factory=list)
    n_rows_read: int = 0
    n_duplicates_dropped: int = 0

    def __len__(self) -> int:
        return len(self.ids)

    def class_counts(self) -> list[int]:
        counts = [0] * len(self.labels)
        for y in self.label_ids:
            counts[y] += 1
        return counts

    def class_counts_by_label(self) -> dict[str, int]:
        return dict(zip(self.labels, self.class_counts()))


def class_weights(counts: Sequence[int], scheme: str = "balanced") -> list[float]:
    """Per-class cross-entropy weights.

    Why 'balanced' is the default: the raw corpus is ~95% benign, and even the boundary-focused
    batches experts label lean towards the majority class. Plain cross-entropy would then be
    minimised by a model that leans benign everywhere, which is the error that matters most for a
    policy classifier (missed violations) and which also collapses the uncertainty signal the next
    round's selection reads. Weighting class k by ``n / (K * count_k)`` (scikit-learn's 'balanced'
    rule) makes every class contribute the same total weight to the loss, as if the classes were
    equally frequent, without duplicating or dropping any labelled example. A perfectly balanced set
    gets weight 1.0 for every class, i.e. plain cross-entropy.

    A class with no examples gets weight 0.0 (it contributes no loss terms anyway).
    """
    if scheme == "none":
        return [1.0] * len(counts)
    if scheme != "balanced":
        raise ValueError(f"unknown class weighting {scheme!r}; use 'balanced' or 'none'")
    n = sum(counts)
    present = [c for c in counts if c > 0]
    if n == 0:
        return [1.0] * len(counts)
    k = len(present)  # classes that actually occur: keeps weights ~1 when one class is missing
    return [n / (k * c) if c > 0 else 0.0 for c in counts]


def read_labels(
    urls: str | Sequence[str],
    labels: Sequence[str],
    storage_options: Mapping[str, Any] | None = None,
) -> TrainingData:
    """Read one or many ``labels.parquet`` files (or folders holding them) into training data.

    Raises ``InputError`` naming the file (and row) for a missing column, an unknown or missing
    label, or an empty text; and when no example is left at all.
    """
    if isinstance(urls, str):
        urls = [urls]
    if not urls:
        raise InputError("no labels files given: nothing to train on")
    label_index = {lab: i for i, lab in enumerate(labels)}

    files: list[str] = []
    for url in urls:
        if not storage.exists(url, storage_options):
            raise InputError("labels file or folder not found", location=scrub(url))
        if not _is_dir(url, storage_options):
            files.append(url)
        else:
            found = [fi.url for fi in storage.list_files(url, ".parquet", storage_options)]
            if not found:
                raise InputError("no .parquet labels files found", location=scrub(url))
            files.extend(found)

    # (round, file order, row) -> example; later keys win for duplicate ids.
    best: dict[str, tuple[tuple[int, int, int], str, int]] = {}
    n_rows = 0
    for file_no, url in enumerate(files):
        loc = scrub(url)
        try:
            table = storage.read_parquet(url, storage_options)
        except FileNotFoundError:
            raise InputError("labels file not found", location=loc) from None
        except Exception as exc:  # pyarrow raises several types for a corrupt file
            if storage.is_storage_error(exc):  # the store failing (timeout, 5xx, permission): retry, not fix
                raise StorageError(f"{loc}: cannot read labels file: {type(exc).__name__}: {scrub(str(exc))}") from exc
            raise InputError(f"cannot read as Parquet: {exc}", location=loc) from exc
        missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
        if missing:
            raise InputError(f"missing column(s) {missing}; a labels file needs {list(REQUIRED_COLUMNS)} "
                             f"(schema al_ray.schemas.LABELS_SCHEMA)", location=loc)
        ids = table.column(ID).to_pylist()
        texts = table.column(TEXT).to_pylist()
        labs = table.column("label").to_pylist()
        rounds = table.column("round").to_pylist() if "round" in table.column_names else [None] * len(ids)
        for row, (id_, text, lab, rnd) in enumerate(zip(ids, texts, labs, rounds)):
            where = f"{loc} row {row}"
            if id_ is None or str(id_) == "":
                raise InputError("empty id", location=where)
            if lab is None:
                raise InputError(f"missing label for id {id_!r}", location=where)
            if lab not in label_index:
                raise InputError(f"unknown label {lab!r} for id {id_!r}; the task's labels are {list(labels)}",
                                 location=where)
            if text is None or not str(text).strip():
                raise InputError(f"empty text for id {id_!r}", location=where)
            key = (int(rnd) if rnd is not None else -1, file_no, row)
            prev = best.get(str(id_))
            if prev is None or key > prev[0]:
                best[str(id_)] = (key, str(text), label_index[lab])
        n_rows += len(ids)

    if not best:
        raise InputError("labels files hold no examples", location=", ".join(scrub(u) for u in files))
    ordered = sorted(best.items(), key=lambda kv: kv[1][0])
    return TrainingData(
        labels=list(labels),
        ids=[k for k, _ in ordered],
        texts=[v[1] for _, v in ordered],
        label_ids=[v[2] for _, v in ordered],
        files=[scrub(u) for u in files],
        n_rows_read=n_rows,
        n_duplicates_dropped=n_rows - len(best),
    )


def _is_dir(url: str, storage_options: Mapping[str, Any] | None) -> bool:
    fs, path = storage.resolve(url, storage_options)
    return fs.isdir(path)
