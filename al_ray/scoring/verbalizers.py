"""Map each label word to the token ids a generative model would answer with.

A label's probability is the next-token probability of its *first* token right after the prompt.
What that token is depends on the tokenizer: BPE/SentencePiece vocabularies give " safe" (with a
leading space) and "safe" different ids, WordPiece (MiniLM/BERT) drops whitespace and lower-cases,
so both spellings give one id. We therefore tokenise each spelling as the continuation of the
prompt's tail (so merges across the boundary are seen as the model sees them), keep the first
token of each, add the probabilities of a label's distinct tokens, and refuse label sets whose
first tokens collide: their probabilities could not be told apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from al_ray.errors import LabelTokenCollisionError

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
