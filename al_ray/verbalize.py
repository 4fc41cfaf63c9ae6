"""How a text becomes prompt token ids, and a label becomes the tokens a model answers with.

Scoring and fine-tuning both import this module. It sits below the stages, which never import one
another. The adapter must be trained on exactly the prompt ids and label tokens that the scorer
reads, so each has one implementation here instead of one copy per stage.

Prompts: the *text* is truncated, never the template. A text too long for ``max_tokens`` is cut so
that the template's tail (the answer cue, e.g. "Answer:") survives, and the row is flagged
``truncated``. Every backend, and the fine-tune, gets the same ids, so their probabilities can be
compared token for token.

Label tokens: a label's probability is the next-token probability of its *first* token right
after the prompt. Which token that is depends on the tokenizer. BPE/SentencePiece vocabularies
give " safe" (with a leading space) and "safe" different ids. WordPiece (MiniLM/BERT) drops
whitespace and lower-cases, so both spellings give one id. Each spelling is therefore tokenised as
the continuation of the prompt's tail, so that merges across the boundary are seen as the model
sees them, and the first token of each is kept. A label's probability is the sum over its
distinct tokens. Label sets whose first tokens collide are refused, since their probabilities
could not be told apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from al_ray.errors import ConfigError, LabelTokenCollisionError


def _special_affixes(tokenizer) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer adds before and after a single sequence."""
    plain = tokenizer("x", add_special_tokens=False)["input_ids"]
    full = tokenizer("x", add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start:start + len(plain)] == plain:
            return list(full[:start]), list(full[start + len(plain):])
    return [], []


class GenerativePromptEncoder:
    """``{labels}``-filled template split at ``{text}``: prefix specials + head + text + tail.

    Trailing special tokens (BERT's [SEP], an EOS) are dropped: the model must continue the
    prompt, not see it closed.
    """

    def __init__(self, tokenizer, template: str, labels: list[str], max_tokens: int) -> None:
        template = template.replace("{labels}", ", ".join(labels))
        if template.count("{text}") != 1:
            raise ConfigError("prompt_template must contain {text} exactly once")
        self.tokenizer = tokenizer
        self.head, self.tail = template.split("{text}")
        self.prefix, _ = _special_affixes(tokenizer)
        self.head_ids = tokenizer(self.head, add_special_tokens=False)["input_ids"] if self.head else []
        self.tail_ids = tokenizer(self.tail, add_special_tokens=False)["input_ids"] if self.tail else []
        self.max_tokens = max_tokens
        self.text_budget = max_tokens - len(self.prefix) - len(self.head_ids) - len(self.tail_ids)
        if self.text_budget < 1:
            raise ConfigError(f"max_input_tokens={max_tokens} leaves no room for the text after the "
                              f"prompt template ({max_tokens - self.text_budget} tokens)")

    def encode(self, texts: list[str]) -> tuple[list[list[int]], np.ndarray]:
        prompts = [self.head + t + self.tail for t in texts]
        enc = self.tokenizer(prompts, add_special_tokens=False)["input_ids"]
        truncated = np.zeros(len(texts), dtype=bool)
        out: list[list[int]] = []
        pre = self.prefix
        for i, ids in enumerate(enc):
            if len(pre) + len(ids) > self.max_tokens:
                text_ids = self.tokenizer(texts[i], add_special_tokens=False)["input_ids"]
                ids = self.head_ids + text_ids[: self.text_budget] + self.tail_ids
                truncated[i] = True
            out.append(pre + ids if pre else ids)
        return out, truncated


