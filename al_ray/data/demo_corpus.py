"""A small, safe, deterministic moderation corpus for demos and end-to-end tests.

What it imitates: a social feed where ~95% of messages are benign chatter, ~5% are abusive
(mild insults, no slurs), and a band of genuinely ambiguous messages (sarcasm, quoted or negated
insults, profanity used positively, gaming trash talk, reclaimed words, affectionate banter) whose
gold label comes from a written rule (``al_ray.data.demo_text``) and on which simulated annotators
split their votes — the boundary cases the active-learning loop should find.
Real feeds also repeat themselves, so a few rows are exact copies and near copies
("RT @user: ...", an added emoji) of earlier rows.

Everything is drawn from one ``numpy.random.Generator`` seeded by ``seed`` in a fixed order, and
the files are written with fixed Parquet settings: the same arguments give byte-identical files.

Layout (see ``al_ray.data.layout``)::

    <out_url>/part-00000.parquet ...      id, text        (what the model sees)
    <out_url>/_dataset.json               generator arguments (no labels)
    <gold_url>/gold.parquet               id, label, n_annotators, votes_neither, votes_violating,
                                          tie, split, kind, ambiguous, dup_of
    <gold_url>/test_ids.parquet           id
    <gold_url>/dataset.json               counts and rates
    gold_url defaults to the sibling folder "gold" of out_url.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pyarrow as pa

from al_ray.errors import ConfigError
from al_ray.task import TaskConfig
from al_ray.data import demo_text as T
from al_ray.data.layout import PreparedDataset, default_gold_url, gold_schema, votes_column
from al_ray.data.writer import split_column, stratified_test_mask, write_corpus_info, write_gold_files, write_shards

GENERATOR_VERSION = 1
_SLOT_RE = re.compile(r"\{(\w+)\}")
_ARTICLE_RE = re.compile(r"\b([Aa])(n?) (\"?)(\w)")
MIN_WORDS, MAX_WORDS = 3, 60

DEMO_TASK = TaskConfig(
    name="demo-moderation",
    labels=list(T.DEMO_LABELS),
    positive_label=T.VIOLATING,
    label_descriptions={
        T.NEITHER: "a friendly, harmless everyday message",
        T.VIOLATING: "an abusive, offensive or insulting message",
    },
    text_column="text",
    id_column="id",
)


def demo_task() -> TaskConfig:
    """A fresh copy of the demo task (labels neither/violating; descriptions fit a zero-shot head)."""
    return DEMO_TASK.model_copy(deep=True)


@dataclass(frozen=True)
class DemoCorpus(PreparedDataset):
    """What ``write_demo_corpus`` wrote (URLs + headline figures)."""

    ambiguous_rate: float = 0.0
    n_duplicates: int = 0


def _fix_articles(text: str) -> str:
    """'a idiot' -> 'an idiot', 'an moron' -> 'a moron' (templates are filled blindly)."""
    def repl(m: re.Match) -> str:
        a, _n, quote, first = m.groups()
        article = a + ("n" if first.lower() in "aeiou" else "")
        return f"{article} {quote}{first}"
    return _ARTICLE_RE.sub(repl, text)


class _Filler:
    """Fills templates from ``demo_text.SLOTS`` with a given Generator (no hidden state)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def pick(self, options: tuple[str, ...]) -> str:
        return options[int(self.rng.integers(len(options)))]

    def handle(self) -> str:
        name = self.pick(T.NAMES).lower()
        return name + self.pick(T.HANDLE_SUFFIX)

    def fill(self, template: str) -> str:
        def slot(m: re.Match) -> str:
            key = m.group(1)
            if key == "handle":
                return self.handle()
            if key not in T.SLOTS:
                raise KeyError(f"template {template!r} names unknown slot {key!r}")
            return self.pick(T.SLOTS[key])
        return _fix_articles(_SLOT_RE.sub(slot, template))


def _typo(word: str, rng: np.random.Generator) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    i = int(rng.integers(1, len(word) - 1))
    op = int(rng.integers(3))
    if op == 0:  # swap neighbours
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if op == 1:  # drop a letter
        return word[:i] + word[i + 1:]
    return word[:i] + word[i] + word[i:]  # double a letter


