"""Turn texts into exact token-id prompts, truncating the *text* (never the template).

Both backends receive the same ids from here, so their probabilities can be compared token for
token, and truncation is exact: a text too long for ``max_tokens`` is cut so that the template's
tail (the answer cue, e.g. "Answer:") survives, and the row is flagged ``truncated``.
"""

from __future__ import annotations

import numpy as np

from al_ray.errors import ConfigError


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