class ClassifierEncoder:
    """Specials + text ids, the text cut to fit ``max_tokens`` exactly as HF truncation would."""

    def __init__(self, tokenizer, max_tokens: int) -> None:
        self.tokenizer = tokenizer
        self.prefix, self.suffix = _special_affixes(tokenizer)
        self.max_tokens = max_tokens
        self.budget = max_tokens - len(self.prefix) - len(self.suffix)
        if self.budget < 1:
            raise ConfigError(f"max_input_tokens={max_tokens} is too small")

    def encode(self, texts: list[str]) -> tuple[list[list[int]], np.ndarray]:
        enc = self.tokenizer(texts, add_special_tokens=True)["input_ids"]
        truncated = np.fromiter((len(x) > self.max_tokens for x in enc), dtype=bool, count=len(enc))
        if truncated.any():
            n_pre, n_suf = len(self.prefix), len(self.suffix)
            for i in np.flatnonzero(truncated):
                ids = enc[i]
                body = ids[n_pre: len(ids) - n_suf if n_suf else len(ids)]
                enc[i] = self.prefix + body[: self.budget] + self.suffix
        return enc, truncated


# --------------------------------------------------------------------------------------------------
# label tokens
# --------------------------------------------------------------------------------------------------

VARIANTS = {"both": ("bare", "space"), "space": ("space",), "bare": ("bare",)}


@dataclass(frozen=True)
class LabelTokens:
    """``token_ids[j]`` counts towards label ``token_label[j]``; ``matrix`` (T, K) sums them per label."""

    labels: tuple[str, ...]
    token_ids: tuple[int, ...]
    token_label: tuple[int, ...]

    @property
    def matrix(self) -> np.ndarray:
        m = np.zeros((len(self.token_ids), len(self.labels)))
        m[np.arange(len(self.token_ids)), list(self.token_label)] = 1.0
        return m

    def by_label(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {lab: [] for lab in self.labels}
        for tid, k in zip(self.token_ids, self.token_label):
            out[self.labels[k]].append(tid)
        return out

    def describe(self, tokenizer) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {lab: [] for lab in self.labels}
        for tid, k in zip(self.token_ids, self.token_label):
            out[self.labels[k]].append(f"{tokenizer.convert_ids_to_tokens(tid)!r}({tid})")
        return out


def _continuation(tokenizer, tail: str, word: str) -> list[int]:
    base = tokenizer(tail, add_special_tokens=False)["input_ids"]
    full = tokenizer(tail + word, add_special_tokens=False)["input_ids"]
    i = 0
    while i < min(len(base), len(full)) and base[i] == full[i]:
        i += 1
    return full[i:]


def label_token_ids(tokenizer, labels: list[str], prompt_tail: str = "", variants: str = "both") -> LabelTokens:
    """First-token ids of each label, as a continuation of ``prompt_tail`` (the text after {text})."""
    token_ids: list[int] = []
    token_label: list[int] = []
    owner: dict[int, str] = {}
    unk = getattr(tokenizer, "unk_token_id", None)
    for k, label in enumerate(labels):
        seen: set[int] = set()
        for variant in VARIANTS[variants]:
            word = label if variant == "bare" else " " + label
            cont = _continuation(tokenizer, prompt_tail, word)
            if not cont:
                raise LabelTokenCollisionError(
                    f"label {label!r} ({variant} spelling) produces no new token after the prompt tail "
                    f"{prompt_tail!r}; change the label or the prompt template")
            tid = int(cont[0])
            if unk is not None and tid == unk:
                raise LabelTokenCollisionError(
                    f"label {label!r} maps to the unknown token {tokenizer.unk_token!r}; the model cannot "
                    f"answer with it: choose a label word in the tokenizer's vocabulary")
            if tid in seen:
                continue
            if tid in owner:
                tok = tokenizer.convert_ids_to_tokens(tid)
                raise LabelTokenCollisionError(
                    f"labels {owner[tid]!r} and {label!r} both start with token {tok!r} (id {tid}) for this "
                    f"tokenizer, so their probabilities cannot be told apart; use label words whose first "
                    f"tokens differ (or restrict spellings with label_variants='space'/'bare')")
            owner[tid] = label
            seen.add(tid)
            token_ids.append(tid)
            token_label.append(k)
    return LabelTokens(tuple(labels), tuple(token_ids), tuple(token_label))