def _decorate(text: str, f: _Filler) -> str:
    """Lengthen with benign filler, add hashtags/emoji, typos and casing, within 3..60 words."""
    rng = f.rng
    words = text.split()
    # Log-normal-ish length: most messages short, some long rambles; fillers are benign for all kinds.
    n_fill = int(min(rng.poisson(0.35) if rng.random() < 0.8 else rng.poisson(3.0), 8))
    for _ in range(n_fill):
        extra = f.fill(f.pick(T.FILLERS)).split()
        if len(words) + len(extra) > MAX_WORDS:
            break
        sep_choice = int(rng.integers(3))
        if sep_choice == 0 and words:
            words[-1] = words[-1] + "."
        elif sep_choice == 1:
            words.append("-")
        words.extend(extra)
    if rng.random() < 0.18 and len(words) < MAX_WORDS:
        words.append(f.pick(T.HASHTAGS))
    if rng.random() < 0.12 and len(words) < MAX_WORDS:
        words.append(f.pick(T.EMOJI_POS + T.EMOJI_NEUTRAL))
    if rng.random() < 0.15:
        for _ in range(int(rng.integers(1, 3))):
            j = int(rng.integers(len(words)))
            words[j] = _typo(words[j], rng)
    while len(words) < MIN_WORDS:
        words.append(f.pick(("lol", "tbh", "fr", "honestly", "ok", "haha", "omg")))
    out = " ".join(words[:MAX_WORDS])
    r = rng.random()
    if r < 0.10:
        out = out.lower()
    elif r < 0.13:
        out = out.upper()
    elif r < 0.6 and out[:1].isalpha():
        out = out[0].upper() + out[1:]
    return out


def _near_duplicate(text: str, f: _Filler) -> str:
    r = f.rng.random()
    if r < 0.55:
        return f"RT @{f.handle()}: {text}"
    if r < 0.8:
        return text + f.fill(f.pick(T.NEAR_DUP_TAILS))
    return text.lower() if text != text.lower() else text.upper()


def _simulate_votes(gold_is_violating: bool, agree: float, rng: np.random.Generator) -> tuple[int, int, int, bool]:
    """(n_annotators, votes_neither, votes_violating, tie) with the gold label never outvoted.

    Each annotator votes gold with probability ``agree``; draws where the other label wins are
    redrawn (conditioning), so "majority == gold except ties" holds by construction. Ties arise
    only with an even number of annotators; their gold label is the rule's (recorded as tie=True).
    """
    n = int(rng.choice((3, 4, 5), p=(0.85, 0.05, 0.10)))
    for _ in range(1000):
        k = int(rng.binomial(n, agree))
        if 2 * k >= n:
            break
    else:  # pragma: no cover - agree >= 0.5 makes this vanishingly rare
        k = n
    other = n - k
    if gold_is_violating:
        return n, other, k, 2 * k == n
    return n, k, other, 2 * k == n


def _kind_probabilities(positive_rate: float, ambiguous_rate: float) -> np.ndarray:
    """Per-kind draw probabilities: 60% of positives are clear abuse, 40% ambiguous-violating."""
    if not 0.0 < positive_rate < 0.5:
        raise ConfigError(f"positive_rate must be in (0, 0.5), got {positive_rate}")
    amb_violating = 0.4 * positive_rate
    if not amb_violating < ambiguous_rate < 1.0 - positive_rate:
        raise ConfigError(
            f"ambiguous_rate must be in ({amb_violating:.3f}, {1 - positive_rate:.3f}), got {ambiguous_rate}"
        )
    clear_abusive = positive_rate - amb_violating
    amb_neither = ambiguous_rate - amb_violating
    clear_benign = 1.0 - clear_abusive - ambiguous_rate
    n_an, n_av = len(T.AMBIGUOUS_NEITHER_KINDS), len(T.AMBIGUOUS_VIOLATING_KINDS)
    probs = [clear_benign, clear_abusive] + [amb_neither / n_an] * n_an + [amb_violating / n_av] * n_av
    return np.asarray(probs, dtype=np.float64)


def generate_demo_rows(
    n_rows: int, *, positive_rate: float = 0.05, ambiguous_rate: float = 0.12, duplicate_rate: float = 0.05,
    rng: np.random.Generator,
) -> dict[str, list[Any]]:
    """The rows (in corpus order) as column lists; pure function of its arguments and ``rng``'s state."""
    if n_rows < 1:
        raise ConfigError(f"n_rows must be >= 1, got {n_rows}")
    if not 0.0 <= duplicate_rate < 0.5:
        raise ConfigError(f"duplicate_rate must be in [0, 0.5), got {duplicate_rate}")
    probs = _kind_probabilities(positive_rate, ambiguous_rate)
    f = _Filler(rng)
    cols: dict[str, list[Any]] = {k: [] for k in (
        "id", "text", "label", "n_annotators", "votes_neither", "votes_violating", "tie", "kind",
        "ambiguous", "dup_of", "group")}
    width = max(6, len(str(n_rows - 1)))
    for i in range(n_rows):
        rid = f"demo-{i:0{width}d}"
        if i > 0 and rng.random() < duplicate_rate:
            j = int(rng.integers(i))
            kind_idx = T.KINDS.index(next(k for k in T.KINDS if k.name == cols["kind"][j]))
            kind = T.KINDS[kind_idx]
            exact = rng.random() < 0.4
            text = cols["text"][j] if exact else _near_duplicate(cols["text"][j], f)
            dup_of, group = cols["id"][j], cols["group"][j]
        else:
            kind = T.KINDS[int(rng.choice(len(T.KINDS), p=probs))]
            text = _decorate(f.fill(f.pick(kind.templates)), f)
            dup_of, group = None, rid
        n, v_nei, v_vio, tie = _simulate_votes(kind.label == T.VIOLATING, kind.agree, rng)
        for key, val in (("id", rid), ("text", text), ("label", kind.label), ("n_annotators", n),
                         ("votes_neither", v_nei), ("votes_violating", v_vio), ("tie", tie),
                         ("kind", kind.name), ("ambiguous", kind.ambiguous), ("dup_of", dup_of),
                         ("group", group)):
            cols[key].append(val)
    return cols


def write_demo_corpus(
    out_url: str,
    *,
    n_rows: int = 20000,
    n_shards: int = 8,
    positive_rate: float = 0.05,
    ambiguous_rate: float = 0.12,
    duplicate_rate: float = 0.05,
    test_fraction: float = 0.2,
    seed: int = 0,
    gold_url: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> DemoCorpus:
    """Write the demo corpus shards to ``out_url`` and its gold files to ``gold_url``.

    ``gold_url`` defaults to the sibling ``gold`` folder of ``out_url`` (never inside it: corpus
    listing is recursive). The test split (``test_fraction`` of rows, stratified by label, whole
    duplicate groups on one side) is seeded by ``seed`` too.
    """
    gold_url = gold_url or default_gold_url(out_url)
    rng = np.random.default_rng(seed)
    cols = generate_demo_rows(n_rows, positive_rate=positive_rate, ambiguous_rate=ambiguous_rate,
                              duplicate_rate=duplicate_rate, rng=rng)
    labels = np.asarray(cols["label"])
    test_mask = stratified_test_mask(labels, test_fraction, rng, groups=np.asarray(cols["group"]))

    shard_urls = write_shards(out_url, cols["id"], cols["text"], n_shards, storage_options)

    extra = [pa.field("kind", pa.string()), pa.field("ambiguous", pa.bool_()), pa.field("dup_of", pa.string())]
    schema = gold_schema(list(T.DEMO_LABELS), extra)
    gold = pa.table({
        "id": pa.array(cols["id"], pa.string()),
        "label": pa.array(cols["label"], pa.string()),
        "n_annotators": pa.array(cols["n_annotators"], pa.int64()),
        votes_column(T.NEITHER): pa.array(cols["votes_neither"], pa.int64()),
        votes_column(T.VIOLATING): pa.array(cols["votes_violating"], pa.int64()),
        "tie": pa.array(cols["tie"], pa.bool_()),
        "split": split_column(test_mask),
        "kind": pa.array(cols["kind"], pa.string()),
        "ambiguous": pa.array(cols["ambiguous"], pa.bool_()),
        "dup_of": pa.array(cols["dup_of"], pa.string()),
    }, schema=schema)

    pos_rate = float(np.mean(labels == T.VIOLATING))
    amb_rate = float(np.mean(cols["ambiguous"]))
    n_dup = sum(d is not None for d in cols["dup_of"])
    n_ties = int(np.sum(cols["tie"]))
    params = {"generator": "al_ray.data.demo_corpus", "version": GENERATOR_VERSION, "seed": seed,
              "n_rows": n_rows, "n_shards": n_shards, "positive_rate_target": positive_rate,
              "ambiguous_rate_target": ambiguous_rate, "duplicate_rate": duplicate_rate,
              "test_fraction": test_fraction}
    kinds, counts = np.unique(np.asarray(cols["kind"]), return_counts=True)
    info = dict(params)
    info.update({
        "labels": list(T.DEMO_LABELS), "positive_label": T.VIOLATING,
        "positive_rate": pos_rate, "ambiguous_rate": amb_rate, "n_duplicates": n_dup,
        "n_distinct_texts": len(set(cols["text"])), "n_ties": n_ties,
        "ties_note": "ties only occur with 4 annotators; the gold label is the rule's (see al_ray.data.demo_text)",
        "n_test": int(test_mask.sum()), "kind_counts": {str(k): int(c) for k, c in zip(kinds, counts)},
        "gold_rule": T.__doc__.split("The gold rule, applied per kind (see ``KINDS``):")[1].split("The ambiguous")[0].strip(),
        "corpus_url": out_url,
    })
    write_gold_files(gold_url, gold, info, storage_options)
    write_corpus_info(out_url, params, storage_options)
    return DemoCorpus(
        corpus_url=out_url, gold_url=gold_url, n_rows=n_rows, n_shards=n_shards,
        labels=tuple(T.DEMO_LABELS), positive_label=T.VIOLATING, positive_rate=pos_rate,
        n_test=int(test_mask.sum()), n_ties=n_ties, shard_urls=tuple(shard_urls),
        extra={"kind_counts": info["kind_counts"]}, ambiguous_rate=amb_rate, n_duplicates=n_dup,
    )
